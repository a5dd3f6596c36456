#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/llama2c.h"

/* MODEL may be a whole model or just a tokenizer. A .bin is a llama2.c checkpoint when its
 * header says so (its tokenizer found next to it), otherwise a llama2.c tokenizer.bin. */
static mn_tokenizer *open_tokenizer(const char *path, const char *override) {
    if (override) return mn_tokenizer_load(override);
    size_t len = strlen(path);
    if (len > 4 && !strcmp(path + len - 4, ".bin") && !mn_is_directory(path)) {
        mn_llama2c probe;
        if (mn_llama2c_open(path, &probe) == 0) {
            mn_llama2c_close(&probe);
            mn_model *m = mn_model_load(path, NULL);
            if (!m) return NULL;
            mn_tokenizer *t = m->tok;
            m->tok = NULL;
            mn_model_free(m);
            return t;
        }
        mn_clear_error();
    }
    return mn_tokenizer_load(path);
}

int cmd_tokenize(int argc, char **argv) {
    const char *text_path = NULL, *prompt = NULL, *tokenizer = NULL;
    bool no_bos = false;
    const mn_opt opts[] = {
        {"--text", NULL, MN_OPT_STRING, &text_path, "text file (one trailing newline is dropped, as in eval)"},
        {"--prompt", "-p", MN_OPT_STRING, &prompt, "text given on the command line"},
        {"--no-bos", NULL, MN_OPT_FLAG, &no_bos, "do not add BOS/EOS even if the vocabulary says so"},
        {"--tokenizer", NULL, MN_OPT_STRING, &tokenizer, "tokenizer file to use instead of MODEL's"},
        {NULL},
    };
    const mn_command_spec spec = {"tokenize", "MODEL (--text FILE | --prompt STR) [--no-bos]",
                                  "Prints token ids one per line. MODEL: a model, a tokenizer-only GGUF, "
                                  "tokenizer.json, tokenizer.model or a llama2.c tokenizer.bin.",
                                  opts, 1, 1};
    const char *pos[1];
    int n_pos;
    int rc = mn_parse_args(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    if (!text_path == !prompt) return mn_usage_error(&spec, "give exactly one of --text FILE and --prompt STR");
    mn_tokenizer *t = open_tokenizer(pos[0], tokenizer);
    if (!t) return mn_report_error();
    char *text;
    size_t len;
    if (text_path) {
        text = mn_read_file(text_path, &len);
        if (!text) {
            mn_tokenizer_free(t);
            return mn_report_error();
        }
        if (len > 0 && text[len - 1] == '\n') len--;
    } else {
        text = strdup(prompt);
        len = strlen(prompt);
    }
    mn_tokens ids = {0};
    rc = mn_tokenize(t, text, len, !no_bos, &ids);
    free(text);
    mn_tokenizer_free(t);
    if (rc != 0) {
        mn_tokens_free(&ids);
        return mn_report_error();
    }
    for (size_t i = 0; i < ids.n; i++) printf("%d\n", ids.ids[i]);
    mn_tokens_free(&ids);
    return fflush(stdout) == 0 ? MN_EXIT_OK : MN_EXIT_ERROR;
}
