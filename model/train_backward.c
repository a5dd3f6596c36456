/* The training backward pass: from the loss's gradient on the logits back to the embedding,
 * adding every weight's gradient into the trainer's gradient vector. */
#include <string.h>

#include "core/error.h"
#include "model/ops_backward.h"
#include "model/train_internal.h"

/* For y = x · Wᵀ (x: rows × k, W: n × k, dy with stride lddy): dW += dyᵀ x, and dx = dy W
 * (beta 0) or dx += dy W (beta 1). */
static void linear_backward(const float *x, int rows, int k, const float *w, float *dw, int n, const float *dy,
                            int lddy, float *dx, float beta) {
    train_gemm(true, false, n, k, rows, 1.0f, dy, lddy, x, k, 1.0f, dw, k);
    train_gemm(false, false, rows, k, n, 1.0f, dy, lddy, w, k, beta, dx, k);
}

/* On entry t->d.dx is dLoss/d(output of block l); on return dLoss/d(input of block l). */
static int block_backward(mn_train *t, int l, int n_seqs) {
    const mn_hparams *hp = &t->src->hp;
    const train_layer *w = &t->layers[l];
    const int T = t->seq, R = n_seqs * T, stride = t->max_seqs * T;
    const int D = hp->dim, F = hp->ffn_dim, hd = hp->head_dim, QKV = t->qkv_width, QW = t->q_width, KVW = t->kv_width;
    const float *x = train_act(t->a.x, l, stride, D), *xn1 = train_act(t->a.xn1, l, stride, D);
    const float *qkv = train_act(t->a.qkv, l, stride, QKV), *att = train_act(t->a.att, l, stride, QW);
    const float *x1 = train_act(t->a.x1, l, stride, D), *xn2 = train_act(t->a.xn2, l, stride, D);
    const float *gu = train_act(t->a.gu, l, stride, 2 * F), *h = train_act(t->a.h, l, stride, F);
    const float *probs = t->a.probs + (size_t)l * t->max_seqs * hp->n_heads * (size_t)T * T;
    float *const *g = w->g;
    float *dx = t->d.dx, *dx1 = t->d.dx1, *dxn = t->d.dxn, *dqkv = t->d.dqkv, *datt = t->d.datt, *dgu = t->d.dgu;

    /* x_next = x1 + h · Wdownᵀ */
    linear_backward(h, R, F, w->w[MN_W_DOWN], g[MN_W_DOWN], D, dx, D, t->d.dh, 0);
    if (mn_swiglu_backward_rows(gu, 2 * F, gu + F, 2 * F, t->d.dh, F, dgu, 2 * F, dgu + F, 2 * F, R, F)) return -1;
    linear_backward(xn2, R, D, w->gu_w, w->gu_g, 2 * F, dgu, 2 * F, dxn, 0);
    memcpy(dx1, dx, (size_t)R * D * sizeof(float));
    if (mn_rmsnorm_backward_rows(x1, D, w->w[MN_W_FFN_NORM], dxn, D, dx1, D, g[MN_W_FFN_NORM], R, D, hp->norm_eps))
        return -1;

    /* x1 = x + att · Woᵀ */
    linear_backward(att, R, QW, w->w[MN_W_O], g[MN_W_O], D, dx1, D, datt, 0);
    float *dq = dqkv, *dk = dqkv + QW, *dv = dqkv + QW + KVW;
    if (mn_attention_causal_backward(qkv, QKV, qkv + QW, qkv + QW + KVW, QKV, probs, datt, QW, dq, QKV, dk, dv, QKV,
                                     n_seqs, T, hp->n_heads, hp->n_kv_heads, hd))
        return -1;
    for (int s = 0; s < n_seqs; s++) {
        const size_t off = (size_t)s * T * QKV;
        mn_rope_apply_inverse(&t->rope, dq + off, QKV, T, hp->n_heads, hd, hp->rope_layout);
        mn_rope_apply_inverse(&t->rope, dk + off, QKV, T, hp->n_kv_heads, hd, hp->rope_layout);
    }
    linear_backward(xn1, R, D, w->qkv_w, w->qkv_g, QKV, dqkv, QKV, dxn, 0);
    if (w->bias_g) mn_add_column_sums(dqkv, QKV, R, QKV, w->bias_g);
    memcpy(dx, dx1, (size_t)R * D * sizeof(float));
    return mn_rmsnorm_backward_rows(x, D, w->w[MN_W_ATTN_NORM], dxn, D, dx, D, g[MN_W_ATTN_NORM], R, D, hp->norm_eps);
}

/* The LM head a block of rows at a time: logits, the caller's loss turning them into their
 * gradient, then the head's weight gradient and the gradient of the final norm's output. */
static int head_backward(mn_train *t, int n_seqs, mn_train_loss_fn loss, void *ctx) {
    const mn_hparams *hp = &t->src->hp;
    const int R = n_seqs * t->seq, D = hp->dim, V = hp->n_vocab;
    for (int r0 = 0; r0 < R; r0 += t->head_rows) {
        const int rows = R - r0 < t->head_rows ? R - r0 : t->head_rows;
        const float *xnf = t->a.xnf + (size_t)r0 * D;
        train_gemm(false, true, rows, V, D, 1.0f, xnf, D, t->out_w, D, 0, t->d.logits, V);
        if (loss(ctx, r0, rows, t->d.logits) != 0) return -1;
        linear_backward(xnf, rows, D, t->out_w, t->out_g, V, t->d.logits, V, t->d.dxn + (size_t)r0 * D, 0);
    }
    return 0;
}

int train_backward(mn_train *t, const int32_t *tokens, int n_seqs, mn_train_loss_fn loss, void *ctx) {
    const mn_hparams *hp = &t->src->hp;
    const int R = n_seqs * t->seq, D = hp->dim;
    if (head_backward(t, n_seqs, loss, ctx) != 0) return -1;
    memset(t->d.dx, 0, (size_t)R * D * sizeof(float));
    const float *last = train_act(t->a.x, hp->n_layers, t->max_seqs * t->seq, D);
    if (mn_rmsnorm_backward_rows(last, D, t->norm_w, t->d.dxn, D, t->d.dx, D, t->norm_g, R, D, hp->norm_eps))
        return -1;
    for (int l = hp->n_layers - 1; l >= 0; l--)
        if (block_backward(t, l, n_seqs) != 0) return -1;
    /* rows in order, so repeated tokens add up in the same order every time */
    for (int r = 0; r < R; r++) {
        float *ge = t->embd_g + (size_t)tokens[r] * D;
        const float *d = t->d.dx + (size_t)r * D;
        for (int i = 0; i < D; i++) ge[i] += d[i];
    }
    return 0;
}
