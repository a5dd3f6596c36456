/* libFuzzer target: a llama2.c tokenizer.bin (max_token_length, then score, length, bytes per
 * token), as mn_tokenizer_from_llama2c reads it, both to the end of the file and for the
 * vocabulary size a checkpoint asks for. */
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mn_clear_error();
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", fz_write("tokenizer.bin", data, size));
    mn_tokenizer *t = mn_tokenizer_from_llama2c(path, 0);
    if (!t) {
        fz_check_failure_reported();
        return 0;
    }
    fz_check_tokenizer(t);
    int32_t n = mn_tokenizer_vocab(t)->n_tokens;
    mn_tokenizer_free(t);
    /* Asking for fewer tokens works; asking for one more than the file holds fails cleanly. */
    t = mn_tokenizer_from_llama2c(path, n > 1 ? n / 2 : n);
    FZ_CHECK(t != NULL);
    fz_check_tokenizer(t);
    mn_tokenizer_free(t);
    mn_clear_error();
    t = mn_tokenizer_from_llama2c(path, n + 1);
    FZ_CHECK(t == NULL);
    fz_check_failure_reported();
    return 0;
}
