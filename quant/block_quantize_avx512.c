/* The quantization kernels on 16 lanes (AVX-512). Compiled for the target here, called only after
 * mn_codec_simd() has seen the CPU support it. */
#include "quant/block_quantize_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx2,f16c"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,f16c")
#endif
#define LANES 16
#define LANES_KERNELS mn_quant_kernels_avx512
#include "quant/block_quantize_lanes.h"
#if defined(__clang__)
#pragma clang attribute pop
#endif
#else
const mn_quant_kernels *mn_quant_kernels_avx512(void) { return NULL; }
#endif
