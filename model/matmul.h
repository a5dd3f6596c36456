/* y = x · Wᵀ for a weight W of any stored type (f32, f16, bf16, GGUF block types).
 *
 * Threads split W's rows; each thread widens its rows to f32 one tile at a time into its own
 * scratch and multiplies the tile with a single-threaded OpenBLAS sgemm, so a model is never
 * widened as a whole and OpenMP and OpenBLAS never fight over the cores. f32 weights are used
 * in place. */
#ifndef MN_MODEL_MATMUL_H
#define MN_MODEL_MATMUL_H

#include <stddef.h>

#include "core/tensor.h"

typedef struct mn_matmul_scratch mn_matmul_scratch;

mn_matmul_scratch *mn_matmul_scratch_new(void);
void mn_matmul_scratch_free(mn_matmul_scratch *s);

/* x: m rows of k floats (row stride ldx); W: n rows of k (W->ne[0] == k, rows of W = n);
 * y: m rows, written at columns [0, n) with row stride ldy. beta 0 overwrites y, 1 adds to it.
 * Only W's rows [row0, row0 + n) are used, so fused tensors can be multiplied in parts. */
int mn_matmul(mn_matmul_scratch *s, const float *x, int m, int ldx, const mn_tensor *w, int64_t row0, int64_t n,
              float *y, int ldy, float beta);

/* Widens rows [row0, row0 + nrows) of any tensor to f32. */
void mn_tensor_rows_to_f32(const mn_tensor *t, int64_t row0, int64_t nrows, float *dst);

#endif
