/* Quantizing f32 rows into GGUF block types, bit-identical to llama.cpp.
 *
 * Without importance weights the output is exactly ggml_quantize_chunk(type, src, dst, 0,
 * nrows, n_per_row, NULL): llama.cpp's reference quantizers, including the K-quants' scale
 * searches. With importance weights it is exactly ggml_quantize_chunk with that imatrix: the
 * importance-weighted scale searches llama-quantize uses. Q8_0 (like ggml) ignores importance. */
#ifndef MN_QUANT_BLOCK_QUANTIZE_H
#define MN_QUANT_BLOCK_QUANTIZE_H

#include <stdint.h>

#include "core/dtype.h"

/* Quantizes nrows rows of n_per_row floats from src into dst, which must hold
 * nrows * mn_dtype_row_bytes(type, n_per_row) bytes. importance is NULL or n_per_row
 * non-negative weights, one per column (e.g. the mean square activation of that input
 * channel); it applies to Q4_0, Q4_1, Q5_0, Q5_1 and Q2_K .. Q6_K. Every type is accepted,
 * F32/F16/BF16 included; Q8_1 and Q8_K (which ggml_quantize_chunk refuses) follow ggml's
 * reference row quantizers.
 *
 * Rows are spread over mn_threads() OpenMP threads; the bytes do not depend on the thread
 * count. Values must be finite (NaN/Inf give unspecified bytes, never a crash). Returns 0, or
 * -1 with an error recorded (unknown type, n_per_row not a multiple of the block size). */
int mn_quantize_rows(mn_dtype type, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                     const float *importance);

#endif
