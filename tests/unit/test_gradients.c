/* Gradient checks for training: every backward kernel, the distillation loss and whole tiny
 * models (llama with both rotary layouts, tied and untied embeddings, qwen2 biases, phi3 fused
 * qkv/gate_up) against central finite differences.
 *
 * The finite differences are taken on independent double-precision references of the forward
 * computations (written here from the formulas, not from the fp32 kernels), with a step of
 * 1e-6 relative: truncation and rounding errors of the difference quotient are then ~1e-9,
 * so what is measured is the error of minnow's fp32 analytic gradient itself. Each check
 * compares whole gradient vectors, ‖analytic − numeric‖ / ‖numeric‖, which stays meaningful
 * when single entries are near zero; fp32 backward passes land around 1e-6..1e-5 and the
 * bound is 1e-3. The fp32 forward kernels are also checked against the references. */
#include "tests/unit/unit.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/rng.h"
#include "core/threads.h"
#include "distill/distill_internal.h"
#include "model/ops.h"
#include "model/ops_backward.h"
#include "model/train.h"

#define GRAD_TOL 1e-3
#define FWD_TOL 1e-5

/* ---------------------------------------------------------------- helpers */

static void fill(mn_rng *r, float *x, size_t n, double mean, double std) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(mean + std * mn_rng_normal(r));
}

static double *to_double(const float *x, size_t n) {
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* ‖a − b‖ / ‖b‖ over n entries (a float, b double). */
static double rel_err(const float *a, const double *b, size_t n) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < n; i++) {
        diff += (a[i] - b[i]) * (a[i] - b[i]);
        norm += b[i] * b[i];
    }
    return sqrt(diff) / (sqrt(norm) > 1e-30 ? sqrt(norm) : 1e-30);
}

static void report(const char *what, double err, double tol) {
    printf("  %-44s relative error %.2e\n", what, err);
    ck_assert_msg(err < tol, "%s: relative error %.3e exceeds %.0e", what, err, tol);
}

/* A scalar function of a double vector, for finite differences. */
typedef double (*scalar_fn)(void *ctx, const double *x);

/* Central difference of f at x along coordinate i (x is restored). */
static double numeric_grad(scalar_fn f, void *ctx, double *x, size_t i) {
    const double h = 1e-6 * (fabs(x[i]) > 1 ? fabs(x[i]) : 1), keep = x[i];
    x[i] = keep + h;
    double up = f(ctx, x);
    x[i] = keep - h;
    double down = f(ctx, x);
    x[i] = keep;
    return (up - down) / (2 * h);
}

/* ---------------------------------------------------------------- double references */

static void rmsnorm_ref(const double *x, const double *w, double *y, int rows, int dim, double eps) {
    for (int r = 0; r < rows; r++) {
        double ms = 0;
        for (int i = 0; i < dim; i++) ms += x[r * dim + i] * x[r * dim + i];
        double s = 1 / sqrt(ms / dim + eps);
        for (int i = 0; i < dim; i++) y[r * dim + i] = x[r * dim + i] * s * w[i];
    }
}

static double silu(double g) { return g / (1 + exp(-g)); }

/* Rotates rows (row r at position r) of n_heads heads, ld apart. */
static void rope_ref(double *x, int ld, int rows, int n_heads, int hd, mn_rope_layout layout, double theta) {
    const int half = hd / 2;
    for (int r = 0; r < rows; r++)
        for (int h = 0; h < n_heads; h++) {
            double *v = x + (size_t)r * ld + h * hd;
            for (int i = 0; i < half; i++) {
                double angle = r * pow(theta, -2.0 * i / hd), c = cos(angle), s = sin(angle);
                int a = layout == MN_ROPE_INTERLEAVED ? 2 * i : i, b = layout == MN_ROPE_INTERLEAVED ? 2 * i + 1 : i + half;
                double va = v[a], vb = v[b];
                v[a] = va * c - vb * s;
                v[b] = va * s + vb * c;
            }
        }
}

/* Causal GQA attention of one sequence: q rows ldq apart, k/v ldk apart, out ldo apart. */
static void attention_ref(const double *q, int ldq, const double *k, const double *v, int ldk, double *out, int ldo,
                          int n, int n_heads, int n_kv, int hd) {
    double *p = malloc((size_t)n * sizeof *p);
    for (int h = 0; h < n_heads; h++) {
        int g = h / (n_heads / n_kv);
        for (int i = 0; i < n; i++) {
            double max = -INFINITY, sum = 0;
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int d = 0; d < hd; d++) s += q[(size_t)i * ldq + h * hd + d] * k[(size_t)j * ldk + g * hd + d];
                p[j] = s / sqrt(hd);
                max = p[j] > max ? p[j] : max;
            }
            for (int j = 0; j <= i; j++) sum += p[j] = exp(p[j] - max);
            for (int d = 0; d < hd; d++) {
                double o = 0;
                for (int j = 0; j <= i; j++) o += p[j] / sum * v[(size_t)j * ldk + g * hd + d];
                out[(size_t)i * ldo + h * hd + d] = o;
            }
        }
    }
    free(p);
}

static double log_sum_exp_ref(const double *x, int n) {
    double max = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    for (int i = 0; i < n; i++) sum += exp(x[i] - max);
    return max + log(sum);
}

/* kl_w · T² · KL(top-k + tail) + ce_w · CE of one row of logits z, and the parts. */
static double loss_row_ref(const double *z, int V, const int32_t *ids, const float *probs, int K, int32_t next,
                           double T, double kl_w, double ce_w, double *kl_out, double *ce_out) {
    double *s = calloc((size_t)V, sizeof *s);
    for (int j = 0; j < V; j++) s[j] = z[j] / T;
    double lse = log_sum_exp_ref(s, V), kl = 0, p_top = 0;
    for (int i = 0; i < K; i++) {
        double lq = s[ids[i]] - lse;
        p_top += probs[i];
        if (probs[i] > 0) kl += probs[i] * (log(probs[i]) - lq);
    }
    double q_tail = 0;
    for (int j = 0; j < V; j++) {
        int top = 0;
        for (int i = 0; i < K; i++) top |= ids[i] == j;
        if (!top) q_tail += exp(s[j] - lse);
    }
    double p_tail = 1 - p_top > 0 ? 1 - p_top : 0;
    if (p_tail > 0) kl += p_tail * (log(p_tail) - log(q_tail));
    double ce = 0;
    if (next >= 0) ce = log_sum_exp_ref(z, V) - z[next];
    free(s);
    *kl_out = kl;
    *ce_out = ce;
    return kl_w * T * T * kl + (ce_w > 0 ? ce_w * ce : 0);
}

/* ---------------------------------------------------------------- RMSNorm */

typedef struct {
    int rows, dim;
    double eps;
    const double *c; /* cotangent: L = Σ c · y */
    double *x, *w;   /* the variables (x then w in one vector for FD) */
} norm_case;

static double norm_loss(void *ctx, const double *v) {
    norm_case *k = ctx;
    size_t n = (size_t)k->rows * k->dim;
    double *y = malloc(n * sizeof *y), L = 0;
    rmsnorm_ref(v, v + n, y, k->rows, k->dim, k->eps);
    for (size_t i = 0; i < n; i++) L += k->c[i] * y[i];
    free(y);
    return L;
}

START_TEST(rmsnorm_gradient) {
    mn_rng r;
    mn_rng_seed(&r, 1);
    const int R = 40, D = 24; /* 40 rows: the kernels' parallel branches run */
    const size_t n = (size_t)R * D;
    float *x = malloc(n * 4), *w = malloc(D * 4), *c = malloc(n * 4), *y = malloc(n * 4);
    float *dx = calloc(n, 4), *dw = calloc(D, 4);
    fill(&r, x, n, 0.2, 1.5);
    fill(&r, w, D, 1, 0.3);
    fill(&r, c, n, 0, 1);
    double *v = malloc((n + D) * sizeof *v), *cd = to_double(c, n), *num = malloc((n + D) * sizeof *num);
    for (size_t i = 0; i < n; i++) v[i] = x[i];
    for (int i = 0; i < D; i++) v[n + i] = w[i];
    norm_case k = {R, D, 1e-5, cd, v, v + n};
    /* forward against the reference */
    mn_rmsnorm_rows(x, D, y, D, w, R, D, 1e-5f);
    double *yd = malloc(n * sizeof *yd);
    rmsnorm_ref(v, v + n, yd, R, D, 1e-5);
    report("rmsnorm forward", rel_err(y, yd, n), FWD_TOL);
    ck_assert_int_eq(mn_rmsnorm_backward_rows(x, D, w, c, D, dx, D, dw, R, D, 1e-5f), 0);
    for (size_t i = 0; i < n + D; i++) num[i] = numeric_grad(norm_loss, &k, v, i);
    report("rmsnorm dL/dx", rel_err(dx, num, n), GRAD_TOL);
    report("rmsnorm dL/dweight", rel_err(dw, num + n, D), GRAD_TOL);
    free(x), free(w), free(c), free(y), free(dx), free(dw), free(v), free(cd), free(num), free(yd);
}
END_TEST

/* ---------------------------------------------------------------- SwiGLU */

typedef struct {
    size_t n;
    const double *c;
} swiglu_case;

static double swiglu_loss(void *ctx, const double *v) { /* v = [gate | up] */
    swiglu_case *k = ctx;
    double L = 0;
    for (size_t i = 0; i < k->n; i++) L += k->c[i] * silu(v[i]) * v[k->n + i];
    return L;
}

START_TEST(swiglu_gradient) {
    mn_rng r;
    mn_rng_seed(&r, 2);
    const int R = 12, F = 37; /* an odd width: the SIMD tails run */
    const size_t n = (size_t)R * F;
    float *g = malloc(n * 4), *u = malloc(n * 4), *c = malloc(n * 4), *h = malloc(n * 4);
    float *dg = malloc(n * 4), *du = malloc(n * 4);
    fill(&r, g, n, 0, 2.5);
    fill(&r, u, n, 0, 1);
    fill(&r, c, n, 0, 1);
    double *v = malloc(2 * n * sizeof *v), *num = malloc(2 * n * sizeof *num), *hd = malloc(n * sizeof *hd);
    for (size_t i = 0; i < n; i++) v[i] = g[i], v[n + i] = u[i], hd[i] = silu(g[i]) * u[i];
    memcpy(h, g, n * 4);
    mn_swiglu_rows(h, F, u, F, R, F);
    report("swiglu forward", rel_err(h, hd, n), FWD_TOL);
    double *cd = to_double(c, n);
    swiglu_case k = {n, cd};
    ck_assert_int_eq(mn_swiglu_backward_rows(g, F, u, F, c, F, dg, F, du, F, R, F), 0);
    for (size_t i = 0; i < 2 * n; i++) num[i] = numeric_grad(swiglu_loss, &k, v, i);
    report("swiglu dL/dgate", rel_err(dg, num, n), GRAD_TOL);
    report("swiglu dL/dup", rel_err(du, num + n, n), GRAD_TOL);
    free(g), free(u), free(c), free(h), free(dg), free(du), free(v), free(num), free(hd), free(cd);
}
END_TEST

/* ---------------------------------------------------------------- RoPE */

typedef struct {
    int rows, heads, hd;
    mn_rope_layout layout;
    const double *c;
} rope_case;

static double rope_loss(void *ctx, const double *v) {
    rope_case *k = ctx;
    size_t n = (size_t)k->rows * k->heads * k->hd;
    double *y = malloc(n * sizeof *y), L = 0;
    memcpy(y, v, n * sizeof *y);
    rope_ref(y, k->heads * k->hd, k->rows, k->heads, k->hd, k->layout, 10000);
    for (size_t i = 0; i < n; i++) L += k->c[i] * y[i];
    free(y);
    return L;
}

static void check_rope(mn_rope_layout layout, const char *label) {
    mn_rng r;
    mn_rng_seed(&r, 3);
    const int T = 40, H = 3, hd = 8, ld = H * hd;
    const size_t n = (size_t)T * ld;
    mn_hparams hp = {.head_dim = hd, .rope_theta = 10000};
    mn_rope_table tab;
    ck_assert_int_eq(mn_rope_table_init(&tab, &hp, NULL, T), 0);
    float *x = malloc(n * 4), *c = malloc(n * 4);
    fill(&r, x, n, 0, 1);
    fill(&r, c, n, 0, 1);
    double *v = to_double(x, n), *cd = to_double(c, n), *num = malloc(n * sizeof *num), *yd = to_double(x, n);
    rope_ref(yd, ld, T, H, hd, layout, 10000);
    mn_rope_apply(&tab, x, ld, T, H, hd, layout);
    char what[64];
    snprintf(what, sizeof what, "rope (%s) forward", label);
    report(what, rel_err(x, yd, n), FWD_TOL);
    /* backward: the inverse rotation of the output gradient */
    mn_rope_apply_inverse(&tab, c, ld, T, H, hd, layout);
    rope_case k = {T, H, hd, layout, cd};
    for (size_t i = 0; i < n; i++) num[i] = numeric_grad(rope_loss, &k, v, i);
    snprintf(what, sizeof what, "rope (%s) dL/dx", label);
    report(what, rel_err(c, num, n), GRAD_TOL);
    mn_rope_table_free(&tab);
    free(x), free(c), free(v), free(cd), free(num), free(yd);
}

START_TEST(rope_gradient) {
    check_rope(MN_ROPE_HALF, "half-split");
    check_rope(MN_ROPE_INTERLEAVED, "interleaved");
}
END_TEST

/* ---------------------------------------------------------------- attention */

typedef struct {
    int seqs, n, heads, kv, hd, ld;
    const double *c;
} attn_case;

static double attn_loss(void *ctx, const double *qkv) {
    attn_case *k = ctx;
    const int qw = k->heads * k->hd;
    size_t n_out = (size_t)k->seqs * k->n * qw;
    double *out = malloc(n_out * sizeof *out), L = 0;
    for (int s = 0; s < k->seqs; s++) {
        const double *base = qkv + (size_t)s * k->n * k->ld;
        attention_ref(base, k->ld, base + qw, base + qw + k->kv * k->hd, k->ld, out + (size_t)s * k->n * qw, qw, k->n,
                      k->heads, k->kv, k->hd);
    }
    for (size_t i = 0; i < n_out; i++) L += k->c[i] * out[i];
    free(out);
    return L;
}

START_TEST(attention_gradient) {
    mn_rng r;
    mn_rng_seed(&r, 4);
    /* 70 positions: two query blocks of the kernels; 4 heads over 2 KV heads (GQA) */
    const int S = 2, T = 70, H = 4, KV = 2, hd = 8, qw = H * hd, ld = (H + 2 * KV) * hd;
    const size_t n_in = (size_t)S * T * ld, n_out = (size_t)S * T * qw;
    float *qkv = malloc(n_in * 4), *c = malloc(n_out * 4), *out = malloc(n_out * 4), *dqkv = calloc(n_in, 4);
    float *probs = malloc((size_t)S * H * T * T * 4);
    fill(&r, qkv, n_in, 0, 1);
    fill(&r, c, n_out, 0, 1);
    double *v = to_double(qkv, n_in), *cd = to_double(c, n_out), *outd = malloc(n_out * sizeof *outd);
    for (int s = 0; s < S; s++) {
        const float *b = qkv + (size_t)s * T * ld;
        ck_assert_int_eq(mn_attention_causal(b, ld, b + qw, b + qw + KV * hd, ld, out + (size_t)s * T * qw, qw, T, H,
                                             KV, hd, probs + (size_t)s * H * T * T),
                         0);
        const double *bd = v + (size_t)s * T * ld;
        attention_ref(bd, ld, bd + qw, bd + qw + KV * hd, ld, outd + (size_t)s * T * qw, qw, T, H, KV, hd);
    }
    report("attention forward", rel_err(out, outd, n_out), FWD_TOL);
    ck_assert_int_eq(mn_attention_causal_backward(qkv, ld, qkv + qw, qkv + qw + KV * hd, ld, probs, c, qw, dqkv, ld,
                                                  dqkv + qw, dqkv + qw + KV * hd, ld, S, T, H, KV, hd),
                     0);
    /* every q, k and v entry of both sequences would be 2 × 17920 reference passes: sample */
    attn_case k = {S, T, H, KV, hd, ld, cd};
    const int samples = 160;
    float *an = malloc(samples * 4);
    double *num = malloc(samples * sizeof *num);
    for (int i = 0; i < samples; i++) {
        size_t idx = mn_rng_next(&r) % n_in;
        an[i] = dqkv[idx];
        num[i] = numeric_grad(attn_loss, &k, v, idx);
    }
    report("attention (GQA, causal) dL/dq,k,v", rel_err(an, num, samples), GRAD_TOL);
    free(qkv), free(c), free(out), free(dqkv), free(probs), free(v), free(cd), free(outd), free(an), free(num);
}
END_TEST

/* ---------------------------------------------------------------- distillation loss */

typedef struct {
    int V, K;
    const int32_t *ids;
    const float *probs;
    int32_t next;
    double T, kl_w, ce_w;
} loss_case;

static double loss_fn(void *ctx, const double *z) {
    loss_case *k = ctx;
    double kl, ce;
    return loss_row_ref(z, k->V, k->ids, k->probs, k->K, k->next, k->T, k->kl_w, k->ce_w, &kl, &ce);
}

/* Teacher targets for a row: top-K of random logits at temperature T, rounded to f16. */
static void random_targets(mn_rng *r, int V, int K, double T, int32_t *ids, float *probs) {
    double *zt = calloc((size_t)V, sizeof *zt), *s = calloc((size_t)V, sizeof *s);
    for (int j = 0; j < V; j++) zt[j] = 2 * mn_rng_normal(r), s[j] = zt[j] / T;
    double lse = log_sum_exp_ref(s, V);
    for (int i = 0; i < K; i++) {
        int best = -1;
        for (int j = 0; j < V; j++) {
            int taken = 0;
            for (int q = 0; q < i; q++) taken |= ids[q] == j;
            if (!taken && (best < 0 || zt[j] > zt[best])) best = j;
        }
        ids[i] = best;
        probs[i] = mn_f16_to_f32(mn_f32_to_f16((float)exp(s[best] - lse)));
    }
    free(zt), free(s);
}

static void check_loss(int V, int K, double T, double alpha, int32_t next, const char *label) {
    mn_rng r;
    mn_rng_seed(&r, 5 + (uint64_t)K);
    int32_t *ids = malloc((size_t)K * 4);
    float *probs = malloc((size_t)K * 4), *z = malloc((size_t)V * 4), *scratch = malloc((size_t)V * 8);
    random_targets(&r, V, K, T, ids, probs);
    fill(&r, z, (size_t)V, 0, 2);
    double *zd = to_double(z, (size_t)V), *num = malloc((size_t)V * sizeof *num);
    loss_case k = {V, K, ids, probs, next, T, 1 - alpha, alpha};
    double kl_ref, ce_ref, kl, ce;
    loss_row_ref(zd, V, ids, probs, K, next, T, 1 - alpha, alpha, &kl_ref, &ce_ref);
    distill_loss_row(z, V, ids, probs, K, next, (float)T, 1 - alpha, alpha, scratch, &kl, &ce);
    char what[96];
    snprintf(what, sizeof what, "loss %s: KL value", label);
    report(what, fabs(kl - kl_ref) / fabs(kl_ref), FWD_TOL);
    if (next >= 0 && alpha > 0) {
        snprintf(what, sizeof what, "loss %s: CE value", label);
        report(what, fabs(ce - ce_ref) / fabs(ce_ref), FWD_TOL);
    }
    for (int j = 0; j < V; j++) num[j] = numeric_grad(loss_fn, &k, zd, (size_t)j);
    snprintf(what, sizeof what, "loss %s: dL/dlogits", label);
    report(what, rel_err(z, num, (size_t)V), GRAD_TOL);
    free(ids), free(probs), free(z), free(scratch), free(zd), free(num);
}

START_TEST(loss_gradient) {
    check_loss(300, 8, 1.0, 0.0, -1, "KL top-8 T=1");
    check_loss(300, 8, 2.0, 0.0, -1, "KL top-8 T=2");
    check_loss(300, 8, 2.0, 0.3, 17, "KL top-8 T=2 + 0.3 CE");
    check_loss(300, 8, 1.0, 0.5, 3, "KL top-8 T=1 + 0.5 CE");
    check_loss(64, 64, 1.5, 0.0, -1, "KL full vocabulary T=1.5");
}
END_TEST

/* ---------------------------------------------------------------- whole models */

typedef struct {
    const char *label;
    mn_arch arch;
    mn_rope_layout layout;
    bool tied;
} model_kind;

static void new_weight(mn_model *m, mn_tensor *t, const char *name, int64_t ne0, int64_t ne1, mn_rng *r, double mean,
                       double std) {
    float *d = mn_model_new_tensor(m, t, name, MN_F32, ne0, ne1);
    ck_assert_ptr_nonnull(d);
    fill(r, d, (size_t)(ne0 * ne1), mean, std);
}

/* A 2-layer model with random weights, built in memory. */
static mn_model *tiny_model(const model_kind *k, mn_rng *r) {
    mn_model *m = calloc(1, sizeof *m);
    m->hp = (mn_hparams){.arch = k->arch, .n_vocab = 40, .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                         .head_dim = 8, .ffn_dim = 24, .ctx_train = 64, .norm_eps = 1e-5f, .rope_theta = 10000,
                         .rope_layout = k->layout, .tied_embeddings = k->tied};
    snprintf(m->path, sizeof m->path, "tiny-%s", k->label);
    m->layers = calloc(2, sizeof *m->layers);
    const int D = 32, QW = 32, KVW = 16, F = 24;
    new_weight(m, &m->tok_embd, "token_embd", D, 40, r, 0, 1);
    new_weight(m, &m->output_norm, "output_norm", D, 1, r, 1, 0.2);
    if (k->tied) m->output = m->tok_embd;
    else new_weight(m, &m->output, "output", D, 40, r, 0, 0.4);
    for (int l = 0; l < 2; l++) {
        mn_tensor *w = m->layers[l].w;
        new_weight(m, &w[MN_W_ATTN_NORM], "attn_norm", D, 1, r, 1, 0.2);
        new_weight(m, &w[MN_W_FFN_NORM], "ffn_norm", D, 1, r, 1, 0.2);
        new_weight(m, &w[MN_W_O], "o", QW, D, r, 0, 0.2);
        new_weight(m, &w[MN_W_DOWN], "down", F, D, r, 0, 0.2);
        if (k->arch == MN_ARCH_PHI3) {
            new_weight(m, &w[MN_W_QKV], "qkv", D, QW + 2 * KVW, r, 0, 0.3);
            new_weight(m, &w[MN_W_GATE_UP], "gate_up", D, 2 * F, r, 0, 0.3);
        } else {
            new_weight(m, &w[MN_W_Q], "q", D, QW, r, 0, 0.3);
            new_weight(m, &w[MN_W_K], "k", D, KVW, r, 0, 0.3);
            new_weight(m, &w[MN_W_V], "v", D, KVW, r, 0, 0.3);
            new_weight(m, &w[MN_W_GATE], "gate", D, F, r, 0, 0.3);
            new_weight(m, &w[MN_W_UP], "up", D, F, r, 0, 0.3);
            if (k->arch == MN_ARCH_QWEN2) {
                new_weight(m, &w[MN_W_BQ], "bq", QW, 1, r, 0, 0.3);
                new_weight(m, &w[MN_W_BK], "bk", KVW, 1, r, 0, 0.3);
                new_weight(m, &w[MN_W_BV], "bv", KVW, 1, r, 0, 0.3);
            }
        }
    }
    return m;
}

/* The double reference of the whole model: weights are read from a double copy of the
 * trainer's flat vector at the offsets of the trainer's model view. */
typedef struct {
    const mn_model *view;
    const float *base; /* the trainer's flat weights */
    int seqs, seq;
    const int32_t *tokens, *next, *ids;
    const float *probs;
    int K;
    double T, alpha;
} model_case;

static const double *ref_w(const model_case *k, const double *w, const mn_tensor *t) {
    return t->data ? w + ((const float *)t->data - k->base) : NULL;
}

/* x (rows × out) = a (rows × in) · Wᵀ (+ b) */
static void linear_ref(const double *a, int rows, int in, const double *W, const double *b, int out, double *y,
                       int ldy) {
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0;
            for (int i = 0; i < in; i++) s += a[(size_t)r * in + i] * W[(size_t)o * in + i];
            y[(size_t)r * ldy + o] = s;
        }
}

static double model_loss(void *ctx, const double *w) {
    const model_case *k = ctx;
    const mn_model *m = k->view;
    const mn_hparams *hp = &m->hp;
    const int D = hp->dim, F = hp->ffn_dim, hd = hp->head_dim, H = hp->n_heads, KV = hp->n_kv_heads, V = hp->n_vocab;
    const int QW = H * hd, KVW = KV * hd, LD = QW + 2 * KVW, T = k->seq, R = k->seqs * T;
    double *x = malloc((size_t)R * D * 8), *xn = malloc((size_t)R * D * 8), *qkv = malloc((size_t)R * LD * 8);
    double *att = malloc((size_t)R * QW * 8), *gu = malloc((size_t)R * 2 * F * 8), *h = malloc((size_t)R * F * 8);
    double *tmp = malloc((size_t)R * (D > V ? D : V) * 8);
    const double *embd = ref_w(k, w, &m->tok_embd);
    for (int r = 0; r < R; r++) memcpy(x + (size_t)r * D, embd + (size_t)k->tokens[r] * D, (size_t)D * 8);
    for (int l = 0; l < hp->n_layers; l++) {
        const mn_tensor *t = m->layers[l].w;
        rmsnorm_ref(x, ref_w(k, w, &t[MN_W_ATTN_NORM]), xn, R, D, hp->norm_eps);
        if (t[MN_W_QKV].data) {
            linear_ref(xn, R, D, ref_w(k, w, &t[MN_W_QKV]), NULL, LD, qkv, LD);
        } else {
            linear_ref(xn, R, D, ref_w(k, w, &t[MN_W_Q]), ref_w(k, w, &t[MN_W_BQ]), QW, qkv, LD);
            linear_ref(xn, R, D, ref_w(k, w, &t[MN_W_K]), ref_w(k, w, &t[MN_W_BK]), KVW, qkv + QW, LD);
            linear_ref(xn, R, D, ref_w(k, w, &t[MN_W_V]), ref_w(k, w, &t[MN_W_BV]), KVW, qkv + QW + KVW, LD);
        }
        for (int s = 0; s < k->seqs; s++) {
            double *b = qkv + (size_t)s * T * LD;
            rope_ref(b, LD, T, H, hd, hp->rope_layout, hp->rope_theta);
            rope_ref(b + QW, LD, T, KV, hd, hp->rope_layout, hp->rope_theta);
            attention_ref(b, LD, b + QW, b + QW + KVW, LD, att + (size_t)s * T * QW, QW, T, H, KV, hd);
        }
        linear_ref(att, R, QW, ref_w(k, w, &t[MN_W_O]), NULL, D, tmp, D);
        for (size_t i = 0; i < (size_t)R * D; i++) x[i] += tmp[i];
        rmsnorm_ref(x, ref_w(k, w, &t[MN_W_FFN_NORM]), xn, R, D, hp->norm_eps);
        if (t[MN_W_GATE_UP].data) {
            linear_ref(xn, R, D, ref_w(k, w, &t[MN_W_GATE_UP]), NULL, 2 * F, gu, 2 * F);
        } else {
            linear_ref(xn, R, D, ref_w(k, w, &t[MN_W_GATE]), NULL, F, gu, 2 * F);
            linear_ref(xn, R, D, ref_w(k, w, &t[MN_W_UP]), NULL, F, gu + F, 2 * F);
        }
        for (int r = 0; r < R; r++)
            for (int i = 0; i < F; i++)
                h[(size_t)r * F + i] = silu(gu[(size_t)r * 2 * F + i]) * gu[(size_t)r * 2 * F + F + i];
        linear_ref(h, R, F, ref_w(k, w, &t[MN_W_DOWN]), NULL, D, tmp, D);
        for (size_t i = 0; i < (size_t)R * D; i++) x[i] += tmp[i];
    }
    rmsnorm_ref(x, ref_w(k, w, &m->output_norm), xn, R, D, hp->norm_eps);
    linear_ref(xn, R, D, ref_w(k, w, &m->output), NULL, V, tmp, V);
    int ce_rows = 0;
    for (int r = 0; r < R; r++) ce_rows += k->next[r] >= 0;
    double L = 0, kl, ce;
    for (int r = 0; r < R; r++)
        L += loss_row_ref(tmp + (size_t)r * V, V, k->ids + (size_t)r * k->K, k->probs + (size_t)r * k->K, k->K,
                          k->next[r], k->T, (1 - k->alpha) / R, k->alpha / ce_rows, &kl, &ce);
    free(x), free(xn), free(qkv), free(att), free(gu), free(h), free(tmp);
    return L;
}

static void check_model(const model_kind *kind) {
    mn_rng r;
    mn_rng_seed(&r, 6);
    mn_model *m = tiny_model(kind, &r);
    const int S = 2, T = 9, R = S * T, K = 5, V = m->hp.n_vocab;
    const double temp = 1.5, alpha = 0.3;
    int32_t tokens[18], next[18], *ids = malloc((size_t)R * K * 4);
    float *probs = malloc((size_t)R * K * 4);
    for (int i = 0; i < R; i++) tokens[i] = (int32_t)(mn_rng_next(&r) % 12); /* repeats: the embedding adds up */
    for (int i = 0; i < R; i++) next[i] = i % T == T - 1 ? -1 : tokens[i + 1];
    for (int i = 0; i < R; i++) random_targets(&r, V, K, temp, ids + (size_t)i * K, probs + (size_t)i * K);

    mn_train *t = mn_train_new(m, T, S);
    ck_assert_ptr_nonnull(t);
    distill_loss loss;
    ck_assert_int_eq(distill_loss_init(&loss, V, K, (float)temp, (float)alpha, R), 0);
    loss.ids = ids, loss.probs = probs, loss.next = next;
    loss.kl_count = R;
    loss.ce_count = R - S;
    ck_assert_int_eq(mn_train_step(t, tokens, S, distill_loss_rows, &loss), 0);
    double L32 = 0;
    for (int i = 0; i < R; i++)
        L32 += (1 - alpha) * temp * temp * loss.kl[i] / R + (next[i] >= 0 ? alpha * loss.ce[i] / (R - S) : 0);

    const int64_t n = mn_train_size(t);
    const float *w = mn_train_weights(t), *g = mn_train_grads(t);
    double *wd = to_double(w, (size_t)n);
    model_case k = {mn_train_model(t), w, S, T, tokens, next, ids, probs, K, temp, alpha};
    double Lref = model_loss(&k, wd);
    char what[192];
    snprintf(what, sizeof what, "%s: loss value", kind->label);
    report(what, fabs(L32 - Lref) / fabs(Lref), FWD_TOL);
    for (int p = 0; p < mn_train_n_params(t); p++) {
        const mn_train_param *par = mn_train_param_at(t, p);
        const int samples = par->count < 24 ? (int)par->count : 24;
        float an[24];
        double num[24];
        for (int i = 0; i < samples; i++) {
            int64_t idx = par->offset + (samples == par->count ? i : (int64_t)(mn_rng_next(&r) % (uint64_t)par->count));
            an[i] = g[idx];
            num[i] = numeric_grad(model_loss, &k, wd, (size_t)idx);
        }
        snprintf(what, sizeof what, "%s: %s", kind->label, par->name);
        report(what, rel_err(an, num, (size_t)samples), GRAD_TOL);
    }
    free(wd);
    distill_loss_free(&loss);
    mn_train_free(t);
    mn_model_free(m);
    free(ids), free(probs);
}

START_TEST(model_llama_half) {
    model_kind k = {"llama (half-split rope, untied)", MN_ARCH_LLAMA, MN_ROPE_HALF, false};
    check_model(&k);
}
END_TEST

START_TEST(model_llama_interleaved_tied) {
    model_kind k = {"llama (interleaved rope, tied)", MN_ARCH_LLAMA, MN_ROPE_INTERLEAVED, true};
    check_model(&k);
}
END_TEST

START_TEST(model_qwen2) {
    model_kind k = {"qwen2 (q/k/v biases, tied)", MN_ARCH_QWEN2, MN_ROPE_HALF, true};
    check_model(&k);
}
END_TEST

START_TEST(model_phi3) {
    model_kind k = {"phi3 (fused qkv and gate_up)", MN_ARCH_PHI3, MN_ROPE_HALF, false};
    check_model(&k);
}
END_TEST

/* Two micro-batches accumulate to the gradient of one step over both, and a step repeated
 * from the same state gives the same bits. */
START_TEST(accumulation_and_determinism) {
    mn_rng r;
    mn_rng_seed(&r, 7);
    model_kind kind = {"llama", MN_ARCH_LLAMA, MN_ROPE_HALF, false};
    mn_model *m = tiny_model(&kind, &r);
    const int S = 2, T = 9, R = S * T, K = 5, V = m->hp.n_vocab;
    int32_t tokens[18], next[18], ids[18 * 5];
    float probs[18 * 5];
    for (int i = 0; i < R; i++) tokens[i] = (int32_t)(mn_rng_next(&r) % 40), next[i] = -1;
    for (int i = 0; i < R; i++) random_targets(&r, V, K, 1.0, ids + i * K, probs + i * K);
    mn_train *t = mn_train_new(m, T, S);
    distill_loss loss;
    ck_assert_int_eq(distill_loss_init(&loss, V, K, 1.0f, 0.0f, R), 0);
    loss.next = next, loss.kl_count = R;
    loss.ids = ids, loss.probs = probs;
    ck_assert_int_eq(mn_train_step(t, tokens, S, distill_loss_rows, &loss), 0);
    const int64_t n = mn_train_size(t);
    float *whole = malloc((size_t)n * 4), *again = malloc((size_t)n * 4);
    memcpy(whole, mn_train_grads(t), (size_t)n * 4);
    mn_train_zero_grads(t);
    ck_assert_int_eq(mn_train_step(t, tokens, S, distill_loss_rows, &loss), 0);
    ck_assert_msg(!memcmp(whole, mn_train_grads(t), (size_t)n * 4), "the same step gave different gradients");
    mn_train_zero_grads(t);
    for (int s = 0; s < S; s++) {
        loss.ids = ids + s * T * K, loss.probs = probs + s * T * K, loss.next = next + s * T;
        ck_assert_int_eq(mn_train_step(t, tokens + s * T, 1, distill_loss_rows, &loss), 0);
    }
    memcpy(again, mn_train_grads(t), (size_t)n * 4);
    double *ref = to_double(whole, (size_t)n);
    report("two micro-batches vs one batch", rel_err(again, ref, (size_t)n), 1e-5);
    free(whole), free(again), free(ref);
    distill_loss_free(&loss);
    mn_train_free(t);
    mn_model_free(m);
}
END_TEST

static Suite *make_suite(void) {
    mn_set_threads(2);
    Suite *s = suite_create("gradients");
    TCase *ops = tcase_create("ops");
    tcase_set_timeout(ops, 120); /* finite differences on references: seconds, minutes under sanitizers */
    tcase_add_test(ops, rmsnorm_gradient);
    tcase_add_test(ops, swiglu_gradient);
    tcase_add_test(ops, rope_gradient);
    tcase_add_test(ops, attention_gradient);
    tcase_add_test(ops, loss_gradient);
    suite_add_tcase(s, ops);
    TCase *models = tcase_create("models");
    tcase_set_timeout(models, 120);
    tcase_add_test(models, model_llama_half);
    tcase_add_test(models, model_llama_interleaved_tied);
    tcase_add_test(models, model_qwen2);
    tcase_add_test(models, model_phi3);
    tcase_add_test(models, accumulation_and_determinism);
    suite_add_tcase(s, models);
    return s;
}

MN_UNIT_MAIN
