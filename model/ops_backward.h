/* Backward kernels of model/ops.h, for training: each takes what its forward kernel saw (or
 * produced) and the gradient of its output, and adds or writes the gradients of its inputs.
 * The RoPE backward is mn_rope_apply_inverse (a rotation's transpose is its inverse).
 *
 * Reductions over rows (weight and bias gradients) are summed in fixed blocks of rows and
 * then in block order, so results do not depend on the thread count. */
#ifndef MN_MODEL_OPS_BACKWARD_H
#define MN_MODEL_OPS_BACKWARD_H

/* For y = x / rms(x) * w (mn_rmsnorm_rows): dx += dL/dx and dw += dL/dw given dy. The mean
 * square is recomputed from x exactly as the forward computes it. */
int mn_rmsnorm_backward_rows(const float *x, int ldx, const float *w, const float *dy, int lddy, float *dx, int lddx,
                             float *dw, int n_rows, int dim, float eps);

/* For h = silu(gate) * up (mn_swiglu_rows), given the pre-activation gate and up rows and dh,
 * writes dgate and dup. */
int mn_swiglu_backward_rows(const float *gate, int ldg, const float *up, int ldu, const float *dh, int ldh,
                            float *dgate, int lddg, float *dup, int lddu, int n_rows, int n);

/* For mn_attention_causal over n_seqs sequences of n rows stacked one after another (q, k, v,
 * dout and the outputs hold n_seqs × n rows; probs holds each sequence's n_heads × n × n
 * attention matrices as the forward returned them): writes dq, and dk, dv (gradients of the
 * rotated q and k as they entered the attention). Parallel over (sequence, KV head) pairs. */
int mn_attention_causal_backward(const float *q, int ldq, const float *k, const float *v, int ldk, const float *probs,
                                 const float *dout, int lddo, float *dq, int lddq, float *dk, float *dv, int lddk,
                                 int n_seqs, int n, int n_heads, int n_kv_heads, int head_dim);

/* dst[j] += sum over rows of x[r][j] (bias gradients). */
void mn_add_column_sums(const float *x, int ld, int n_rows, int n_cols, float *dst);

#endif
