/* libFuzzer target: a SentencePiece tokenizer.model (protobuf) with the Hugging Face files read
 * next to it, as mn_tokenizer_load reads it. The input is a 4-byte little-endian length L, L
 * bytes of tokenizer.model, then tokenizer_config.json, added_tokens.json and config.json
 * separated by NUL bytes (each optional; an input shorter than 4 bytes is all model). */
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const names[] = {"tokenizer_config.json", "added_tokens.json", "config.json"};
    mn_clear_error();
    size_t model_len = size;
    const uint8_t *rest = data + size;
    size_t rest_len = 0;
    if (size >= 4) {
        uint32_t len;
        memcpy(&len, data, 4);
        model_len = len < size - 4 ? len : size - 4;
        rest = data + 4 + model_len;
        rest_len = size - 4 - model_len;
        data += 4;
    }
    fz_write("tokenizer.model", data, model_len);
    fz_write_parts(rest, rest_len, names, 3);
    fz_check_tokenizer_file("tokenizer.model");
    return 0;
}
