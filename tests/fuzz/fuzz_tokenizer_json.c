/* libFuzzer target: a Hugging Face tokenizer.json with the files read next to it, as
 * mn_tokenizer_load reads it. The input is tokenizer.json, then after NUL bytes
 * tokenizer_config.json and config.json (each optional). An accepted vocabulary encodes text
 * and survives a GGUF round trip. */
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const names[] = {"tokenizer.json", "tokenizer_config.json", "config.json"};
    mn_clear_error();
    fz_write_parts(data, size, names, 3);
    fz_check_tokenizer_file("tokenizer.json");
    return 0;
}
