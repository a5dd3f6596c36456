/* Hash map from a byte string, or a pair of byte strings, to a non-negative int32 (token
 * ids, merge ranks). Keys are not copied: they point into storage that outlives the map. A
 * pair key lets BPE look up (left, right) symbol texts straight from the word, without
 * building the "left right" string llama.cpp keys its merge table with. Probing touches only
 * 8-byte slots (hash, value); keys live apart and are compared on a hash match. */
#ifndef MN_TEXT_STRMAP_H
#define MN_TEXT_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t hash;
    int32_t value; /* -1: empty */
} mn_strmap_slot;

typedef struct {
    const char *a, *b;
    uint32_t alen, blen;
} mn_strmap_key;

typedef struct {
    mn_strmap_slot *slots;
    mn_strmap_key *keys;
    size_t cap; /* power of two */
    size_t n;
} mn_strmap;

/* Sized for about n keys (it grows as needed); -1 when out of memory (no error recorded). */
int mn_strmap_init(mn_strmap *m, size_t n);
void mn_strmap_free(mn_strmap *m);

/* Inserts (a, b) -> value (>= 0). An existing key keeps its value unless `replace`.
 * -1 when out of memory. */
int mn_strmap_put(mn_strmap *m, const char *a, size_t alen, const char *b, size_t blen, int32_t value, bool replace);
/* The value of (a, b), or -1. */
int32_t mn_strmap_get(const mn_strmap *m, const char *a, size_t alen, const char *b, size_t blen);

#endif
