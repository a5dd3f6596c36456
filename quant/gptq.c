/* GPTQ (Frantar et al. 2022) for one linear layer, producing standard GGUF blocks.
 *
 * Columns (input channels) are rounded in order; the rounding error of each column is spread
 * over the columns not yet rounded, weighted by the inverse Hessian's Cholesky factor, so the
 * layer's output on the calibration inputs moves as little as possible. Updates inside a
 * block of columns are applied eagerly, those beyond it lazily as one matrix product per
 * block. Each quantization group (a GGUF block: 32 or 256 columns of one row) gets its scales
 * from the block-format quantizer when the first of its columns is reached, from the weights
 * as updated so far; its columns are then rounded one by one with those scales fixed. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quant/block_quantize.h"
#include "quant/quant_internal.h"

void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void spotri_(const char *uplo, const int *n, float *a, const int *lda, int *info);

/* Replaces h (symmetric, row-major) by the upper Cholesky factor U of its inverse
 * (h^-1 = U^T U), read row-major. LAPACK works column-major: a lower factor there is the
 * row-major upper one here. Adds dampening until h is positive definite. */
static int inverse_cholesky(float *h, int n, double damp_fraction) {
    double mean_diag = 0;
    for (int i = 0; i < n; i++) mean_diag += h[(size_t)i * n + i];
    mean_diag /= n;
    if (!(mean_diag > 0)) mean_diag = 1;
    float *copy = malloc((size_t)n * n * sizeof(float));
    if (!copy) return mn_fail("out of memory for a %d x %d Hessian", n, n);
    memcpy(copy, h, (size_t)n * n * sizeof(float));
    int info = 1;
    for (int attempt = 0; attempt < 6 && info != 0; attempt++, damp_fraction *= 10) {
        memcpy(h, copy, (size_t)n * n * sizeof(float));
        float damp = (float)(damp_fraction * mean_diag);
        for (int i = 0; i < n; i++) h[(size_t)i * n + i] += damp;
        spotrf_("L", &n, h, &n, &info);
        if (info == 0) spotri_("L", &n, h, &n, &info);
    }
    free(copy);
    if (info != 0) return mn_fail("GPTQ: the calibration Hessian is not positive definite even with dampening");
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) h[(size_t)j * n + i] = h[(size_t)i * n + j];
    spotrf_("L", &n, h, &n, &info);
    if (info != 0) return mn_fail("GPTQ: the inverse Hessian is not positive definite");
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) h[(size_t)i * n + j] = 0;
    return 0;
}

/* w[rows, from:] -= err[rows, k] · u[k rows starting at i1, from:], rows split over threads. */
static void lazy_update(float *w, int64_t rows, int64_t cols, const float *err, int k, const float *u, int64_t i1,
                        int64_t from) {
    if (from >= cols) return;
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), tid = omp_get_thread_num();
        int64_t per = (rows + nt - 1) / nt, r0 = tid * per, r1 = r0 + per < rows ? r0 + per : rows;
        if (r1 > r0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(r1 - r0), (int)(cols - from), k, -1.0f,
                        err + r0 * k, k, u + i1 * cols + from, (int)cols, 1.0f, w + r0 * cols + from, (int)cols);
    }
}

int mn_gptq_quantize(mn_dtype type, float *w, int64_t rows, int64_t cols, float *h, const float *importance,
                     void *dst) {
    const int bs = mn_dtype_block_size(type), block_bytes = mn_dtype_block_bytes(type);
    const size_t row_bytes = mn_dtype_row_bytes(type, cols);
    if (cols % bs) return mn_fail("GPTQ: %lld columns do not fit %s blocks", (long long)cols, mn_dtype_name(type));
    /* columns nothing ever activates carry no information: drop them as GPTQ does */
    for (int64_t i = 0; i < cols; i++)
        if (h[i * cols + i] == 0) {
            h[i * cols + i] = 1;
            for (int64_t r = 0; r < rows; r++) w[r * cols + i] = 0;
        }
    if (inverse_cholesky(h, (int)cols, 0.01)) return -1;
    const float *u = h;
    const int block = bs > 128 ? bs : 128;
    float *err = malloc((size_t)rows * block * sizeof(float));
    if (!err) return mn_fail("out of memory for GPTQ");
    int failed = 0;
    for (int64_t i1 = 0; i1 < cols; i1 += block) {
        const int64_t i2 = i1 + block < cols ? i1 + block : cols;
        const int k = (int)(i2 - i1);
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            float *wr = w + r * cols;
            uint8_t *row_dst = (uint8_t *)dst + (size_t)r * row_bytes;
            for (int64_t i = i1; i < i2; i++) {
                uint8_t *blk = row_dst + (size_t)(i / bs) * block_bytes;
                if (i % bs == 0 && mn_quantize_rows(type, wr + i, blk, 1, bs, importance ? importance + i : NULL))
                    failed = 1;
                mn_element_code c;
                mn_block_element(type, blk, (int)(i % bs), &c);
                int q = c.lo;
                if (c.a != 0) {
                    long v = lrintf((wr[i] - c.b) / c.a);
                    q = v < c.lo ? c.lo : v > c.hi ? c.hi : (int)v;
                }
                mn_block_set_q(type, blk, (int)(i % bs), q);
                const float deq = c.a * q + c.b;
                const float e = (wr[i] - deq) / u[i * cols + i];
                const float *ui = u + i * cols;
                for (int64_t j = i + 1; j < i2; j++) wr[j] -= e * ui[j];
                err[r * k + (i - i1)] = e;
                wr[i] = deq;
            }
        }
        lazy_update(w, rows, cols, err, k, u, i1, i2);
    }
    free(err);
    return failed ? -1 : 0;
}
