/* Unit tests for core/: f16/bf16 conversion, sha256, atomic output files and directories,
 * mapped files, names, errors, rng, progress, tensors. */
#include "tests/unit/unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/dtype.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/names.h"
#include "core/out_file.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/sha256.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "core/usage.h"

/* ---------------------------------------------------------------- helpers */

/* Check's ck_assert reports every passing check to the parent process over a pipe; loops over
 * millions of values use this instead, which costs nothing until it fails. */
#define EXPECT(cond, ...)                                \
    do {                                                 \
        if (!(cond)) ck_abort_msg(__VA_ARGS__);          \
    } while (0)
#define EXPECT_EQ(a, b) EXPECT((a) == (b), "%s == %s failed: %llx vs %llx", #a, #b, (unsigned long long)(a), (unsigned long long)(b))

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int f16_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }

/* Independent reference for f16 -> f32 of non-NaN values. */
static double f16_reference(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    double v;
    if (exp == 0x1f) v = INFINITY;
    else if (exp == 0) v = ldexp(mant, -24);
    else v = ldexp(1024 + mant, exp - 25);
    return sign ? -v : v;
}

/* A per-tcase scratch root, created and removed by an unchecked fixture (runs in the Check
 * parent, so it is removed even when a test fails). Each test makes its own subdirectory. */
static char scratch_root[64];

static void scratch_setup(void) {
    snprintf(scratch_root, sizeof scratch_root, "/tmp/mn-test-core-XXXXXX");
    if (!mkdtemp(scratch_root)) abort();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void scratch_teardown(void) { rm_rf(scratch_root); }

static void make_dir(char *out, size_t cap) {
    snprintf(out, cap, "%s/t-XXXXXX", scratch_root);
    ck_assert_ptr_nonnull(mkdtemp(out));
}

static void path_in(char *out, size_t cap, const char *dir, const char *name) {
    ck_assert_int_lt(snprintf(out, cap, "%s/%s", dir, name), (int)cap);
}

/* Entries of a directory (without . and ..); *temps counts minnow temporaries (".*.minnow-*")
 * and moved-aside old directories ("*.minnow-old-*"). */
static int count_entries(const char *dir, int *temps) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0, t = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n++;
        if ((e->d_name[0] == '.' && strstr(e->d_name, ".minnow-")) || strstr(e->d_name, ".minnow-old-")) t++;
    }
    closedir(d);
    if (temps) *temps = t;
    return n;
}

static char *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void spit(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static void assert_file_is(const char *path, const void *data, size_t n) {
    size_t size = 0;
    char *got = slurp(path, &size);
    ck_assert_msg(got != NULL, "%s missing", path);
    ck_assert_uint_eq(size, n);
    ck_assert_msg(memcmp(got, data, n) == 0, "%s: content differs", path);
    free(got);
}

static uint8_t pattern_byte(size_t i) { return (uint8_t)(i * 2654435761u >> 13); }

/* ---------------------------------------------------------------- f16 / bf16 */

START_TEST(f16_exhaustive_round_trip) {
    int nans = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        float f = mn_f16_to_f32(h);
        uint16_t back = mn_f32_to_f16(f);
        if (f16_is_nan(h)) {
            nans++;
            EXPECT(isnan(f), "f16 %04x should widen to NaN", h);
            EXPECT(f16_is_nan(back), "f16 NaN %04x came back as %04x", h, back);
            EXPECT_EQ(back & 0x8000, h & 0x8000);
            /* quiet NaNs keep their payload */
            if (h & 0x200) EXPECT_EQ(back, h);
        } else {
            double ref = f16_reference(h);
            EXPECT((double)f == ref, "f16 %04x -> %.9g, expected %.9g", h, f, ref);
            EXPECT(!!signbit(f) == (h >> 15), "sign of %04x", h);
            EXPECT(back == h, "f16 %04x -> %.9g -> %04x", h, f, back);
        }
    }
    ck_assert_int_eq(nans, 2 * 1023);
    ck_assert(mn_f16_to_f32(0x3c00) == 1.0f);
    ck_assert(mn_f16_to_f32(0xc000) == -2.0f);
    ck_assert(mn_f16_to_f32(0x7bff) == 65504.0f);
    ck_assert(mn_f16_to_f32(0x0400) == ldexpf(1, -14));
    ck_assert(mn_f16_to_f32(0x0001) == ldexpf(1, -24));
    ck_assert(mn_f16_to_f32(0x03ff) == ldexpf(1023, -24));
    ck_assert(isinf(mn_f16_to_f32(0x7c00)) && mn_f16_to_f32(0x7c00) > 0);
    ck_assert(isinf(mn_f16_to_f32(0xfc00)) && mn_f16_to_f32(0xfc00) < 0);
    ck_assert(signbit(mn_f16_to_f32(0x8000)) && mn_f16_to_f32(0x8000) == 0);
}
END_TEST

START_TEST(f32_to_f16_ties_to_even) {
    /* Every pair of adjacent positive f16 values a < b, including the subnormals and the step
     * from 65504 to 65536 (which is inf): the exact midpoint rounds to the even one, anything
     * above it to b, below it to a. Negative values mirror. */
    for (uint32_t h = 0; h <= 0x7bff; h++) {
        double a = f16_reference((uint16_t)h);
        double b = h == 0x7bff ? 65536.0 : f16_reference((uint16_t)(h + 1));
        float mid = (float)((a + b) / 2);
        EXPECT((double)mid == (a + b) / 2, "(double)mid == (a + b) / 2"); /* exact in f32 */
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        uint16_t got = mn_f32_to_f16(mid);
        EXPECT(got == even, "tie between %04x and %04x gave %04x", h, h + 1, got);
        EXPECT_EQ(mn_f32_to_f16(-mid), even | 0x8000);
        EXPECT_EQ(mn_f32_to_f16(nextafterf(mid, INFINITY)), h + 1);
        EXPECT_EQ(mn_f32_to_f16(nextafterf(mid, 0)), h);
        EXPECT_EQ(mn_f32_to_f16(-nextafterf(mid, 0)), h | 0x8000);
    }
    /* Overflow */
    ck_assert_uint_eq(mn_f32_to_f16(65519.996f), 0x7bff);
    ck_assert_uint_eq(mn_f32_to_f16(65520.0f), 0x7c00);
    ck_assert_uint_eq(mn_f32_to_f16(65536.0f), 0x7c00);
    ck_assert_uint_eq(mn_f32_to_f16(1e10f), 0x7c00);
    ck_assert_uint_eq(mn_f32_to_f16(bitsf(0x7f7fffff)), 0x7c00);
    ck_assert_uint_eq(mn_f32_to_f16(-bitsf(0x7f7fffff)), 0xfc00);
    ck_assert_uint_eq(mn_f32_to_f16(INFINITY), 0x7c00);
    ck_assert_uint_eq(mn_f32_to_f16(-INFINITY), 0xfc00);
    /* Underflow: f32 subnormals and values below half the smallest f16 subnormal go to zero
     * with their sign. */
    ck_assert_uint_eq(mn_f32_to_f16(bitsf(0x00000001)), 0x0000);
    ck_assert_uint_eq(mn_f32_to_f16(bitsf(0x807fffff)), 0x8000);
    ck_assert_uint_eq(mn_f32_to_f16(ldexpf(1, -26)), 0x0000);
    ck_assert_uint_eq(mn_f32_to_f16(-0.0f), 0x8000);
    ck_assert_uint_eq(mn_f32_to_f16(ldexpf(1, -25)), 0x0000); /* tie with 0: even */
    ck_assert_uint_eq(mn_f32_to_f16(ldexpf(3, -25)), 0x0002); /* tie 1|2: even */
    ck_assert_uint_eq(mn_f32_to_f16(ldexpf(1023.5f, -24)), 0x0400); /* subnormal rounds up to normal */
    ck_assert_uint_eq(mn_f32_to_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(mn_f32_to_f16(0.1f), 0x2e66);
    ck_assert_uint_eq(mn_f32_to_f16(-3.14159265f), 0xc248);
    /* NaNs stay NaN, keep the sign, and are quiet */
    const uint32_t nans[] = {0x7f800001, 0x7fc00000, 0x7fffffff, 0xffc00001, 0x7fa00000, 0xff800001};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t h = mn_f32_to_f16(bitsf(nans[i]));
        ck_assert_msg(f16_is_nan(h) && (h & 0x200), "NaN %08x -> %04x", nans[i], h);
        ck_assert_uint_eq(h & 0x8000, (nans[i] >> 16) & 0x8000);
    }
}
END_TEST

START_TEST(bf16_conversions) {
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        float f = mn_bf16_to_f32(h);
        EXPECT_EQ(fbits(f), (uint32_t)h << 16);
        uint16_t back = mn_f32_to_bf16(f);
        if ((h & 0x7f80) == 0x7f80 && (h & 0x7f)) {
            EXPECT(isnan(mn_bf16_to_f32(back)), "bf16 NaN %04x came back as %04x", h, back);
            EXPECT_EQ(back & 0x8000, h & 0x8000);
        } else {
            EXPECT(back == h, "bf16 %04x -> %04x", h, back);
        }
        if (h >= 0x7f7f && h < 0x8000) continue;
        if (h >= 0xff7f) continue;
        /* ties between h and h+1 (same sign, finite): even wins */
        uint32_t x = (uint32_t)h << 16;
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : h;
        EXPECT(mn_f32_to_bf16(bitsf(x | 0x8000)) == even, "bf16 tie after %04x", h);
        EXPECT_EQ(mn_f32_to_bf16(bitsf(x | 0x8001)), (uint16_t)(h + 1));
        EXPECT_EQ(mn_f32_to_bf16(bitsf(x | 0x7fff)), h);
        EXPECT_EQ(mn_f32_to_bf16(bitsf(x | 0xffff)), (uint16_t)(h + 1));
    }
    /* overflow rounds to infinity; infinities stay; NaN never becomes infinity */
    ck_assert_uint_eq(mn_f32_to_bf16(bitsf(0x7f7fffff)), 0x7f80);
    ck_assert_uint_eq(mn_f32_to_bf16(bitsf(0x7f7f8000)), 0x7f80); /* tie, 0x7f7f odd */
    ck_assert_uint_eq(mn_f32_to_bf16(bitsf(0x7f7f7fff)), 0x7f7f);
    ck_assert_uint_eq(mn_f32_to_bf16(bitsf(0xff7fffff)), 0xff80);
    ck_assert_uint_eq(mn_f32_to_bf16(INFINITY), 0x7f80);
    ck_assert_uint_eq(mn_f32_to_bf16(-INFINITY), 0xff80);
    const uint32_t nans[] = {0x7f800001, 0x7fc00000, 0x7fffffff, 0xff800001, 0x7f80ffff};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t h = mn_f32_to_bf16(bitsf(nans[i]));
        ck_assert_msg(isnan(mn_bf16_to_f32(h)), "NaN %08x -> bf16 %04x", nans[i], h);
        ck_assert_uint_eq(h & 0x8000, (nans[i] >> 16) & 0x8000);
    }
    /* subnormals round like everything else */
    ck_assert_uint_eq(mn_f32_to_bf16(bitsf(0x00008000)), 0x0000);
    ck_assert_uint_eq(mn_f32_to_bf16(bitsf(0x00018000)), 0x0002);
    ck_assert_uint_eq(mn_f32_to_bf16(1.0f), 0x3f80);
    ck_assert_uint_eq(mn_f32_to_bf16(-3.14159265f), 0xc049);
}
END_TEST

/* Random f32 values that exercise every branch of f32 -> f16/bf16. */
static float random_f32(mn_rng *r) {
    uint64_t k = mn_rng_next(r);
    switch (k % 5) {
    case 0: return bitsf((uint32_t)(k >> 32)); /* any bit pattern: NaN, inf, subnormals */
    case 1: { /* the f16 range, normal and subnormal */
        double m = mn_rng_uniform(r);
        int e = (int)(mn_rng_next(r) % 46) - 28;
        return (float)((k & 8 ? -1 : 1) * ldexp(m, e));
    }
    case 2: { /* exact f16 ties */
        uint16_t h = (uint16_t)((k >> 16) % 0x7bff);
        float t = (float)((f16_reference(h) + f16_reference((uint16_t)(h + 1))) / 2);
        return k & 8 ? -t : t;
    }
    case 3: { /* exact bf16 ties */
        uint32_t x = (uint32_t)(k >> 32) & 0xffff0000u;
        return bitsf(x | 0x8000);
    }
    default: return (float)(mn_rng_normal(r) * 3.0);
    }
}

START_TEST(row_converters_match_scalar) {
    enum { N = 200003 };
    uint16_t *h = malloc((N + 8) * sizeof *h);
    uint16_t *h2 = malloc((N + 8) * sizeof *h2);
    float *f = malloc((N + 8) * sizeof *f);
    float *f2 = malloc((N + 8) * sizeof *f2);
    ck_assert(h && h2 && f && f2);
    mn_rng r;
    mn_rng_seed(&r, 7);
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i; /* every f16/bf16 pattern first */
    for (int i = 65536; i < N + 8; i++) h[i] = (uint16_t)mn_rng_next(&r);
    for (int i = 0; i < N + 8; i++) f[i] = random_f32(&r);

    const int64_t lengths[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 255, 1001, 65536, N};
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
        for (int off = 0; off < 4; off += 3) { /* also unaligned starts */
            int64_t n = lengths[li];
            mn_f16_to_f32_row(h + off, f2, n);
            for (int64_t i = 0; i < n; i++)
                EXPECT(fbits(f2[i]) == fbits(mn_f16_to_f32(h[off + i])), "f16 row: %04x -> %08x vs %08x",
                              h[off + i], fbits(f2[i]), fbits(mn_f16_to_f32(h[off + i])));
            mn_bf16_to_f32_row(h + off, f2, n);
            for (int64_t i = 0; i < n; i++) EXPECT_EQ(fbits(f2[i]), fbits(mn_bf16_to_f32(h[off + i])));
            mn_f32_to_f16_row(f + off, h2, n);
            for (int64_t i = 0; i < n; i++)
                EXPECT(h2[i] == mn_f32_to_f16(f[off + i]), "f32->f16 row: %08x -> %04x vs %04x",
                              fbits(f[off + i]), h2[i], mn_f32_to_f16(f[off + i]));
            mn_f32_to_bf16_row(f + off, h2, n);
            for (int64_t i = 0; i < n; i++) EXPECT_EQ(h2[i], mn_f32_to_bf16(f[off + i]));
        }
    }
    /* f32 -> f16 -> f32 through the rows is the identity on every non-NaN f16 value */
    mn_f16_to_f32_row(h, f2, 65536);
    mn_f32_to_f16_row(f2, h2, 65536);
    for (int i = 0; i < 65536; i++)
        if (!f16_is_nan(h[i])) EXPECT_EQ(h2[i], h[i]);
        else EXPECT(f16_is_nan(h2[i]), "f16_is_nan(h2[i])");
    free(h), free(h2), free(f), free(f2);
}
END_TEST

START_TEST(dtype_table) {
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_F32, 7), 28);
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_F16, 7), 14);
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_BF16, 3), 6);
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_Q8_0, 64), 68);
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_Q8_0, 33), 0);
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_Q4_0, 32), 18);
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_Q4_1, 32), 20);
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_Q4_K, 512), 288);
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_Q5_K, 256), 176);
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_Q6_K, 256), 210);
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_Q6_K, 128), 0);
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_F32, -4), 0);
    ck_assert_uint_eq(mn_dtype_row_bytes((mn_dtype)4, 32), 0);
    /* a row whose byte count does not fit a size_t is 0 (not a wrapped small number) */
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_F32, INT64_C(1) << 62), 0);
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_F32, (INT64_C(1) << 62) + 1), 0);
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_Q8_0, INT64_MAX / 32 * 32), (size_t)(INT64_MAX / 32) * 34);
    ck_assert_uint_eq(mn_dtype_row_bytes(MN_F16, INT64_C(1) << 40), (size_t)1 << 41);

    ck_assert(mn_dtype_supported(0) && mn_dtype_supported(1) && mn_dtype_supported(8) && mn_dtype_supported(30));
    ck_assert(!mn_dtype_supported(4) && !mn_dtype_supported(5) && !mn_dtype_supported(16) &&
              !mn_dtype_supported(31) && !mn_dtype_supported(0xffffffffu));
    ck_assert(mn_dtype_is_quantized(MN_Q4_K) && !mn_dtype_is_quantized(MN_F16) && !mn_dtype_is_quantized(MN_BF16));
    ck_assert_int_eq(mn_dtype_block_size(MN_Q8_0), 32);
    ck_assert_int_eq(mn_dtype_block_bytes(MN_Q8_0), 34);
    ck_assert_int_eq(mn_dtype_block_size(MN_Q6_K), 256);
    ck_assert_int_eq(mn_dtype_block_size((mn_dtype)99), 0);
    ck_assert_str_eq(mn_dtype_name(MN_Q4_K), "q4_k");
    ck_assert_str_eq(mn_dtype_name(MN_BF16), "bf16");
    ck_assert_str_eq(mn_dtype_name((mn_dtype)99), "?");
    const mn_dtype all[] = {MN_F32, MN_F16, MN_Q4_0, MN_Q4_1, MN_Q5_0, MN_Q5_1, MN_Q8_0, MN_Q8_1,
                            MN_Q2_K, MN_Q3_K, MN_Q4_K, MN_Q5_K, MN_Q6_K, MN_Q8_K, MN_BF16};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        mn_dtype t = (mn_dtype)-1;
        ck_assert_int_eq(mn_dtype_from_name(mn_dtype_name(all[i]), &t), 0);
        ck_assert_int_eq(t, all[i]);
    }
    mn_dtype t;
    ck_assert_int_eq(mn_dtype_from_name("Q4_K", &t), 0);
    ck_assert_int_eq(t, MN_Q4_K);
    mn_clear_error();
    ck_assert_int_eq(mn_dtype_from_name("q9_k", &t), -1);
    ck_assert_int_eq(mn_dtype_from_name("", &t), -1);
    ck_assert(!mn_has_error());
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    /* CPUID agrees with gcc's own feature test (clang 14 has none for F16C) */
    ck_assert_int_eq(mn_cpu_has_f16c(), __builtin_cpu_supports("f16c") != 0);
#endif
}
END_TEST

START_TEST(tensor_helpers) {
    static uint8_t data[3 * 2 * 68];
    mn_tensor t = {.type = MN_Q8_0, .n_dims = 3, .ne = {64, 2, 3, 1}, .data = data, .nbytes = sizeof data};
    ck_assert_int_eq(mn_tensor_nelements(&t), 384);
    ck_assert_int_eq(mn_tensor_nrows(&t), 6);
    ck_assert_uint_eq(mn_tensor_row_bytes(&t), 68);
    ck_assert_ptr_eq(mn_tensor_row(&t, 5), data + 5 * 68);
    mn_tensor v = {.type = MN_F32, .n_dims = 1, .ne = {10, 1, 1, 1}};
    ck_assert_int_eq(mn_tensor_nelements(&v), 10);
    ck_assert_int_eq(mn_tensor_nrows(&v), 1);
}
END_TEST

/* ---------------------------------------------------------------- sha256 */

static void hex_of(const void *data, size_t n, char out[65]) { mn_sha256_hex(data, n, out); }

START_TEST(sha256_vectors) {
    char hex[65];
    hex_of("", 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m448, strlen(m448), hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    hex_of(m896, strlen(m896), hex);
    ck_assert_str_eq(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");

    /* one million 'a' in pieces of odd sizes that straddle the 64-byte blocks */
    static char as[1000000];
    memset(as, 'a', sizeof as);
    mn_sha256 s;
    mn_sha256_init(&s);
    const size_t pieces[] = {1, 63, 65, 7, 127, 64, 3, 1000, 4093};
    size_t done = 0, k = 0;
    while (done < sizeof as) {
        size_t take = pieces[k++ % (sizeof pieces / sizeof pieces[0])];
        if (take > sizeof as - done) take = sizeof as - done;
        mn_sha256_update(&s, as + done, take);
        done += take;
    }
    uint8_t d[32];
    mn_sha256_final(&s, d);
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", d[i]);
    ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    hex_of(as, sizeof as, hex);
    ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    /* padding boundaries: 55 bytes fits one block with the length, 56 needs two */
    struct { size_t n; const char *hex; } edges[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        hex_of(as, edges[i].n, hex);
        ck_assert_msg(!strcmp(hex, edges[i].hex), "%zu x 'a'", edges[i].n);
    }
}
END_TEST

/* ---------------------------------------------------------------- out_file */

START_TEST(out_commit_writes_exact_bytes) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "model.gguf");
    enum { TOTAL = 300007 };
    uint8_t *want = malloc(TOTAL);
    for (size_t i = 0; i < TOTAL; i++) want[i] = pattern_byte(i);

    mn_clear_error();
    mn_out_file *f = mn_out_open(path);
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq(mn_out_path(f), path);
    int temps;
    ck_assert_int_eq(count_entries(dir, &temps), 1);
    ck_assert_int_eq(temps, 1);
    const size_t pieces[] = {1, 65535, 2, 70000, 65536, 3, 99000};
    size_t done = 0;
    for (size_t k = 0; done < TOTAL; k++) {
        size_t take = pieces[k % 7];
        if (take > TOTAL - done) take = TOTAL - done;
        ck_assert_int_eq(mn_out_write(f, want + done, take), 0);
        done += take;
        ck_assert_uint_eq(mn_out_offset(f), done);
    }
    ck_assert_int_eq(mn_out_write(f, want, 0), 0);
    ck_assert(!mn_file_exists(path)); /* nothing at the destination before commit */
    ck_assert_int_eq(mn_out_commit(f), 0);
    assert_file_is(path, want, TOTAL);
    ck_assert_int_eq(count_entries(dir, &temps), 1);
    ck_assert_int_eq(temps, 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);

    /* an empty file commits too */
    path_in(path, sizeof path, dir, "empty");
    f = mn_out_open(path);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(mn_out_commit(f), 0);
    assert_file_is(path, "", 0);

    /* mn_out_write_whole */
    path_in(path, sizeof path, dir, "whole.txt");
    ck_assert_int_eq(mn_out_write_whole(path, "hello\n", 6), 0);
    assert_file_is(path, "hello\n", 6);
    ck_assert_int_eq(count_entries(dir, &temps), 3);
    ck_assert_int_eq(temps, 0);
    ck_assert(!mn_has_error());
    free(want);
}
END_TEST

START_TEST(out_abort_leaves_nothing) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "out.bin");
    mn_out_file *f = mn_out_open(path);
    ck_assert_ptr_nonnull(f);
    static uint8_t big[200000];
    ck_assert_int_eq(mn_out_write(f, big, sizeof big), 0); /* some of it reached the disk */
    mn_out_abort(f);
    int temps;
    ck_assert_int_eq(count_entries(dir, &temps), 0);
    mn_out_abort(NULL);
}
END_TEST

START_TEST(out_replaces_existing_only_at_commit) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "model.gguf");
    spit(path, "old contents", 12);

    mn_out_file *f = mn_out_open(path);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(mn_out_write(f, "new", 3), 0);
    assert_file_is(path, "old contents", 12);
    mn_out_abort(f);
    assert_file_is(path, "old contents", 12);

    f = mn_out_open(path);
    ck_assert_ptr_nonnull(f);
    static uint8_t big[100000];
    memset(big, 'n', sizeof big);
    ck_assert_int_eq(mn_out_write(f, big, sizeof big), 0);
    assert_file_is(path, "old contents", 12);
    ck_assert_int_eq(mn_out_commit(f), 0);
    assert_file_is(path, big, sizeof big);
    int temps;
    ck_assert_int_eq(count_entries(dir, &temps), 1);
    ck_assert_int_eq(temps, 0);
}
END_TEST

START_TEST(out_pad_to) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "padded");
    mn_out_file *f = mn_out_open(path);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(mn_out_pad_to(f, 32), 0); /* at 0: nothing */
    ck_assert_uint_eq(mn_out_offset(f), 0);
    ck_assert_int_eq(mn_out_write(f, "abcde", 5), 0);
    ck_assert_int_eq(mn_out_pad_to(f, 32), 0);
    ck_assert_uint_eq(mn_out_offset(f), 32);
    ck_assert_int_eq(mn_out_pad_to(f, 32), 0);
    ck_assert_uint_eq(mn_out_offset(f), 32);
    ck_assert_int_eq(mn_out_pad_to(f, 1), 0);
    ck_assert_uint_eq(mn_out_offset(f), 32);
    ck_assert_int_eq(mn_out_pad_to(f, 0), 0); /* no alignment: nothing, and no division by zero */
    ck_assert_uint_eq(mn_out_offset(f), 32);
    ck_assert_int_eq(mn_out_write(f, "x", 1), 0);
    ck_assert_int_eq(mn_out_pad_to(f, 4096), 0); /* more padding than one internal zero block */
    ck_assert_uint_eq(mn_out_offset(f), 4096);
    ck_assert_int_eq(mn_out_write(f, "yz", 2), 0);
    ck_assert_int_eq(mn_out_pad_to(f, 8), 0);
    ck_assert_uint_eq(mn_out_offset(f), 4104);
    ck_assert_int_eq(mn_out_commit(f), 0);
    static char want[4104];
    memcpy(want, "abcde", 5);
    want[32] = 'x';
    memcpy(want + 4096, "yz", 2);
    assert_file_is(path, want, sizeof want);
}
END_TEST

START_TEST(out_open_errors) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    mn_clear_error();
    ck_assert_ptr_null(mn_out_open(dir)); /* a directory */
    ck_assert_ptr_nonnull(strstr(mn_last_error(), dir));
    ck_assert_ptr_nonnull(strstr(mn_last_error(), "directory"));
    mn_clear_error();
    path_in(path, sizeof path, dir, "no/such/dir/out.gguf");
    ck_assert_ptr_null(mn_out_open(path));
    ck_assert_ptr_nonnull(strstr(mn_last_error(), path));
    ck_assert_int_eq(mn_out_write_whole(path, "x", 1), -1);
    int temps;
    ck_assert_int_eq(count_entries(dir, &temps), 0);
    mn_clear_error();
}
END_TEST

/* In a child: file size limit `limit`, write `n` bytes, then commit. Reports on `fd` whether
 * the write or the commit failed, and the error line. */
static void fsize_child(const char *path, rlim_t limit, size_t n, int fd) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {limit, limit};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(90);
    mn_out_file *f = mn_out_open(path);
    if (!f) _exit(91);
    char *buf = malloc(n);
    memset(buf, 'z', n);
    char where = 'n';
    if (mn_out_write(f, buf, n) != 0) {
        where = 'w';
        mn_out_abort(f);
    } else if (mn_out_commit(f) != 0) {
        where = 'c';
    }
    free(buf);
    if (write(fd, &where, 1) != 1) _exit(92);
    const char *e = mn_has_error() ? mn_last_error() : "";
    if (write(fd, e, strlen(e)) < 0) _exit(93);
    _exit(0);
}

static void run_fsize_case(const char *dir, const char *name, rlim_t limit, size_t n, char expect_where) {
    char path[512];
    path_in(path, sizeof path, dir, name);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        fsize_child(path, limit, n, p[1]);
    }
    close(p[1]);
    char msg[2048] = {0};
    size_t got = 0;
    ssize_t r;
    while ((r = read(p[0], msg + got, sizeof msg - 1 - got)) > 0) got += (size_t)r;
    close(p[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    ck_assert_msg(msg[0] == expect_where, "expected failure in '%c', got '%c' (%s)", expect_where, msg[0], msg + 1);
    ck_assert_msg(strstr(msg + 1, path) != NULL, "error does not name %s: %s", path, msg + 1);
    ck_assert_msg(strstr(msg + 1, "too large") != NULL, "error does not say why: %s", msg + 1);
    ck_assert_msg(!strchr(msg + 1, '\n'), "error is not one line: %s", msg + 1);
    ck_assert(!mn_file_exists(path));
}

START_TEST(out_write_failure_leaves_nothing) {
    char dir[256];
    make_dir(dir, sizeof dir);
    /* fails while streaming (the second 64 KiB flush) */
    run_fsize_case(dir, "a.gguf", 100000, 300000, 'w');
    /* fails in the final flush at commit */
    run_fsize_case(dir, "b.gguf", 100000, 120000, 'c');
    int temps;
    ck_assert_int_eq(count_entries(dir, &temps), 0);
}
END_TEST

static void write_dir_file(mn_out_dir *d, const char *name, const char *text) {
    const char *p = mn_out_dir_file(d, name);
    ck_assert_ptr_nonnull(p);
    mn_out_file *f = mn_out_open(p);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(mn_out_write(f, text, strlen(text)), 0);
    ck_assert_int_eq(mn_out_commit(f), 0);
}

START_TEST(out_dir_commit_abort_replace) {
    char dir[256], dest[512], p[600];
    make_dir(dir, sizeof dir);
    path_in(dest, sizeof dest, dir, "student");
    int temps;

    /* abort: nothing left */
    mn_out_dir *d = mn_out_dir_open(dest);
    ck_assert_ptr_nonnull(d);
    write_dir_file(d, "config.json", "{}");
    ck_assert_int_eq(count_entries(dir, &temps), 1);
    ck_assert_int_eq(temps, 1);
    mn_out_dir_abort(d);
    ck_assert_int_eq(count_entries(dir, &temps), 0);
    mn_out_dir_abort(NULL);

    /* commit: the directory appears with exactly its files */
    d = mn_out_dir_open(dest);
    ck_assert_ptr_nonnull(d);
    write_dir_file(d, "config.json", "{\"a\": 1}");
    write_dir_file(d, "model.safetensors", "weights");
    ck_assert(!mn_file_exists(dest));
    ck_assert_int_eq(mn_out_dir_commit(d), 0);
    ck_assert(mn_is_directory(dest));
    ck_assert_int_eq(count_entries(dest, &temps), 2);
    ck_assert_int_eq(temps, 0);
    path_in(p, sizeof p, dest, "config.json");
    assert_file_is(p, "{\"a\": 1}", 8);
    path_in(p, sizeof p, dest, "model.safetensors");
    assert_file_is(p, "weights", 7);
    ck_assert_int_eq(count_entries(dir, &temps), 1);
    ck_assert_int_eq(temps, 0);

    /* replace: the old directory stays intact until commit, then is gone (trailing slash ok) */
    char dest_slash[520];
    snprintf(dest_slash, sizeof dest_slash, "%s/", dest);
    d = mn_out_dir_open(dest_slash);
    ck_assert_ptr_nonnull(d);
    write_dir_file(d, "model.safetensors", "new weights");
    path_in(p, sizeof p, dest, "model.safetensors");
    assert_file_is(p, "weights", 7);
    ck_assert_int_eq(mn_out_dir_commit(d), 0);
    assert_file_is(p, "new weights", 11);
    ck_assert_int_eq(count_entries(dest, NULL), 1); /* old config.json went with the old dir */
    ck_assert_int_eq(count_entries(dir, &temps), 1);
    ck_assert_int_eq(temps, 0);

    /* replace, then abort: the old directory is untouched */
    d = mn_out_dir_open(dest);
    ck_assert_ptr_nonnull(d);
    write_dir_file(d, "other", "x");
    mn_out_dir_abort(d);
    assert_file_is(p, "new weights", 11);
    ck_assert_int_eq(count_entries(dir, &temps), 1);
    ck_assert_int_eq(temps, 0);

    /* a regular file at the destination is refused, naming it */
    path_in(p, sizeof p, dir, "plain");
    spit(p, "x", 1);
    mn_clear_error();
    ck_assert_ptr_null(mn_out_dir_open(p));
    ck_assert_ptr_nonnull(strstr(mn_last_error(), p));
    mn_clear_error();
}
END_TEST

START_TEST(out_sigterm_cleans_up) {
    char dir[256];
    make_dir(dir, sizeof dir);
    const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (int k = 0; k < 3; k++) {
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(p[0]);
            mn_out_install_signal_cleanup();
            char path[512];
            snprintf(path, sizeof path, "%s/model.gguf", dir);
            mn_out_file *f = mn_out_open(path);
            static char big[150000];
            if (!f || mn_out_write(f, big, sizeof big)) _exit(10);
            snprintf(path, sizeof path, "%s/student", dir);
            mn_out_dir *d = mn_out_dir_open(path);
            if (!d) _exit(11);
            mn_out_file *g = mn_out_open(mn_out_dir_file(d, "model.safetensors"));
            if (!g || mn_out_write(g, big, sizeof big) || mn_out_commit(g)) _exit(12);
            mn_out_file *h = mn_out_open(mn_out_dir_file(d, "config.json"));
            if (!h || mn_out_write(h, big, sizeof big)) _exit(13);
            if (write(p[1], "r", 1) != 1) _exit(14);
            for (;;) pause();
        }
        close(p[1]);
        char c = 0;
        ck_assert_int_eq(read(p[0], &c, 1), 1);
        close(p[0]);
        int temps;
        ck_assert_int_eq(count_entries(dir, &temps), 2); /* the file's temporary and the dir's */
        ck_assert_int_eq(temps, 2);
        kill(pid, sigs[k]);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == sigs[k], "child status %#x", status);
        ck_assert_int_eq(count_entries(dir, &temps), 0);
    }
}
END_TEST

/* ---------------------------------------------------------------- mapped_file, names, errors */

START_TEST(mapped_file_cases) {
    char dir[256], path[512], other[512];
    make_dir(dir, sizeof dir);
    mn_mapped_file m;

    path_in(path, sizeof path, dir, "missing");
    mn_clear_error();
    ck_assert_int_eq(mn_map_file(path, &m), -1);
    ck_assert_ptr_nonnull(strstr(mn_last_error(), path));
    ck_assert_ptr_nonnull(strstr(mn_last_error(), "No such file"));
    ck_assert_ptr_null(m.data);
    ck_assert_ptr_null(mn_read_file(path, NULL));
    ck_assert(!mn_file_exists(path));

    mn_clear_error();
    ck_assert_int_eq(mn_map_file(dir, &m), -1);
    ck_assert_ptr_nonnull(strstr(mn_last_error(), dir));
    ck_assert_ptr_nonnull(strstr(mn_last_error(), "not a regular file"));
    ck_assert(mn_is_directory(dir));
    mn_clear_error();

    path_in(path, sizeof path, dir, "empty");
    spit(path, "", 0);
    ck_assert_int_eq(mn_map_file(path, &m), 0);
    ck_assert_ptr_null(m.data);
    ck_assert_uint_eq(m.size, 0);
    ck_assert_str_eq(m.path, path);
    mn_unmap_file(&m);
    ck_assert_ptr_null(m.path);
    size_t size = 99;
    char *text = mn_read_file(path, &size);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(size, 0);
    ck_assert_str_eq(text, "");
    free(text);

    path_in(path, sizeof path, dir, "data");
    spit(path, "hello\0world", 11);
    ck_assert_int_eq(mn_map_file(path, &m), 0);
    ck_assert_uint_eq(m.size, 11);
    ck_assert_int_eq(memcmp(m.data, "hello\0world", 11), 0);
    mn_unmap_file(&m);
    text = mn_read_file(path, &size);
    ck_assert_uint_eq(size, 11);
    ck_assert_int_eq(memcmp(text, "hello\0world", 12), 0);
    free(text);
    ck_assert(mn_file_exists(path) && !mn_is_directory(path));

    path_in(other, sizeof other, dir, "link");
    ck_assert_int_eq(link(path, other), 0);
    ck_assert(mn_same_file(path, other));
    path_in(other, sizeof other, dir, "empty");
    ck_assert(!mn_same_file(path, other));
    path_in(other, sizeof other, dir, "missing");
    ck_assert(!mn_same_file(path, other));
    ck_assert(!mn_has_error());
}
END_TEST

/* Outputs never replace an input that is mapped right now: the file itself, a link to it, or
 * (for output directories) the directory holding it; once unmapped, the path is free again. */
START_TEST(out_refuses_mapped_inputs) {
    char dir[256], sub[512], path[512], other[512];
    make_dir(dir, sizeof dir);
    path_in(sub, sizeof sub, dir, "model");
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    path_in(path, sizeof path, sub, "weights.bin");
    spit(path, "weights", 7);
    path_in(other, sizeof other, dir, "link.bin");
    ck_assert_int_eq(symlink(path, other), 0);
    mn_mapped_file m;
    ck_assert_int_eq(mn_map_file(path, &m), 0);
    ck_assert(mn_is_mapped_input(path) && mn_is_mapped_input(other) && mn_dir_holds_mapped_input(sub));
    ck_assert(!mn_dir_holds_mapped_input(dir) && !mn_is_mapped_input(sub));
    const char *targets[] = {path, other};
    for (int i = 0; i < 2; i++) {
        mn_clear_error();
        ck_assert_ptr_null(mn_out_open(targets[i]));
        ck_assert_ptr_nonnull(strstr(mn_last_error(), "refusing to overwrite an input file"));
        ck_assert_ptr_nonnull(strstr(mn_last_error(), targets[i]));
    }
    mn_clear_error();
    ck_assert_ptr_null(mn_out_dir_open(sub));
    ck_assert_ptr_nonnull(strstr(mn_last_error(), "holding an input file"));
    mn_clear_error();
    /* mn_read_file maps only while it reads */
    char *text = mn_read_file(other, NULL);
    ck_assert_ptr_nonnull(text);
    free(text);
    ck_assert(mn_is_mapped_input(path));
    mn_unmap_file(&m);
    ck_assert(!mn_is_mapped_input(path) && !mn_dir_holds_mapped_input(sub));
    ck_assert_int_eq(mn_out_write_whole(path, "new", 3), 0);
    mn_out_dir *d = mn_out_dir_open(sub);
    ck_assert_ptr_nonnull(d);
    mn_out_dir_abort(d);
    int temps;
    ck_assert_int_eq(count_entries(sub, &temps), 1);
    ck_assert_int_eq(temps, 0);
    ck_assert(!mn_has_error());
}
END_TEST

START_TEST(names_duplicates) {
    const char *none[] = {"b", "a", "c", "ab", "ba"};
    ck_assert_ptr_null(mn_first_duplicate_name(none, 5));
    ck_assert_ptr_null(mn_first_duplicate_name(none, 0));
    ck_assert_ptr_null(mn_first_duplicate_name(none, 1));
    const char *dup[] = {"x", "blk.0.attn_q.weight", "y", "blk.0.attn_q.weight", "z"};
    const char *d = mn_first_duplicate_name(dup, 5);
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(d, "blk.0.attn_q.weight");
    const char *two[] = {"same", "same"};
    ck_assert_str_eq(mn_first_duplicate_name(two, 2), "same");
    /* many names, one repeat far apart */
    enum { N = 20000 };
    char (*names)[16] = malloc(N * sizeof *names);
    const char **ptrs = malloc(N * sizeof *ptrs);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "t%d", i);
        ptrs[i] = names[i];
    }
    ck_assert_ptr_null(mn_first_duplicate_name(ptrs, N));
    ptrs[N - 1] = "t3";
    ck_assert_str_eq(mn_first_duplicate_name(ptrs, N), "t3");
    free(names);
    free(ptrs);
}
END_TEST

static void *other_thread(void *arg) {
    (void)arg;
    intptr_t ok = !mn_has_error();
    mn_fail("thread's own error");
    return (void *)ok;
}

START_TEST(error_first_wins) {
    mn_clear_error();
    ck_assert(!mn_has_error());
    ck_assert_str_eq(mn_last_error(), "unknown error");
    ck_assert_int_eq(mn_fail("%s: inner %d", "file.gguf", 7), -1);
    ck_assert_int_eq(mn_fail("outer"), -1);
    ck_assert_str_eq(mn_last_error(), "file.gguf: inner 7");
    pthread_t th;
    void *ok = NULL;
    ck_assert_int_eq(pthread_create(&th, NULL, other_thread, NULL), 0);
    ck_assert_int_eq(pthread_join(th, &ok), 0);
    ck_assert_msg(ok != NULL, "errors leaked into another thread");
    ck_assert_str_eq(mn_last_error(), "file.gguf: inner 7");
    ck_assert_int_eq(mn_fail_override("better"), -1);
    ck_assert_str_eq(mn_last_error(), "better");
    char longmsg[3000];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = 0;
    mn_clear_error();
    mn_fail("%s", longmsg); /* truncated, not overflowed */
    ck_assert_uint_lt(strlen(mn_last_error()), sizeof longmsg);
    mn_clear_error();
    ck_assert(!mn_has_error());
}
END_TEST

/* ---------------------------------------------------------------- rng, threads, usage */

START_TEST(rng_determinism_and_moments) {
    mn_rng a, b;
    mn_rng_seed(&a, 0);
    /* splitmix64's published output for seed 0 */
    ck_assert_uint_eq(a.s[0], 0xe220a8397b1dcdafull);
    ck_assert_uint_eq(a.s[1], 0x6e789e6aa1b965f4ull);
    ck_assert_uint_eq(a.s[2], 0x06c45d188009454full);
    ck_assert_uint_eq(a.s[3], 0xf88bb8a8724c81ecull);
    /* xoshiro256** over that state */
    ck_assert_uint_eq(mn_rng_next(&a), 0x99ec5f36cb75f2b4ull);
    ck_assert_uint_eq(mn_rng_next(&a), 0xbf6e1f784956452aull);
    ck_assert_uint_eq(mn_rng_next(&a), 0x1a5f849d4933e6e0ull);
    mn_rng_seed(&a, 42);
    ck_assert_uint_eq(mn_rng_next(&a), 0x15780b2e0c2ec716ull);

    mn_rng_seed(&a, 12345);
    mn_rng_seed(&b, 12345);
    for (int i = 0; i < 1000; i++) ck_assert_uint_eq(mn_rng_next(&a), mn_rng_next(&b));
    for (int i = 0; i < 100; i++) ck_assert(mn_rng_normal(&a) == mn_rng_normal(&b));
    mn_rng_seed(&b, 12346);
    int same = 0;
    for (int i = 0; i < 100; i++) same += mn_rng_next(&a) == mn_rng_next(&b);
    ck_assert_int_eq(same, 0);

    enum { N = 400000 };
    double sum = 0, sq = 0, umin = 1, umax = 0;
    int within1 = 0;
    mn_rng_seed(&a, 1);
    for (int i = 0; i < N; i++) {
        double u = mn_rng_uniform(&a);
        EXPECT(u >= 0 && u < 1, "uniform %g", u);
        if (u < umin) umin = u;
        if (u > umax) umax = u;
        double z = mn_rng_normal(&a);
        EXPECT(isfinite(z), "normal %g", z);
        sum += z;
        sq += z * z;
        within1 += fabs(z) < 1;
    }
    ck_assert(umin < 1e-4 && umax > 1 - 1e-4);
    double mean = sum / N, var = sq / N - mean * mean;
    ck_assert_msg(fabs(mean) < 0.01, "normal mean %g", mean);
    ck_assert_msg(fabs(var - 1) < 0.015, "normal variance %g", var);
    ck_assert_msg(fabs((double)within1 / N - 0.6827) < 0.005, "P(|z|<1) = %g", (double)within1 / N);
}
END_TEST

START_TEST(threads_and_usage) {
    mn_set_threads(3);
    ck_assert_int_eq(mn_threads(), 3);
    mn_set_threads(0);
    ck_assert_int_eq(mn_threads(), (int)sysconf(_SC_NPROCESSORS_ONLN));
    double t0 = mn_now();
    usleep(20000);
    double t1 = mn_now();
    ck_assert(t1 - t0 >= 0.019 && t1 - t0 < 5);
    ck_assert_uint_gt(mn_peak_rss_bytes(), 1 << 20);
}
END_TEST

/* ---------------------------------------------------------------- progress */

/* Runs fn with stderr redirected to a file and returns what was printed. */
static char *capture_stderr(const char *dir, void (*fn)(void)) {
    char path[512];
    path_in(path, sizeof path, dir, "stderr.txt");
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    dup2(fd, STDERR_FILENO);
    close(fd);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    size_t n;
    char *text = slurp(path, &n);
    unlink(path);
    return text;
}

static void long_job(void) {
    mn_progress p;
    mn_progress_set_enabled(1);
    mn_progress_begin(&p, "quantize", 10, "tensors");
    /* pretend 20 s have passed so the plain-line rate limit lets a line through */
    p.start -= 20;
    p.last_draw -= 20;
    mn_progress_update(&p, 3, "blk.3.attn_q.weight");
    mn_progress_update(&p, 4, "blk.4.attn_q.weight"); /* rate limited */
    mn_progress_update(&p, 10, NULL);
    mn_progress_end(&p);
}

static void short_job(void) {
    mn_progress p;
    mn_progress_begin(&p, "eval", 5, "chunks");
    for (int i = 1; i <= 5; i++) mn_progress_update(&p, (uint64_t)i, "x");
    mn_progress_end(&p);
}

static void silenced_job(void) {
    mn_progress_set_enabled(0);
    mn_progress p;
    mn_progress_begin(&p, "quiet", 10, "steps");
    p.start -= 20;
    p.last_draw -= 20;
    mn_progress_update(&p, 5, NULL);
    mn_progress_end(&p);
    mn_progress_set_enabled(1);
}

START_TEST(progress_plain_lines_off_a_terminal) {
    char dir[256];
    make_dir(dir, sizeof dir);
    char *out = capture_stderr(dir, long_job);
    ck_assert_msg(!strchr(out, '\033') && !strchr(out, '\r'), "escape codes in non-tty output: %s", out);
    /* two lines: the update and the final line */
    int lines = 0;
    for (const char *c = out; *c; c++) lines += *c == '\n';
    ck_assert_msg(lines == 2, "expected 2 lines, got: %s", out);
    ck_assert_uint_eq(out[strlen(out) - 1], '\n');
    ck_assert_msg(!strncmp(out, "quantize: 3/10 tensors (30%)", 28), "first line: %s", out);
    ck_assert_ptr_nonnull(strstr(out, "blk.3.attn_q.weight"));
    ck_assert_ptr_null(strstr(out, "blk.4"));
    const char *second = strchr(out, '\n') + 1;
    ck_assert_msg(!strncmp(second, "quantize: 10/10 tensors (100%)", 30), "last line: %s", second);
    ck_assert_ptr_nonnull(strstr(second, "done"));
    free(out);

    out = capture_stderr(dir, short_job);
    ck_assert_str_eq(out, ""); /* short jobs off a terminal are silent */
    free(out);
    out = capture_stderr(dir, silenced_job);
    ck_assert_str_eq(out, "");
    free(out);
}
END_TEST

/* On a terminal: a redrawn bar (carriage return, erase line), one final newline. */
START_TEST(progress_bar_on_a_terminal) {
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert_int_ge(master, 0);
    ck_assert_int_eq(grantpt(master), 0);
    ck_assert_int_eq(unlockpt(master), 0);
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    ck_assert_int_ge(slave, 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(slave, STDERR_FILENO);
    mn_progress_set_enabled(1);
    mn_progress p;
    mn_progress_begin(&p, "convert", 4, "tensors");
    int tty = p.tty;
    p.last_draw -= 1;
    mn_progress_update(&p, 2, "blk.1");
    mn_progress_end(&p);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(slave);
    /* The bar and the final line may arrive in separate reads; with every slave descriptor
     * closed, read fails (EIO) once all of it is in. */
    char out[4096];
    ssize_t n = 0, r;
    while (n < (ssize_t)sizeof out - 1 && (r = read(master, out + n, sizeof out - 1 - (size_t)n)) > 0) n += r;
    close(master);
    ck_assert(tty);
    ck_assert_int_gt(n, 0);
    out[n] = 0;
    ck_assert_msg(strstr(out, "\r\033[Kconvert [###############...............]  50% 2/4 tensors") != NULL, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "blk.1"));
    ck_assert_ptr_nonnull(strstr(out, "took"));
    ck_assert_int_eq(out[n - 1], '\n');
}
END_TEST

/* ---------------------------------------------------------------- suite */

static Suite *make_suite(void) {
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("dtype");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, f16_exhaustive_round_trip);
    tcase_add_test(tc, f32_to_f16_ties_to_even);
    tcase_add_test(tc, bf16_conversions);
    tcase_add_test(tc, row_converters_match_scalar);
    tcase_add_test(tc, dtype_table);
    tcase_add_test(tc, tensor_helpers);
    suite_add_tcase(s, tc);

    tc = tcase_create("sha256");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sha256_vectors);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, scratch_setup, scratch_teardown);
    tcase_add_test(tc, out_commit_writes_exact_bytes);
    tcase_add_test(tc, out_abort_leaves_nothing);
    tcase_add_test(tc, out_replaces_existing_only_at_commit);
    tcase_add_test(tc, out_pad_to);
    tcase_add_test(tc, out_open_errors);
    tcase_add_test(tc, out_write_failure_leaves_nothing);
    tcase_add_test(tc, out_dir_commit_abort_replace);
    tcase_add_test(tc, out_sigterm_cleans_up);
    tcase_add_test(tc, mapped_file_cases);
    tcase_add_test(tc, out_refuses_mapped_inputs);
    tcase_add_test(tc, progress_plain_lines_off_a_terminal);
    tcase_add_test(tc, progress_bar_on_a_terminal);
    suite_add_tcase(s, tc);

    tc = tcase_create("misc");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, names_duplicates);
    tcase_add_test(tc, error_first_wins);
    tcase_add_test(tc, rng_determinism_and_moments);
    tcase_add_test(tc, threads_and_usage);
    suite_add_tcase(s, tc);
    return s;
}

MN_UNIT_MAIN
