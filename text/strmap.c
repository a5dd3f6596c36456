#include "text/strmap.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a over a, its length, then b: ("ab", "c") and ("a", "bc") hash apart. */
static uint32_t hash_pair(const char *a, size_t alen, const char *b, size_t blen) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < alen; i++) h = (h ^ (uint8_t)a[i]) * 16777619u;
    h = (h ^ (uint32_t)alen) * 16777619u;
    for (size_t i = 0; i < blen; i++) h = (h ^ (uint8_t)b[i]) * 16777619u;
    /* Final avalanche, so the low bits used as the index depend on every byte. */
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return h;
}

static int alloc_table(mn_strmap *m, size_t cap) {
    m->slots = malloc(cap * sizeof *m->slots);
    m->keys = malloc(cap * sizeof *m->keys);
    if (!m->slots || !m->keys) {
        free(m->slots);
        free(m->keys);
        m->slots = NULL;
        m->keys = NULL;
        return -1;
    }
    for (size_t i = 0; i < cap; i++) m->slots[i].value = -1;
    m->cap = cap;
    m->n = 0;
    return 0;
}

int mn_strmap_init(mn_strmap *m, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 2) cap *= 2;
    return alloc_table(m, cap);
}

void mn_strmap_free(mn_strmap *m) {
    free(m->slots);
    free(m->keys);
    memset(m, 0, sizeof *m);
}

static bool same_key(const mn_strmap_key *k, const char *a, size_t alen, const char *b, size_t blen) {
    return k->alen == alen && k->blen == blen && !memcmp(k->a, a, alen) && !memcmp(k->b, b, blen);
}

/* The slot holding (a, b), or the empty slot where it belongs. */
static size_t find(const mn_strmap *m, uint32_t h, const char *a, size_t alen, const char *b, size_t blen) {
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const mn_strmap_slot *s = &m->slots[i];
        if (s->value < 0 || (s->hash == h && same_key(&m->keys[i], a, alen, b, blen))) return i;
    }
}

static int grow(mn_strmap *m) {
    mn_strmap old = *m;
    if (alloc_table(m, 2 * old.cap)) {
        *m = old;
        return -1;
    }
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].value < 0) continue;
        const mn_strmap_key *k = &old.keys[i];
        size_t j = find(m, old.slots[i].hash, k->a, k->alen, k->b, k->blen);
        m->slots[j] = old.slots[i];
        m->keys[j] = *k;
        m->n++;
    }
    free(old.slots);
    free(old.keys);
    return 0;
}

int mn_strmap_put(mn_strmap *m, const char *a, size_t alen, const char *b, size_t blen, int32_t value, bool replace) {
    if (2 * (m->n + 1) > m->cap && grow(m)) return -1;
    if (!b) b = "";
    uint32_t h = hash_pair(a, alen, b, blen);
    size_t i = find(m, h, a, alen, b, blen);
    if (m->slots[i].value < 0) {
        m->slots[i] = (mn_strmap_slot){h, value};
        m->keys[i] = (mn_strmap_key){a, b, (uint32_t)alen, (uint32_t)blen};
        m->n++;
    } else if (replace) {
        m->slots[i].value = value;
    }
    return 0;
}

int32_t mn_strmap_get(const mn_strmap *m, const char *a, size_t alen, const char *b, size_t blen) {
    if (!m->cap) return -1;
    if (!b) b = "";
    uint32_t h = hash_pair(a, alen, b, blen);
    return m->slots[find(m, h, a, alen, b, blen)].value;
}
