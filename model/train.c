#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/threads.h"
#include "model/matmul.h"
#include "model/train_internal.h"

/* Floats of LM-head logits per loss call: a block of rows of the vocabulary, large enough to
 * keep the head's sgemms efficient, small enough that logits never dominate memory. */
#define HEAD_FLOATS (8u << 20)
/* Products below this many multiply-adds run on one thread: splitting costs more than it saves. */
#define SERIAL_GEMM_WORK (1 << 20)

void train_gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                int ldb, float beta, float *c, int ldc) {
    const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
    const int nt = mn_threads();
    const bool split_rows = m >= n;
    const int dim = split_rows ? m : n;
    if (nt == 1 || (double)m * n * k < SERIAL_GEMM_WORK || dim < 32) {
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    /* contiguous slices rounded to 16 so every thread's kernel sees aligned, full-width tiles */
    const int per = ((dim + nt - 1) / nt + 15) / 16 * 16;
#pragma omp parallel for schedule(static, 1) num_threads(nt)
    for (int s = 0; s < nt; s++) {
        const int b0 = s * per, b1 = b0 + per < dim ? b0 + per : dim;
        if (b0 >= b1) continue;
        if (split_rows)
            cblas_sgemm(CblasRowMajor, ta, tb, b1 - b0, n, k, alpha, trans_a ? a + b0 : a + (size_t)b0 * lda, lda, b,
                        ldb, beta, c + (size_t)b0 * ldc, ldc);
        else
            cblas_sgemm(CblasRowMajor, ta, tb, m, b1 - b0, k, alpha, a, lda, trans_b ? b + (size_t)b0 * ldb : b + b0,
                        ldb, beta, c + b0, ldc);
    }
}

static void free_acts(mn_train *t) {
    float **bufs[] = {&t->a.x,   &t->a.xn1, &t->a.qkv, &t->a.att,  &t->a.x1,  &t->a.xn2,  &t->a.gu,
                      &t->a.h,   &t->a.probs, &t->a.xnf, &t->d.dx, &t->d.dx1, &t->d.dxn, &t->d.dqkv,
                      &t->d.datt, &t->d.dgu, &t->d.dh, &t->d.logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
}

void mn_train_free(mn_train *t) {
    if (!t) return;
    free_acts(t);
    mn_rope_table_free(&t->rope);
    mn_model_free(t->model);
    free(t->params);
    free(t->layers);
    free(t->w);
    free(t->g);
    free(t);
}

/* The slot of a role in a (derived) model. */
static mn_tensor *model_slot(mn_model *m, mn_weight_role role, int layer) {
    switch (role) {
    case MN_W_TOKEN_EMBD: return &m->tok_embd;
    case MN_W_OUTPUT_NORM: return &m->output_norm;
    case MN_W_OUTPUT: return &m->output;
    default: return &m->layers[layer].w[role];
    }
}

/* First pass: list the trainable tensors (everything but GGUF's rope_freqs, which is a
 * constant of the rotary embedding) and lay them out in the flat vector. */
static int list_param(void *ctx, const char *gguf_name, const mn_tensor *src, int layer, mn_weight_role role) {
    mn_train *t = ctx;
    if (role == MN_W_ROPE_FREQS) return 0;
    mn_train_param *p = &t->params[t->n_params++];
    snprintf(p->name, sizeof p->name, "%s", gguf_name);
    p->offset = t->size;
    p->count = mn_tensor_nelements(src);
    p->decay = mn_tensor_nrows(src) > 1;
    /* back to back, no padding: a block's q, k, v (and gate, up) form one matrix */
    t->size += p->count;
    return 0;
}

/* Second pass: widen each tensor into its slice and point the derived model at it. */
static int bind_param(void *ctx, const char *gguf_name, const mn_tensor *src, int layer, mn_weight_role role) {
    mn_train *t = ctx;
    if (role == MN_W_ROPE_FREQS) return 0;
    const mn_train_param *p = &t->params[t->n_params++];
    float *w = t->w + p->offset, *g = t->g + p->offset;
    mn_tensor_rows_to_f32(src, 0, mn_tensor_nrows(src), w);
    mn_tensor *dst = model_slot(t->model, role, layer);
    *dst = *src;
    dst->type = MN_F32;
    dst->data = w;
    dst->nbytes = (size_t)p->count * sizeof(float);
    switch (role) {
    case MN_W_TOKEN_EMBD: t->embd_w = w, t->embd_g = g; break;
    case MN_W_OUTPUT_NORM: t->norm_w = w, t->norm_g = g; break;
    case MN_W_OUTPUT: t->out_w = w, t->out_g = g; break;
    default: t->layers[layer].w[role] = w, t->layers[layer].g[role] = g;
    }
    return 0;
}

/* Cache-line aligned buffers (aligned_alloc needs a size that is a multiple of the alignment). */
static float *alloc_floats(size_t n) { return aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64); }

static int alloc_acts(mn_train *t) {
    const mn_hparams *hp = &t->src->hp;
    const size_t rows = (size_t)t->max_seqs * t->seq, L = (size_t)hp->n_layers, D = (size_t)hp->dim;
    const size_t F = (size_t)hp->ffn_dim, QKV = (size_t)t->qkv_width, QW = (size_t)t->q_width;
    t->a.x = alloc_floats((L + 1) * rows * D);
    t->a.xn1 = alloc_floats(L * rows * D);
    t->a.qkv = alloc_floats(L * rows * QKV);
    t->a.att = alloc_floats(L * rows * QW);
    t->a.x1 = alloc_floats(L * rows * D);
    t->a.xn2 = alloc_floats(L * rows * D);
    t->a.gu = alloc_floats(L * rows * 2 * F);
    t->a.h = alloc_floats(L * rows * F);
    t->a.probs = alloc_floats(L * (size_t)t->max_seqs * (size_t)hp->n_heads * (size_t)t->seq * (size_t)t->seq);
    t->a.xnf = alloc_floats(rows * D);
    t->d.dx = alloc_floats(rows * D);
    t->d.dx1 = alloc_floats(rows * D);
    t->d.dxn = alloc_floats(rows * D);
    t->d.dqkv = alloc_floats(rows * QKV);
    t->d.datt = alloc_floats(rows * QW);
    t->d.dgu = alloc_floats(rows * 2 * F);
    t->d.dh = alloc_floats(rows * F);
    t->d.logits = alloc_floats((size_t)t->head_rows * (size_t)hp->n_vocab);
    const float *all[] = {t->a.x,  t->a.xn1, t->a.qkv, t->a.att, t->a.x1,   t->a.xn2, t->a.gu, t->a.h, t->a.probs,
                          t->a.xnf, t->d.dx, t->d.dx1, t->d.dxn, t->d.dqkv, t->d.datt, t->d.dgu, t->d.dh, t->d.logits};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!all[i]) return mn_fail("out of memory for training activations (%d sequences of %d tokens)", t->max_seqs,
                                    t->seq);
    return 0;
}

/* Points each block's fused views at its tensors, which the flat layout keeps contiguous in
 * role order (mn_model_for_each_tensor's order); checked, as everything relies on it. */
static int bind_fused(mn_train *t) {
    const mn_hparams *hp = &t->src->hp;
    const size_t D = (size_t)hp->dim, QW = (size_t)t->q_width, KVW = (size_t)t->kv_width, F = (size_t)hp->ffn_dim;
    for (int l = 0; l < hp->n_layers; l++) {
        train_layer *L = &t->layers[l];
        float **w = L->w;
        if (w[MN_W_QKV]) {
            L->qkv_w = w[MN_W_QKV], L->qkv_g = L->g[MN_W_QKV];
        } else {
            if (w[MN_W_K] != w[MN_W_Q] + QW * D || w[MN_W_V] != w[MN_W_K] + KVW * D)
                return mn_fail("internal error: q, k, v of layer %d are not contiguous", l);
            L->qkv_w = w[MN_W_Q], L->qkv_g = L->g[MN_W_Q];
        }
        if (w[MN_W_BQ]) {
            if (!w[MN_W_BK] || !w[MN_W_BV] || w[MN_W_BK] != w[MN_W_BQ] + QW || w[MN_W_BV] != w[MN_W_BK] + KVW)
                return mn_fail("internal error: the q, k, v biases of layer %d are not contiguous", l);
            L->bias_w = w[MN_W_BQ], L->bias_g = L->g[MN_W_BQ];
        }
        if (w[MN_W_GATE_UP]) {
            L->gu_w = w[MN_W_GATE_UP], L->gu_g = L->g[MN_W_GATE_UP];
        } else {
            if (w[MN_W_UP] != w[MN_W_GATE] + F * D)
                return mn_fail("internal error: gate and up of layer %d are not contiguous", l);
            L->gu_w = w[MN_W_GATE], L->gu_g = L->g[MN_W_GATE];
        }
    }
    return 0;
}

mn_train *mn_train_new(const mn_model *src, int seq, int max_seqs) {
    const mn_hparams *hp = &src->hp;
    if (seq < 2 || max_seqs < 1) {
        mn_fail("training needs sequences of at least 2 tokens (got %d × %d)", max_seqs, seq);
        return NULL;
    }
    mn_threads(); /* OpenBLAS single-threaded before any sgemm runs inside our parallel regions */
    mn_train *t = calloc(1, sizeof *t);
    if (!t) goto oom;
    t->src = src;
    t->seq = seq;
    t->max_seqs = max_seqs;
    t->q_width = hp->n_heads * hp->head_dim;
    t->kv_width = hp->n_kv_heads * hp->head_dim;
    t->qkv_width = t->q_width + 2 * t->kv_width;
    int head_rows = (int)(HEAD_FLOATS / (unsigned)hp->n_vocab) / 16 * 16;
    if (head_rows < 16) head_rows = 16;
    t->head_rows = head_rows < seq * max_seqs ? head_rows : seq * max_seqs;
    t->params = calloc((size_t)(hp->n_layers * MN_W_COUNT + 4), sizeof *t->params);
    t->layers = calloc((size_t)hp->n_layers, sizeof *t->layers);
    t->model = mn_model_derive(src);
    if (!t->params || !t->layers || !t->model) goto oom;
    mn_model_for_each_tensor(src, list_param, t);
    t->w = alloc_floats((size_t)t->size);
    t->g = alloc_floats((size_t)t->size);
    if (!t->w || !t->g) goto oom;
    memset(t->w, 0, (size_t)t->size * sizeof(float));
    memset(t->g, 0, (size_t)t->size * sizeof(float));
    const int n_params = t->n_params;
    t->n_params = 0;
    mn_model_for_each_tensor(src, bind_param, t);
    t->n_params = n_params;
    if (bind_fused(t) != 0) {
        mn_train_free(t);
        return NULL;
    }
    if (hp->tied_embeddings) {
        t->model->output = t->model->tok_embd;
        t->out_w = t->embd_w;
        t->out_g = t->embd_g;
    }
    float *freq_factors = NULL;
    if (src->rope_freqs.data) {
        freq_factors = malloc((size_t)(hp->head_dim / 2) * sizeof(float));
        if (!freq_factors) goto oom;
        mn_tensor_rows_to_f32(&src->rope_freqs, 0, 1, freq_factors);
    }
    int rc = mn_rope_table_init(&t->rope, hp, freq_factors, seq);
    free(freq_factors);
    if (rc != 0 || alloc_acts(t) != 0) {
        mn_train_free(t);
        return NULL;
    }
    return t;
oom:
    mn_train_free(t);
    mn_fail("%s: out of memory for fp32 training weights", src->path);
    return NULL;
}

const mn_model *mn_train_model(const mn_train *t) { return t->model; }
int mn_train_n_params(const mn_train *t) { return t->n_params; }
const mn_train_param *mn_train_param_at(const mn_train *t, int i) { return &t->params[i]; }
int64_t mn_train_size(const mn_train *t) { return t->size; }
float *mn_train_weights(mn_train *t) { return t->w; }
float *mn_train_grads(mn_train *t) { return t->g; }
void mn_train_zero_grads(mn_train *t) { memset(t->g, 0, (size_t)t->size * sizeof(float)); }

int mn_train_step(mn_train *t, const int32_t *tokens, int n_seqs, mn_train_loss_fn loss, void *ctx) {
    if (n_seqs < 1 || n_seqs > t->max_seqs)
        return mn_fail("a training step takes 1 to %d sequences, not %d", t->max_seqs, n_seqs);
    if (train_forward(t, tokens, n_seqs) != 0) return -1;
    return train_backward(t, tokens, n_seqs, loss, ctx);
}
