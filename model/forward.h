/* The batched forward pass of one sequence in fp32, either whole (tokens → logits) or step
 * by step (embed, one block at a time, head) for calibration that walks the layers, with
 * optional taps that see the activations entering each linear layer. */
#ifndef MN_MODEL_FORWARD_H
#define MN_MODEL_FORWARD_H

#include <stdint.h>

#include "model/model.h"

typedef enum {
    MN_TAP_BLOCK_INPUT,  /* residual stream entering a block (n × dim); layer n_layers = after the last */
    MN_TAP_ATTN_INPUT,   /* normed input of q/k/v (n × dim) */
    MN_TAP_ATTN_OUTPUT,  /* input of the output projection (n × n_heads·head_dim) */
    MN_TAP_FFN_INPUT,    /* normed input of gate/up (n × dim) */
    MN_TAP_FFN_HIDDEN,   /* input of the down projection (n × ffn_dim) */
    MN_TAP_HEAD_INPUT,   /* normed input of the output layer, scored rows only (layer -1) */
} mn_tap_point;

/* x: n_rows rows of n_cols floats, row stride ld. Called from the calling thread. */
typedef void (*mn_tap_fn)(void *ctx, int layer, mn_tap_point point, const float *x, int n_rows, int n_cols, int ld);

typedef struct mn_forward mn_forward;

/* Workspace for sequences of up to max_tokens tokens. */
mn_forward *mn_forward_new(const mn_model *m, int max_tokens);
void mn_forward_free(mn_forward *f);
void mn_forward_set_tap(mn_forward *f, mn_tap_fn fn, void *ctx);

/* Logits for positions [first, n) into logits ((n - first) × n_vocab). Token i sits at position i. */
int mn_forward_logits(mn_forward *f, const int32_t *tokens, int n, int first, float *logits);

/* The same pass in steps. x holds n × dim floats. `w` is the block's weights: normally
 * &m->layers[layer], or a modified copy (e.g. already-quantized weights). */
int mn_forward_embed(mn_forward *f, const int32_t *tokens, int n, float *x);
int mn_forward_block(mn_forward *f, const mn_layer *w, int layer, float *x, int n);
int mn_forward_head(mn_forward *f, const float *x, int n, int first, float *logits);

#endif
