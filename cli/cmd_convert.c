#include <stdio.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "model/gguf_export.h"

static mn_dtype convert_type(void *ctx, const mn_export_tensor *t) {
    const mn_dtype *want = ctx;
    if (t->src->n_dims == 1 || mn_tensor_nrows(t->src) == 1) return MN_F32;
    return *want;
}

int cmd_convert(int argc, char **argv) {
    const char *out = NULL, *type_name = NULL, *tokenizer = NULL;
    bool quiet = false;
    const mn_opt opts[] = {
        {"--output", "-o", MN_OPT_STRING, &out, "output GGUF file (required)"},
        {"--type", NULL, MN_OPT_STRING, &type_name, "f32, f16 or bf16 for the weight matrices (default: as stored)"},
        {"--tokenizer", NULL, MN_OPT_STRING, &tokenizer, "tokenizer file (llama2.c checkpoints, overrides)"},
        {"--quiet", "-q", MN_OPT_FLAG, &quiet, "no progress on stderr"},
        {NULL},
    };
    const mn_command_spec spec = {"convert", "MODEL -o OUT.gguf [--type f32|f16|bf16]",
                                  "Writes MODEL (Hugging Face directory, GGUF, llama2.c) as a GGUF file that "
                                  "llama.cpp loads unchanged.",
                                  opts, 1, 1};
    const char *pos[1];
    int n_pos;
    int rc = mn_parse_args(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    if (!out) return mn_usage_error(&spec, "-o OUT.gguf is required");
    mn_dtype type = MN_F32;
    if (type_name && (mn_dtype_from_name(type_name, &type) != 0 ||
                      (type != MN_F32 && type != MN_F16 && type != MN_BF16)))
        return mn_usage_error(&spec, "--type must be f32, f16 or bf16 (use 'minnow quantize' for block types)");
    if (mn_same_file(pos[0], out) || (tokenizer && mn_same_file(tokenizer, out))) {
        fprintf(stderr, "minnow: %s: refusing to overwrite an input file\n", out);
        return MN_EXIT_ERROR;
    }
    mn_progress_set_enabled(!quiet);
    mn_model *m = cli_load_model(pos[0], tokenizer);
    if (!m) return MN_EXIT_ERROR;
    mn_export_plan plan = {.tensor_type = type_name ? convert_type : NULL, .ctx = &type, .progress_label = "convert"};
    rc = mn_model_write_gguf(m, out, &plan);
    mn_model_free(m);
    if (rc != 0) return mn_report_error();
    if (!quiet) fprintf(stderr, "wrote %s\n", out);
    return MN_EXIT_OK;
}
