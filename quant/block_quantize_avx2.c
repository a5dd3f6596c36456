/* The quantization kernels on 8 lanes (AVX2). Compiled for the target here, called only after
 * mn_codec_simd() has seen the CPU support it. */
#include "quant/block_quantize_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,f16c"))), apply_to = function)
#else
#pragma GCC target("avx2,f16c")
#endif
#define LANES 8
#define LANES_KERNELS mn_quant_kernels_avx2
#include "quant/block_quantize_lanes.h"
#if defined(__clang__)
#pragma clang attribute pop
#endif
#else
const mn_quant_kernels *mn_quant_kernels_avx2(void) { return NULL; }
#endif
