/* minnow's side of llama-peer's quantize-row / dequantize-row, for
 * tests/integration/block_codec_vs_ggml.sh, plus a generator of test rows.
 *
 *   quantize_rows quantize-row TYPE IN.f32 OUT.bin --row-len N [--imatrix W.f32] [--simd L] [--threads T]
 *   quantize_rows dequantize-row TYPE IN.bin OUT.f32 --row-len N [--simd L]
 *   quantize_rows random DIST ROWS ROW_LEN OUT.f32 [SEED]
 *   quantize_rows random-blocks TYPE NBLOCKS OUT.bin [SEED]
 *
 * L caps the SIMD level (scalar, avx2, avx512). DIST is one of: gauss, uniform, heavy (ratio
 * of normals: Cauchy-like tails), outliers (gauss with 1% of values x100), sparse, ints,
 * tiny (1e-6 scale: f16-subnormal block scales), denormal, huge (1e30), positive, negative,
 * mixed (each row its own scale, some rows zero or constant), weights (positive, log-normal
 * with some zeros: an importance vector). random-blocks writes arbitrary block bytes whose f16
 * scales are finite (NaN payloads are not worth comparing). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"
#include "formats/block_codec.h"
#include "quant/block_quantize.h"

static void die(const char *msg, const char *arg) {
    fprintf(stderr, "quantize_rows: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(1);
}

static void *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die(strerror(errno), path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) die("cannot read", path);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_all(const char *path, const void *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) die("cannot write", path);
}

static mn_rng rng;
static double uniform01(void) { return mn_rng_uniform(&rng); }
static double gauss(void) { return mn_rng_normal(&rng); }

static double sample(const char *dist, long row) {
    if (!strcmp(dist, "gauss")) return 0.02 * gauss();
    if (!strcmp(dist, "uniform")) return 2 * uniform01() - 1;
    if (!strcmp(dist, "heavy")) return 0.01 * gauss() / (fabs(gauss()) + 0.05);
    if (!strcmp(dist, "outliers")) return 0.02 * gauss() * (uniform01() < 0.01 ? 100 : 1);
    if (!strcmp(dist, "sparse")) return uniform01() < 0.9 ? 0 : gauss();
    if (!strcmp(dist, "ints")) return (double)(int)(4 * gauss());
    if (!strcmp(dist, "tiny")) return 1e-6 * gauss();
    if (!strcmp(dist, "denormal")) return 1e-40 * gauss();
    if (!strcmp(dist, "huge")) return 1e30 * gauss();
    if (!strcmp(dist, "positive")) return fabs(gauss());
    if (!strcmp(dist, "negative")) return -fabs(gauss()) - 1;
    if (!strcmp(dist, "weights")) return uniform01() < 0.05 ? 0 : exp(2 * gauss());
    if (!strcmp(dist, "mixed")) {
        switch (row % 8) {
        case 0: return 0;
        case 1: return 0.125;
        case 2: return -0.0;
        default: return gauss() * pow(10, (double)(row % 8) - 5);
        }
    }
    die("unknown distribution", dist);
    return 0;
}

static int cmd_random(int argc, char **argv) {
    if (argc < 6) die("usage: random DIST ROWS ROW_LEN OUT.f32 [SEED]", NULL);
    const long rows = atol(argv[3]), len = atol(argv[4]);
    mn_rng_seed(&rng, argc > 6 ? strtoull(argv[6], NULL, 10) : 1);
    float *x = malloc(sizeof(float) * (size_t)(rows * len));
    for (long r = 0; r < rows; r++)
        for (long j = 0; j < len; j++) x[r * len + j] = (float)sample(argv[2], r);
    write_all(argv[5], x, sizeof(float) * (size_t)(rows * len));
    free(x);
    return 0;
}

/* Byte offsets of a block type's f16 scale fields (-1 terminated). */
static const int *half_fields(mn_dtype type) {
    static const int q4_0[] = {offsetof(mn_block_q4_0, d), -1},
                     q4_1[] = {offsetof(mn_block_q4_1, d), offsetof(mn_block_q4_1, m), -1};
    static const int q5_0[] = {offsetof(mn_block_q5_0, d), -1},
                     q5_1[] = {offsetof(mn_block_q5_1, d), offsetof(mn_block_q5_1, m), -1};
    static const int q8_0[] = {offsetof(mn_block_q8_0, d), -1};
    static const int q2_k[] = {offsetof(mn_block_q2_k, d), offsetof(mn_block_q2_k, dmin), -1};
    static const int q3_k[] = {offsetof(mn_block_q3_k, d), -1};
    static const int q4_k[] = {offsetof(mn_block_q4_k, d), offsetof(mn_block_q4_k, dmin), -1};
    static const int q5_k[] = {offsetof(mn_block_q5_k, d), offsetof(mn_block_q5_k, dmin), -1};
    static const int q6_k[] = {offsetof(mn_block_q6_k, d), -1};
    static const int f16[] = {0, -1}, none[] = {-1};
    switch (type) {
    case MN_Q4_0: return q4_0;
    case MN_Q4_1: return q4_1;
    case MN_Q5_0: return q5_0;
    case MN_Q5_1: return q5_1;
    case MN_Q8_0: return q8_0;
    case MN_Q2_K: return q2_k;
    case MN_Q3_K: return q3_k;
    case MN_Q4_K: return q4_k;
    case MN_Q5_K: return q5_k;
    case MN_Q6_K: return q6_k;
    case MN_F16: return f16;
    default: return none;
    }
}

static int cmd_random_blocks(int argc, char **argv) {
    mn_dtype type;
    if (argc < 5 || mn_dtype_from_name(argv[2], &type))
        die("usage: random-blocks TYPE NBLOCKS OUT.bin [SEED]", NULL);
    if (type == MN_BF16 || type == MN_F32) die("random-blocks is for f16 and block types", argv[2]);
    const long nb = atol(argv[3]);
    const int bytes = mn_dtype_block_bytes(type);
    mn_rng_seed(&rng, argc > 5 ? strtoull(argv[5], NULL, 10) : 1);
    uint8_t *buf = malloc((size_t)(nb * bytes));
    for (long i = 0; i < nb * bytes; i++) buf[i] = (uint8_t)(uniform01() * 256);
    for (long b = 0; b < nb; b++)
        for (const int *f = half_fields(type); *f >= 0; f++) {
            uint16_t h = (uint16_t)(uniform01() * 65536);
            if ((h & 0x7c00) == 0x7c00) h &= 0xbfff; /* no inf/NaN */
            memcpy(buf + b * bytes + *f, &h, 2);
        }
    write_all(argv[4], buf, (size_t)(nb * bytes));
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "random")) return cmd_random(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "random-blocks")) return cmd_random_blocks(argc, argv);
    if (argc < 5)
        die("usage: quantize-row|dequantize-row TYPE IN OUT --row-len N [--imatrix W] [--simd L] "
            "[--threads T]",
            NULL);
    long row_len = 0;
    const char *imatrix = NULL;
    for (int i = 5; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--row-len"))
            row_len = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--imatrix"))
            imatrix = argv[i + 1];
        else if (!strcmp(argv[i], "--threads"))
            mn_set_threads(atoi(argv[i + 1]));
        else if (!strcmp(argv[i], "--simd"))
            mn_codec_simd_cap(!strcmp(argv[i + 1], "scalar") ? MN_SIMD_SCALAR
                              : !strcmp(argv[i + 1], "avx2") ? MN_SIMD_AVX2
                                                             : MN_SIMD_AVX512);
        else
            die("unknown option", argv[i]);
    }
    mn_dtype type;
    if (mn_dtype_from_name(argv[2], &type)) die("unknown type", argv[2]);
    const size_t row_bytes = mn_dtype_row_bytes(type, row_len);
    if (row_len <= 0 || row_bytes == 0) die("bad --row-len for this type", argv[2]);
    size_t len;
    void *in = read_all(argv[3], &len);
    if (!strcmp(argv[1], "quantize-row")) {
        const long rows = (long)(len / sizeof(float) / (size_t)row_len);
        float *w = NULL;
        if (imatrix) {
            size_t wlen;
            w = read_all(imatrix, &wlen);
            if (wlen != sizeof(float) * (size_t)row_len)
                die("the importance file must hold --row-len floats", imatrix);
        }
        void *out = malloc(row_bytes * (size_t)rows + 1);
        if (mn_quantize_rows(type, in, out, rows, row_len, w)) die(mn_last_error(), NULL);
        write_all(argv[4], out, row_bytes * (size_t)rows);
        free(out);
        free(w);
    } else if (!strcmp(argv[1], "dequantize-row")) {
        if (len % row_bytes) die("input is not a whole number of rows", argv[3]);
        const size_t rows = len / row_bytes;
        float *out = malloc(sizeof(float) * rows * (size_t)row_len + 1);
        mn_dequantize(type, in, out, (int64_t)(rows * (size_t)row_len));
        write_all(argv[4], out, sizeof(float) * rows * (size_t)row_len);
        free(out);
    } else {
        die("unknown command", argv[1]);
    }
    free(in);
    return 0;
}
