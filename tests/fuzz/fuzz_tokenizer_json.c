/* libFuzzer target: a Hugging Face tokenizer.json with the files read next to it, as
 * mn_tokenizer_load reads it. The input is tokenizer.json, then after NUL bytes
 * tokenizer_config.json and config.json (each optional). An accepted vocabulary encodes text
 * and survives a GGUF round trip. */
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const names[] = {"tokenizer.json", "tokenizer_config.json", "config.json"};
    mn_clear_error();
    for (int k = 0; k < 3; k++) {
        size_t len;
        int present;
        const uint8_t *p = fz_part(data, size, k, 3, &len, &present);
        if (present) fz_write(names[k], p, len);
        else fz_remove(names[k]);
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", fz_path("tokenizer.json"));
    mn_tokenizer *t = mn_tokenizer_load(path);
    if (!t) {
        fz_check_failure_reported();
        return 0;
    }
    fz_check_tokenizer(t);
    fz_check_gguf_round_trip(t);
    mn_tokenizer_free(t);
    return 0;
}
