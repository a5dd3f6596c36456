/* The calibrated methods that need more than per-channel statistics (GPTQ, AWQ) walk the
 * layers in order over the calibration text: each layer's inputs come from the layers before
 * it as already quantized, its weights are widened to f32, scaled (AWQ) and rounded (GPTQ or
 * the block quantizers), and the quantized layer then produces the next layer's inputs. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/progress.h"
#include "model/forward.h"
#include "model/matmul.h"
#include "model/ops.h"
#include "quant/block_quantize.h"
#include "quant/quant_internal.h"

/* Input rows kept per activation for AWQ's error measurements. */
#define AWQ_SAMPLES 512

enum { COLLECT_ACTIVATIONS = 1, COLLECT_HESSIAN = 2 };

typedef struct {
    int width;
    double *sum_abs, *sum_sq;
    float *samples;
    int n_samples;
    int64_t seen;
    int stride;
    float *gram; /* width × width, upper triangle accumulated */
} group_acc;

typedef struct {
    int flags;
    group_acc g[MN_IN_COUNT];
    int64_t tokens;
} walk_acc;

/* The layer being quantized, widened to f32, and an mn_layer viewing it. */
typedef struct {
    float *w[MN_W_COUNT];
    mn_layer view;
} work_layer;

/* gram += x^T x (upper triangle), columns split into slabs of equal work over the threads. */
static void accumulate_gram(float *gram, int width, const float *x, int rows, int ld) {
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int j0 = (int)(width * sqrt((double)t / nt)), j1 = (int)(width * sqrt((double)(t + 1) / nt));
        if (t == nt - 1) j1 = width;
        if (j1 > j0)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, j1, j1 - j0, rows, 1.0f, x, ld, x + j0, ld, 1.0f,
                        gram + j0, width);
    }
}

static void walk_tap(void *ctx, int layer, mn_tap_point point, const float *x, int rows, int cols, int ld) {
    walk_acc *a = ctx;
    int gi = mn_input_group_of_tap(point);
    if (gi < 0) return;
    group_acc *g = &a->g[gi];
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * ld;
        for (int c = 0; c < cols; c++) {
            g->sum_abs[c] += fabsf(row[c]);
            g->sum_sq[c] += (double)row[c] * row[c];
        }
        if ((a->flags & COLLECT_ACTIVATIONS) && g->n_samples < AWQ_SAMPLES && g->seen % g->stride == 0)
            memcpy(g->samples + (size_t)g->n_samples++ * cols, row, (size_t)cols * sizeof(float));
        g->seen++;
    }
    if (a->flags & COLLECT_HESSIAN) accumulate_gram(g->gram, cols, x, rows, ld);
    if (gi == MN_IN_ATTN) a->tokens += rows;
}

static void acc_free(walk_acc *a) {
    for (int i = 0; i < MN_IN_COUNT; i++) {
        free(a->g[i].sum_abs);
        free(a->g[i].sum_sq);
        free(a->g[i].samples);
        free(a->g[i].gram);
    }
    memset(a, 0, sizeof *a);
}

static int acc_init(walk_acc *a, const mn_hparams *hp, int flags, int64_t calib_tokens) {
    memset(a, 0, sizeof *a);
    a->flags = flags;
    const int widths[MN_IN_COUNT] = {hp->dim, hp->n_heads * hp->head_dim, hp->dim, hp->ffn_dim};
    for (int i = 0; i < MN_IN_COUNT; i++) {
        group_acc *g = &a->g[i];
        g->width = widths[i];
        g->stride = calib_tokens > AWQ_SAMPLES ? (int)(calib_tokens / AWQ_SAMPLES) : 1;
        g->sum_abs = calloc((size_t)g->width, sizeof(double));
        g->sum_sq = calloc((size_t)g->width, sizeof(double));
        if (!g->sum_abs || !g->sum_sq) goto oom;
        if (flags & COLLECT_ACTIVATIONS && !(g->samples = malloc((size_t)AWQ_SAMPLES * g->width * sizeof(float))))
            goto oom;
        if (flags & COLLECT_HESSIAN && !(g->gram = calloc((size_t)g->width * g->width, sizeof(float)))) goto oom;
    }
    return 0;
oom:
    acc_free(a);
    return mn_fail("out of memory for calibration statistics");
}

static void work_free(work_layer *w) {
    for (int r = 0; r < MN_W_COUNT; r++) free(w->w[r]);
    memset(w, 0, sizeof *w);
}

static int work_widen(const mn_layer *src, work_layer *w) {
    memset(w, 0, sizeof *w);
    for (int r = 0; r < MN_W_COUNT; r++) {
        const mn_tensor *t = &src->w[r];
        if (!t->data) continue;
        int64_t n = mn_tensor_nelements(t);
        w->w[r] = malloc((size_t)n * sizeof(float));
        if (!w->w[r]) {
            work_free(w);
            return mn_fail("out of memory widening %s", t->name);
        }
        mn_tensor_rows_to_f32(t, 0, mn_tensor_nrows(t), w->w[r]);
        mn_tensor *v = &w->view.w[r];
        *v = *t;
        v->type = MN_F32;
        v->data = w->w[r];
        v->nbytes = (size_t)n * sizeof(float);
    }
    return 0;
}

typedef struct {
    const mn_model *m;
    mn_model *qm;
    const mn_type_plan *plan;
    mn_quant_method method;
    const mn_calib_text *calib;
    mn_forward *f;
    float *hidden; /* n_chunks × ctx × dim */
    float *scratch;
} walk;

/* One pass of a layer over every calibration chunk, on a copy of the hidden states. */
static int collect(walk *wk, const mn_layer *layer, int l, walk_acc *a) {
    const size_t chunk_floats = (size_t)wk->calib->ctx * wk->m->hp.dim;
    mn_forward_set_tap(wk->f, walk_tap, a);
    int rc = 0;
    for (int c = 0; c < wk->calib->n_chunks && rc == 0; c++) {
        memcpy(wk->scratch, wk->hidden + c * chunk_floats, chunk_floats * sizeof(float));
        rc = mn_forward_block(wk->f, layer, l, wk->scratch, wk->calib->ctx);
    }
    mn_forward_set_tap(wk->f, NULL, NULL);
    return rc;
}

static void scale_columns(float *w, int64_t rows, int64_t cols, const float *s) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) w[r * cols + c] *= s[c];
}

static void scale_rows(float *w, int64_t row0, int64_t n, int64_t cols, const float *s) {
    for (int64_t r = 0; r < n; r++)
        for (int64_t c = 0; c < cols; c++) w[(row0 + r) * cols + c] /= s[r];
}

/* The weights reading each activation, as (role, first row, rows) slices of the work layer. */
typedef struct {
    mn_weight_role role;
    int64_t row0, rows;
} slice;

static int group_weights(const mn_hparams *hp, const work_layer *w, int group, slice *out) {
    const int64_t q = (int64_t)hp->n_heads * hp->head_dim, kv = (int64_t)hp->n_kv_heads * hp->head_dim;
    int n = 0;
    switch (group) {
    case MN_IN_ATTN:
        if (w->w[MN_W_QKV]) out[n++] = (slice){MN_W_QKV, 0, q + 2 * kv};
        else {
            out[n++] = (slice){MN_W_Q, 0, q};
            out[n++] = (slice){MN_W_K, 0, kv};
            out[n++] = (slice){MN_W_V, 0, kv};
        }
        break;
    case MN_IN_ATTN_O: out[n++] = (slice){MN_W_O, 0, hp->dim}; break;
    case MN_IN_FFN:
        if (w->w[MN_W_GATE_UP]) out[n++] = (slice){MN_W_GATE_UP, 0, 2 * (int64_t)hp->ffn_dim};
        else {
            out[n++] = (slice){MN_W_GATE, 0, hp->ffn_dim};
            out[n++] = (slice){MN_W_UP, 0, hp->ffn_dim};
        }
        break;
    case MN_IN_DOWN: out[n++] = (slice){MN_W_DOWN, 0, hp->dim}; break;
    }
    return n;
}

/* Applies 1/s to whatever produces the group's activation, so that scaling the group's
 * weights by s leaves the model's function unchanged. */
static void fold_into_producer(const mn_hparams *hp, work_layer *w, int group, const float *s) {
    const int64_t dim = hp->dim, hd = hp->head_dim, q = (int64_t)hp->n_heads * hd, kv = (int64_t)hp->n_kv_heads * hd;
    switch (group) {
    case MN_IN_ATTN:
        for (int64_t c = 0; c < dim; c++) w->w[MN_W_ATTN_NORM][c] /= s[c];
        break;
    case MN_IN_FFN:
        for (int64_t c = 0; c < dim; c++) w->w[MN_W_FFN_NORM][c] /= s[c];
        break;
    case MN_IN_DOWN:
        /* SwiGLU output = silu(gate) * up: scaling up's rows scales the output channel */
        if (w->w[MN_W_GATE_UP]) scale_rows(w->w[MN_W_GATE_UP], hp->ffn_dim, hp->ffn_dim, dim, s);
        else scale_rows(w->w[MN_W_UP], 0, hp->ffn_dim, dim, s);
        break;
    case MN_IN_ATTN_O: {
        /* attention output channel (h, d) is a mix of value row (h / group, d): one scale per
         * value row, shared by the heads reading it (the caller made s equal across them) */
        const int group_size = hp->n_heads / hp->n_kv_heads;
        float *vs = malloc((size_t)kv * sizeof(float));
        if (!vs) return;
        for (int64_t g = 0; g < hp->n_kv_heads; g++)
            for (int64_t d = 0; d < hd; d++) vs[g * hd + d] = s[g * group_size * hd + d];
        if (w->w[MN_W_QKV]) scale_rows(w->w[MN_W_QKV], q + kv, kv, dim, vs);
        else scale_rows(w->w[MN_W_V], 0, kv, dim, vs);
        if (w->w[MN_W_BV])
            for (int64_t i = 0; i < kv; i++) w->w[MN_W_BV][i] /= vs[i];
        free(vs);
        break;
    }
    }
}

static int awq_layer(walk *wk, work_layer *w, int l, walk_acc *a, float *scales[MN_IN_COUNT]) {
    const mn_hparams *hp = &wk->m->hp;
    for (int gi = 0; gi < MN_IN_COUNT; gi++) {
        group_acc *g = &a->g[gi];
        const int64_t cols = g->width;
        float *mean_abs = malloc((size_t)cols * sizeof(float)), *mean_sq = malloc((size_t)cols * sizeof(float));
        scales[gi] = malloc((size_t)cols * sizeof(float));
        if (!mean_abs || !mean_sq || !scales[gi]) {
            free(mean_abs);
            free(mean_sq);
            return mn_fail("out of memory for AWQ");
        }
        for (int64_t c = 0; c < cols; c++) {
            mean_abs[c] = (float)(g->sum_abs[c] / (double)a->tokens);
            mean_sq[c] = (float)(g->sum_sq[c] / (double)a->tokens);
        }
        if (gi == MN_IN_ATTN_O) {
            /* heads reading one value row must share its scale */
            const int group_size = hp->n_heads / hp->n_kv_heads, hd = hp->head_dim;
            for (int kvh = 0; kvh < hp->n_kv_heads; kvh++)
                for (int d = 0; d < hd; d++) {
                    double sum = 0;
                    for (int k = 0; k < group_size; k++) sum += mean_abs[(kvh * group_size + k) * hd + d];
                    for (int k = 0; k < group_size; k++) mean_abs[(kvh * group_size + k) * hd + d] = (float)(sum / group_size);
                }
        }
        slice sl[3];
        int n = group_weights(hp, w, gi, sl);
        mn_awq_group grp = {.cols = cols, .mean_abs = mean_abs, .mean_sq = mean_sq, .samples = g->samples,
                            .n_samples = g->n_samples, .n_weights = n};
        for (int i = 0; i < n; i++) {
            grp.weights[i] = w->w[sl[i].role] + sl[i].row0 * cols;
            grp.rows[i] = sl[i].rows;
            grp.types[i] = mn_plan_tensor_type(wk->plan, wk->m, sl[i].role, l, &wk->m->layers[l].w[sl[i].role]);
            if (!mn_dtype_is_quantized(grp.types[i])) grp.types[i] = MN_Q8_0;
        }
        double alpha;
        int rc = mn_awq_search(&grp, scales[gi], &alpha);
        free(mean_abs);
        free(mean_sq);
        if (rc) return -1;
        for (int i = 0; i < n; i++) scale_columns(w->w[sl[i].role] + sl[i].row0 * cols, sl[i].rows, cols, scales[gi]);
        fold_into_producer(hp, w, gi, scales[gi]);
    }
    return 0;
}

/* Stores one weight of the layer in qm, quantized to the recipe's type. */
static int quantize_weight(walk *wk, work_layer *w, int l, mn_weight_role role, const walk_acc *a,
                           const float *awq_scale) {
    const mn_tensor *src = &wk->m->layers[l].w[role];
    mn_dtype type = mn_plan_tensor_type(wk->plan, wk->m, role, l, src);
    const int64_t cols = src->ne[0], rows = mn_tensor_nrows(src);
    mn_tensor *dst_t = &wk->qm->layers[l].w[role];
    void *dst = mn_model_new_tensor(wk->qm, dst_t, src->name, type, cols, rows);
    if (!dst) return -1;
    dst_t->n_dims = src->n_dims;
    if (!mn_dtype_is_quantized(type)) {
        if (type == MN_F32) memcpy(dst, w->w[role], (size_t)(rows * cols) * sizeof(float));
        else if (type == MN_F16) mn_f32_to_f16_row(w->w[role], dst, rows * cols);
        else mn_f32_to_bf16_row(w->w[role], dst, rows * cols);
        return 0;
    }
    if (!mn_all_finite(w->w[role], rows * cols))
        return mn_fail("%s: tensor %s contains NaN or Inf; refusing to quantize it", wk->m->path, src->name);
    const group_acc *g = &a->g[mn_input_group_of(role)];
    float *importance = malloc((size_t)cols * sizeof(float));
    if (!importance) return mn_fail("out of memory");
    for (int64_t c = 0; c < cols; c++) {
        double ms = g->sum_sq[c] / (double)(a->tokens ? a->tokens : 1);
        /* statistics gathered before AWQ scaled this input describe x; the weights now read x / s */
        if (awq_scale) ms /= (double)awq_scale[c] * awq_scale[c];
        importance[c] = (float)ms;
    }
    int rc;
    if (a->flags & COLLECT_HESSIAN) {
        float *h = malloc((size_t)cols * cols * sizeof(float));
        if (!h) rc = mn_fail("out of memory for a %lld x %lld Hessian", (long long)cols, (long long)cols);
        else {
            for (int64_t i = 0; i < cols; i++)
                for (int64_t j = 0; j < cols; j++)
                    h[i * cols + j] = j >= i ? g->gram[i * cols + j] : g->gram[j * cols + i];
            rc = mn_gptq_quantize(type, w->w[role], rows, cols, h, importance, dst);
            free(h);
        }
    } else {
        rc = mn_quantize_rows(type, w->w[role], dst, rows, cols, importance);
    }
    free(importance);
    return rc;
}

/* Norms and biases AWQ changed, kept in f32 in qm. */
static int keep_vector(walk *wk, work_layer *w, int l, mn_weight_role role) {
    const mn_tensor *src = &wk->m->layers[l].w[role];
    if (!src->data) return 0;
    float *dst = mn_model_new_tensor(wk->qm, &wk->qm->layers[l].w[role], src->name, MN_F32, src->ne[0], 1);
    if (!dst) return -1;
    memcpy(dst, w->w[role], (size_t)src->ne[0] * sizeof(float));
    return 0;
}

static int walk_layer(walk *wk, int l) {
    const bool awq = wk->method == MN_QM_AWQ || wk->method == MN_QM_AWQ_GPTQ;
    const bool gptq = wk->method == MN_QM_GPTQ || wk->method == MN_QM_AWQ_GPTQ;
    work_layer w;
    if (work_widen(&wk->m->layers[l], &w)) return -1;
    walk_acc act = {0}, hess = {0};
    float *scales[MN_IN_COUNT] = {0};
    const mn_hparams *hp = &wk->m->hp;
    int rc = 0;
    if (awq) {
        rc = acc_init(&act, hp, COLLECT_ACTIVATIONS, wk->calib->tokens);
        if (rc == 0) rc = collect(wk, &w.view, l, &act);
        if (rc == 0) rc = awq_layer(wk, &w, l, &act, scales);
    }
    if (rc == 0 && gptq) {
        /* the Hessians of the (possibly AWQ-scaled) layer's own inputs */
        rc = acc_init(&hess, hp, COLLECT_HESSIAN, wk->calib->tokens);
        if (rc == 0) rc = collect(wk, &w.view, l, &hess);
    }
    const walk_acc *stats = gptq ? &hess : &act;
    for (int r = 0; r < MN_W_COUNT && rc == 0; r++) {
        if (!w.w[r]) continue;
        if (mn_input_group_of((mn_weight_role)r) >= 0)
            rc = quantize_weight(wk, &w, l, (mn_weight_role)r, stats,
                                 awq && !gptq ? scales[mn_input_group_of((mn_weight_role)r)] : NULL);
        else if (awq)
            rc = keep_vector(wk, &w, l, (mn_weight_role)r);
    }
    /* the quantized layer produces the next layer's inputs */
    const size_t chunk_floats = (size_t)wk->calib->ctx * hp->dim;
    for (int c = 0; c < wk->calib->n_chunks && rc == 0; c++)
        rc = mn_forward_block(wk->f, &wk->qm->layers[l], l, wk->hidden + c * chunk_floats, wk->calib->ctx);
    for (int i = 0; i < MN_IN_COUNT; i++) free(scales[i]);
    acc_free(&act);
    acc_free(&hess);
    work_free(&w);
    return rc;
}

/* Statistics of the output layer's input over the final hidden states. */
static int head_statistics(walk *wk, mn_act_stats *head) {
    const mn_hparams *hp = &wk->m->hp;
    memset(head, 0, sizeof *head);
    head->head_sum_sq = calloc((size_t)hp->dim, sizeof(double));
    head->head_sum_abs = calloc((size_t)hp->dim, sizeof(double));
    float *norm = malloc((size_t)hp->dim * sizeof(float));
    if (!head->head_sum_sq || !head->head_sum_abs || !norm) {
        free(norm);
        return mn_fail("out of memory");
    }
    mn_tensor_rows_to_f32(&wk->m->output_norm, 0, 1, norm);
    const int64_t rows = wk->calib->tokens;
    for (int64_t r0 = 0; r0 < rows; r0 += wk->calib->ctx) {
        mn_rmsnorm_rows(wk->hidden + r0 * hp->dim, hp->dim, wk->scratch, hp->dim, norm, wk->calib->ctx, hp->dim,
                        hp->norm_eps);
        for (int r = 0; r < wk->calib->ctx; r++)
            for (int c = 0; c < hp->dim; c++) {
                float v = wk->scratch[(size_t)r * hp->dim + c];
                head->head_sum_sq[c] += (double)v * v;
                head->head_sum_abs[c] += fabsf(v);
            }
    }
    head->head_tokens = rows;
    head->width[MN_IN_ATTN] = hp->dim;
    free(norm);
    return 0;
}

int mn_quantize_layers(const mn_model *m, mn_model *qm, const mn_type_plan *plan, mn_quant_method method,
                       const mn_calib_text *calib, mn_act_stats *head, bool progress) {
    const mn_hparams *hp = &m->hp;
    walk wk = {.m = m, .qm = qm, .plan = plan, .method = method, .calib = calib};
    wk.f = mn_forward_new(m, calib->ctx);
    wk.hidden = malloc((size_t)calib->tokens * hp->dim * sizeof(float));
    wk.scratch = malloc((size_t)calib->ctx * hp->dim * sizeof(float));
    int rc = wk.f && wk.hidden && wk.scratch ? 0 : mn_fail("out of memory for %lld calibration tokens", (long long)calib->tokens);
    for (int c = 0; c < calib->n_chunks && rc == 0; c++)
        rc = mn_forward_embed(wk.f, calib->ids + (size_t)c * calib->ctx, calib->ctx,
                              wk.hidden + (size_t)c * calib->ctx * hp->dim);
    mn_progress bar;
    mn_progress_begin(&bar, mn_quant_method_name(method), (uint64_t)hp->n_layers, "layers");
    if (!progress) bar.active = 0;
    for (int l = 0; l < hp->n_layers && rc == 0; l++) {
        rc = walk_layer(&wk, l);
        char detail[32];
        snprintf(detail, sizeof detail, "layer %d", l);
        mn_progress_update(&bar, (uint64_t)l + 1, detail);
    }
    mn_progress_end(&bar);
    if (rc == 0) rc = head_statistics(&wk, head);
    mn_forward_free(wk.f);
    free(wk.hidden);
    free(wk.scratch);
    return rc;
}
