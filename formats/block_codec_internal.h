/* Shared between the block codec's source files only: one decoder per (type, SIMD level). */
#ifndef MN_FORMATS_BLOCK_CODEC_INTERNAL_H
#define MN_FORMATS_BLOCK_CODEC_INTERNAL_H

#include "formats/block_codec.h"

/* Widens nblocks whole blocks. Every level's decoder produces the scalar one's exact bits:
 * same products and differences in the same order, never a fused multiply-add. */
typedef void (*mn_block_decoder)(const void *src, float *dst, int64_t nblocks);

/* NULL when that level has no decoder of its own for the type (the caller falls back). */
mn_block_decoder mn_block_decoder_scalar(mn_dtype type);
mn_block_decoder mn_block_decoder_avx2(mn_dtype type);
mn_block_decoder mn_block_decoder_avx512(mn_dtype type);

#endif
