/* AdamW (Loshchilov & Hutter: the weight decay is applied to the weights directly, not mixed
 * into the gradient), the learning-rate schedule and gradient clipping. */
#include <math.h>
#include <stdlib.h>

#include "distill/distill_internal.h"

/* Gradient entries per partial sum of the norm: partial sums are added in block order, so
 * the norm does not depend on the thread count. */
#define NORM_BLOCK 4096

double distill_lr(const distill_optim *o, int64_t step, double seconds) {
    if (step <= o->warmup) return o->lr * (double)step / (double)o->warmup;
    if (o->budget <= 0 && o->total <= o->warmup) return o->lr;
    double progress = o->budget > 0 ? seconds / o->budget : (double)(step - o->warmup) / (double)(o->total - o->warmup);
    if (progress > 1) progress = 1;
    return o->min_lr + 0.5 * (o->lr - o->min_lr) * (1 + cos(M_PI * progress));
}

double distill_grad_norm(const float *g, int64_t n) {
    const int64_t blocks = (n + NORM_BLOCK - 1) / NORM_BLOCK;
    double *partial = malloc((size_t)(blocks > 0 ? blocks : 1) * sizeof *partial);
    if (!partial) return NAN;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t end = (b + 1) * NORM_BLOCK < n ? (b + 1) * NORM_BLOCK : n;
        double s = 0;
        for (int64_t i = b * NORM_BLOCK; i < end; i++) s += (double)g[i] * g[i];
        partial[b] = s;
    }
    double total = 0;
    for (int64_t b = 0; b < blocks; b++) total += partial[b];
    free(partial);
    return sqrt(total);
}

void distill_adamw(const distill_optim *o, mn_train *t, float *m, float *v, int64_t step, double lr, float clip_scale) {
    float *w = mn_train_weights(t);
    const float *g = mn_train_grads(t);
    const float b1 = (float)o->beta1, b2 = (float)o->beta2, eps = (float)o->eps;
    /* bias corrections folded into the step size and the denominator */
    const float step_size = (float)(lr / (1 - pow(o->beta1, (double)step)));
    const float inv_bc2 = (float)(1 / (1 - pow(o->beta2, (double)step)));
    for (int p = 0; p < mn_train_n_params(t); p++) {
        const mn_train_param *par = mn_train_param_at(t, p);
        const float decay = par->decay ? (float)(1 - lr * o->weight_decay) : 1.0f;
        const int64_t begin = par->offset, end = par->offset + par->count;
#pragma omp parallel for schedule(static) if (par->count >= 1 << 14)
        for (int64_t i = begin; i < end; i++) {
            const float gi = g[i] * clip_scale;
            m[i] = b1 * m[i] + (1 - b1) * gi;
            v[i] = b2 * v[i] + (1 - b2) * gi * gi;
            w[i] = w[i] * decay - step_size * m[i] / (sqrtf(v[i] * inv_bc2) + eps);
        }
    }
}
