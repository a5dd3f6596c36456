#include "text/merge.h"

#include <stdlib.h>
#include <string.h>

#include "text/unicode.h"

static bool better(const mn_bigram *a, const mn_bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(mn_merger *m, mn_bigram b) {
    if (m->n_heap == m->heap_cap) {
        size_t cap = m->heap_cap ? 2 * m->heap_cap : 256;
        mn_bigram *h = realloc(m->heap, cap * sizeof *h);
        if (!h) return -1;
        m->heap = h;
        m->heap_cap = cap;
    }
    mn_bigram *h = m->heap;
    size_t i = m->n_heap++;
    while (i > 0 && better(&b, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = b;
    return 0;
}

static mn_bigram heap_pop(mn_merger *m) {
    mn_bigram *h = m->heap;
    mn_bigram top = h[0], last = h[--m->n_heap];
    size_t i = 0, n = m->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && better(&h[c + 1], &h[c])) c++;
        if (!better(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = last;
    return top;
}

static int try_pair(mn_merger *m, const char *text, int32_t l, int32_t r, mn_pair_score score, const void *ctx) {
    if (l < 0 || r < 0) return 0;
    float s;
    if (!score(ctx, text, &m->sym[l], &m->sym[r], &s)) return 0;
    return heap_push(m, (mn_bigram){s, l, r, m->sym[l].n + m->sym[r].n});
}

int mn_merge(mn_merger *m, const char *text, size_t n, mn_pair_score score, const void *ctx) {
    m->n_sym = 0;
    m->n_heap = 0;
    if (n > INT32_MAX) return -1; /* symbol indices are int32, as in llama.cpp */
    if (n > m->sym_cap) {
        mn_symbol *s = realloc(m->sym, n * sizeof *s);
        if (!s) return -1;
        m->sym = s;
        m->sym_cap = n;
    }
    for (size_t off = 0; off < n;) {
        size_t len = mn_utf8_len((uint8_t)text[off]);
        if (len > n - off) len = n - off;
        int32_t i = (int32_t)m->n_sym++;
        m->sym[i] = (mn_symbol){i - 1, off + len < n ? i + 1 : -1, (uint32_t)off, (uint32_t)len};
        off += len;
    }
    for (size_t i = 1; i < m->n_sym; i++)
        if (try_pair(m, text, (int32_t)i - 1, (int32_t)i, score, ctx)) return -1;
    while (m->n_heap) {
        mn_bigram b = heap_pop(m);
        mn_symbol *l = &m->sym[b.left], *r = &m->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) m->sym[r->next].prev = b.left;
        if (try_pair(m, text, l->prev, b.left, score, ctx) || try_pair(m, text, b.left, l->next, score, ctx))
            return -1;
    }
    return 0;
}

void mn_merger_free(mn_merger *m) {
    free(m->sym);
    free(m->heap);
    memset(m, 0, sizeof *m);
}
