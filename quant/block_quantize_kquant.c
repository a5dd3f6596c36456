/* The K-quants. Each super-block of 256 is split into sub-blocks with their own scale (and
 * min); the sub-block scales are then quantized against one f16 super-scale, and the values
 * are re-rounded against the scales as stored. Without importance this is ggml's reference
 * quantizer for the type; with importance, ggml's quantize_row_*_impl.
 *
 * Rows are processed in chunks of CHUNK super-blocks: first every sub-block's scale search of
 * the chunk in one batched call (the SIMD kernels run one sub-block per lane), then the
 * per-super-block packing. */
#include <math.h>

#include "quant/block_quantize_internal.h"

#define CHUNK 8
#define GROUP_MAX_EPS 1e-15f

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static int chunk_len(int64_t nb, int64_t i0) { return (int)(nb - i0 < CHUNK ? nb - i0 : CHUNK); }

static float sum_squares(const float *x, int n) {
    float s = 0;
    for (int j = 0; j < n; j++) s += x[j] * x[j];
    return s;
}

/* Importance weights of one super-block: qw * sqrt(sigma2 + x^2), and their sums per sub-block
 * of `sub` values. */
static void imatrix_weights(const float *x, const float *qw, float sigma2, int sub, float *w, float *sw) {
    for (int j = 0; j < MN_QK_K / sub; j++) {
        float s = 0;
        for (int l = 0; l < sub; l++) {
            const int e = sub * j + l;
            w[e] = qw[e] * sqrtf(sigma2 + x[e] * x[e]);
            s += w[e];
        }
        sw[j] = s;
    }
}

/* Re-rounds an affine super-block against its stored scales: level = round((x + dm) / d);
 * sub-blocks whose stored scale is 0 keep the search's levels. scale_of(g) gives the stored
 * (scale, min) integers of sub-block g. */
typedef void (*stored_scale)(const void *blk, int g, int *sc, int *m);

static void requantize_affine(const mn_quant_kernels *k, const float *x, uint8_t *L, int sub, int top,
                              float d, float dmin, const void *blk, stored_scale scale_of) {
    for (int g = 0; g < MN_QK_K / sub; g++) {
        int sc, m;
        scale_of(blk, g, &sc, &m);
        const float dl = d * (float)sc;
        if (dl != 0) k->round_affine(sub, x + sub * g, dl, dmin * (float)m, top, L + sub * g);
    }
}

/* Symmetric types: level = round(x / d) - lo, same rule for zero scales. */
static void requantize_symmetric(const mn_quant_kernels *k, const float *x, int8_t *L, const float dl[16],
                                 int lo, int hi) {
    for (int g = 0; g < 16; g++)
        if (dl[g] != 0) k->round_symmetric(16, x + 16 * g, dl[g], lo, hi, L + 16 * g);
}

/* 2-bit levels, four per byte: element 128h + 32s + l at shift 2s of qs[32h + l]. */
static void pack2(const uint8_t *L, uint8_t *qs) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *p = L + 128 * h + l;
            qs[32 * h + l] = (uint8_t)(p[0] | p[32] << 2 | p[64] << 4 | p[96] << 6);
        }
}

/* ---- Q2_K ---------------------------------------------------------------------------------- */

static void q2k_scale(const void *blk, int g, int *sc, int *m) {
    const mn_block_q2_k *b = blk;
    *sc = b->scales[g] & 15;
    *m = b->scales[g] >> 4;
}

/* Largest value of v (0 if none is positive). */
static float positive_max(const float *v, int n) {
    float max = 0;
    for (int j = 0; j < n; j++)
        if (v[j] > max) max = v[j];
    return max;
}

void mn_quantize_row_q2_k(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw) {
    const mn_affine_search ref = {3, -0.5f, 0.1f, 15, true}, weighted = {3, -0.9f, 0.05f, 36, false};
    float w[CHUNK * MN_QK_K], sw[CHUNK * 16], scales[CHUNK * 16], mins[CHUNK * 16];
    uint8_t L[CHUNK * MN_QK_K], Ls[16], Lm[16];
    mn_block_q2_k *out = y;
    const int64_t nb = n / MN_QK_K;
    for (int64_t i0 = 0; i0 < nb; i0 += CHUNK) {
        const int nc = chunk_len(nb, i0);
        const float *xc = x + i0 * MN_QK_K;
        for (int i = 0; i < nc; i++) {
            const float *xb = xc + i * MN_QK_K;
            if (qw)
                imatrix_weights(xb, qw + (i0 + i) * MN_QK_K, sum_squares(xb, MN_QK_K) / MN_QK_K, 16,
                                w + i * MN_QK_K, sw + 16 * i);
            else
                for (int j = 0; j < MN_QK_K; j++) w[i * MN_QK_K + j] = fabsf(xb[j]);
        }
        k->affine(nc * 16, 16, qw ? &weighted : &ref, xc, w, L, scales, mins);
        for (int i = 0; i < nc; i++) {
            const float *sc = scales + 16 * i, *mn = mins + 16 * i;
            mn_block_q2_k *b = &out[i0 + i];
            if (qw) {
                b->d = mn_f32_to_f16(mn_fit_positive(16, 15, sc, Ls, sw + 16 * i));
                b->dmin = mn_f32_to_f16(mn_fit_positive(16, 15, mn, Lm, sw + 16 * i));
                for (int g = 0; g < 16; g++) b->scales[g] = (uint8_t)(Ls[g] | Lm[g] << 4);
            } else {
                const float max_scale = positive_max(sc, 16), max_min = positive_max(mn, 16);
                const float iscale = max_scale > 0 ? 15.f / max_scale : 0,
                            imin = max_min > 0 ? 15.f / max_min : 0;
                for (int g = 0; g < 16; g++) {
                    /* ggml stores each rounded int into a byte; mins are ORed in only if any */
                    b->scales[g] = max_scale > 0 ? (uint8_t)mn_nearest_int(iscale * sc[g]) : 0;
                    if (max_min > 0) b->scales[g] |= (uint8_t)((unsigned)mn_nearest_int(imin * mn[g]) << 4);
                }
                b->d = mn_f32_to_f16(max_scale > 0 ? max_scale / 15.f : 0.f);
                b->dmin = mn_f32_to_f16(max_min > 0 ? max_min / 15.f : 0.f);
            }
            uint8_t *Lb = L + i * MN_QK_K;
            requantize_affine(k, xc + i * MN_QK_K, Lb, 16, 3, mn_f16_to_f32(b->d), mn_f16_to_f32(b->dmin), b,
                              q2k_scale);
            pack2(Lb, b->qs);
        }
    }
}

/* ---- Q3_K ---------------------------------------------------------------------------------- */

void mn_quantize_row_q3_k(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw) {
    float w[CHUNK * MN_QK_K], sw[CHUNK * 16], scales[CHUNK * 16], dblock[CHUNK];
    int8_t L[CHUNK * MN_QK_K], Ls[CHUNK * 16], sc[16];
    uint8_t biased[16];
    mn_block_q3_k *out = y;
    const int64_t nb = n / MN_QK_K;
    for (int64_t i0 = 0; i0 < nb; i0 += CHUNK) {
        const int nc = chunk_len(nb, i0);
        const float *xc = x + i0 * MN_QK_K;
        if (qw) {
            for (int i = 0; i < nc; i++) {
                const float *xb = xc + i * MN_QK_K;
                imatrix_weights(xb, qw + (i0 + i) * MN_QK_K, 2 * sum_squares(xb, MN_QK_K) / MN_QK_K, 16,
                                w + i * MN_QK_K, sw + 16 * i);
            }
            k->symmetric(nc * 16, 16, 4, xc, w, L, scales);
            /* the sub-block scales get their own weighted symmetric fit, one per super-block */
            k->symmetric(nc, 16, 32, scales, sw, Ls, dblock);
        } else {
            k->q3(nc * 16, 16, xc, L, scales);
        }
        for (int i = 0; i < nc; i++) {
            mn_block_q3_k *b = &out[i0 + i];
            const float *s = scales + 16 * i;
            if (qw) {
                for (int g = 0; g < 16; g++) biased[g] = (uint8_t)Ls[16 * i + g];
                b->d = mn_f32_to_f16(dblock[i]);
            } else {
                float max_scale = 0, amax = 0;
                for (int g = 0; g < 16; g++)
                    if (fabsf(s[g]) > amax) {
                        amax = fabsf(s[g]);
                        max_scale = s[g];
                    }
                const float iscale = max_scale != 0 ? -32.f / max_scale : 0;
                for (int g = 0; g < 16; g++) {
                    int8_t l = max_scale != 0 ? (int8_t)mn_nearest_int(iscale * s[g]) : -32;
                    biased[g] = (uint8_t)(clampi(l, -32, 31) + 32);
                }
                b->d = mn_f32_to_f16(max_scale != 0 ? 1 / iscale : 0.f);
            }
            mn_q3k_pack_scales(b->scales, biased);
            mn_q3k_unpack_scales(b->scales, sc);
            const float d = mn_f16_to_f32(b->d);
            float dl[16];
            for (int g = 0; g < 16; g++) dl[g] = d * (float)sc[g];
            int8_t *Lb = L + i * MN_QK_K;
            requantize_symmetric(k, xc + i * MN_QK_K, Lb, dl, -4, 3);
            /* levels are 0..7: bit 2 of level 32s + l goes to bit s of hmask[l], the rest to qs */
            memset(b->hmask, 0, sizeof b->hmask);
            uint8_t low[MN_QK_K];
            for (int bit = 0; bit < 8; bit++)
                for (int l = 0; l < 32; l++) {
                    const int e = 32 * bit + l;
                    b->hmask[l] |= (uint8_t)(((Lb[e] >> 2) & 1) << bit);
                    low[e] = (uint8_t)(Lb[e] & 3);
                }
            pack2(low, b->qs);
        }
    }
}

/* ---- Q4_K / Q5_K -------------------------------------------------------------------------- */

static void k4_scale(const void *scales, int g, int *sc, int *m) {
    uint8_t s, mm;
    mn_k4_unpack_scale_min(scales, g, &s, &mm);
    *sc = s;
    *m = mm;
}

/* Q4_K and Q5_K differ only in the level range (top = 15 or 31), the reference search
 * parameters and how levels are packed; both blocks start with d, dmin and the scale bytes. */
typedef struct {
    uint16_t *d, *dmin;
    uint8_t *scales;
} k4_head;
typedef struct {
    int top;
    mn_affine_search ref;
    k4_head (*head)(void *y, int64_t i);
    void (*pack)(void *y, int64_t i, const uint8_t *L);
} k4_type;

static void quantize_k4(const mn_quant_kernels *k, const k4_type *t, const float *x, void *y, int64_t n,
                        const float *qw) {
    const mn_affine_search weighted = {t->top, -0.9f, 0.05f, 36, false};
    float w[CHUNK * MN_QK_K], sw[CHUNK * 8], scales[CHUNK * 8], mins[CHUNK * 8];
    uint8_t L[CHUNK * MN_QK_K], Ls[8], Lm[8];
    const int64_t nb = n / MN_QK_K;
    for (int64_t i0 = 0; i0 < nb; i0 += CHUNK) {
        const int nc = chunk_len(nb, i0);
        const float *xc = x + i0 * MN_QK_K;
        for (int i = 0; i < nc; i++) {
            const float *xb = xc + i * MN_QK_K;
            float *wb = w + i * MN_QK_K;
            if (qw) {
                imatrix_weights(xb, qw + (i0 + i) * MN_QK_K, 2 * sum_squares(xb, MN_QK_K) / MN_QK_K, 32, wb,
                                sw + 8 * i);
                continue;
            }
            for (int j = 0; j < 8; j++) {
                const float av_x = sqrtf(sum_squares(xb + 32 * j, 32) / 32);
                for (int l = 0; l < 32; l++) wb[32 * j + l] = av_x + fabsf(xb[32 * j + l]);
            }
        }
        k->affine(nc * 8, 32, qw ? &weighted : &t->ref, xc, w, L, scales, mins);
        for (int i = 0; i < nc; i++) {
            const float *sc = scales + 8 * i, *mn = mins + 8 * i;
            k4_head h = t->head(y, i0 + i);
            if (qw) {
                *h.d = mn_f32_to_f16(mn_fit_positive(8, 63, sc, Ls, sw + 8 * i));
                *h.dmin = mn_f32_to_f16(mn_fit_positive(8, 63, mn, Lm, sw + 8 * i));
                if (t->top == 31) /* ggml clamps for Q5_K only */
                    for (int j = 0; j < 8; j++) {
                        Ls[j] = Ls[j] < 63 ? Ls[j] : 63;
                        Lm[j] = Lm[j] < 63 ? Lm[j] : 63;
                    }
            } else {
                const float max_scale = positive_max(sc, 8), max_min = positive_max(mn, 8);
                const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
                const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
                for (int j = 0; j < 8; j++) {
                    /* rounded into a byte first, then clamped: ggml's order */
                    uint8_t ls = (uint8_t)mn_nearest_int(inv_scale * sc[j]);
                    uint8_t lm = (uint8_t)mn_nearest_int(inv_min * mn[j]);
                    Ls[j] = ls < 63 ? ls : 63;
                    Lm[j] = lm < 63 ? lm : 63;
                }
                *h.d = mn_f32_to_f16(max_scale / 63.f);
                *h.dmin = mn_f32_to_f16(max_min / 63.f);
            }
            mn_k4_pack_scales_mins(h.scales, Ls, Lm);
            uint8_t *Lb = L + i * MN_QK_K;
            requantize_affine(k, xc + i * MN_QK_K, Lb, 32, t->top, mn_f16_to_f32(*h.d),
                              mn_f16_to_f32(*h.dmin), h.scales, k4_scale);
            t->pack(y, i0 + i, Lb);
        }
    }
}

static k4_head q4k_head(void *y, int64_t i) {
    mn_block_q4_k *b = (mn_block_q4_k *)y + i;
    return (k4_head){&b->d, &b->dmin, b->scales};
}

static k4_head q5k_head(void *y, int64_t i) {
    mn_block_q5_k *b = (mn_block_q5_k *)y + i;
    return (k4_head){&b->d, &b->dmin, b->scales};
}

/* element 64h + l (l < 32) in the low nibble of qs[32h + l], 64h + 32 + l in the high one */
static void q4k_pack(void *y, int64_t i, const uint8_t *L) {
    mn_block_q4_k *b = (mn_block_q4_k *)y + i;
    for (int h = 0; h < 4; h++)
        for (int l = 0; l < 32; l++) b->qs[32 * h + l] = (uint8_t)(L[64 * h + l] | L[64 * h + 32 + l] << 4);
}

/* as Q4_K, with bit 4 of element 64h + l in bit 2h of qh[l] and of 64h + 32 + l in bit 2h + 1 */
static void q5k_pack(void *y, int64_t i, const uint8_t *L) {
    mn_block_q5_k *b = (mn_block_q5_k *)y + i;
    memset(b->qh, 0, sizeof b->qh);
    for (int h = 0; h < 4; h++)
        for (int l = 0; l < 32; l++) {
            const int lo = L[64 * h + l], hi = L[64 * h + 32 + l];
            b->qs[32 * h + l] = (uint8_t)((lo & 15) | (hi & 15) << 4);
            b->qh[l] |= (uint8_t)((lo >> 4) << (2 * h) | (hi >> 4) << (2 * h + 1));
        }
}

void mn_quantize_row_q4_k(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw) {
    static const k4_type t = {15, {15, -1.f, 0.1f, 20, false}, q4k_head, q4k_pack};
    quantize_k4(k, &t, x, y, n, qw);
}

void mn_quantize_row_q5_k(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw) {
    static const k4_type t = {31, {31, -0.5f, 0.1f, 15, false}, q5k_head, q5k_pack};
    quantize_k4(k, &t, x, y, n, qw);
}

/* ---- Q6_K ---------------------------------------------------------------------------------- */

void mn_quantize_row_q6_k(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw) {
    float scales[CHUNK * 16], dl[16];
    int8_t L[CHUNK * MN_QK_K];
    mn_block_q6_k *out = y;
    const int64_t nb = n / MN_QK_K;
    for (int64_t i0 = 0; i0 < nb; i0 += CHUNK) {
        const int nc = chunk_len(nb, i0);
        const float *xc = x + i0 * MN_QK_K;
        /* ggml weights Q6_K by the importance alone (x^2 without it) */
        k->symmetric(nc * 16, 16, 32, xc, qw ? qw + i0 * MN_QK_K : NULL, L, scales);
        for (int i = 0; i < nc; i++) {
            mn_block_q6_k *b = &out[i0 + i];
            const float *s = scales + 16 * i;
            float max_scale = 0, max_abs = 0;
            for (int g = 0; g < 16; g++)
                if (fabsf(s[g]) > max_abs) {
                    max_abs = fabsf(s[g]);
                    max_scale = s[g];
                }
            if (max_abs < GROUP_MAX_EPS) {
                memset(b, 0, sizeof *b);
                continue;
            }
            const float iscale = -128.f / max_scale;
            b->d = mn_f32_to_f16(1 / iscale);
            const float d = mn_f16_to_f32(b->d);
            for (int g = 0; g < 16; g++) {
                int v = mn_nearest_int(iscale * s[g]);
                b->scales[g] = (int8_t)(v < 127 ? v : 127);
                dl[g] = d * (float)b->scales[g];
            }
            int8_t *Lb = L + i * MN_QK_K;
            requantize_symmetric(k, xc + i * MN_QK_K, Lb, dl, -32, 31);
            /* element 128h + 32s + l: low nibble in ql[64h + 32(s & 1) + l] (high nibble for s >= 2),
             * top two bits at shift 2s of qh[32h + l] */
            for (int h = 0; h < 2; h++)
                for (int l = 0; l < 32; l++) {
                    const int8_t *q = Lb + 128 * h + l;
                    b->ql[64 * h + l] = (uint8_t)((q[0] & 15) | (q[64] & 15) << 4);
                    b->ql[64 * h + 32 + l] = (uint8_t)((q[32] & 15) | (q[96] & 15) << 4);
                    b->qh[32 * h + l] =
                        (uint8_t)(q[0] >> 4 | (q[32] >> 4) << 2 | (q[64] >> 4) << 4 | (q[96] >> 4) << 6);
                }
        }
    }
}

/* ---- Q8_K ---------------------------------------------------------------------------------- */

/* ggml's quantize_row_q8_K_ref, except that all-zero blocks get zero bsums (ggml leaves them
 * unwritten). */
void mn_quantize_row_q8_k(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw) {
    mn_block_q8_k *b = y;
    for (int64_t i = 0; i < n / MN_QK_K; i++, b++, x += MN_QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < MN_QK_K; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        if (amax == 0) {
            memset(b, 0, sizeof *b);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < MN_QK_K; j++) {
            int v = mn_nearest_int(iscale * x[j]);
            b->qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += b->qs[16 * g + l];
            b->bsums[g] = (int16_t)sum;
        }
        b->d = 1 / iscale;
    }
}
