#include "core/dtype.h"

#include <string.h>
#include <strings.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

typedef struct {
    mn_dtype id;
    const char *name;
    int block_size;
    int block_bytes;
} dtype_info;

static const dtype_info dtype_table[] = {
    {MN_F32, "f32", 1, 4},      {MN_F16, "f16", 1, 2},       {MN_BF16, "bf16", 1, 2},
    {MN_Q4_0, "q4_0", 32, 18},  {MN_Q4_1, "q4_1", 32, 20},   {MN_Q5_0, "q5_0", 32, 22},
    {MN_Q5_1, "q5_1", 32, 24},  {MN_Q8_0, "q8_0", 32, 34},   {MN_Q8_1, "q8_1", 32, 36},
    {MN_Q2_K, "q2_k", 256, 84}, {MN_Q3_K, "q3_k", 256, 110}, {MN_Q4_K, "q4_k", 256, 144},
    {MN_Q5_K, "q5_k", 256, 176}, {MN_Q6_K, "q6_k", 256, 210}, {MN_Q8_K, "q8_k", 256, 292},
};

static const dtype_info *lookup(uint32_t id) {
    for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
        if ((uint32_t)dtype_table[i].id == id) return &dtype_table[i];
    return NULL;
}

bool mn_dtype_supported(uint32_t id) { return lookup(id) != NULL; }

const char *mn_dtype_name(mn_dtype t) {
    const dtype_info *d = lookup(t);
    return d ? d->name : "?";
}

int mn_dtype_from_name(const char *name, mn_dtype *out) {
    for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
        if (strcasecmp(name, dtype_table[i].name) == 0) {
            *out = dtype_table[i].id;
            return 0;
        }
    return -1;
}

int mn_dtype_block_size(mn_dtype t) {
    const dtype_info *d = lookup(t);
    return d ? d->block_size : 0;
}

int mn_dtype_block_bytes(mn_dtype t) {
    const dtype_info *d = lookup(t);
    return d ? d->block_bytes : 0;
}

bool mn_dtype_is_quantized(mn_dtype t) { return mn_dtype_block_size(t) > 1; }

size_t mn_dtype_row_bytes(mn_dtype t, int64_t n) {
    const dtype_info *d = lookup(t);
    if (!d || n < 0 || n % d->block_size) return 0;
    if ((uint64_t)(n / d->block_size) > SIZE_MAX / (size_t)d->block_bytes) return 0; /* would wrap */
    return (size_t)(n / d->block_size) * (size_t)d->block_bytes;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float mn_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    /* NaNs come out quiet with their payload, exactly as F16C's vcvtph2ps does */
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0));
    if (exp == 0) {
        if (mant == 0) return bits_f32(sign);
        /* subnormal: value = mant * 2^-24 */
        float v = (float)mant * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t mn_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* inf, or a NaN made quiet keeping its top payload bits (as vcvtps2ph) */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 | ((absx & 0x7fffff) >> 13) : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to inf */
    if (absx < 0x38800000u) {
        /* result is subnormal or zero: round absx * 2^24 to an integer, ties to even */
        float v = bits_f32(absx) * 16777216.0f;
        uint32_t r = (uint32_t)v;
        float frac = v - (float)r;
        if (frac > 0.5f || (frac == 0.5f && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t mant = absx & 0x7fffff;
    uint32_t exp = (absx >> 23) - 112;
    uint32_t h = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++; /* carry into exp is correct */
    return (uint16_t)(sign | h);
}

float mn_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t mn_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet nan */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* Safetensors does not align tensors, so 16-bit data may sit at odd addresses. */
static uint16_t load_u16(const uint16_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_X86_DISPATCH 1

__attribute__((target("avx2,f16c"))) static void f16_to_f32_f16c(const uint16_t *src, float *dst,
                                                                  int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = mn_f16_to_f32(load_u16(src + i));
}

__attribute__((target("avx2,f16c"))) static void f32_to_f16_f16c(const float *src, uint16_t *dst,
                                                                  int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = mn_f32_to_f16(src[i]);
}

__attribute__((target("avx2"))) static void bf16_to_f32_avx2(const uint16_t *src, float *dst,
                                                             int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; i < n; i++) dst[i] = mn_bf16_to_f32(load_u16(src + i));
}

static int cpu_has_f16c(void) {
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx2") && mn_cpu_has_f16c();
    return cached;
}
#endif

/* CPUID rather than __builtin_cpu_supports("f16c"), which clang 14 (the fuzz build) lacks. */
bool mn_cpu_has_f16c(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) {
        unsigned a, b, c, d;
        cached = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
    }
    return cached;
#else
    return false;
#endif
}

void mn_f16_to_f32_row(const uint16_t *src, float *dst, int64_t n) {
#ifdef HAVE_X86_DISPATCH
    if (cpu_has_f16c()) {
        f16_to_f32_f16c(src, dst, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) dst[i] = mn_f16_to_f32(load_u16(src + i));
}

void mn_f32_to_f16_row(const float *src, uint16_t *dst, int64_t n) {
#ifdef HAVE_X86_DISPATCH
    if (cpu_has_f16c()) {
        f32_to_f16_f16c(src, dst, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) dst[i] = mn_f32_to_f16(src[i]);
}

void mn_bf16_to_f32_row(const uint16_t *src, float *dst, int64_t n) {
#ifdef HAVE_X86_DISPATCH
    if (cpu_has_f16c()) {
        bf16_to_f32_avx2(src, dst, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) dst[i] = mn_bf16_to_f32(load_u16(src + i));
}

void mn_f32_to_bf16_row(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = mn_f32_to_bf16(src[i]);
}
