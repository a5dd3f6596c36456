/* libFuzzer target: encoding arbitrary bytes with a real vocabulary from the shared data,
 * loaded once. Built once per vocabulary (MN_FUZZ_VOCAB): spm (Llama-2 tokenizer.model), gpt2
 * (ggml-vocab-gpt-2.gguf), llama3 and qwen (tokenizer.json). Besides ids in range, valid
 * UTF-8 must print back to itself: byte fallback (SentencePiece) and GPT-2's byte alphabet
 * (byte-level BPE) lose nothing. Invalid UTF-8 is exempt, as in llama.cpp: byte-level BPE
 * reads it as U+FFFD, and SentencePiece cuts characters by their lead byte, so a truncated
 * sequence can swallow the U+2581 that stands for the following space. */
#include "tests/fuzz/fuzz.h"

#ifndef MN_FUZZ_VOCAB
#error "build with -DMN_FUZZ_VOCAB=\"spm\" (or gpt2, llama3, qwen)"
#endif

static mn_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    static const char *const vocabs[][2] = {
        {"spm", "llama2-tokenizer/tokenizer.model"},
        {"gpt2", "ggml-vocab/ggml-vocab-gpt-2.gguf"},
        {"llama3", "tokenizers/llama3/tokenizer.json"},
        {"qwen", "tokenizers/qwen3/tokenizer.json"},
    };
    (void)argc, (void)argv;
    for (size_t i = 0; i < sizeof vocabs / sizeof vocabs[0]; i++)
        if (!strcmp(vocabs[i][0], MN_FUZZ_VOCAB)) tok = mn_tokenizer_load(fz_data_path(vocabs[i][1]));
    if (!tok) {
        fprintf(stderr, "fuzz_encode: cannot load the %s vocabulary: %s\n", MN_FUZZ_VOCAB, mn_last_error());
        exit(1);
    }
    return 0;
}

/* Strict UTF-8 (no overlong forms, surrogates or code points above U+10FFFF). */
static int valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!k || k > n - i) return 0;
        uint32_t cp = k == 1 ? c : (uint32_t)(c & (0x7F >> k));
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += k;
    }
    return 1;
}

/* The printed tokens, concatenated. */
static char *print_ids(const mn_tokens *ids, size_t *len) {
    size_t cap = 64, n = 0;
    char *out = malloc(cap);
    FZ_CHECK(out);
    for (size_t i = 0; i < ids->n; i++) {
        char buf[4096];
        size_t k = mn_token_to_text(tok, ids->ids[i], buf, sizeof buf);
        FZ_CHECK(k < sizeof buf);
        if (n + k > cap) {
            while (n + k > cap) cap *= 2;
            out = realloc(out, cap);
            FZ_CHECK(out);
        }
        memcpy(out + n, buf, k);
        n += k;
    }
    *len = n;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mn_clear_error();
    const mn_vocab *v = mn_tokenizer_vocab(tok);
    fz_exercise_tokenizer(tok, (const char *)data, size, 1);

    mn_tokens ids = {0};
    FZ_CHECK(mn_tokenize(tok, (const char *)data, size, false, &ids) == 0);
    size_t len;
    char *printed = print_ids(&ids, &len);
    if (valid_utf8(data, size) && v->kind == MN_VOCAB_SPM) {
        /* SentencePiece prints U+2581 as a space and adds one space in front. */
        size_t o = (size && v->add_space_prefix) ? 1 : 0;
        FZ_CHECK(len >= o && (!o || printed[0] == ' '));
        for (size_t i = 0; i < size; i++) {
            int lower = i + 2 < size && !memcmp(data + i, "\xe2\x96\x81", 3);
            FZ_CHECK(o < len && printed[o] == (lower ? ' ' : (char)data[i]));
            o++;
            if (lower) i += 2;
        }
        FZ_CHECK(o == len);
    } else if (valid_utf8(data, size)) {
        FZ_CHECK(len == size && !memcmp(printed, data, size));
    }
    free(printed);
    mn_tokens_free(&ids);
    return 0;
}
