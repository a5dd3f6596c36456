/* The merge loop both llama.cpp encoders share: the text is cut into UTF-8 symbols, every
 * adjacent pair that may merge is queued with a score, and the best pair (ties: the leftmost)
 * merges until none is left. Queued pairs go stale when a neighbour merges first; they are
 * recognised by their size and skipped. SentencePiece scores a pair by the score of the
 * token it forms, BPE by its merge rank (negated, so higher is better for both). */
#ifndef MN_TEXT_MERGE_H
#define MN_TEXT_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int32_t prev, next; /* -1 at the ends */
    uint32_t start, n;  /* bytes of the text; n == 0 once merged into its left neighbour */
} mn_symbol;

typedef struct {
    float score;
    int32_t left, right;
    uint32_t size;
} mn_bigram;

/* Scratch reused across calls. */
typedef struct {
    mn_symbol *sym;
    size_t n_sym, sym_cap;
    mn_bigram *heap;
    size_t n_heap, heap_cap;
} mn_merger;

/* Score of merging symbols l and r of text; false when they may not merge. */
typedef bool (*mn_pair_score)(const void *ctx, const char *text, const mn_symbol *l, const mn_symbol *r, float *score);

/* Cuts text[0..n) into symbols (m->sym, m->n_sym) and merges them. -1 when out of memory. */
int mn_merge(mn_merger *m, const char *text, size_t n, mn_pair_score score, const void *ctx);
void mn_merger_free(mn_merger *m);

#endif
