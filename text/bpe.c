/* llama.cpp's byte-level BPE encoder (llm_tokenizer_bpe_session), one raw-text fragment at
 * a time: pre-tokenize into words, map each word's bytes to GPT-2's byte alphabet, merge
 * pairs by rank within the word. */
#include <stdlib.h>

#include "text/merge.h"
#include "text/tokenizer_internal.h"

static bool merge_rank(const void *ctx, const char *text, const mn_symbol *l, const mn_symbol *r, float *score) {
    const mn_tokenizer *t = ctx;
    int32_t rank = mn_strmap_get(&t->ranks, text + l->start, l->n, text + r->start, r->n);
    if (rank < 0) return false;
    *score = -(float)rank;
    return true;
}

/* Emits the symbols of one merged word. A symbol that is no token (a merge whose result is
 * missing from the vocabulary) falls back to its single bytes, and bytes that are no token
 * either are dropped, as in llama.cpp. */
static int emit(const mn_tokenizer *t, const mn_merger *m, const char *word, mn_tokens *out) {
    for (size_t i = 0; i < m->n_sym; i++) {
        const mn_symbol *s = &m->sym[i];
        if (s->n == 0) continue;
        int32_t id = mn_strmap_get(&t->ids, word + s->start, s->n, "", 0);
        if (id >= 0) {
            if (mn_tokens_push(out, id)) return -1;
            continue;
        }
        for (uint32_t j = 0; j < s->n; j++) {
            id = mn_strmap_get(&t->ids, word + s->start + j, 1, "", 0);
            if (id >= 0 && mn_tokens_push(out, id)) return -1;
        }
    }
    return 0;
}

int mn_bpe_encode(const mn_tokenizer *t, const char *text, size_t n, mn_words *words, mn_tokens *out) {
    if (mn_pretokenize(t->pre, text, n, words)) return -1;
    bool ignore_merges = mn_pretokenizer_ignore_merges(t->pre);
    mn_merger m = {0};
    char *word = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t w = 0, start = 0; w < words->n && rc == 0; start = words->ends[w++]) {
        size_t end = words->ends[w];
        if (2 * (end - start) > cap) {
            cap = 2 * (end - start);
            char *p = realloc(word, cap);
            if (!p) {
                rc = -1;
                break;
            }
            word = p;
        }
        size_t len = 0;
        for (size_t i = start; i < end; i++) {
            uint8_t b = (uint8_t)words->text[i];
            for (int k = 0; k < t->byte_char_len[b]; k++) word[len++] = t->byte_char[b][k];
        }
        int32_t whole = ignore_merges ? mn_strmap_get(&t->ids, word, len, "", 0) : -1;
        if (whole >= 0)
            rc = mn_tokens_push(out, whole);
        else if ((rc = mn_merge(&m, word, len, merge_rank, t)) == 0)
            rc = emit(t, &m, word, out);
    }
    mn_merger_free(&m);
    free(word);
    return rc;
}
