/* Element types of tensors, numbered as ggml/GGUF number them so a type id read from or
 * written to a GGUF file needs no translation. Block types pack `block_size` elements into
 * `block_bytes` bytes; plain types have a block size of 1. Also: f16/bf16 <-> f32. */
#ifndef MN_CORE_DTYPE_H
#define MN_CORE_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    MN_F32 = 0,
    MN_F16 = 1,
    MN_Q4_0 = 2,
    MN_Q4_1 = 3,
    MN_Q5_0 = 6,
    MN_Q5_1 = 7,
    MN_Q8_0 = 8,
    MN_Q8_1 = 9,
    MN_Q2_K = 10,
    MN_Q3_K = 11,
    MN_Q4_K = 12,
    MN_Q5_K = 13,
    MN_Q6_K = 14,
    MN_Q8_K = 15,
    MN_BF16 = 30,
} mn_dtype;

/* True for the ids minnow can read and write. */
bool mn_dtype_supported(uint32_t id);
/* Lower-case name ("f16", "q4_k"); "?" for unknown ids. */
const char *mn_dtype_name(mn_dtype t);
/* Parses a name (case-insensitive); returns -1 without recording an error when unknown. */
int mn_dtype_from_name(const char *name, mn_dtype *out);
int mn_dtype_block_size(mn_dtype t);
int mn_dtype_block_bytes(mn_dtype t);
bool mn_dtype_is_quantized(mn_dtype t);
/* Bytes of a row of n elements; 0 when n is not a multiple of the block size. */
size_t mn_dtype_row_bytes(mn_dtype t, int64_t n);

float mn_f16_to_f32(uint16_t h);
uint16_t mn_f32_to_f16(float f);
float mn_bf16_to_f32(uint16_t h);
uint16_t mn_f32_to_bf16(float f);

/* Whether the CPU has the F16C half-precision conversions (false off x86-64). */
bool mn_cpu_has_f16c(void);

/* Row conversions; use F16C/AVX-512 when the CPU has them. */
void mn_f16_to_f32_row(const uint16_t *src, float *dst, int64_t n);
void mn_f32_to_f16_row(const float *src, uint16_t *dst, int64_t n);
void mn_bf16_to_f32_row(const uint16_t *src, float *dst, int64_t n);
void mn_f32_to_bf16_row(const float *src, uint16_t *dst, int64_t n);

#endif
