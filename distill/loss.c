/* The distillation loss on the student's logits, one row (position) at a time; see
 * distill_internal.h for the formula and docs/distill.md for why the tail is one bucket. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/threads.h"
#include "distill/distill_internal.h"
#include "model/ops.h"

/* Below this the student's tail mass is taken as empty (its log would be -inf). */
#define TINY_MASS 1e-30

/* The row passes run over the whole vocabulary for every position, so they are written to
 * vectorise (`omp simd`: GCC's -O2 cost model would leave them scalar) and compiled for AVX2
 * as well as the baseline, the CPU's best picked when the program loads. */
#define ROW_KERNEL __attribute__((target_clones("avx2", "default")))

/* e = (z - zmax) / T, the exponent of the softmax at temperature T */
ROW_KERNEL static void shift_scale(const float *restrict z, float *restrict e, int n, float zmax, float inv_t) {
#pragma omp simd
    for (int j = 0; j < n; j++) e[j] = (z[j] - zmax) * inv_t;
}

ROW_KERNEL static double sum_row(const float *x, int n) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < n; j++) s += x[j];
    return s;
}

ROW_KERNEL static void combine(float *restrict z, const float *restrict a, float ca, const float *restrict b, float cb,
                               int n) {
    if (b) {
#pragma omp simd
        for (int j = 0; j < n; j++) z[j] = ca * a[j] + cb * b[j];
    } else {
#pragma omp simd
        for (int j = 0; j < n; j++) z[j] = ca * a[j];
    }
}

double distill_softmax_parts(const float *z, float *e, int n, float inv_t, float *zmax) {
    *zmax = mn_max_row(z, n);
    shift_scale(z, e, n, *zmax, inv_t);
    mn_exp_row(e, e, n);
    return sum_row(e, n);
}

void distill_loss_row(float *z, int n_vocab, const int32_t *ids, const float *probs, int topk, int32_t next,
                      float temperature, double kl_weight, double ce_weight, float *scratch, double *kl_out,
                      double *ce_out) {
    const int V = n_vocab;
    /* CE is reported whenever it is free (T = 1 shares the softmax) and trained when weighted */
    const bool with_ce = ce_weight > 0 && next >= 0, report_ce = next >= 0 && (with_ce || temperature == 1.0f);
    const float inv_t = 1.0f / temperature;
    float *e = scratch, *e1 = scratch + V, zmax;
    const double sum = distill_softmax_parts(z, e, V, inv_t, &zmax), log_sum = log(sum);
    double p_top = 0, q_top = 0, kl = 0;
    for (int i = 0; i < topk; i++) {
        const double p = probs[i];
        p_top += p;
        q_top += e[ids[i]];
        if (p > 0) kl += p * (log(p) - ((double)((z[ids[i]] - zmax) * inv_t) - log_sum));
    }
    /* Tail masses as 1 - Σ top-k: the student's has an absolute error of ~1e-7 (float
     * exponentials), immaterial next to tails of a few percent and harmless when tiny (its
     * terms then vanish with the teacher's). */
    q_top /= sum;
    const double p_tail = p_top < 1 ? 1 - p_top : 0, q_tail = q_top < 1 ? 1 - q_top : 0;
    if (p_tail > 0) kl += p_tail * (log(p_tail) - log(q_tail > TINY_MASS ? q_tail : TINY_MASS));
    /* outside the top-k the target is the student's own shape scaled to the teacher's tail mass */
    const double tail_keep = q_tail > TINY_MASS ? 1 - p_tail / q_tail : 1;

    double ce = 0, sum1 = sum;
    if (report_ce) {
        if (temperature == 1.0f) {
            e1 = e;
            ce = zmax + log_sum - z[next];
        } else {
            float zmax1;
            sum1 = distill_softmax_parts(z, e1, V, 1.0f, &zmax1);
            ce = zmax1 + log(sum1) - z[next];
        }
    }
    /* dL/dz = kc (q - target) + cc (q1 - onehot(next)) with q = e / sum, q1 = e1 / sum1 */
    const double kc = kl_weight * temperature, cc = with_ce ? ce_weight : 0;
    combine(z, e, (float)(kc * tail_keep / sum), with_ce ? e1 : NULL, (float)(cc / sum1), V);
    for (int i = 0; i < topk; i++) {
        const int id = ids[i];
        z[id] = (float)(kc * (e[id] / sum - probs[i]) + (with_ce ? cc * e1[id] / sum1 : 0));
    }
    if (with_ce) z[next] -= (float)cc;
    *kl_out = kl;
    *ce_out = ce;
}

int distill_loss_init(distill_loss *l, int n_vocab, int topk, float temperature, float alpha_ce, int max_rows) {
    memset(l, 0, sizeof *l);
    l->n_vocab = n_vocab;
    l->topk = topk;
    l->temperature = temperature;
    l->alpha_ce = alpha_ce;
    l->n_threads = mn_threads();
    l->kl = malloc((size_t)max_rows * sizeof(double));
    l->ce = malloc((size_t)max_rows * sizeof(double));
    l->scratch = malloc((size_t)l->n_threads * 2 * (size_t)n_vocab * sizeof(float));
    if (!l->kl || !l->ce || !l->scratch) {
        distill_loss_free(l);
        return mn_fail("out of memory for the loss (%d rows)", max_rows);
    }
    return 0;
}

void distill_loss_free(distill_loss *l) {
    free(l->kl);
    free(l->ce);
    free(l->scratch);
    memset(l, 0, sizeof *l);
}

int distill_loss_rows(void *ctx, int row0, int n_rows, float *logits) {
    distill_loss *l = ctx;
    const int V = l->n_vocab, K = l->topk;
    const double kl_weight = (1.0 - l->alpha_ce) / l->kl_count, ce_weight = l->ce_count > 0 ? l->alpha_ce / l->ce_count : 0;
#pragma omp parallel for schedule(static) num_threads(l->n_threads)
    for (int r = 0; r < n_rows; r++) {
        const int row = row0 + r;
        float *scratch = l->scratch + (size_t)omp_get_thread_num() * 2 * V;
        distill_loss_row(logits + (size_t)r * V, V, l->ids + (size_t)row * K, l->probs + (size_t)row * K, K,
                         l->next[row], l->temperature, kl_weight, ce_weight, scratch, &l->kl[row], &l->ce[row]);
    }
    for (int r = row0; r < row0 + n_rows; r++)
        if (!isfinite(l->kl[r]) || !isfinite(l->ce[r])) {
            l->nonfinite = true;
            return mn_fail("non-finite loss");
        }
    return 0;
}
