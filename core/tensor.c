#include "core/tensor.h"

int64_t mn_tensor_nelements(const mn_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->ne[i];
    return n;
}

int64_t mn_tensor_nrows(const mn_tensor *t) { return t->ne[0] ? mn_tensor_nelements(t) / t->ne[0] : 0; }

size_t mn_tensor_row_bytes(const mn_tensor *t) { return mn_dtype_row_bytes(t->type, t->ne[0]); }

const void *mn_tensor_row(const mn_tensor *t, int64_t row) {
    return (const char *)t->data + (size_t)row * mn_tensor_row_bytes(t);
}

