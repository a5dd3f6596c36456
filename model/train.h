/* Training a model in fp32 on a CPU: what distillation builds on.
 *
 * A trainer holds fp32 master weights widened from any mn_model (every stored type), in one
 * flat vector with a gradient vector beside it, and runs the forward pass over a micro-batch
 * of sequences while saving what the backward pass needs, then the backward pass of every op
 * (embedding, RMSNorm, linear layers with qwen2 biases and phi3 fused qkv/gate_up, RoPE in
 * both layouts, causal attention with GQA, SwiGLU, final norm, LM head, tied embeddings),
 * adding into the gradients so micro-batches accumulate.
 *
 * The loss is the caller's: the LM head runs a block of rows at a time and hands each
 * block's logits to a callback that replaces them with dLoss/dlogits, so the full
 * tokens × vocabulary logits never exist at once.
 *
 * Every matrix product is an OpenBLAS sgemm whose output is split between threads in fixed
 * slices (single-threaded sgemm inside, as model/matmul.c does), and every reduction runs in
 * a fixed order, so a step is bit-for-bit reproducible for a given thread count. */
#ifndef MN_MODEL_TRAIN_H
#define MN_MODEL_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"

typedef struct mn_train mn_train;

/* One trainable tensor: a slice [offset, offset + count) of the flat weight vector. */
typedef struct {
    char name[MN_MAX_NAME]; /* llama.cpp name, e.g. "blk.0.attn_q.weight" */
    int64_t offset, count;
    bool decay; /* matrices (embeddings included) take weight decay; norms and biases do not */
} mn_train_param;

/* Widens every weight of src into fp32 master weights, with workspace for micro-batches of
 * up to max_seqs sequences of seq tokens. src must outlive the trainer (the trained model
 * shares its tokenizer and hyperparameters). */
mn_train *mn_train_new(const mn_model *src, int seq, int max_seqs);
void mn_train_free(mn_train *t);

/* The model being trained, as an mn_model whose tensors are f32 views of the master
 * weights: evaluate or export it like any other model. Valid while the trainer lives. */
const mn_model *mn_train_model(const mn_train *t);

int mn_train_n_params(const mn_train *t);
const mn_train_param *mn_train_param_at(const mn_train *t, int i);
/* The flat vectors (mn_train_size floats each). */
int64_t mn_train_size(const mn_train *t);
float *mn_train_weights(mn_train *t);
float *mn_train_grads(mn_train *t);
void mn_train_zero_grads(mn_train *t);

/* Turns n_rows rows of logits (row r of the micro-batch is row0 + r, i.e. sequence
 * (row0 + r) / seq, position (row0 + r) % seq; rows of n_vocab floats) into the gradient of
 * the loss in place. Returns 0, or -1 with an error recorded to stop the step. */
typedef int (*mn_train_loss_fn)(void *ctx, int row0, int n_rows, float *logits);

/* Forward and backward over n_seqs sequences of seq tokens each (tokens: n_seqs × seq), adding
 * the gradients of the loss to mn_train_grads. */
int mn_train_step(mn_train *t, const int32_t *tokens, int n_seqs, mn_train_loss_fn loss, void *ctx);

#endif
