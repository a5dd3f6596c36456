/* mn_vocab storage and its GGUF form (the tokenizer.ggml.* keys llama.cpp reads). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tokenizer_internal.h"

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int mn_byte_token_value(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi << 4 | lo;
}

const char *mn_merge_split(const char *merge) { return merge[0] ? strchr(merge + 1, ' ') : NULL; }

int mn_vocab_alloc(mn_vocab *v, mn_vocab_kind kind, int32_t n, const char *source) {
    memset(v, 0, sizeof *v);
    v->kind = kind;
    strcpy(v->pre, "default");
    v->bos_id = v->eos_id = v->unk_id = v->pad_id = -1;
    v->n_tokens = n;
    size_t m = n > 0 ? (size_t)n : 1;
    v->tokens = calloc(m, sizeof *v->tokens);
    v->scores = calloc(m, sizeof *v->scores);
    v->token_types = malloc(m * sizeof *v->token_types);
    if (!v->tokens || !v->scores || !v->token_types) {
        mn_vocab_clear(v);
        return mn_fail("%s: out of memory for %d tokens", source, (int)n);
    }
    for (int32_t i = 0; i < n; i++) v->token_types[i] = MN_TOKEN_NORMAL;
    return 0;
}

int mn_vocab_set_token(mn_vocab *v, int32_t i, const char *s, size_t len, const char *source) {
    char *c = malloc(len + 1);
    if (!c) return mn_fail("%s: out of memory", source);
    memcpy(c, s, len);
    c[len] = 0;
    free(v->tokens[i]);
    v->tokens[i] = c;
    return 0;
}

int mn_vocab_set_pad(mn_vocab *v, int32_t i, const char *source) {
    char pad[32];
    int n = snprintf(pad, sizeof pad, "[PAD%d]", (int)i);
    v->token_types[i] = MN_TOKEN_UNUSED;
    return mn_vocab_set_token(v, i, pad, (size_t)n, source);
}

void mn_vocab_clear(mn_vocab *v) {
    if (v->tokens)
        for (int32_t i = 0; i < v->n_tokens; i++) free(v->tokens[i]);
    if (v->merges)
        for (int32_t i = 0; i < v->n_merges; i++) free(v->merges[i]);
    free(v->tokens);
    free(v->scores);
    free(v->token_types);
    free(v->merges);
    memset(v, 0, sizeof *v);
}

void mn_vocab_write_gguf(const mn_vocab *v, mn_gguf_writer *w) {
    bool spm = v->kind == MN_VOCAB_SPM;
    size_t n = (size_t)v->n_tokens;
    mn_gguf_set_str(w, "tokenizer.ggml.model", spm ? "llama" : "gpt2");
    mn_gguf_set_str(w, "tokenizer.ggml.pre", v->pre);
    mn_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, n);
    /* llama.cpp's converter writes scores for SentencePiece vocabularies only; BPE ranks live
     * in the merges. */
    if (spm) mn_gguf_set_arr_f32(w, "tokenizer.ggml.scores", v->scores, n);
    mn_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", v->token_types, n);
    if (!spm) mn_gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges, (size_t)v->n_merges);
    static const char *const id_keys[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"};
    const int32_t ids[] = {v->bos_id, v->eos_id, v->unk_id, v->pad_id};
    for (int i = 0; i < 4; i++)
        if (ids[i] >= 0) mn_gguf_set_u32(w, id_keys[i], (uint32_t)ids[i]);
    mn_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos);
    mn_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos);
    if (spm) mn_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", v->add_space_prefix);
}

int mn_tokenizer_save_gguf(const mn_tokenizer *t, const char *path) {
    mn_gguf_writer *w = mn_gguf_writer_new();
    if (!w) return mn_fail("%s: out of memory", path);
    mn_gguf_set_str(w, "general.architecture", "llama");
    mn_vocab_write_gguf(mn_tokenizer_vocab(t), w);
    int rc = mn_gguf_begin(w, path);
    if (rc == 0) rc = mn_gguf_finish(w);
    mn_gguf_writer_free(w);
    return rc;
}
