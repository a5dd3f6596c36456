/* AVX2 and AVX-512 decoders. Built with plain -O2: each function carries its own target
 * attribute and block_codec.c only calls it when the CPU has the extension.
 *
 * Bit-exactness with the scalar decoders: products and sums are separate instructions, never
 * FMA (which rounds once); a - m is computed as a + (-m), which IEEE arithmetic defines to be
 * the same number; integer-to-float conversions are exact.
 *
 * Speed: the K-quants first unpack a super-block into 256 signed bytes plus one (scale,
 * offset) pair per 16 elements, with byte-wide shifts and masks; a single widening loop then
 * turns bytes into floats with memory-operand sign extensions, so every output vector costs
 * one shuffle-port instruction, one conversion, one multiply (and one add). */
#include "formats/block_codec_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,f16c")))
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,f16c")))

static inline AVX2 float half(uint16_t h) { return _cvtsh_ss(h); }

/* ---- widening: signed bytes -> d * q (+ m) ---------------------------------------------- */

static inline AVX2 __m256 ld8(const int8_t *q) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)q)));
}
static inline AVX512 __m512 ld16(const int8_t *q) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q)));
}

/* The four widening steps share one signature; the mul16 ones ignore m. */
static inline AVX2 void mul16_avx2(float *y, const int8_t *q, float d, float m) {
    const __m256 vd = _mm256_set1_ps(d);
    _mm256_storeu_ps(y, _mm256_mul_ps(ld8(q), vd));
    _mm256_storeu_ps(y + 8, _mm256_mul_ps(ld8(q + 8), vd));
}
static inline AVX2 void affine16_avx2(float *y, const int8_t *q, float d, float m) {
    const __m256 vd = _mm256_set1_ps(d), vm = _mm256_set1_ps(m);
    _mm256_storeu_ps(y, _mm256_add_ps(_mm256_mul_ps(ld8(q), vd), vm));
    _mm256_storeu_ps(y + 8, _mm256_add_ps(_mm256_mul_ps(ld8(q + 8), vd), vm));
}
static inline AVX512 void mul16_avx512(float *y, const int8_t *q, float d, float m) {
    _mm512_storeu_ps(y, _mm512_mul_ps(ld16(q), _mm512_set1_ps(d)));
}
static inline AVX512 void affine16_avx512(float *y, const int8_t *q, float d, float m) {
    _mm512_storeu_ps(y, _mm512_add_ps(_mm512_mul_ps(ld16(q), _mm512_set1_ps(d)), _mm512_set1_ps(m)));
}

/* ---- K-quants: unpack a super-block, then widen ------------------------------------------ */

typedef struct {
    int8_t q[MN_QK_K];
    float d[16]; /* per group (16 or 32 elements, see KQUANT_DECODERS) */
    float m[16]; /* added after the product: minus ggml's min; unused by symmetric types */
} kblock;

static inline AVX2 void store32(int8_t *q, __m256i v) { _mm256_storeu_si256((__m256i *)q, v); }
static inline AVX2 __m256i load32(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* out[j] = d * s[j] for 8 small integers s (as signed bytes); negated exactly (sign flip, not
 * 0 - x, which would turn -0 into +0) for the mins that the widening adds. */
static inline AVX2 void scale8(float *out, const int8_t *s, float d, int negate) {
    __m256 v = _mm256_mul_ps(_mm256_set1_ps(d), ld8(s));
    if (negate) v = _mm256_xor_ps(v, _mm256_set1_ps(-0.0f));
    _mm256_storeu_ps(out, v);
}

/* Q4_K/Q5_K: the eight 6-bit (scale, min) pairs (see mn_k4_unpack_scale_min), branch-free. */
static inline AVX2 void k4_scales(const uint8_t *scales, float d, float dmin, kblock *k) {
    uint32_t u[3];
    memcpy(u, scales, 12);
    const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
    uint32_t sc[2] = {u[0] & low6, (u[2] & low4) | ((u[0] >> 6) & low2) << 4};
    uint32_t mn[2] = {u[1] & low6, ((u[2] >> 4) & low4) | ((u[1] >> 6) & low2) << 4};
    int8_t s8[8], m8[8];
    memcpy(s8, sc, 8);
    memcpy(m8, mn, 8);
    scale8(k->d, s8, d, 0);
    scale8(k->m, m8, dmin, 1);
}

static inline AVX2 void unpack_q4_k(const void *blk, kblock *k) {
    const mn_block_q4_k *b = blk;
    k4_scales(b->scales, half(b->d), half(b->dmin), k);
    const __m256i low = _mm256_set1_epi8(15);
    for (int h = 0; h < 4; h++) {
        __m256i v = load32(b->qs + 32 * h);
        store32(k->q + 64 * h, _mm256_and_si256(v, low));
        store32(k->q + 64 * h + 32, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
    }
}

static inline AVX2 void unpack_q5_k(const void *blk, kblock *k) {
    const mn_block_q5_k *b = blk;
    k4_scales(b->scales, half(b->d), half(b->dmin), k);
    const __m256i low = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1), two = _mm256_set1_epi8(2);
    __m256i qh = load32(b->qh);
    for (int h = 0; h < 4; h++, qh = _mm256_srli_epi16(qh, 2)) {
        __m256i v = load32(b->qs + 32 * h);
        __m256i lo = _mm256_or_si256(_mm256_and_si256(v, low), _mm256_slli_epi16(_mm256_and_si256(qh, one), 4));
        __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), low),
                                     _mm256_slli_epi16(_mm256_and_si256(qh, two), 3));
        store32(k->q + 64 * h, lo);
        store32(k->q + 64 * h + 32, hi);
    }
}

static inline AVX2 void unpack_q6_k(const void *blk, kblock *k) {
    const mn_block_q6_k *b = blk;
    const float d = half(b->d);
    scale8(k->d, b->scales, d, 0);
    scale8(k->d + 8, b->scales + 8, d, 0);
    const __m256i low = _mm256_set1_epi8(15), three = _mm256_set1_epi8(3), bias = _mm256_set1_epi8(32);
    for (int h = 0; h < 2; h++) {
        const __m256i ql0 = load32(b->ql + 64 * h), ql1 = load32(b->ql + 64 * h + 32);
        __m256i qh = load32(b->qh + 32 * h);
        for (int s = 0; s < 4; s++, qh = _mm256_srli_epi16(qh, 2)) {
            __m256i ql = s & 1 ? ql1 : ql0;
            if (s >= 2) ql = _mm256_srli_epi16(ql, 4);
            __m256i q = _mm256_or_si256(_mm256_and_si256(ql, low), _mm256_slli_epi16(_mm256_and_si256(qh, three), 4));
            store32(k->q + 128 * h + 32 * s, _mm256_sub_epi8(q, bias));
        }
    }
}

static inline AVX2 void unpack_q2_k(const void *blk, kblock *k) {
    const mn_block_q2_k *b = blk;
    const __m128i sc = _mm_loadu_si128((const __m128i *)b->scales);
    int8_t s16[16], m16[16];
    _mm_storeu_si128((__m128i *)s16, _mm_and_si128(sc, _mm_set1_epi8(15)));
    _mm_storeu_si128((__m128i *)m16, _mm_and_si128(_mm_srli_epi16(sc, 4), _mm_set1_epi8(15)));
    const float d = half(b->d), dmin = half(b->dmin);
    for (int j = 0; j < 16; j += 8) {
        scale8(k->d + j, s16 + j, d, 0);
        scale8(k->m + j, m16 + j, dmin, 1);
    }
    const __m256i three = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        __m256i q = load32(b->qs + 32 * h);
        for (int s = 0; s < 4; s++, q = _mm256_srli_epi16(q, 2))
            store32(k->q + 128 * h + 32 * s, _mm256_and_si256(q, three));
    }
}

static inline AVX2 void unpack_q3_k(const void *blk, kblock *k) {
    const mn_block_q3_k *b = blk;
    const float d = half(b->d);
    int8_t sc[16];
    mn_q3k_unpack_scales(b->scales, sc);
    scale8(k->d, sc, d, 0);
    scale8(k->d + 8, sc + 8, d, 0);
    const __m256i three = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    const __m256i hm = load32(b->hmask);
    for (int h = 0; h < 2; h++) {
        __m256i q = load32(b->qs + 32 * h);
        for (int s = 0; s < 4; s++, q = _mm256_srli_epi16(q, 2)) {
            const __m256i bit = _mm256_set1_epi8((char)(1u << (4 * h + s)));
            __m256i clear = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), _mm256_setzero_si256());
            __m256i level = _mm256_sub_epi8(_mm256_and_si256(q, three), _mm256_and_si256(clear, four));
            store32(k->q + 128 * h + 32 * s, level);
        }
    }
}

/* One decoder per (K-quant, level): unpack each super-block, widen it group by group
 * (group = gs elements sharing k.d[g], k.m[g]). Q8_K needs no unpacking. */
#define KQUANT_DECODER(name, level, unpack, block_t, gs, widen)                             \
    static level void name##_##level(const void *src, float *y, int64_t nb) {               \
        const block_t *b = src;                                                             \
        kblock k = {0};                                                                     \
        for (int64_t i = 0; i < nb; i++, b++) {                                             \
            unpack(b, &k);                                                                  \
            for (int g = 0; g < MN_QK_K / (gs); g++)                                        \
                for (int e = 0; e < (gs); e += 16, y += 16) widen(y, k.q + (gs) * g + e, k.d[g], k.m[g]); \
        }                                                                                   \
    }
#define KQUANT_DECODERS(name, unpack, block_t, gs, widen)                                   \
    KQUANT_DECODER(name, AVX2, unpack, block_t, gs, widen##16_avx2)                         \
    KQUANT_DECODER(name, AVX512, unpack, block_t, gs, widen##16_avx512)

KQUANT_DECODERS(q2_k, unpack_q2_k, mn_block_q2_k, 16, affine)
KQUANT_DECODERS(q3_k, unpack_q3_k, mn_block_q3_k, 16, mul)
KQUANT_DECODERS(q4_k, unpack_q4_k, mn_block_q4_k, 32, affine)
KQUANT_DECODERS(q5_k, unpack_q5_k, mn_block_q5_k, 32, affine)
KQUANT_DECODERS(q6_k, unpack_q6_k, mn_block_q6_k, 16, mul)

#define Q8_K_DECODER(level, widen)                                                          \
    static level void q8_k_##level(const void *src, float *y, int64_t nb) {                 \
        const mn_block_q8_k *b = src;                                                       \
        for (int64_t i = 0; i < nb; i++, b++)                                               \
            for (int e = 0; e < MN_QK_K; e += 16, y += 16) widen(y, b->qs + e, b->d, 0.0f); \
    }
Q8_K_DECODER(AVX2, mul16_avx2)
Q8_K_DECODER(AVX512, mul16_avx512)

/* ---- 32-element blocks ------------------------------------------------------------------- */

/* The scales (at byte offset off) of up to 8 consecutive blocks as floats, one conversion
 * for all: converting and broadcasting block by block costs more shuffle-port work than
 * widening the block itself. The halves are gathered in general registers because a vector
 * load of eight separate 2-byte stores would stall on store forwarding. */
static inline AVX2 void halves8(float out[8], const uint8_t *blocks, size_t stride, size_t off, int64_t n) {
    uint64_t lo = 0, hi = 0;
    uint16_t h;
    for (int j = 0; j < 4 && j < n; j++) {
        memcpy(&h, blocks + (size_t)j * stride + off, 2);
        lo |= (uint64_t)h << (16 * j);
    }
    for (int j = 4; j < 8 && j < n; j++) {
        memcpy(&h, blocks + (size_t)j * stride + off, 2);
        hi |= (uint64_t)h << (16 * (j - 4));
    }
    _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_set_epi64x((long long)hi, (long long)lo)));
}

/* The 32 values of a 5-bit block (low nibbles, then high nibbles) as signed bytes. */
static inline AVX2 void q5_values(int8_t q[32], const uint8_t *qs, const uint8_t *qh, int8_t offset) {
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    __m128i lo = _mm_and_si128(v, _mm_set1_epi8(15));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(15));
    /* bit 4 of element j is bit j of the little-endian word qh */
    uint32_t w;
    memcpy(&w, qh, 4);
    const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                             0x0101010101010101, 0x0000000000000000);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)w), spread);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
    __m256i all = _mm256_or_si256(_mm256_set_m128i(hi, lo), _mm256_and_si256(set, _mm256_set1_epi8(16)));
    store32(q, _mm256_sub_epi8(all, _mm256_set1_epi8(offset)));
}

/* 4-bit blocks go straight from the packed bytes: one zero-extension gives two output vectors
 * (low nibble: element j, high nibble: element j + 16). */
static inline AVX2 __m256 nib_out_avx2(__m256i v, __m256i off, __m256 d, __m256 m, int affine) {
    __m256 x = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(v, off)), d);
    return affine ? _mm256_add_ps(x, m) : x;
}
static inline AVX2 void q4_block_avx2(float *y, const uint8_t *qs, float d, float m, int offset, int affine) {
    const __m256i low = _mm256_set1_epi32(15), off = _mm256_set1_epi32(offset);
    const __m256 vd = _mm256_set1_ps(d), vm = _mm256_set1_ps(m);
    for (int j = 0; j < 16; j += 8) {
        __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(qs + j)));
        _mm256_storeu_ps(y + j, nib_out_avx2(_mm256_and_si256(v, low), off, vd, vm, affine));
        _mm256_storeu_ps(y + j + 16, nib_out_avx2(_mm256_srli_epi32(v, 4), off, vd, vm, affine));
    }
}
static inline AVX512 __m512 nib_out_avx512(__m512i v, __m512i off, __m512 d, __m512 m, int affine) {
    __m512 x = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, off)), d);
    return affine ? _mm512_add_ps(x, m) : x;
}
static inline AVX512 void q4_block_avx512(float *y, const uint8_t *qs, float d, float m, int offset, int affine) {
    __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)qs));
    const __m512i off = _mm512_set1_epi32(offset);
    const __m512 vd = _mm512_set1_ps(d), vm = _mm512_set1_ps(m);
    _mm512_storeu_ps(y, nib_out_avx512(_mm512_and_si512(v, _mm512_set1_epi32(15)), off, vd, vm, affine));
    _mm512_storeu_ps(y + 16, nib_out_avx512(_mm512_srli_epi32(v, 4), off, vd, vm, affine));
}

/* Blocks in batches of 8 sharing one scale conversion. BODY sees b (the block), d and m. */
#define LEGACY_DECODER(name, level, block_t, has_m, BODY)                                    \
    static level void name##_##level(const void *src, float *y, int64_t nb) {                \
        const block_t *b = src;                                                              \
        float ds[8], ms[8] = {0};                                                            \
        for (int64_t i = 0; i < nb; i += 8) {                                                \
            const int64_t n = nb - i < 8 ? nb - i : 8;                                       \
            halves8(ds, (const uint8_t *)b, sizeof(block_t), 0, n);                          \
            if (has_m) halves8(ms, (const uint8_t *)b, sizeof(block_t), 2, n);               \
            for (int64_t j = 0; j < n; j++, b++, y += MN_QK) {                               \
                const float d = ds[j], m = ms[j];                                            \
                BODY;                                                                        \
            }                                                                                \
        }                                                                                    \
    }

#define Q5_BODY(widen, offset)                                                               \
    int8_t q[32];                                                                            \
    q5_values(q, b->qs, b->qh, offset);                                                      \
    widen(y, q, d, m);                                                                       \
    widen(y + 16, q + 16, d, m)

LEGACY_DECODER(q4_0, AVX2, mn_block_q4_0, 0, q4_block_avx2(y, b->qs, d, m, 8, 0))
LEGACY_DECODER(q4_0, AVX512, mn_block_q4_0, 0, q4_block_avx512(y, b->qs, d, m, 8, 0))
LEGACY_DECODER(q4_1, AVX2, mn_block_q4_1, 1, q4_block_avx2(y, b->qs, d, m, 0, 1))
LEGACY_DECODER(q4_1, AVX512, mn_block_q4_1, 1, q4_block_avx512(y, b->qs, d, m, 0, 1))
LEGACY_DECODER(q5_0, AVX2, mn_block_q5_0, 0, Q5_BODY(mul16_avx2, 16))
LEGACY_DECODER(q5_0, AVX512, mn_block_q5_0, 0, Q5_BODY(mul16_avx512, 16))
LEGACY_DECODER(q5_1, AVX2, mn_block_q5_1, 1, Q5_BODY(affine16_avx2, 0))
LEGACY_DECODER(q5_1, AVX512, mn_block_q5_1, 1, Q5_BODY(affine16_avx512, 0))
LEGACY_DECODER(q8_0, AVX2, mn_block_q8_0, 0, mul16_avx2(y, b->qs, d, m); mul16_avx2(y + 16, b->qs + 16, d, m))
LEGACY_DECODER(q8_0, AVX512, mn_block_q8_0, 0, mul16_avx512(y, b->qs, d, m); mul16_avx512(y + 16, b->qs + 16, d, m))

#define DECODER_TABLE(level)                   \
    switch (type) {                            \
    case MN_Q4_0: return q4_0_##level;         \
    case MN_Q4_1: return q4_1_##level;         \
    case MN_Q5_0: return q5_0_##level;         \
    case MN_Q5_1: return q5_1_##level;         \
    case MN_Q8_0: return q8_0_##level;         \
    case MN_Q2_K: return q2_k_##level;         \
    case MN_Q3_K: return q3_k_##level;         \
    case MN_Q4_K: return q4_k_##level;         \
    case MN_Q5_K: return q5_k_##level;         \
    case MN_Q6_K: return q6_k_##level;         \
    case MN_Q8_K: return q8_k_##level;         \
    default: return NULL;                      \
    }

mn_block_decoder mn_block_decoder_avx2(mn_dtype type) { DECODER_TABLE(AVX2) }
mn_block_decoder mn_block_decoder_avx512(mn_dtype type) { DECODER_TABLE(AVX512) }

#else
mn_block_decoder mn_block_decoder_avx2(mn_dtype type) {
    (void)type;
    return NULL;
}
mn_block_decoder mn_block_decoder_avx512(mn_dtype type) {
    (void)type;
    return NULL;
}
#endif
