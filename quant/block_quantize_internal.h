/* Shared by quant/block_quantize*.c only: ggml's rounding conventions, the scale searches the
 * K-quants and the importance-weighted legacy types are built on, and the row quantizers.
 *
 * Bit-exactness with ggml rests on three things: the same float operations in the same order
 * (no reassociation, no fused multiply-add: the Makefile's -std=c11 keeps GCC from
 * contracting), ggml's own rounding helpers reproduced below, and the x86 conversion
 * behaviour ggml's release build has wherever the C result would be undefined. */
#ifndef MN_QUANT_BLOCK_QUANTIZE_INTERNAL_H
#define MN_QUANT_BLOCK_QUANTIZE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "formats/block_codec.h"

/* ggml's nearest_int: round half to even by adding 1.5 * 2^23. Meaningful for |f| < 2^22;
 * beyond that it returns what ggml returns (ggml only asserts in debug builds). */
static inline int mn_nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* (int32_t)f as x86's cvttss2si computes it: truncation, and INT32_MIN for NaN and for values
 * outside the int32 range, where C leaves the conversion undefined. ggml's release build
 * narrows such results to bytes, so rows with denormal scales (1/d = inf) depend on it. */
static inline int32_t mn_trunc_i32(float f) {
    return f > -2147483904.0f && f < 2147483648.0f ? (int32_t)f : INT32_MIN;
}

/* (int32_t)roundf(f) the same way: halves away from zero. */
static inline int32_t mn_round_i32(float f) {
    int32_t i = mn_trunc_i32(f);
    if (i == INT32_MIN) return i;
    float frac = f - (float)i; /* exact: i is f with its fraction dropped */
    return i + (frac >= 0.5f) - (frac <= -0.5f);
}

/* ---- the 32-value types ---------------------------------------------------------------------
 * By level layout (Q8_1's levels are Q8_0's). A block's payload is what follows its f16
 * header: qs[16] (4-bit), qh[4] then qs[16] (5-bit), qs[32] (8-bit); kernels keep payloads
 * MN_LEGACY_PAYLOAD bytes apart. */
typedef enum { MN_REF_Q4_0, MN_REF_Q4_1, MN_REF_Q5_0, MN_REF_Q5_1, MN_REF_Q8_0 } mn_legacy_ref;
#define MN_LEGACY_PAYLOAD 32

/* Packs 32 levels (ggml's values before packing; Q8_0: the signed bytes) into a payload. */
void mn_legacy_pack(mn_legacy_ref kind, const uint8_t q[32], uint8_t *payload);

/* ---- kernels --------------------------------------------------------------------------------
 * The hot loops, one table per SIMD level. The searches run `nsub` independent searches over
 * sub-blocks of n values (sub-block k at x + k*n, its weights at w + k*n, its levels at
 * L + k*n) and return one scale per sub-block. They are ggml's searches exactly; the SIMD
 * versions run one sub-block per vector lane, so each lane does the scalar sequence of
 * operations and the results are the same bits. */

/* ggml's make_qkx2_quants / make_qkx3_quants (identical when weights are given): an affine
 * fit x ~ scale * L - min with L in [0, nmax], trying nstep+1 inverse scales
 * (rmin + rdelta * is + nmax) / range, keeping the one of least weighted error (|error| if
 * use_mad, else squared). */
typedef struct {
    int nmax;
    float rmin, rdelta;
    int nstep;
    bool use_mad;
} mn_affine_search;

typedef struct {
    /* ggml's make_qx_quants with rmse_type 1: a symmetric fit x ~ scale * (L - nmax), L in
     * [0, 2 nmax - 1], trying 18 inverse scales around -nmax / max. w == NULL: w = x * x. */
    void (*symmetric)(int nsub, int n, int nmax, const float *x, const float *w, int8_t *L, float *scale);
    /* See mn_affine_search; the_min gets ggml's returned min (x ~ scale * L - the_min). */
    void (*affine)(int nsub, int n, const mn_affine_search *p, const float *x, const float *w, uint8_t *L,
                   float *scale, float *the_min);
    /* ggml's make_q3_quants(n, 4, x, L, true): symmetric with L in [0, 7], weights x * x,
     * refined by coordinate descent. */
    void (*q3)(int nsub, int n, const float *x, int8_t *L, float *scale);
    /* The final rounding against a stored scale, n (16 or 32) values:
     * affine L = clamp(round((x + m) / d), 0, top); symmetric L = clamp(round(x / d), lo, hi) - lo. */
    void (*round_affine)(int n, const float *x, float d, float m, int top, uint8_t *L);
    void (*round_symmetric)(int n, const float *x, float d, int lo, int hi, int8_t *L);
    /* nb blocks of 32 quantized as ggml's quantize_row_*_ref does: the payloads, the scale d
     * and, for Q4_1/Q5_1, the min (before their f16 rounding). */
    void (*legacy)(mn_legacy_ref kind, int nb, const float *x, uint8_t *payload, float *d, float *m);
} mn_quant_kernels;

/* The kernels for the current SIMD level (mn_codec_simd). */
const mn_quant_kernels *mn_quant_kernels_get(void);
/* Per level; NULL when not compiled for this machine's architecture. */
const mn_quant_kernels *mn_quant_kernels_scalar(void);
const mn_quant_kernels *mn_quant_kernels_avx2(void);
const mn_quant_kernels *mn_quant_kernels_avx512(void);

/* The legacy rounding kernel: portable, and with AVX2 (in both x86 tables: a block is only
 * four AVX2 vectors). */
void mn_legacy_ref_scalar(mn_legacy_ref kind, int nb, const float *x, uint8_t *payload, float *d, float *m);
void mn_legacy_ref_avx2(mn_legacy_ref kind, int nb, const float *x, uint8_t *payload, float *d, float *m);

/* ggml's make_qp_quants: a scale for n non-negative values with L in [0, nmax], weighted by
 * qw. Small (the sub-block scales of one super-block), so scalar only. */
float mn_fit_positive(int n, int nmax, const float *x, uint8_t *L, const float *qw);

/* ---- row quantizers ------------------------------------------------------------------------
 * One row of n values (a multiple of the block size) into blocks; qw is the importance of
 * each column or NULL; k the kernels to use. */
typedef void (*mn_row_quantizer)(const mn_quant_kernels *k, const float *x, void *y, int64_t n,
                                 const float *qw);

void mn_quantize_row_q4_0(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw);
void mn_quantize_row_q4_1(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw);
void mn_quantize_row_q5_0(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw);
void mn_quantize_row_q5_1(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw);
void mn_quantize_row_q8_0(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw);
void mn_quantize_row_q8_1(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw);
void mn_quantize_row_q2_k(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw);
void mn_quantize_row_q3_k(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw);
void mn_quantize_row_q4_k(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw);
void mn_quantize_row_q5_k(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw);
void mn_quantize_row_q6_k(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw);
void mn_quantize_row_q8_k(const mn_quant_kernels *k, const float *x, void *y, int64_t n, const float *qw);

#endif
