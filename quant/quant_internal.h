/* Declarations shared by the files of quant/ (not a public header). */
#ifndef MN_QUANT_INTERNAL_H
#define MN_QUANT_INTERNAL_H

#include <stdint.h>

#include "model/forward.h"
#include "model/model.h"
#include "quant/quantize.h"

/* The block type llama.cpp's rules give one tensor under a quant type, after the fallback
 * for row lengths the type cannot hold. 1-D tensors stay f32. */
mn_dtype mn_recipe_tensor_type(const mn_quant_type *qt, const mn_model *m, mn_weight_role role, int layer,
                               const mn_tensor *t);
/* The type of every tensor: llama.cpp's recipe for a quant type, or a choice made per tensor
 * (the --bpw planner's), indexed by mn_plan_slot. */
typedef struct {
    const mn_quant_type *qt;
    mn_dtype *chosen; /* NULL, or (n_layers + 1) * MN_W_COUNT entries */
} mn_type_plan;

int mn_plan_slot(const mn_model *m, mn_weight_role role, int layer);
mn_dtype mn_plan_tensor_type(const mn_type_plan *p, const mn_model *m, mn_weight_role role, int layer,
                             const mn_tensor *t);

/* llama.cpp's fallback when ne0 is not a multiple of the type's block size. */
mn_dtype mn_recipe_fallback(mn_dtype t, int64_t ne0);

/* Which calibration statistics feed a weight: the activation entering it. */
typedef enum {
    MN_IN_ATTN,   /* normed input of q/k/v (dim) */
    MN_IN_ATTN_O, /* attention output, input of o (n_heads * head_dim) */
    MN_IN_FFN,    /* normed input of gate/up (dim) */
    MN_IN_DOWN,   /* SwiGLU output, input of down (ffn_dim) */
    MN_IN_COUNT
} mn_input_group;

/* Group of a weight role; -1 for tensors without a linear input (norms, biases, embeddings). */
int mn_input_group_of(mn_weight_role role);
/* Group whose input a forward-pass tap point sees; -1 for the other taps. */
int mn_input_group_of_tap(mn_tap_point p);

/* Per-channel activation statistics over calibration text, for every linear input. */
typedef struct {
    int n_layers;
    int width[MN_IN_COUNT];
    double *sum_sq[MN_IN_COUNT];  /* [n_layers][width] */
    double *sum_abs[MN_IN_COUNT]; /* [n_layers][width] */
    double *head_sum_sq;          /* [dim]: input of the output layer */
    double *head_sum_abs;
    int64_t tokens;
    int64_t head_tokens;
} mn_act_stats;

/* Calibration text, tokenized as for evaluation and cut into chunks of ctx tokens (each
 * starting with BOS when the vocabulary adds it). */
typedef struct {
    int32_t *ids; /* n_chunks * ctx */
    int n_chunks;
    int ctx;
    char sha256[65];
    int64_t tokens; /* n_chunks * ctx */
} mn_calib_text;

int mn_calib_text_load(const mn_model *m, const char *path, int max_tokens, mn_calib_text *out);
void mn_calib_text_free(mn_calib_text *c);

int mn_act_stats_collect(const mn_model *m, const mn_calib_text *c, mn_act_stats *s, bool progress);
void mn_act_stats_free(mn_act_stats *s);
/* Mean square of each input channel of a weight (llama.cpp's imatrix), into out (ne0 floats). */
void mn_act_stats_importance(const mn_act_stats *s, mn_weight_role role, int layer, float *out);

/* Fills plan->chosen (to be freed by the caller) for opt->bpw bits per weight, with
 * opt->type.base as the lowest type, from divergences measured on calibration text. */
int mn_bpw_plan(const mn_model *m, const mn_quant_options *opt, const mn_calib_text *calib, const mn_act_stats *stats,
                mn_type_plan *plan);

/* GPTQ for one linear weight w (rows × cols f32, row-major; left holding the dequantized
 * result) with h the cols × cols Gram matrix X^T X of its calibration inputs (destroyed).
 * importance (cols values or NULL) weights each group's scale search. Writes rows of `type`
 * blocks to dst. */
int mn_gptq_quantize(mn_dtype type, float *w, int64_t rows, int64_t cols, float *h, const float *importance,
                     void *dst);

/* One AWQ scale search: the weights reading one activation (e.g. q, k and v reading the
 * attention input) and statistics of that activation. */
typedef struct {
    int64_t cols;
    const float *mean_abs; /* per input channel; channels that must share a scale (GQA heads
                              reading one value row) carry the same value */
    const float *mean_sq;
    const float *samples; /* n_samples rows of cols inputs */
    int n_samples;
    int n_weights;
    const float *weights[3];
    int64_t rows[3];
    mn_dtype types[3];
} mn_awq_group;

/* Finds the exponent alpha minimising the group's output error after quantization and writes
 * the chosen scales (cols values): W is to be multiplied by diag(s), its input by diag(1/s). */
int mn_awq_search(const mn_awq_group *g, float *scales, double *best_alpha);
/* s = mean_abs^alpha, centred so that sqrt(max * min) = 1. */
void mn_awq_scales(const float *mean_abs, int64_t cols, double alpha, float *s);

/* GPTQ and/or AWQ over the layers of m in order (see quant/layer_walk.c), writing each
 * layer's quantized weights (and AWQ's rescaled norms and biases) into qm, a model derived
 * from m. head receives the statistics of the output layer's input after the quantized layers. */
int mn_quantize_layers(const mn_model *m, mn_model *qm, const mn_type_plan *plan, mn_quant_method method,
                       const mn_calib_text *calib, mn_act_stats *head, bool progress);

/* One element of a quantized block: x = a * q + b, q an integer in [lo, hi]. */
typedef struct {
    float a, b;
    int lo, hi;
} mn_element_code;

/* The code of element e (0 .. block size - 1) of a block of a quantized type. */
void mn_block_element(mn_dtype type, const void *block, int e, mn_element_code *c);
/* Stores q as element e of the block, leaving scales and other elements alone. */
void mn_block_set_q(mn_dtype type, void *block, int e, int q);

#endif
