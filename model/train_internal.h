/* Shared between model/train*.c only: the trainer's layout and its parallel sgemm. */
#ifndef MN_MODEL_TRAIN_INTERNAL_H
#define MN_MODEL_TRAIN_INTERNAL_H

#include <stdbool.h>

#include "model/ops.h"
#include "model/train.h"

/* Weights and gradients of one block, by role (NULL when the role is absent), and the
 * projections taken together: the flat vector holds a block's tensors back to back in role
 * order, so q, k, v are one [q; k; v] matrix (as phi3 stores it fused) with their biases one
 * vector, and gate, up one [gate; up] matrix. One product each instead of three or two. */
typedef struct {
    float *w[MN_W_COUNT];
    float *g[MN_W_COUNT];
    float *qkv_w, *qkv_g;   /* (n_heads + 2 n_kv_heads) head_dim rows of dim */
    float *bias_w, *bias_g; /* qwen2's [bq; bk; bv], NULL without biases */
    float *gu_w, *gu_g;     /* 2 ffn rows of dim */
} train_layer;

/* What the forward pass keeps for the backward pass, per layer, for up to max_rows rows
 * (sequences stacked): the block's input x, normed inputs xn1/xn2, rotated q/k and v, the
 * attention output, the residual after attention x1, gate/up before the activation, the
 * SwiGLU output h, and every head's attention probabilities. */
typedef struct {
    float *x;     /* (n_layers + 1) × rows × dim: x[l] enters block l, x[n_layers] the final norm */
    float *xn1;   /* n_layers × rows × dim */
    float *qkv;   /* n_layers × rows × qkv_width */
    float *att;   /* n_layers × rows × q_width */
    float *x1;    /* n_layers × rows × dim */
    float *xn2;   /* n_layers × rows × dim */
    float *gu;    /* n_layers × rows × 2 ffn */
    float *h;     /* n_layers × rows × ffn */
    float *probs; /* n_layers × seqs × n_heads × seq × seq */
    float *xnf;   /* rows × dim: the final norm's output */
} train_acts;

/* Gradient scratch of the backward pass, one micro-batch at a time. */
typedef struct {
    float *dx, *dx1, *dxn; /* rows × dim */
    float *dqkv;           /* rows × qkv_width */
    float *datt;           /* rows × q_width */
    float *dgu;            /* rows × 2 ffn */
    float *dh;             /* rows × ffn */
    float *logits;         /* head_rows × n_vocab */
} train_grads;

struct mn_train {
    const mn_model *src;
    mn_model *model; /* derived from src; its tensors are f32 views of w */
    int seq, max_seqs;
    int qkv_width, q_width, kv_width;
    int head_rows; /* LM head rows per loss call */
    int n_params;
    mn_train_param *params;
    int64_t size;
    float *w, *g;
    train_layer *layers;
    float *embd_w, *embd_g, *norm_w, *norm_g, *out_w, *out_g; /* out == embd when tied */
    mn_rope_table rope;
    train_acts a;
    train_grads d;
};

/* C = alpha op(A) op(B) + beta C (row-major), with C's rows or columns split between the
 * threads in fixed slices, each a single-threaded OpenBLAS sgemm. */
void train_gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                int ldb, float beta, float *c, int ldc);

/* Per-layer slices of the saved activations. */
static inline float *train_act(float *base, int layer, int rows, int width) {
    return base + (size_t)layer * (size_t)rows * (size_t)width;
}

int train_forward(mn_train *t, const int32_t *tokens, int n_seqs);
int train_backward(mn_train *t, const int32_t *tokens, int n_seqs, mn_train_loss_fn loss, void *ctx);

#endif
