/* A tensor is a typed view over bytes someone else owns (usually a mapped file).
 * Shapes follow ggml's convention: ne[0] is the innermost (contiguous) dimension, so a
 * linear layer's weight [out_features][in_features] has ne[0] = in, ne[1] = out.
 * Widening any type to f32 is formats/block_codec.h's job. */
#ifndef MN_CORE_TENSOR_H
#define MN_CORE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"

#define MN_MAX_DIMS 4
#define MN_MAX_NAME 128

typedef struct {
    char name[MN_MAX_NAME];
    mn_dtype type;
    int n_dims;
    int64_t ne[MN_MAX_DIMS]; /* unused dimensions are 1 */
    const void *data;
    size_t nbytes;
} mn_tensor;

int64_t mn_tensor_nelements(const mn_tensor *t);
/* Number of rows of length ne[0]. */
int64_t mn_tensor_nrows(const mn_tensor *t);
size_t mn_tensor_row_bytes(const mn_tensor *t);
const void *mn_tensor_row(const mn_tensor *t, int64_t row);

#endif
