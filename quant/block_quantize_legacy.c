/* The 32-element types. Without importance these are ggml's reference quantizers: one scale
 * from the block's extreme value, then rounding; with importance (Q4_0 .. Q5_1) ggml searches
 * the scale, weighting each value by importance * sqrt(sigma2 + x^2) with sigma2 the mean
 * square of the whole row. Q8_0 ignores importance, as ggml does.
 *
 * A block is its f16 header (d, and m for Q4_1/Q5_1) followed by a payload: qs[16] for the
 * 4-bit types, qh[4] then qs[16] for the 5-bit ones, qs[32] for Q8_0. */
#include <float.h>
#include <math.h>

#include "quant/block_quantize_internal.h"

/* Blocks handled per batched call: bounds the stack scratch. */
#define CHUNK_BLOCKS 64

void mn_legacy_pack(mn_legacy_ref kind, const uint8_t q[32], uint8_t *payload) {
    switch (kind) {
    case MN_REF_Q4_0:
    case MN_REF_Q4_1:
        /* the byte is formed in int and truncated, as ggml's |= on a uint8_t does */
        for (int j = 0; j < 16; j++) payload[j] = (uint8_t)(q[j] | q[j + 16] << 4);
        break;
    case MN_REF_Q5_0:
    case MN_REF_Q5_1: {
        uint32_t qh = 0;
        for (int j = 0; j < 32; j++) qh |= (uint32_t)((q[j] >> 4) & 1) << j;
        for (int b = 0; b < 4; b++) payload[b] = (uint8_t)(qh >> (8 * b));
        for (int j = 0; j < 16; j++) payload[4 + j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
        break;
    }
    case MN_REF_Q8_0: memcpy(payload, q, 32); break;
    }
}

/* ggml's symmetric reference types: d = max / div with max the first value of largest
 * magnitude, level = min(top, (int8)(x / d + bias)). */
static void ref_symmetric(const float *x, uint8_t q[32], float *d_out, float div, float bias, int top) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    const float d = max / div;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    *d_out = d;
    for (int j = 0; j < 32; j++) {
        int8_t v = (int8_t)mn_trunc_i32(x[j] * id + bias); /* ggml narrows to int8 first */
        q[j] = (uint8_t)(v < top ? v : top);
    }
}

/* ggml's asymmetric reference types: d = (max - min) / top, level = (x - min) / d + 0.5
 * truncated; Q4_1 clamps through int8, Q5_1 converts to a byte directly. */
static void ref_affine(const float *x, uint8_t q[32], float *d_out, float *m_out, int top, bool clamp) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / (float)top;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    *d_out = d;
    *m_out = min;
    for (int j = 0; j < 32; j++) {
        const int32_t t = mn_trunc_i32((x[j] - min) * id + 0.5f);
        q[j] = clamp ? (uint8_t)((int8_t)t < top ? (int8_t)t : top) : (uint8_t)t;
    }
}

/* d = absmax / 127, q = roundf(x / d). */
static void ref_q8(const float *x, uint8_t q[32], float *d_out) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
    const float d = amax / 127;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    *d_out = d;
    for (int j = 0; j < 32; j++) q[j] = (uint8_t)mn_round_i32(x[j] * id);
}

void mn_legacy_ref_scalar(mn_legacy_ref kind, int nb, const float *x, uint8_t *payload, float *d, float *m) {
    uint8_t q[32];
    for (int b = 0; b < nb; b++, x += MN_QK, payload += MN_LEGACY_PAYLOAD) {
        switch (kind) {
        case MN_REF_Q4_0: ref_symmetric(x, q, &d[b], -8.0f, 8.5f, 15); break;
        case MN_REF_Q5_0: ref_symmetric(x, q, &d[b], -16.0f, 16.5f, 31); break;
        case MN_REF_Q4_1: ref_affine(x, q, &d[b], &m[b], 15, true); break;
        case MN_REF_Q5_1: ref_affine(x, q, &d[b], &m[b], 31, false); break;
        case MN_REF_Q8_0: ref_q8(x, q, &d[b]); break;
        }
        mn_legacy_pack(kind, q, payload);
    }
}

static float row_sigma2(const float *x, int64_t n) {
    float sum_x2 = 0;
    for (int64_t j = 0; j < n; j++) sum_x2 += x[j] * x[j];
    return sum_x2 / (float)n;
}

/* One row of `type` (stored as `kind`'s levels). Without importance the payloads come from
 * ggml's reference rounding; with importance from the weighted scale searches, batched over a
 * chunk of blocks. */
static void legacy_row(const mn_quant_kernels *k, const float *x, uint8_t *y, int64_t n, const float *qw,
                       mn_dtype type, mn_legacy_ref kind) {
    const bool affine = kind == MN_REF_Q4_1 || kind == MN_REF_Q5_1;
    const int nmax = kind == MN_REF_Q4_0 ? 8 : kind == MN_REF_Q5_0 ? 16 : kind == MN_REF_Q4_1 ? 15 : 31;
    const mn_affine_search search = {nmax, -0.9f, 0.05f, 36, false};
    const float sigma2 = qw ? row_sigma2(x, n) : 0;
    const int block_bytes = mn_dtype_block_bytes(type);
    /* Q4_1, Q5_1 and Q8_1 carry a second half after d */
    const int header = affine || type == MN_Q8_1 ? 4 : 2;
    float w[CHUNK_BLOCKS * MN_QK], scale[CHUNK_BLOCKS], min[CHUNK_BLOCKS] = {0};
    uint16_t d16[CHUNK_BLOCKS], m16[CHUNK_BLOCKS];
    uint8_t L[CHUNK_BLOCKS * MN_QK], payload[CHUNK_BLOCKS * MN_LEGACY_PAYLOAD];
    for (int64_t b0 = 0; b0 < n / MN_QK; b0 += CHUNK_BLOCKS) {
        const int nb = (int)(n / MN_QK - b0 < CHUNK_BLOCKS ? n / MN_QK - b0 : CHUNK_BLOCKS);
        const float *xc = x + b0 * MN_QK;
        if (!qw) {
            k->legacy(kind, nb, xc, payload, scale, min);
        } else {
            for (int j = 0; j < nb * MN_QK; j++) w[j] = qw[b0 * MN_QK + j] * sqrtf(sigma2 + xc[j] * xc[j]);
            if (affine) {
                k->affine(nb, MN_QK, &search, xc, w, L, scale, min);
                for (int b = 0; b < nb; b++) min[b] = -min[b]; /* ggml stores m = -min */
            } else {
                k->symmetric(nb, MN_QK, nmax, xc, w, (int8_t *)L, scale);
            }
            for (int b = 0; b < nb; b++) mn_legacy_pack(kind, L + b * MN_QK, payload + b * MN_LEGACY_PAYLOAD);
        }
        /* one vector conversion per chunk: per block, it would cost as much as the rounding */
        mn_f32_to_f16_row(scale, d16, nb);
        if (affine) mn_f32_to_f16_row(min, m16, nb);
        for (int b = 0; b < nb; b++) {
            uint8_t *o = y + (b0 + b) * block_bytes;
            memcpy(o, &d16[b], 2);
            if (affine) memcpy(o + 2, &m16[b], 2);
            memcpy(o + header, payload + b * MN_LEGACY_PAYLOAD, (size_t)(block_bytes - header));
            if (type == MN_Q8_1) { /* s = d * sum(q), from the unrounded d */
                int sum = 0;
                for (int j = 0; j < 32; j++) sum += (int8_t)payload[b * MN_LEGACY_PAYLOAD + j];
                uint16_t s = mn_f32_to_f16((float)sum * scale[b]);
                memcpy(o + 2, &s, 2);
            }
        }
    }
}

void mn_quantize_row_q4_0(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw) {
    legacy_row(k, x, y, n, qw, MN_Q4_0, MN_REF_Q4_0);
}

void mn_quantize_row_q4_1(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw) {
    legacy_row(k, x, y, n, qw, MN_Q4_1, MN_REF_Q4_1);
}

void mn_quantize_row_q5_0(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw) {
    legacy_row(k, x, y, n, qw, MN_Q5_0, MN_REF_Q5_0);
}

void mn_quantize_row_q5_1(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw) {
    legacy_row(k, x, y, n, qw, MN_Q5_1, MN_REF_Q5_1);
}

/* ggml ignores importance for the 8-bit types. */
void mn_quantize_row_q8_0(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw) {
    legacy_row(k, x, y, n, NULL, MN_Q8_0, MN_REF_Q8_0);
}

void mn_quantize_row_q8_1(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw) {
    legacy_row(k, x, y, n, NULL, MN_Q8_1, MN_REF_Q8_0);
}
