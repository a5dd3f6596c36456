/* ggml's reference rounding of the 32-value types with AVX2, one block (four vectors) at a
 * time; mn_legacy_ref_scalar is the definition. Exactness notes:
 * - ggml keeps the first element reaching the extreme (strict comparisons), which matters
 *   only for the sign of a zero extreme; the vector reductions find the extreme value, then
 *   the first element equal to it supplies the bits.
 * - cvttps2dq is the x86 conversion ggml's build uses, including INT32_MIN for out-of-range
 *   values; narrowing to bytes keeps the low byte, as C's int-to-int8 conversion does. */
#include "quant/block_quantize_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,f16c")))

static inline AVX2 float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

static inline AVX2 float hmin(__m256 v) {
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_min_ss(m, _mm_movehdup_ps(m)));
}

/* The first of the 32 values x whose v equals target (v is x or |x|). */
static inline AVX2 float first_equal(const float *x, const __m256 v[4], float target) {
    const __m256 t = _mm256_set1_ps(target);
    uint32_t mask = 0;
    for (int k = 0; k < 4; k++)
        mask |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(v[k], t, _CMP_EQ_OQ)) << (8 * k);
    return x[mask ? __builtin_ctz(mask) : 0]; /* mask is never 0 for finite input */
}

/* Low bytes of 4 x 8 int32 lanes, in order. */
static inline AVX2 __m256i low_bytes(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ff = _mm256_set1_epi32(0xff);
    __m256i ab = _mm256_packus_epi32(_mm256_and_si256(a, ff), _mm256_and_si256(b, ff));
    __m256i cd = _mm256_packus_epi32(_mm256_and_si256(c, ff), _mm256_and_si256(d, ff));
    return _mm256_permutevar8x32_epi32(_mm256_packus_epi16(ab, cd),
                                       _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* int32 -> int8 -> int32, as C converts to int8_t. */
static inline AVX2 __m256i as_int8(__m256i v) { return _mm256_srai_epi32(_mm256_slli_epi32(v, 24), 24); }

/* (int32_t)roundf(t): halves away from zero. */
static inline AVX2 __m256i round_away(__m256 t) {
    const __m256 tr = _mm256_round_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 fr = _mm256_sub_ps(t, tr), one = _mm256_set1_ps(1.0f);
    __m256 r = _mm256_add_ps(tr, _mm256_and_ps(_mm256_cmp_ps(fr, _mm256_set1_ps(0.5f), _CMP_GE_OQ), one));
    r = _mm256_sub_ps(r, _mm256_and_ps(_mm256_cmp_ps(fr, _mm256_set1_ps(-0.5f), _CMP_LE_OQ), one));
    return _mm256_cvttps_epi32(r);
}

/* Packs levels (element 8k + j in lane j of q[k]) into the payload; see mn_legacy_pack. */
static inline AVX2 void pack(mn_legacy_ref kind, const __m256i q[4], uint8_t *payload) {
    if (kind == MN_REF_Q8_0) {
        _mm256_storeu_si256((__m256i *)payload, low_bytes(q[0], q[1], q[2], q[3]));
        return;
    }
    __m256i lo = q[0], hi = q[1], lo2 = q[2], hi2 = q[3];
    if (kind == MN_REF_Q5_0 || kind == MN_REF_Q5_1) {
        uint32_t qh = 0;
        for (int k = 0; k < 4; k++)
            qh |= (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_slli_epi32(q[k], 27))) << (8 * k);
        memcpy(payload, &qh, 4);
        payload += 4;
        const __m256i low4 = _mm256_set1_epi32(15);
        lo = _mm256_and_si256(lo, low4);
        hi = _mm256_and_si256(hi, low4);
        lo2 = _mm256_and_si256(lo2, low4);
        hi2 = _mm256_and_si256(hi2, low4);
    }
    /* byte j = level j | level j + 16 << 4, truncated */
    const __m256i bytes = low_bytes(_mm256_or_si256(lo, _mm256_slli_epi32(lo2, 4)),
                                    _mm256_or_si256(hi, _mm256_slli_epi32(hi2, 4)), lo, lo);
    _mm_storeu_si128((__m128i *)payload, _mm256_castsi256_si128(bytes));
}

AVX2 void mn_legacy_ref_avx2(mn_legacy_ref kind, int nb, const float *x, uint8_t *payload, float *d_out,
                             float *m_out) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int b = 0; b < nb; b++, x += MN_QK, payload += MN_LEGACY_PAYLOAD) {
        __m256 v[4], a[4];
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            a[k] = _mm256_andnot_ps(sign, v[k]);
        }
        if (kind == MN_REF_Q4_1 || kind == MN_REF_Q5_1) {
            const float min =
                first_equal(x, v, hmin(_mm256_min_ps(_mm256_min_ps(v[0], v[1]), _mm256_min_ps(v[2], v[3]))));
            const float max =
                first_equal(x, v, hmax(_mm256_max_ps(_mm256_max_ps(v[0], v[1]), _mm256_max_ps(v[2], v[3]))));
            const bool q4 = kind == MN_REF_Q4_1;
            const float d = (max - min) / (q4 ? 15.0f : 31.0f);
            const __m256 id = _mm256_set1_ps(d != 0 ? 1.0f / d : 0.0f), vmin = _mm256_set1_ps(min);
            for (int k = 0; k < 4; k++) {
                __m256 t = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v[k], vmin), id), _mm256_set1_ps(0.5f));
                q[k] = _mm256_cvttps_epi32(t);
                if (q4) q[k] = _mm256_min_epi32(as_int8(q[k]), _mm256_set1_epi32(15));
            }
            d_out[b] = d;
            m_out[b] = min;
        } else {
            const float amax = hmax(_mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3])));
            if (kind == MN_REF_Q8_0) {
                const float d = amax / 127;
                const __m256 id = _mm256_set1_ps(d != 0 ? 1.0f / d : 0.0f);
                for (int k = 0; k < 4; k++) q[k] = round_away(_mm256_mul_ps(v[k], id));
                d_out[b] = d;
            } else {
                const bool q4 = kind == MN_REF_Q4_0;
                /* ggml keeps max = 0 (not the first element) when the block is all zeros */
                const float max = amax > 0 ? first_equal(x, a, amax) : 0.0f;
                const float d = max / (q4 ? -8.0f : -16.0f);
                const __m256 id = _mm256_set1_ps(d != 0 ? 1.0f / d : 0.0f),
                             bias = _mm256_set1_ps(q4 ? 8.5f : 16.5f);
                const __m256i top = _mm256_set1_epi32(q4 ? 15 : 31);
                for (int k = 0; k < 4; k++)
                    q[k] = _mm256_min_epi32(
                        as_int8(_mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(v[k], id), bias))), top);
                d_out[b] = d;
            }
        }
        pack(kind, q, payload);
    }
}
#endif
