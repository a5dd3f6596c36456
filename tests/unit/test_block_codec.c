/* Unit tests for formats/block_codec.h and quant/block_quantize.h: hand-built blocks decode to
 * the values their documented layouts define, scale packers round-trip, every SIMD level
 * gives the scalar level's bits, quantization errors stay within bounds, degenerate rows
 * behave. Bit-exactness against ggml itself is tests/integration/block_codec_vs_ggml.sh. */
#include "tests/unit/unit.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/dtype.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"
#include "formats/block_codec.h"
#include "quant/block_quantize.h"

/* Check reports every passing ck_assert to its parent; loops over many values use this. */
#define EXPECT(cond, ...)                       \
    do {                                        \
        if (!(cond)) ck_abort_msg(__VA_ARGS__); \
    } while (0)

static const mn_dtype block_types[] = {MN_Q4_0, MN_Q4_1, MN_Q5_0, MN_Q5_1, MN_Q8_0, MN_Q8_1,
                                       MN_Q2_K, MN_Q3_K, MN_Q4_K, MN_Q5_K, MN_Q6_K, MN_Q8_K};
#define N_BLOCK_TYPES (int)(sizeof block_types / sizeof block_types[0])
static const mn_simd_level levels[] = {MN_SIMD_SCALAR, MN_SIMD_AVX2, MN_SIMD_AVX512};

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Equal bits, or both NaN (NaN payloads depend on operand order, which nothing promises). */
static int same_float(float a, float b) { return bits(a) == bits(b) || (isnan(a) && isnan(b)); }

static void fill_normal(mn_rng *r, float *x, int64_t n, double scale) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(scale * mn_rng_normal(r));
}

/* ---------------------------------------------------------------- hand-built blocks */

/* Builds one block of `type` from per-element levels (unsigned, as stored) and per-group
 * (scale, min) integers, following the layouts documented in block_codec.h, and returns the
 * value each element must decode to. d and dmin are powers of two and the integers small, so
 * every expected value is exact. */
static void build_block(mn_dtype type, uint8_t *blk, float *want, int seed) {
    const float d = 0.5f, dmin = 0.25f;
    const uint16_t hd = mn_f32_to_f16(d), hm = mn_f32_to_f16(dmin);
    memset(blk, 0, (size_t)mn_dtype_block_bytes(type));
    const int n = mn_dtype_block_size(type);
    for (int e = 0; e < n; e++) {
        const int v4 = (e * 7 + seed) & 15, v5 = (e * 7 + seed) & 31, v6 = (e * 11 + seed) & 63;
        const int v2 = (e * 3 + seed) & 3, v3 = (e * 5 + seed) & 7, v8 = ((e * 37 + seed) & 255) - 128;
        const int h = e / 128, s = (e / 32) & 3, l = e & 31; /* 2/3/6-bit K layout coordinates */
        const int g16 = e / 16, g32 = e / 32;
        const int sc = (g16 * 5 + seed) & 15, mn = (g16 * 3 + seed) & 15;     /* 4-bit scales */
        const int sc6 = (g32 * 13 + seed) & 63, mn6 = (g32 * 29 + seed) & 63; /* Q4_K/Q5_K */
        switch (type) {
        case MN_Q4_0:
        case MN_Q4_1: {
            mn_block_q4_1 *b1 = (mn_block_q4_1 *)blk;
            uint8_t *qs = type == MN_Q4_0 ? ((mn_block_q4_0 *)blk)->qs : b1->qs;
            qs[e & 15] |= (uint8_t)(v4 << (e < 16 ? 0 : 4));
            want[e] = type == MN_Q4_0 ? d * (float)(v4 - 8) : d * (float)v4 - dmin;
            break;
        }
        case MN_Q5_0:
        case MN_Q5_1: {
            uint8_t *qs = type == MN_Q5_0 ? ((mn_block_q5_0 *)blk)->qs : ((mn_block_q5_1 *)blk)->qs;
            uint8_t *qh = type == MN_Q5_0 ? ((mn_block_q5_0 *)blk)->qh : ((mn_block_q5_1 *)blk)->qh;
            qs[e & 15] |= (uint8_t)((v5 & 15) << (e < 16 ? 0 : 4));
            qh[e / 8] |= (uint8_t)((v5 >> 4) << (e % 8));
            want[e] = type == MN_Q5_0 ? d * (float)(v5 - 16) : d * (float)v5 - dmin;
            break;
        }
        case MN_Q8_0:
            ((mn_block_q8_0 *)blk)->qs[e] = (int8_t)v8;
            want[e] = d * (float)v8;
            break;
        case MN_Q8_1:
            ((mn_block_q8_1 *)blk)->qs[e] = (int8_t)v8;
            want[e] = d * (float)v8;
            break;
        case MN_Q8_K:
            ((mn_block_q8_k *)blk)->qs[e] = (int8_t)v8;
            want[e] = d * (float)v8;
            break;
        case MN_Q2_K: {
            mn_block_q2_k *b = (mn_block_q2_k *)blk;
            b->qs[32 * h + l] |= (uint8_t)(v2 << (2 * s));
            b->scales[g16] = (uint8_t)(sc | mn << 4);
            want[e] = d * (float)sc * (float)v2 - dmin * (float)mn;
            break;
        }
        case MN_Q3_K: {
            mn_block_q3_k *b = (mn_block_q3_k *)blk;
            b->qs[32 * h + l] |= (uint8_t)((v3 & 3) << (2 * s));
            b->hmask[e % 32] |= (uint8_t)((v3 >> 2) << (e / 32));
            const int biased = (g16 * 9 + seed) & 63;
            want[e] = d * (float)(biased - 32) * (float)(v3 - 4);
            break;
        }
        case MN_Q4_K:
        case MN_Q5_K: {
            uint8_t *qs = type == MN_Q4_K ? ((mn_block_q4_k *)blk)->qs : ((mn_block_q5_k *)blk)->qs;
            const int q = type == MN_Q4_K ? v4 : v5, hi = (e % 64) >= 32;
            qs[32 * (e / 64) + l] |= (uint8_t)((q & 15) << (hi ? 4 : 0));
            if (type == MN_Q5_K) ((mn_block_q5_k *)blk)->qh[l] |= (uint8_t)((q >> 4) << (2 * (e / 64) + hi));
            want[e] = d * (float)sc6 * (float)q - dmin * (float)mn6;
            break;
        }
        case MN_Q6_K: {
            mn_block_q6_k *b = (mn_block_q6_k *)blk;
            b->ql[64 * h + 32 * (s & 1) + l] |= (uint8_t)((v6 & 15) << (s >= 2 ? 4 : 0));
            b->qh[32 * h + l] |= (uint8_t)((v6 >> 4) << (2 * s));
            const int sc8 = ((g16 * 37 + seed) & 255) - 128;
            b->scales[g16] = (int8_t)sc8;
            want[e] = d * (float)sc8 * (float)(v6 - 32);
            break;
        }
        default: break;
        }
    }
    /* the per-block fields */
    uint8_t sc6[8], mn6[8], biased[16];
    for (int g = 0; g < 8; g++) {
        sc6[g] = (uint8_t)((g * 13 + seed) & 63);
        mn6[g] = (uint8_t)((g * 29 + seed) & 63);
    }
    for (int g = 0; g < 16; g++) biased[g] = (uint8_t)((g * 9 + seed) & 63);
    switch (type) {
    case MN_Q4_0: ((mn_block_q4_0 *)blk)->d = hd; break;
    case MN_Q4_1: ((mn_block_q4_1 *)blk)->d = hd, ((mn_block_q4_1 *)blk)->m = mn_f32_to_f16(-dmin); break;
    case MN_Q5_0: ((mn_block_q5_0 *)blk)->d = hd; break;
    case MN_Q5_1: ((mn_block_q5_1 *)blk)->d = hd, ((mn_block_q5_1 *)blk)->m = mn_f32_to_f16(-dmin); break;
    case MN_Q8_0: ((mn_block_q8_0 *)blk)->d = hd; break;
    case MN_Q8_1: ((mn_block_q8_1 *)blk)->d = hd; break;
    case MN_Q8_K: ((mn_block_q8_k *)blk)->d = d; break;
    case MN_Q2_K: ((mn_block_q2_k *)blk)->d = hd, ((mn_block_q2_k *)blk)->dmin = hm; break;
    case MN_Q3_K:
        ((mn_block_q3_k *)blk)->d = hd;
        mn_q3k_pack_scales(((mn_block_q3_k *)blk)->scales, biased);
        break;
    case MN_Q4_K:
        ((mn_block_q4_k *)blk)->d = hd, ((mn_block_q4_k *)blk)->dmin = hm;
        mn_k4_pack_scales_mins(((mn_block_q4_k *)blk)->scales, sc6, mn6);
        break;
    case MN_Q5_K:
        ((mn_block_q5_k *)blk)->d = hd, ((mn_block_q5_k *)blk)->dmin = hm;
        mn_k4_pack_scales_mins(((mn_block_q5_k *)blk)->scales, sc6, mn6);
        break;
    case MN_Q6_K: ((mn_block_q6_k *)blk)->d = hd; break;
    default: break;
    }
}

START_TEST(decode_hand_built_blocks) {
    uint8_t blocks[4 * 292];
    float want[4 * 256], got[4 * 256];
    for (int t = 0; t < N_BLOCK_TYPES; t++) {
        const mn_dtype type = block_types[t];
        const int bs = mn_dtype_block_size(type), bb = mn_dtype_block_bytes(type);
        for (int b = 0; b < 4; b++) build_block(type, blocks + b * bb, want + b * bs, 3 * b + 1);
        for (int lv = 0; lv < 3; lv++) {
            mn_codec_simd_cap(levels[lv]);
            memset(got, 0xff, sizeof got);
            mn_dequantize(type, blocks, got, 4 * bs);
            for (int e = 0; e < 4 * bs; e++)
                EXPECT(bits(got[e]) == bits(want[e]), "%s level %d element %d: %g, want %g",
                       mn_dtype_name(type), (int)mn_codec_simd(), e, got[e], want[e]);
        }
    }
    mn_codec_simd_cap(MN_SIMD_AVX512);
}
END_TEST

START_TEST(decode_plain_types) {
    const float x[5] = {1.5f, -0.0f, 65504.0f, 5.9604645e-08f, -3.25f};
    uint16_t h[5], b[5];
    float y[5];
    for (int i = 0; i < 5; i++) {
        h[i] = mn_f32_to_f16(x[i]);
        b[i] = mn_f32_to_bf16(x[i]);
    }
    mn_dequantize(MN_F16, h, y, 5);
    for (int i = 0; i < 5; i++) ck_assert_uint_eq(bits(y[i]), bits(x[i]));
    mn_dequantize(MN_BF16, b, y, 5);
    for (int i = 0; i < 5; i++) ck_assert_uint_eq(bits(y[i]), bits(mn_bf16_to_f32(b[i])));
    mn_dequantize(MN_F32, x, y, 5);
    ck_assert_mem_eq(x, y, sizeof x);
}
END_TEST

START_TEST(scale_packing_round_trips) {
    mn_rng r;
    mn_rng_seed(&r, 7);
    for (int it = 0; it < 2000; it++) {
        uint8_t sc[8], mn[8], packed[12], s, m;
        for (int j = 0; j < 8; j++) {
            sc[j] = (uint8_t)(mn_rng_next(&r) & 63);
            mn[j] = (uint8_t)(mn_rng_next(&r) & 63);
        }
        mn_k4_pack_scales_mins(packed, sc, mn);
        for (int j = 0; j < 8; j++) {
            mn_k4_unpack_scale_min(packed, j, &s, &m);
            EXPECT(s == sc[j] && m == mn[j], "k4 pair %d: (%d, %d) -> (%d, %d)", j, sc[j], mn[j], s, m);
        }
        uint8_t biased[16];
        int8_t out[16];
        for (int j = 0; j < 16; j++) biased[j] = (uint8_t)(mn_rng_next(&r) & 63);
        mn_q3k_pack_scales(packed, biased);
        mn_q3k_unpack_scales(packed, out);
        for (int j = 0; j < 16; j++) EXPECT(out[j] == biased[j] - 32, "q3k scale %d", j);
    }
}
END_TEST

/* ---------------------------------------------------------------- SIMD levels agree */

/* Rows that exercise the searches' branches: ordinary, heavy-tailed, with outliers, sparse,
 * all positive, all negative, zero, constant, f16-subnormal scales. */
static void fill_dist(mn_rng *r, float *x, int64_t n, int dist) {
    for (int64_t i = 0; i < n; i++) {
        double g = mn_rng_normal(r), v;
        switch (dist) {
        case 0: v = 0.02 * g; break;
        case 1: v = 0.01 * g / (fabs(mn_rng_normal(r)) + 0.05); break;
        case 2: v = 0.02 * g * (mn_rng_uniform(r) < 0.01 ? 100 : 1); break;
        case 3: v = mn_rng_uniform(r) < 0.9 ? 0 : g; break;
        case 4: v = fabs(g); break;
        case 5: v = -fabs(g) - 1; break;
        case 6: v = 0; break;
        case 7: v = -0.375; break;
        default: v = 1e-6 * g; break;
        }
        x[i] = (float)v;
    }
}

START_TEST(simd_levels_match_scalar) {
    enum { ROWS = 4, N = 512 };
    static float x[ROWS * N], w[N], y[3][ROWS * N];
    static uint8_t q[3][ROWS * N * 2];
    mn_rng r;
    mn_rng_seed(&r, 11);
    for (int j = 0; j < N; j++)
        w[j] = (float)exp(2 * mn_rng_normal(&r)) * (mn_rng_uniform(&r) < 0.05 ? 0 : 1);
    for (int dist = 0; dist < 9; dist++) {
        fill_dist(&r, x, ROWS * N, dist);
        for (int t = 0; t < N_BLOCK_TYPES; t++)
            for (int imat = 0; imat < 2; imat++) {
                const mn_dtype type = block_types[t];
                const size_t bytes = mn_dtype_row_bytes(type, N) * ROWS;
                for (int lv = 0; lv < 3; lv++) {
                    mn_codec_simd_cap(levels[lv]);
                    ck_assert_int_eq(mn_quantize_rows(type, x, q[lv], ROWS, N, imat ? w : NULL), 0);
                    mn_dequantize(type, q[lv], y[lv], ROWS * N);
                }
                for (int lv = 1; lv < 3; lv++) {
                    EXPECT(!memcmp(q[0], q[lv], bytes),
                           "%s dist %d imatrix %d: level %d bytes differ from scalar", mn_dtype_name(type),
                           dist, imat, lv);
                    for (int i = 0; i < ROWS * N; i++)
                        EXPECT(same_float(y[0][i], y[lv][i]), "%s decode level %d element %d",
                               mn_dtype_name(type), lv, i);
                }
            }
    }
    mn_codec_simd_cap(MN_SIMD_AVX512);
}
END_TEST

START_TEST(simd_decoders_match_scalar_on_any_bytes) {
    enum { NB = 64 };
    static uint8_t blocks[NB * 292];
    static float y[3][NB * 256];
    mn_rng r;
    mn_rng_seed(&r, 5);
    for (int t = 0; t < N_BLOCK_TYPES; t++) {
        const mn_dtype type = block_types[t];
        const int64_t n = (int64_t)NB * mn_dtype_block_size(type);
        for (size_t i = 0; i < sizeof blocks; i++) blocks[i] = (uint8_t)mn_rng_next(&r);
        for (int lv = 0; lv < 3; lv++) {
            mn_codec_simd_cap(levels[lv]);
            mn_dequantize(type, blocks, y[lv], n);
        }
        for (int lv = 1; lv < 3; lv++)
            for (int64_t i = 0; i < n; i++)
                EXPECT(same_float(y[0][i], y[lv][i]), "%s level %d element %lld: %a vs %a",
                       mn_dtype_name(type), lv, (long long)i, y[0][i], y[lv][i]);
    }
    mn_codec_simd_cap(MN_SIMD_AVX512);
}
END_TEST

/* ---------------------------------------------------------------- quality and edge cases */

START_TEST(quantization_error_within_bounds) {
    /* relative RMS error on N(0, 1) rows, about 1.25x what each type achieves */
    static const struct {
        mn_dtype type;
        double bound;
    } cases[] = {{MN_Q8_0, 0.007}, {MN_Q8_1, 0.007}, {MN_Q8_K, 0.009}, {MN_Q6_K, 0.022},
                 {MN_Q5_K, 0.045}, {MN_Q5_0, 0.055}, {MN_Q5_1, 0.048}, {MN_Q4_K, 0.09},
                 {MN_Q4_0, 0.11},  {MN_Q4_1, 0.10},  {MN_Q3_K, 0.19},  {MN_Q2_K, 0.37}};
    enum { ROWS = 8, N = 1024 };
    static float x[ROWS * N], y[ROWS * N], w[N];
    static uint8_t q[ROWS * N * 2];
    mn_rng r;
    mn_rng_seed(&r, 3);
    fill_normal(&r, x, ROWS * N, 1.0);
    for (int j = 0; j < N; j++) w[j] = (float)(0.5 + mn_rng_uniform(&r));
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int imat = 0; imat < 2; imat++) {
            ck_assert_int_eq(mn_quantize_rows(cases[c].type, x, q, ROWS, N, imat ? w : NULL), 0);
            mn_dequantize(cases[c].type, q, y, ROWS * N);
            double err = 0, ref = 0;
            for (int i = 0; i < ROWS * N; i++) {
                err += (double)(y[i] - x[i]) * (y[i] - x[i]);
                ref += (double)x[i] * x[i];
            }
            const double rel = sqrt(err / ref);
            EXPECT(rel < cases[c].bound, "%s imatrix %d: relative RMS error %.4f above %.4f",
                   mn_dtype_name(cases[c].type), imat, rel, cases[c].bound);
        }
}
END_TEST

START_TEST(degenerate_rows) {
    enum { N = 512 };
    static float x[N], y[N], w[N];
    static uint8_t q[N * 2];
    for (int j = 0; j < N; j++) w[j] = 1;
    for (int t = 0; t < N_BLOCK_TYPES; t++) {
        const mn_dtype type = block_types[t];
        for (int imat = 0; imat < 2; imat++) {
            const float *imp = imat ? w : NULL;
            /* zeros (of both signs) decode to zeros */
            for (int j = 0; j < N; j++) x[j] = j % 3 ? 0.0f : -0.0f;
            ck_assert_int_eq(mn_quantize_rows(type, x, q, 1, N, imp), 0);
            mn_dequantize(type, q, y, N);
            for (int j = 0; j < N; j++)
                EXPECT(y[j] == 0, "%s: zero row decodes to %g at %d", mn_dtype_name(type), y[j], j);
            /* a constant row stays near the constant */
            for (int j = 0; j < N; j++) x[j] = 0.3f;
            ck_assert_int_eq(mn_quantize_rows(type, x, q, 1, N, imp), 0);
            mn_dequantize(type, q, y, N);
            for (int j = 0; j < N; j++)
                EXPECT(fabsf(y[j] - 0.3f) < 0.3f * 0.07f, "%s: constant 0.3 decodes to %g",
                       mn_dtype_name(type), y[j]);
            /* denormals: tiny, finite results */
            for (int j = 0; j < N; j++) x[j] = (j & 1 ? 1 : -1) * 1e-41f * (float)(j % 7);
            ck_assert_int_eq(mn_quantize_rows(type, x, q, 1, N, imp), 0);
            mn_dequantize(type, q, y, N);
            for (int j = 0; j < N; j++)
                EXPECT(isfinite(y[j]) && fabsf(y[j]) < 1e-30f, "%s: denormal row", mn_dtype_name(type));
            /* huge values, NaN and Inf: whatever the bytes, no crash (callers reject such rows) */
            for (int j = 0; j < N; j++) x[j] = (j % 2 ? 3e38f : -1e30f) * (float)(j % 5);
            ck_assert_int_eq(mn_quantize_rows(type, x, q, 1, N, imp), 0);
            mn_dequantize(type, q, y, N);
            for (int j = 0; j < N; j++) x[j] = j % 3 ? NAN : INFINITY;
            ck_assert_int_eq(mn_quantize_rows(type, x, q, 1, N, imp), 0);
            mn_dequantize(type, q, y, N);
        }
    }
}
END_TEST

START_TEST(thread_count_does_not_change_bytes) {
    enum { ROWS = 37, N = 768 };
    static float x[ROWS * N], w[N];
    static uint8_t a[ROWS * N * 2], b[ROWS * N * 2];
    mn_rng r;
    mn_rng_seed(&r, 9);
    fill_normal(&r, x, ROWS * N, 0.05);
    for (int j = 0; j < N; j++) w[j] = (float)mn_rng_uniform(&r);
    const mn_dtype types[] = {MN_Q8_0, MN_Q4_0, MN_Q4_K, MN_Q6_K, MN_Q3_K};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const size_t bytes = mn_dtype_row_bytes(types[t], N) * ROWS;
        mn_set_threads(1);
        ck_assert_int_eq(mn_quantize_rows(types[t], x, a, ROWS, N, w), 0);
        mn_set_threads(3);
        ck_assert_int_eq(mn_quantize_rows(types[t], x, b, ROWS, N, w), 0);
        ck_assert_mem_eq(a, b, bytes);
    }
    mn_set_threads(0);
}
END_TEST

START_TEST(plain_types_quantize) {
    const float x[4] = {1.0f, -2.5f, 1e-8f, 70000.0f};
    uint16_t h[4];
    float f[4];
    ck_assert_int_eq(mn_quantize_rows(MN_F16, x, h, 2, 2, NULL), 0);
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(h[i], mn_f32_to_f16(x[i]));
    ck_assert_int_eq(mn_quantize_rows(MN_BF16, x, h, 1, 4, NULL), 0);
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(h[i], mn_f32_to_bf16(x[i]));
    ck_assert_int_eq(mn_quantize_rows(MN_F32, x, f, 4, 1, NULL), 0);
    ck_assert_mem_eq(x, f, sizeof x);
}
END_TEST

START_TEST(bad_arguments_fail_cleanly) {
    float x[256] = {0};
    uint8_t q[1024];
    mn_clear_error();
    ck_assert_int_eq(mn_quantize_rows(MN_Q4_K, x, q, 1, 128, NULL), -1);
    ck_assert_ptr_nonnull(strstr(mn_last_error(), "q4_k"));
    mn_clear_error();
    ck_assert_int_eq(mn_quantize_rows((mn_dtype)5, x, q, 1, 256, NULL), -1);
    ck_assert(mn_has_error());
    mn_clear_error();
    ck_assert_int_eq(mn_quantize_rows(MN_Q8_0, x, q, 0, 256, NULL), 0); /* no rows: nothing to do */
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("block_codec");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, decode_hand_built_blocks);
    tcase_add_test(tc, decode_plain_types);
    tcase_add_test(tc, scale_packing_round_trips);
    suite_add_tcase(s, tc);

    tc = tcase_create("levels");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, simd_levels_match_scalar);
    tcase_add_test(tc, simd_decoders_match_scalar_on_any_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("quantize");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, quantization_error_within_bounds);
    tcase_add_test(tc, degenerate_rows);
    tcase_add_test(tc, thread_count_does_not_change_bytes);
    tcase_add_test(tc, plain_types_quantize);
    tcase_add_test(tc, bad_arguments_fail_cleanly);
    suite_add_tcase(s, tc);
    return s;
}

MN_UNIT_MAIN
