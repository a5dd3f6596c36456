/* mn_dequantize's dispatch (type x CPU level) and the scale-field packers. */
#include <assert.h>
#include <string.h>

#include "formats/block_codec_internal.h"

/* __builtin_cpu_supports reads flags libgcc fills in before main: cheap enough per call. */
static mn_simd_level cpu_level(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && mn_cpu_has_f16c())
        return MN_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && mn_cpu_has_f16c()) return MN_SIMD_AVX2;
#endif
    return MN_SIMD_SCALAR;
}

/* Written once by tests or benchmarks before any worker threads run; plain int is enough. */
static int simd_cap = MN_SIMD_AVX512;

mn_simd_level mn_codec_simd_cap(mn_simd_level max) {
    simd_cap = max;
    return mn_codec_simd();
}

mn_simd_level mn_codec_simd(void) {
    mn_simd_level cpu = cpu_level();
    return (int)cpu < simd_cap ? cpu : (mn_simd_level)simd_cap;
}

void mn_dequantize(mn_dtype type, const void *src, float *dst, int64_t n) {
    switch (type) {
    case MN_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return;
    case MN_F16: mn_f16_to_f32_row(src, dst, n); return;
    case MN_BF16: mn_bf16_to_f32_row(src, dst, n); return;
    default: break;
    }
    const int bs = mn_dtype_block_size(type);
    assert(bs > 1 && n % bs == 0);
    if (bs <= 1) return;
    mn_block_decoder fn = NULL;
    switch (mn_codec_simd()) {
    case MN_SIMD_AVX512: fn = mn_block_decoder_avx512(type); /* fall through */
    case MN_SIMD_AVX2: if (!fn) fn = mn_block_decoder_avx2(type); /* fall through */
    case MN_SIMD_SCALAR: if (!fn) fn = mn_block_decoder_scalar(type);
    }
    fn(src, dst, n / bs);
}

void mn_k4_pack_scales_mins(uint8_t scales[12], const uint8_t sc[8], const uint8_t m[8]) {
    for (int j = 0; j < 4; j++) {
        scales[j] = sc[j];
        scales[j + 4] = m[j];
    }
    for (int j = 4; j < 8; j++) {
        scales[j + 4] = (uint8_t)((sc[j] & 15) | (m[j] & 15) << 4);
        scales[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
        scales[j] |= (uint8_t)((m[j] >> 4) << 6);
    }
}

void mn_q3k_unpack_scales(const uint8_t scales[12], int8_t out[16]) {
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? scales[j] & 15 : scales[j - 8] >> 4;
        int hi = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((lo | hi << 4) - 32);
    }
}

void mn_q3k_pack_scales(uint8_t scales[12], const uint8_t biased[16]) {
    memset(scales, 0, 12);
    for (int j = 0; j < 16; j++) {
        if (j < 8)
            scales[j] = biased[j] & 15;
        else
            scales[j - 8] |= (uint8_t)((biased[j] & 15) << 4);
        scales[8 + j % 4] |= (uint8_t)((biased[j] >> 4) << (2 * (j / 4)));
    }
}

/* The structs must be ggml's bytes exactly; core/dtype.h holds the same numbers. */
_Static_assert(sizeof(mn_block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(mn_block_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(mn_block_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(mn_block_q5_1) == 24, "q5_1 layout");
_Static_assert(sizeof(mn_block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(mn_block_q8_1) == 36, "q8_1 layout");
_Static_assert(sizeof(mn_block_q2_k) == 84, "q2_k layout");
_Static_assert(sizeof(mn_block_q3_k) == 110, "q3_k layout");
_Static_assert(sizeof(mn_block_q4_k) == 144, "q4_k layout");
_Static_assert(sizeof(mn_block_q5_k) == 176, "q5_k layout");
_Static_assert(sizeof(mn_block_q6_k) == 210, "q6_k layout");
_Static_assert(sizeof(mn_block_q8_k) == 292, "q8_k layout");
