/* AWQ (Lin et al. 2023): protect the weights that meet large activations by scaling their
 * input channels up before rounding and the activations down by the same factor, folded into
 * whatever produces those activations (an RMSNorm weight or the rows of a preceding linear
 * layer), so the model computes the same function and stays a standard model. The exponent of
 * the per-channel scale s = mean|x|^alpha is grid-searched on the layer's output error. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/block_codec.h"
#include "quant/block_quantize.h"
#include "quant/quant_internal.h"

#define ALPHA_STEPS 10

/* ||(deq(Q(W diag s)) diag(1/s) - W) X^T||^2 for one weight, X the sampled inputs. */
static double scaled_error(mn_dtype type, const float *w, int64_t rows, int64_t cols, const float *s,
                           const float *importance, const float *x, int n_samples, float *scratch, void *blocks) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) scratch[r * cols + c] = w[r * cols + c] * s[c];
    if (mn_quantize_rows(type, scratch, blocks, rows, cols, importance)) return INFINITY;
    mn_dequantize(type, blocks, scratch, rows * cols);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) scratch[r * cols + c] = scratch[r * cols + c] / s[c] - w[r * cols + c];
    float *out = malloc((size_t)rows * n_samples * sizeof(float));
    if (!out) return INFINITY;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, n_samples, (int)cols, 1.0f, scratch, (int)cols, x,
                (int)cols, 0.0f, out, n_samples);
    double total = 0;
    for (size_t i = 0; i < (size_t)rows * n_samples; i++) total += (double)out[i] * out[i];
    free(out);
    return total;
}

int mn_awq_search(const mn_awq_group *g, float *scales, double *best_alpha) {
    const int64_t cols = g->cols;
    int64_t max_elems = 0;
    for (int i = 0; i < g->n_weights; i++)
        if (g->rows[i] * cols > max_elems) max_elems = g->rows[i] * cols;
    double *errors = calloc(ALPHA_STEPS, sizeof(double));
    if (!errors) return mn_fail("out of memory for AWQ");
    /* each grid point is independent: threads take whole points, BLAS stays single-threaded */
#pragma omp parallel
    {
        float *s = malloc((size_t)cols * sizeof(float));
        float *imp = malloc((size_t)cols * sizeof(float));
        float *scratch = malloc((size_t)max_elems * sizeof(float));
        void *blocks = malloc((size_t)max_elems * sizeof(float));
#pragma omp for schedule(dynamic, 1)
        for (int k = 0; k < ALPHA_STEPS; k++) {
            if (!s || !imp || !scratch || !blocks) {
                errors[k] = INFINITY;
                continue;
            }
            mn_awq_scales(g->mean_abs, cols, (double)k / ALPHA_STEPS, s);
            for (int64_t c = 0; c < cols; c++) imp[c] = g->mean_sq[c] / (s[c] * s[c]);
            double e = 0;
            for (int i = 0; i < g->n_weights; i++)
                e += scaled_error(g->types[i], g->weights[i], g->rows[i], cols, s, imp, g->samples, g->n_samples,
                                  scratch, blocks);
            errors[k] = e;
        }
        free(s);
        free(imp);
        free(scratch);
        free(blocks);
    }
    int best = 0;
    for (int k = 1; k < ALPHA_STEPS; k++)
        if (errors[k] < errors[best]) best = k;
    *best_alpha = (double)best / ALPHA_STEPS;
    mn_awq_scales(g->mean_abs, cols, *best_alpha, scales);
    int rc = isfinite(errors[best]) ? 0 : mn_fail("AWQ: quantization failed during the scale search");
    free(errors);
    return rc;
}

void mn_awq_scales(const float *mean_abs, int64_t cols, double alpha, float *s) {
    double lo = INFINITY, hi = 0;
    for (int64_t c = 0; c < cols; c++) {
        double v = pow(fmax(mean_abs[c], 1e-8), alpha);
        s[c] = (float)v;
        lo = fmin(lo, v);
        hi = fmax(hi, v);
    }
    /* centre the scales so rounding sees weights of about their original magnitude */
    float norm = (float)sqrt(lo * hi);
    for (int64_t c = 0; c < cols; c++) s[c] /= norm;
}
