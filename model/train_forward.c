/* The training forward pass: model/forward.c's computation over a micro-batch of sequences
 * stacked row after row, on fp32 weights, keeping every activation the backward pass needs. */
#include <string.h>

#include "core/error.h"
#include "model/train_internal.h"

/* y (rows × n, stride ldy) = x · Wᵀ for W of n rows of k. */
static void linear(const float *x, int rows, int k, const float *w, int n, float *y, int ldy, float beta) {
    train_gemm(false, true, rows, n, k, 1.0f, x, k, w, k, beta, y, ldy);
}

static int block_forward(mn_train *t, int l, int n_seqs) {
    const mn_hparams *hp = &t->src->hp;
    const train_layer *w = &t->layers[l];
    const int T = t->seq, R = n_seqs * T, stride = t->max_seqs * T;
    const int D = hp->dim, F = hp->ffn_dim, hd = hp->head_dim, QKV = t->qkv_width, QW = t->q_width, KVW = t->kv_width;
    const float *x = train_act(t->a.x, l, stride, D);
    float *xn1 = train_act(t->a.xn1, l, stride, D), *qkv = train_act(t->a.qkv, l, stride, QKV);
    float *att = train_act(t->a.att, l, stride, QW), *x1 = train_act(t->a.x1, l, stride, D);
    float *xn2 = train_act(t->a.xn2, l, stride, D), *gu = train_act(t->a.gu, l, stride, 2 * F);
    float *h = train_act(t->a.h, l, stride, F), *x_next = train_act(t->a.x, l + 1, stride, D);
    float *probs = t->a.probs + (size_t)l * t->max_seqs * hp->n_heads * (size_t)T * T;

    mn_rmsnorm_rows(x, D, xn1, D, w->w[MN_W_ATTN_NORM], R, D, hp->norm_eps);
    float *q = qkv, *k = qkv + QW, *v = qkv + QW + KVW;
    linear(xn1, R, D, w->qkv_w, QKV, qkv, QKV, 0);
    if (w->bias_w)
        for (int r = 0; r < R; r++)
            for (int i = 0; i < QKV; i++) qkv[(size_t)r * QKV + i] += w->bias_w[i];
    for (int s = 0; s < n_seqs; s++) {
        const size_t off = (size_t)s * T * QKV;
        mn_rope_apply(&t->rope, q + off, QKV, T, hp->n_heads, hd, hp->rope_layout);
        mn_rope_apply(&t->rope, k + off, QKV, T, hp->n_kv_heads, hd, hp->rope_layout);
        if (mn_attention_causal(q + off, QKV, k + off, v + off, QKV, att + (size_t)s * T * QW, QW, T, hp->n_heads,
                                hp->n_kv_heads, hd, probs + (size_t)s * hp->n_heads * T * T))
            return -1;
    }
    memcpy(x1, x, (size_t)R * D * sizeof(float));
    linear(att, R, QW, w->w[MN_W_O], D, x1, D, 1.0f);

    mn_rmsnorm_rows(x1, D, xn2, D, w->w[MN_W_FFN_NORM], R, D, hp->norm_eps);
    linear(xn2, R, D, w->gu_w, 2 * F, gu, 2 * F, 0);
    /* gate is kept before the activation: the backward pass needs it */
    for (int r = 0; r < R; r++) memcpy(h + (size_t)r * F, gu + (size_t)r * 2 * F, (size_t)F * sizeof(float));
    mn_swiglu_rows(h, F, gu + F, 2 * F, R, F);
    memcpy(x_next, x1, (size_t)R * D * sizeof(float));
    linear(h, R, F, w->w[MN_W_DOWN], D, x_next, D, 1.0f);
    return 0;
}

int train_forward(mn_train *t, const int32_t *tokens, int n_seqs) {
    const mn_hparams *hp = &t->src->hp;
    const int R = n_seqs * t->seq, D = hp->dim;
    for (int r = 0; r < R; r++) {
        if (tokens[r] < 0 || tokens[r] >= hp->n_vocab)
            return mn_fail("token id %d is outside the vocabulary (%d)", tokens[r], hp->n_vocab);
        memcpy(t->a.x + (size_t)r * D, t->embd_w + (size_t)tokens[r] * D, (size_t)D * sizeof(float));
    }
    for (int l = 0; l < hp->n_layers; l++)
        if (block_forward(t, l, n_seqs) != 0) return -1;
    const float *last = train_act(t->a.x, hp->n_layers, t->max_seqs * t->seq, D);
    mn_rmsnorm_rows(last, D, t->a.xnf, D, t->norm_w, R, D, hp->norm_eps);
    return 0;
}
