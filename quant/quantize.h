/* Quantizing a model to GGUF block types that llama.cpp runs, with calibration.
 *
 * Types are plain GGUF block types (q8_0, q4_0, q4_1, q5_0, q5_1, q2_k .. q6_k) or mixes in
 * the spirit of llama.cpp's q4_k_m / q5_k_m (more bits for attn_v and some ffn_down layers,
 * q6_k for the output layer). `bpw` instead spends a size budget where measured sensitivity
 * says it buys the most quality. Methods:
 *  - rtn: llama.cpp's reference quantizers (bit-identical to llama-quantize without imatrix);
 *  - imatrix: importance-weighted scale search, weights = mean square of each input channel
 *    over the calibration text (bit-identical to llama-quantize with that imatrix);
 *  - gptq: Hessian X^T X of each linear layer's calibration inputs, dampened, Cholesky via
 *    LAPACK, column-by-column rounding with error feedback and lazy block updates; layers in
 *    order, so later layers see the already-quantized earlier ones;
 *  - awq: per-input-channel scales from mean |x|, exponent grid-searched on the block's output
 *    error, folded into the preceding RMSNorm or linear layer;
 *  - awq+gptq: both.
 * Every method writes standard block tensors in a standard GGUF. */
#ifndef MN_QUANT_QUANTIZE_H
#define MN_QUANT_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"

typedef enum { MN_QM_RTN, MN_QM_IMATRIX, MN_QM_GPTQ, MN_QM_AWQ, MN_QM_AWQ_GPTQ } mn_quant_method;

/* A quantization type: one block type for most tensors, plus llama.cpp-style promotions. */
typedef struct {
    char name[16];  /* as given: "q4_k_m" */
    mn_dtype base;  /* q4_k */
    int mix;        /* 0 plain, 'm' for the _m mixes */
    int llama_ftype; /* general.file_type */
} mn_quant_type;

/* Parses a type name; -1 (no error recorded) when unknown. f16/bf16/f32 are not quant types. */
int mn_quant_type_parse(const char *name, mn_quant_type *out);
/* Comma-separated list of accepted names, for messages. */
const char *mn_quant_type_names(void);
int mn_quant_method_parse(const char *name, mn_quant_method *out);
const char *mn_quant_method_name(mn_quant_method m);

typedef struct {
    mn_quant_type type;
    mn_quant_method method;
    const char *calib_path; /* needed by every method but rtn (and by bpw) */
    int calib_tokens;       /* 0: default */
    double bpw;             /* > 0: size budget in bits per weight, type is the floor */
    bool allow_requantize;
    bool progress;
} mn_quant_options;

typedef struct {
    double seconds;
    uint64_t file_bytes;
    uint64_t params;
    double bpw; /* weight bytes * 8 / params */
    int64_t calib_tokens;
    char calib_sha256[65];
    int tensors_by_type[64];
} mn_quant_report;

int mn_quantize_model(const mn_model *m, const char *out_path, const mn_quant_options *opt, mn_quant_report *rep);

#endif
