/* Element-level view of a quantized block: every element is x = a * q + b with an integer q
 * in [lo, hi], where a and b come from the block's scales. GPTQ fixes a group's scales first
 * and then rounds its columns one at a time, so it needs to read (a, b) and write single q
 * values without knowing each format. */
#include <string.h>

#include "formats/block_codec.h"
#include "quant/quant_internal.h"

static float half(uint16_t h) { return mn_f16_to_f32(h); }

static void set_nibble(uint8_t *byte, int high, int v) {
    *byte = high ? (uint8_t)((*byte & 0x0f) | (v << 4)) : (uint8_t)((*byte & 0xf0) | v);
}

static void set_bit(uint8_t *byte, int bit, int v) { *byte = (uint8_t)((*byte & ~(1 << bit)) | ((v & 1) << bit)); }

void mn_block_element(mn_dtype type, const void *block, int e, mn_element_code *c) {
    switch (type) {
    case MN_Q8_0: {
        const mn_block_q8_0 *b = block;
        *c = (mn_element_code){half(b->d), 0, -128, 127};
        return;
    }
    case MN_Q4_0: {
        const mn_block_q4_0 *b = block;
        float d = half(b->d);
        *c = (mn_element_code){d, -8 * d, 0, 15};
        return;
    }
    case MN_Q4_1: {
        const mn_block_q4_1 *b = block;
        *c = (mn_element_code){half(b->d), half(b->m), 0, 15};
        return;
    }
    case MN_Q5_0: {
        const mn_block_q5_0 *b = block;
        float d = half(b->d);
        *c = (mn_element_code){d, -16 * d, 0, 31};
        return;
    }
    case MN_Q5_1: {
        const mn_block_q5_1 *b = block;
        *c = (mn_element_code){half(b->d), half(b->m), 0, 31};
        return;
    }
    case MN_Q2_K: {
        const mn_block_q2_k *b = block;
        uint8_t sc = b->scales[e / 16];
        *c = (mn_element_code){half(b->d) * (sc & 15), -half(b->dmin) * (sc >> 4), 0, 3};
        return;
    }
    case MN_Q3_K: {
        const mn_block_q3_k *b = block;
        int8_t sc[16];
        mn_q3k_unpack_scales(b->scales, sc);
        float a = half(b->d) * sc[e / 16];
        *c = (mn_element_code){a, -4 * a, 0, 7};
        return;
    }
    case MN_Q4_K:
    case MN_Q5_K: {
        const mn_block_q4_k *b = block; /* Q5_K starts with the same fields */
        uint8_t sc, m;
        mn_k4_unpack_scale_min(b->scales, e / 32, &sc, &m);
        *c = (mn_element_code){half(b->d) * sc, -half(b->dmin) * m, 0, type == MN_Q4_K ? 15 : 31};
        return;
    }
    case MN_Q6_K: {
        const mn_block_q6_k *b = block;
        float a = half(b->d) * b->scales[e / 16];
        *c = (mn_element_code){a, -32 * a, 0, 63};
        return;
    }
    default: *c = (mn_element_code){1, 0, 0, 0};
    }
}

void mn_block_set_q(mn_dtype type, void *block, int e, int q) {
    switch (type) {
    case MN_Q8_0: ((mn_block_q8_0 *)block)->qs[e] = (int8_t)q; return;
    case MN_Q4_0: set_nibble(&((mn_block_q4_0 *)block)->qs[e % 16], e >= 16, q); return;
    case MN_Q4_1: set_nibble(&((mn_block_q4_1 *)block)->qs[e % 16], e >= 16, q); return;
    case MN_Q5_0: {
        mn_block_q5_0 *b = block;
        set_nibble(&b->qs[e % 16], e >= 16, q & 15);
        set_bit(&b->qh[e / 8], e % 8, q >> 4);
        return;
    }
    case MN_Q5_1: {
        mn_block_q5_1 *b = block;
        set_nibble(&b->qs[e % 16], e >= 16, q & 15);
        set_bit(&b->qh[e / 8], e % 8, q >> 4);
        return;
    }
    case MN_Q2_K: {
        mn_block_q2_k *b = block;
        int h = e / 128, s = e % 128 / 32, l = e % 32;
        uint8_t *byte = &b->qs[32 * h + l];
        *byte = (uint8_t)((*byte & ~(3 << (2 * s))) | ((q & 3) << (2 * s)));
        return;
    }
    case MN_Q3_K: {
        mn_block_q3_k *b = block;
        int h = e / 128, s = e % 128 / 32, l = e % 32;
        uint8_t *byte = &b->qs[32 * h + l];
        *byte = (uint8_t)((*byte & ~(3 << (2 * s))) | ((q & 3) << (2 * s)));
        set_bit(&b->hmask[e % 32], e / 32, q >> 2);
        return;
    }
    case MN_Q4_K: {
        mn_block_q4_k *b = block;
        int h = e / 64, l = e % 32;
        set_nibble(&b->qs[32 * h + l], e % 64 >= 32, q);
        return;
    }
    case MN_Q5_K: {
        mn_block_q5_k *b = block;
        int h = e / 64, l = e % 32, upper = e % 64 >= 32;
        set_nibble(&b->qs[32 * h + l], upper, q & 15);
        set_bit(&b->qh[l], 2 * h + upper, q >> 4);
        return;
    }
    case MN_Q6_K: {
        mn_block_q6_k *b = block;
        int h = e / 128, s = e % 128 / 32, l = e % 32;
        set_nibble(&b->ql[64 * h + 32 * (s & 1) + l], s >= 2, q & 15);
        uint8_t *byte = &b->qh[32 * h + l];
        *byte = (uint8_t)((*byte & ~(3 << (2 * s))) | ((q >> 4) << (2 * s)));
        return;
    }
    default: return;
    }
}
