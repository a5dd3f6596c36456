/* libFuzzer target: the tokenizer.ggml.* metadata of a GGUF file, as
 * mn_tokenizer_from_gguf reads it (llama and gpt2 models, merges, special ids, flags, the
 * pre-tokenizer name). An accepted vocabulary encodes text and survives a GGUF round trip. */
#include "formats/gguf.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mn_clear_error();
    const char *path = fz_write("in.gguf", data, size);
    mn_gguf g;
    if (mn_gguf_open(path, &g) != 0) {
        fz_check_failure_reported();
        return 0;
    }
    mn_tokenizer *t = mn_tokenizer_from_gguf(&g);
    mn_gguf_close(&g);
    if (!t) {
        fz_check_failure_reported();
        return 0;
    }
    fz_check_tokenizer(t);
    fz_check_gguf_round_trip(t);
    mn_tokenizer_free(t);
    return 0;
}
