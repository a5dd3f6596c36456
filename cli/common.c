#include <stdio.h>

#include "cli/commands.h"
#include "core/error.h"

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
