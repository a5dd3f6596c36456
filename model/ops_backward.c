#include "model/ops_backward.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/ops.h"

/* Columns per task of the column reductions: each column is summed over the rows in row
 * order by one thread, so the sums do not depend on how many threads share the columns. */
#define COLUMN_CHUNK 64

int mn_rmsnorm_backward_rows(const float *x, int ldx, const float *w, const float *dy, int lddy, float *dx, int lddx,
                             float *dw, int n_rows, int dim, float eps) {
    float *rstd = malloc((size_t)(n_rows > 0 ? n_rows : 1) * sizeof(float));
    if (!rstd) return mn_fail("out of memory for the RMSNorm backward pass");
#pragma omp parallel for schedule(static) if (n_rows >= 32)
    for (int r = 0; r < n_rows; r++) {
        const float *xr = x + (size_t)r * ldx, *g = dy + (size_t)r * lddy;
        float *dxr = dx + (size_t)r * lddx;
        /* the forward's exact scale: mean square in double from float products */
        double sum = 0, dot = 0;
        for (int i = 0; i < dim; i++) {
            sum += (double)(xr[i] * xr[i]);
            dot += (double)g[i] * w[i] * xr[i];
        }
        const float scale = 1.0f / sqrtf((float)(sum / dim) + eps);
        rstd[r] = scale;
        /* d(x_i * scale)/dx_j = scale δij - scale³ x_i x_j / dim */
        const float c = (float)((double)scale * scale * scale * dot / dim);
        for (int i = 0; i < dim; i++) dxr[i] += scale * g[i] * w[i] - xr[i] * c;
    }
    const int chunks = (dim + COLUMN_CHUNK - 1) / COLUMN_CHUNK;
#pragma omp parallel for schedule(static) if (n_rows >= 32)
    for (int c = 0; c < chunks; c++) {
        const int j0 = c * COLUMN_CHUNK, j1 = j0 + COLUMN_CHUNK < dim ? j0 + COLUMN_CHUNK : dim;
        float acc[COLUMN_CHUNK] = {0};
        for (int r = 0; r < n_rows; r++) {
            const float *xr = x + (size_t)r * ldx, *g = dy + (size_t)r * lddy;
            for (int j = j0; j < j1; j++) acc[j - j0] += g[j] * xr[j] * rstd[r];
        }
        for (int j = j0; j < j1; j++) dw[j] += acc[j - j0];
    }
    free(rstd);
    return 0;
}

int mn_swiglu_backward_rows(const float *gate, int ldg, const float *up, int ldu, const float *dh, int ldh,
                            float *dgate, int lddg, float *dup, int lddu, int n_rows, int n) {
    int failed = 0;
#pragma omp parallel if (n_rows >= 8)
    {
        /* e^-g through the forward's exp, then sigma = 1 / (1 + e^-g) as the forward has it */
        float *e = malloc((size_t)n * sizeof(float));
        if (!e) failed = 1;
#pragma omp for schedule(static)
        for (int r = 0; r < n_rows; r++) {
            if (!e) continue;
            const float *g = gate + (size_t)r * ldg, *u = up + (size_t)r * ldu, *d = dh + (size_t)r * ldh;
            float *dg = dgate + (size_t)r * lddg, *du = dup + (size_t)r * lddu;
            for (int i = 0; i < n; i++) e[i] = -g[i];
            mn_exp_row(e, e, n);
            for (int i = 0; i < n; i++) {
                float sig = 1.0f / (1.0f + e[i]);
                /* d silu(g)/dg = sig (1 + g (1 - sig)) */
                dg[i] = d[i] * u[i] * sig * (1.0f + g[i] * (1.0f - sig));
                du[i] = d[i] * g[i] * sig;
            }
        }
        free(e);
    }
    if (failed) return mn_fail("out of memory for the SwiGLU backward pass");
    return 0;
}

/* Query rows per block, as in the forward: a block of rows only reaches keys up to its last
 * row, so the masked upper triangle is skipped in every product. */
#define QUERY_BLOCK 64

int mn_attention_causal_backward(const float *q, int ldq, const float *k, const float *v, int ldk, const float *probs,
                                 const float *dout, int lddo, float *dq, int lddq, float *dk, float *dv, int lddk,
                                 int n_seqs, int n, int n_heads, int n_kv_heads, int head_dim) {
    const int group = n_heads / n_kv_heads, hd = head_dim, tasks = n_seqs * n_kv_heads;
    const float scale = 1.0f / sqrtf((float)head_dim);
    int failed = 0;
#pragma omp parallel
    {
        float *ds = malloc((size_t)QUERY_BLOCK * (size_t)n * sizeof(float));
        if (!ds) failed = 1;
        /* one task per (sequence, KV head): the heads sharing a KV head add into its dk, dv
         * in head order, on one thread */
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < tasks; t++) {
            if (!ds) continue;
            const int s = t / n_kv_heads, g = t % n_kv_heads;
            const size_t row0 = (size_t)s * n;
            const float *kg = k + row0 * ldk + (size_t)g * hd, *vg = v + row0 * ldk + (size_t)g * hd;
            float *dkg = dk + row0 * lddk + (size_t)g * hd, *dvg = dv + row0 * lddk + (size_t)g * hd;
            for (int r = 0; r < n; r++) {
                memset(dkg + (size_t)r * lddk, 0, (size_t)hd * sizeof(float));
                memset(dvg + (size_t)r * lddk, 0, (size_t)hd * sizeof(float));
            }
            for (int h = g * group; h < (g + 1) * group; h++) {
                const float *p = probs + ((size_t)s * n_heads + h) * (size_t)n * n;
                const float *qh = q + row0 * ldq + (size_t)h * hd, *doh = dout + row0 * lddo + (size_t)h * hd;
                float *dqh = dq + row0 * lddq + (size_t)h * hd;
                for (int i0 = 0; i0 < n; i0 += QUERY_BLOCK) {
                    const int rows = n - i0 < QUERY_BLOCK ? n - i0 : QUERY_BLOCK, keys = i0 + rows;
                    const float *pb = p + (size_t)i0 * n;
                    const float *dob = doh + (size_t)i0 * lddo;
                    /* dV += Pᵀ dO */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, keys, hd, rows, 1.0f, pb, n, dob, lddo, 1.0f,
                                dvg, lddk);
                    /* dP = dO Vᵀ, then dS = P (dP - rowsum(P dP)) · scale in place */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, keys, hd, 1.0f, dob, lddo, vg, ldk, 0.0f,
                                ds, keys);
                    for (int r = 0; r < rows; r++) {
                        const float *pr = pb + (size_t)r * n;
                        float *dsr = ds + (size_t)r * keys;
                        const int valid = i0 + r + 1;
                        double dot = 0;
                        for (int j = 0; j < valid; j++) dot += (double)pr[j] * dsr[j];
                        const float fdot = (float)dot;
                        for (int j = 0; j < valid; j++) dsr[j] = scale * pr[j] * (dsr[j] - fdot);
                        for (int j = valid; j < keys; j++) dsr[j] = 0;
                    }
                    /* dQ = dS K, dK += dSᵀ Q */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, keys, 1.0f, ds, keys, kg, ldk,
                                0.0f, dqh + (size_t)i0 * lddq, lddq);
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, keys, hd, rows, 1.0f, ds, keys,
                                qh + (size_t)i0 * ldq, ldq, 1.0f, dkg, lddk);
                }
            }
        }
        free(ds);
    }
    if (failed) return mn_fail("out of memory for the attention backward pass (%d positions)", n);
    return 0;
}

void mn_add_column_sums(const float *x, int ld, int n_rows, int n_cols, float *dst) {
    const int chunks = (n_cols + COLUMN_CHUNK - 1) / COLUMN_CHUNK;
#pragma omp parallel for schedule(static) if (n_rows >= 32)
    for (int c = 0; c < chunks; c++) {
        const int j0 = c * COLUMN_CHUNK, j1 = j0 + COLUMN_CHUNK < n_cols ? j0 + COLUMN_CHUNK : n_cols;
        float acc[COLUMN_CHUNK] = {0};
        for (int r = 0; r < n_rows; r++)
            for (int j = j0; j < j1; j++) acc[j - j0] += x[(size_t)r * ld + j];
        for (int j = j0; j < j1; j++) dst[j] += acc[j - j0];
    }
}
