/* llama.cpp's SentencePiece encoder (llm_tokenizer_spm_session), one raw-text fragment at a
 * time: spaces become U+2581, then pairs merge by the score of the token they form. llama.cpp
 * merges over the whole fragment at once; here the fragment is first cut where no token can
 * span (see spm_pairs), which gives the same tokens with small, cache-friendly queues. */
#include <stdlib.h>

#include "text/merge.h"
#include "text/tokenizer_internal.h"
#include "text/unicode.h"

static bool token_score(const void *ctx, const char *text, const mn_symbol *l, const mn_symbol *r, float *score) {
    const mn_tokenizer *t = ctx;
    uint32_t n = l->n + r->n;
    if (n > t->max_len) return false;
    int32_t id = mn_strmap_get(&t->ids, text + l->start, n, "", 0);
    if (id < 0) return false;
    *score = t->v.scores[id];
    return true;
}

/* Merges text[0..n) and emits its symbols. A symbol that is no token is a character the
 * vocabulary lacks (merges only ever form tokens), so llama.cpp's resegmentation always
 * ends in byte fallback for it. */
static int encode_segment(const mn_tokenizer *t, mn_merger *m, const char *text, size_t n, mn_tokens *out) {
    if (mn_merge(m, text, n, token_score, t)) return -1;
    for (int32_t i = m->n_sym ? 0 : -1; i >= 0; i = m->sym[i].next) {
        const mn_symbol *s = &m->sym[i];
        int32_t id = mn_strmap_get(&t->ids, text + s->start, s->n, "", 0);
        if (id >= 0) {
            if (mn_tokens_push(out, id)) return -1;
            continue;
        }
        for (uint32_t j = 0; j < s->n; j++) {
            int32_t b = t->byte_id[(uint8_t)text[s->start + j]];
            if (b >= 0 && mn_tokens_push(out, b)) return -1;
        }
    }
    return 0;
}

int mn_spm_encode(const mn_tokenizer *t, const char *text, size_t n, bool space_prefix, mn_tokens *out) {
    size_t spaces = space_prefix;
    for (size_t i = 0; i < n; i++) spaces += text[i] == ' ';
    char *buf = malloc(n + 2 * spaces + 1);
    if (!buf) return -1;
    size_t len = 0;
    for (size_t i = 0; i < n + space_prefix; i++) {
        char c = i < space_prefix ? ' ' : text[i - space_prefix];
        if (c == ' ') {
            buf[len++] = '\xe2';
            buf[len++] = '\x96';
            buf[len++] = '\x81';
        } else {
            buf[len++] = c;
        }
    }
    mn_merger m = {0};
    int rc = 0;
    size_t seg = 0, prev = 0, prev_len = 0;
    for (size_t off = 0; off < len && rc == 0;) {
        size_t k = mn_utf8_len((uint8_t)buf[off]);
        if (k > len - off) k = len - off;
        if (off > seg && mn_strmap_get(&t->pairs, buf + prev, prev_len, buf + off, k) < 0) {
            rc = encode_segment(t, &m, buf + seg, off - seg, out);
            seg = off;
        }
        prev = off;
        prev_len = k;
        off += k;
    }
    if (rc == 0 && seg < len) rc = encode_segment(t, &m, buf + seg, len - seg, out);
    mn_merger_free(&m);
    free(buf);
    return rc;
}
