/* Portable decoders: the definition of every block format's f32 values. Each expression
 * multiplies and subtracts in the same order as ggml's dequantize_row_* so the rounding is
 * the same; the SIMD decoders are checked against these bit for bit. */

#include "formats/block_codec_internal.h"

static void decode_q4_0(const void *restrict src, float *restrict y, int64_t nb) {
    const mn_block_q4_0 *b = src;
    for (int64_t i = 0; i < nb; i++, b++, y += MN_QK) {
        const float d = mn_f16_to_f32(b->d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((b->qs[j] & 15) - 8) * d;
            y[j + 16] = (float)((b->qs[j] >> 4) - 8) * d;
        }
    }
}

static void decode_q4_1(const void *restrict src, float *restrict y, int64_t nb) {
    const mn_block_q4_1 *b = src;
    for (int64_t i = 0; i < nb; i++, b++, y += MN_QK) {
        const float d = mn_f16_to_f32(b->d), m = mn_f16_to_f32(b->m);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(b->qs[j] & 15) * d + m;
            y[j + 16] = (float)(b->qs[j] >> 4) * d + m;
        }
    }
}

/* The 5-bit types keep bit 4 of element j in bit j of a little-endian 32-bit word. */
static uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static void decode_q5_0(const void *restrict src, float *restrict y, int64_t nb) {
    const mn_block_q5_0 *b = src;
    for (int64_t i = 0; i < nb; i++, b++, y += MN_QK) {
        const float d = mn_f16_to_f32(b->d);
        const uint32_t qh = load_qh(b->qh);
        for (int j = 0; j < 16; j++) {
            int lo = (int)((b->qs[j] & 15) | ((qh >> j) & 1) << 4);
            int hi = (int)((b->qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4);
            y[j] = (float)(lo - 16) * d;
            y[j + 16] = (float)(hi - 16) * d;
        }
    }
}

static void decode_q5_1(const void *restrict src, float *restrict y, int64_t nb) {
    const mn_block_q5_1 *b = src;
    for (int64_t i = 0; i < nb; i++, b++, y += MN_QK) {
        const float d = mn_f16_to_f32(b->d), m = mn_f16_to_f32(b->m);
        const uint32_t qh = load_qh(b->qh);
        for (int j = 0; j < 16; j++) {
            int lo = (int)((b->qs[j] & 15) | ((qh >> j) & 1) << 4);
            int hi = (int)((b->qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4);
            y[j] = (float)lo * d + m;
            y[j + 16] = (float)hi * d + m;
        }
    }
}

static void decode_q8_0(const void *restrict src, float *restrict y, int64_t nb) {
    const mn_block_q8_0 *b = src;
    for (int64_t i = 0; i < nb; i++, b++, y += MN_QK) {
        const float d = mn_f16_to_f32(b->d);
        for (int j = 0; j < MN_QK; j++) y[j] = (float)b->qs[j] * d;
    }
}

static void decode_q8_1(const void *restrict src, float *restrict y, int64_t nb) {
    const mn_block_q8_1 *b = src;
    for (int64_t i = 0; i < nb; i++, b++, y += MN_QK) {
        const float d = mn_f16_to_f32(b->d);
        for (int j = 0; j < MN_QK; j++) y[j] = (float)b->qs[j] * d;
    }
}

static void decode_q2_k(const void *restrict src, float *restrict y, int64_t nb) {
    const mn_block_q2_k *b = src;
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = mn_f16_to_f32(b->d), dmin = mn_f16_to_f32(b->dmin);
        for (int g = 0; g < 16; g++, y += 16) {
            /* group g covers elements 16g..16g+15: bits at shift 2s of qs[32h + l] */
            const uint8_t *q = b->qs + 32 * (g / 8) + 16 * (g & 1);
            const int shift = 2 * ((g / 2) & 3);
            const float dl = d * (float)(b->scales[g] & 15), ml = dmin * (float)(b->scales[g] >> 4);
            for (int l = 0; l < 16; l++) y[l] = dl * (float)((q[l] >> shift) & 3) - ml;
        }
    }
}

static void decode_q3_k(const void *restrict src, float *restrict y, int64_t nb) {
    const mn_block_q3_k *b = src;
    int8_t sc[16];
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = mn_f16_to_f32(b->d);
        mn_q3k_unpack_scales(b->scales, sc);
        for (int g = 0; g < 16; g++, y += 16) {
            const int half = 16 * (g & 1), s = (g / 2) & 3;
            const uint8_t *q = b->qs + 32 * (g / 8) + half;
            const uint8_t *hm = b->hmask + half;
            const uint8_t hbit = (uint8_t)(1u << (g / 2));
            const float dl = d * (float)sc[g];
            for (int l = 0; l < 16; l++)
                y[l] = dl * (float)(((q[l] >> (2 * s)) & 3) - ((hm[l] & hbit) ? 0 : 4));
        }
    }
}

static void decode_q4_k(const void *restrict src, float *restrict y, int64_t nb) {
    const mn_block_q4_k *b = src;
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = mn_f16_to_f32(b->d), dmin = mn_f16_to_f32(b->dmin);
        for (int h = 0; h < 4; h++, y += 64) {
            const uint8_t *q = b->qs + 32 * h;
            uint8_t sc, m;
            mn_k4_unpack_scale_min(b->scales, 2 * h, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            mn_k4_unpack_scale_min(b->scales, 2 * h + 1, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) y[l] = d1 * (float)(q[l] & 15) - m1;
            for (int l = 0; l < 32; l++) y[l + 32] = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

static void decode_q5_k(const void *restrict src, float *restrict y, int64_t nb) {
    const mn_block_q5_k *b = src;
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = mn_f16_to_f32(b->d), dmin = mn_f16_to_f32(b->dmin);
        for (int h = 0; h < 4; h++, y += 64) {
            const uint8_t *q = b->qs + 32 * h;
            const uint8_t u1 = (uint8_t)(1u << (2 * h)), u2 = (uint8_t)(2u << (2 * h));
            uint8_t sc, m;
            mn_k4_unpack_scale_min(b->scales, 2 * h, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            mn_k4_unpack_scale_min(b->scales, 2 * h + 1, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) y[l] = d1 * (float)((q[l] & 15) + (b->qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                y[l + 32] = d2 * (float)((q[l] >> 4) + (b->qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

static void decode_q6_k(const void *restrict src, float *restrict y, int64_t nb) {
    const mn_block_q6_k *b = src;
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = mn_f16_to_f32(b->d);
        for (int g = 0; g < 16; g++, y += 16) {
            /* element 128h + 32s + l: nibble of ql[64h + 32(s & 1) + l], 2 bits of qh[32h + l] */
            const int h = g / 8, s = (g / 2) & 3, l0 = 16 * (g & 1);
            const uint8_t *ql = b->ql + 64 * h + 32 * (s & 1) + l0;
            const uint8_t *qh = b->qh + 32 * h + l0;
            const int nshift = s >= 2 ? 4 : 0;
            const float ds = d * (float)b->scales[g];
            for (int l = 0; l < 16; l++) {
                int q = ((ql[l] >> nshift) & 15) | ((qh[l] >> (2 * s)) & 3) << 4;
                y[l] = ds * (float)(q - 32);
            }
        }
    }
}

static void decode_q8_k(const void *restrict src, float *restrict y, int64_t nb) {
    const mn_block_q8_k *b = src;
    for (int64_t i = 0; i < nb; i++, b++, y += MN_QK_K)
        for (int j = 0; j < MN_QK_K; j++) y[j] = b->d * (float)b->qs[j];
}

mn_block_decoder mn_block_decoder_scalar(mn_dtype type) {
    switch (type) {
    case MN_Q4_0: return decode_q4_0;
    case MN_Q4_1: return decode_q4_1;
    case MN_Q5_0: return decode_q5_0;
    case MN_Q5_1: return decode_q5_1;
    case MN_Q8_0: return decode_q8_0;
    case MN_Q8_1: return decode_q8_1;
    case MN_Q2_K: return decode_q2_k;
    case MN_Q3_K: return decode_q3_k;
    case MN_Q4_K: return decode_q4_k;
    case MN_Q5_K: return decode_q5_k;
    case MN_Q6_K: return decode_q6_k;
    case MN_Q8_K: return decode_q8_k;
    default: return NULL;
    }
}
