/* mn_quantize_rows: argument checks, the plain types, and rows spread over threads. */
#include <string.h>

#include "core/error.h"
#include "core/threads.h"
#include "quant/block_quantize.h"
#include "quant/block_quantize_internal.h"

static mn_row_quantizer row_quantizer(mn_dtype type) {
    switch (type) {
    case MN_Q4_0: return mn_quantize_row_q4_0;
    case MN_Q4_1: return mn_quantize_row_q4_1;
    case MN_Q5_0: return mn_quantize_row_q5_0;
    case MN_Q5_1: return mn_quantize_row_q5_1;
    case MN_Q8_0: return mn_quantize_row_q8_0;
    case MN_Q8_1: return mn_quantize_row_q8_1;
    case MN_Q2_K: return mn_quantize_row_q2_k;
    case MN_Q3_K: return mn_quantize_row_q3_k;
    case MN_Q4_K: return mn_quantize_row_q4_k;
    case MN_Q5_K: return mn_quantize_row_q5_k;
    case MN_Q6_K: return mn_quantize_row_q6_k;
    case MN_Q8_K: return mn_quantize_row_q8_k;
    default: return NULL;
    }
}

static void plain_row(mn_dtype type, const float *x, void *y, int64_t n) {
    switch (type) {
    case MN_F32: memcpy(y, x, (size_t)n * sizeof(float)); break;
    case MN_F16: mn_f32_to_f16_row(x, y, n); break;
    case MN_BF16: mn_f32_to_bf16_row(x, y, n); break;
    default: break;
    }
}

int mn_quantize_rows(mn_dtype type, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                     const float *importance) {
    const bool plain = type == MN_F32 || type == MN_F16 || type == MN_BF16;
    const mn_row_quantizer quantize = row_quantizer(type);
    if (!plain && !quantize)
        return mn_fail("quantize: unsupported tensor type %s (id %d)", mn_dtype_name(type), (int)type);
    if (nrows < 0 || n_per_row <= 0 || n_per_row % mn_dtype_block_size(type))
        return mn_fail("quantize: rows of %lld values cannot be stored as %s (blocks of %d)",
                       (long long)n_per_row, mn_dtype_name(type), mn_dtype_block_size(type));
    const size_t row_bytes = mn_dtype_row_bytes(type, n_per_row);
    const mn_quant_kernels *k = mn_quant_kernels_get();
#pragma omp parallel for schedule(dynamic, 1) num_threads(mn_threads())
    for (int64_t r = 0; r < nrows; r++) {
        const float *x = src + r * n_per_row;
        void *y = (char *)dst + (size_t)r * row_bytes;
        if (plain)
            plain_row(type, x, y, n_per_row);
        else
            quantize(k, x, y, n_per_row, importance);
    }
    return 0;
}
