#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/mapped_file.h"

mn_model *cli_load_model(const char *path, const char *tokenizer_path) {
    mn_load_options opt = {.tokenizer_path = tokenizer_path};
    mn_model *m = mn_model_load(path, &opt);
    if (!m) fprintf(stderr, "minnow: %s\n", mn_last_error());
    return m;
}

void cli_format_bytes(double bytes, char *buf, int cap) {
    if (bytes >= 1e9) snprintf(buf, (size_t)cap, "%.2f GB", bytes / 1e9);
    else if (bytes >= 1e6) snprintf(buf, (size_t)cap, "%.1f MB", bytes / 1e6);
    else if (bytes >= 1e3) snprintf(buf, (size_t)cap, "%.1f KB", bytes / 1e3);
    else snprintf(buf, (size_t)cap, "%.0f B", bytes);
}

/* The files besides the mapped weights (which core/out_file.c guards) that minnow reads next
 * to a model: -o naming one of them would replace it. */
static bool replaces_model_file(const char *model, const char *out) {
    static const char *const names[] = {"config.json",     "model.safetensors.index.json", "tokenizer.json",
                                        "tokenizer.model", "tokenizer_config.json",        "added_tokens.json",
                                        "tokenizer.gguf",  "tokenizer.bin"};
    char copy[PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 64];
    snprintf(copy, sizeof copy, "%s", model);
    snprintf(dir, sizeof dir, "%s", mn_is_directory(model) ? model : dirname(copy));
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (mn_same_file(path, out)) return true;
    }
    /* llama2.c's tok<vocab>.bin */
    snprintf(copy, sizeof copy, "%s", out);
    const char *base = basename(copy);
    size_t n = strlen(base);
    if (n > 7 && !strncmp(base, "tok", 3) && !strcmp(base + n - 4, ".bin")) {
        snprintf(path, sizeof path, "%s/%s", dir, base);
        return mn_same_file(path, out);
    }
    return false;
}

bool cli_refuses_output(const char *out, const char *model, int n_others, ...) {
    bool refused = mn_same_file(model, out) || replaces_model_file(model, out);
    va_list ap;
    va_start(ap, n_others);
    for (int i = 0; i < n_others; i++) {
        const char *input = va_arg(ap, const char *);
        if (input && mn_same_file(input, out)) refused = true;
    }
    va_end(ap);
    if (refused) fprintf(stderr, "minnow: %s: refusing to overwrite an input file\n", out);
    return refused;
}
