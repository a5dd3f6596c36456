/* The elementwise and row kernels of the transformer (RMSNorm, RoPE, causal attention,
 * SwiGLU, fast exp), shared by inference, calibration and training. Hot loops dispatch to
 * AVX2/FMA at run time and fall back to portable C. */
#ifndef MN_MODEL_OPS_H
#define MN_MODEL_OPS_H

#include <stdint.h>

#include "model/model.h"

/* dst[i] = exp(src[i]); in place is fine. Relative error below 2e-7. */
void mn_exp_row(const float *src, float *dst, int64_t n);
/* Returns log(sum(exp(x - max))) + max, with the sum in double (as llama.cpp's perplexity). */
double mn_log_sum_exp(const float *x, int64_t n);
float mn_max_row(const float *x, int64_t n);
/* x = softmax(x) in place (sum in double). */
void mn_softmax_row(float *x, int64_t n);
/* KL(p || q) over a row: p given as log-probs, q as logits with their log-sum-exp. */
double mn_kl_row(const float *ref_logp, const float *logits, double lse, int64_t n);
/* True when no element is NaN or ±Inf. */
int mn_all_finite(const float *x, int64_t n);

/* y[r] = x[r] / rms(x[r]) * w, rows of `dim`; the mean square is accumulated in double. */
void mn_rmsnorm_rows(const float *x, int ldx, float *y, int ldy, const float *w, int n_rows, int dim, float eps);

/* gate[i] = silu(gate[i]) * up[i] for rows of `n` with separate strides. */
void mn_swiglu_rows(float *gate, int ldg, const float *up, int ldu, int n_rows, int n);

/* Rotary embedding angles for positions [0, n_pos): cos/sin[pos * head_dim/2 + i]. */
typedef struct {
    int n_pos;
    int half;
    float *cos;
    float *sin;
} mn_rope_table;

/* freq_factors (head_dim/2 values, may be NULL) divide each frequency, as llama3 scaling does;
 * hyperparameters with llama3/linear rope scaling are honoured too. */
int mn_rope_table_init(mn_rope_table *t, const mn_hparams *hp, const float *freq_factors, int n_pos);
void mn_rope_table_free(mn_rope_table *t);
/* Llama 3 scaling as per-frequency divisors (head_dim/2 values), as GGUF's rope_freqs stores them. */
void mn_rope_llama3_factors(const mn_hparams *hp, float *factors);
/* Rotates n_rows × n_heads heads of head_dim in x (row stride ld), row r at position r. */
void mn_rope_apply(const mn_rope_table *t, float *x, int ld, int n_rows, int n_heads, int head_dim,
                   mn_rope_layout layout);
/* Inverse rotation (for gradients). */
void mn_rope_apply_inverse(const mn_rope_table *t, float *x, int ld, int n_rows, int n_heads, int head_dim,
                           mn_rope_layout layout);

/* Causal self-attention with grouped KV heads, parallel over heads:
 * out[:, h] = softmax(q[:, h] k[:, g]ᵀ / sqrt(head_dim), causal) v[:, g] with g = h / (n_heads / n_kv).
 * q rows have stride ldq, k/v ldk, out ldo. If probs != NULL it receives every head's
 * attention matrix (n_heads × n × n, upper triangle zero) for the backward pass. */
int mn_attention_causal(const float *q, int ldq, const float *k, const float *v, int ldk, float *out, int ldo, int n,
                        int n_heads, int n_kv_heads, int head_dim, float *probs);

#endif
