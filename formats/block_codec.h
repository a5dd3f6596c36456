/* GGUF block formats: the byte layouts ggml uses for its quantized types, and widening any
 * minnow dtype to f32 exactly as ggml's to_float does (bit for bit), so a model minnow
 * evaluates is the model llama.cpp runs.
 *
 * Every block starts with its scales stored as IEEE half floats (uint16_t here; core/dtype.h
 * converts), except Q8_K whose scale is an f32. Blocks are packed back to back without
 * padding; the structs below have exactly ggml's sizes (checked at compile time) and need
 * only the 2-byte (Q8_K: 4-byte) alignment GGUF data always has. */
#ifndef MN_FORMATS_BLOCK_CODEC_H
#define MN_FORMATS_BLOCK_CODEC_H

#include <stdint.h>

#include "core/dtype.h"

#define MN_QK 32         /* elements per block of Q4_0 .. Q8_1 */
#define MN_QK_K 256      /* elements per super-block of the K-quants */
#define MN_K_SCALE_BYTES 12 /* packed 6-bit scales of Q3_K, Q4_K, Q5_K */

/* x = d * (q - 8), q the 4-bit value; element j < 16 in the low nibble of qs[j], element
 * j + 16 in its high nibble. Q4_1 and the 5-bit types keep that nibble order. */
typedef struct { uint16_t d; uint8_t qs[16]; } mn_block_q4_0;
/* x = d * q + m */
typedef struct { uint16_t d, m; uint8_t qs[16]; } mn_block_q4_1;
/* x = d * (q - 16); bit 4 of element j is bit j of the little-endian word qh. */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } mn_block_q5_0;
/* x = d * q + m */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } mn_block_q5_1;
/* x = d * q */
typedef struct { uint16_t d; int8_t qs[32]; } mn_block_q8_0;
/* Q8_0 plus s = d * sum(q) (a dot-product helper type; never a weight type in practice). */
typedef struct { uint16_t d, s; int8_t qs[32]; } mn_block_q8_1;

/* 16 groups of 16: x = d * (scales[g] & 15) * q - dmin * (scales[g] >> 4), q 2-bit.
 * Element 128h + 32s + l has its bits at shift 2s of qs[32h + l]. */
typedef struct { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; } mn_block_q2_k;
/* 16 groups of 16: x = d * (sc[g] - 32) * (q - 4), sc 6-bit (mn_q3k_unpack_scales), q 3-bit:
 * low 2 bits laid out as Q2_K, the high bit of element e is bit e / 32 of hmask[e % 32]. */
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[MN_K_SCALE_BYTES]; uint16_t d; } mn_block_q3_k;
/* 8 groups of 32: x = d * sc[g] * q - dmin * m[g], (sc, m) 6-bit (mn_k4_unpack_scale_min).
 * Elements 64h + l (l < 32) in the low nibbles of qs[32h + l], 64h + 32 + l in the high ones. */
typedef struct { uint16_t d, dmin; uint8_t scales[MN_K_SCALE_BYTES]; uint8_t qs[128]; } mn_block_q4_k;
/* Q4_K with a fifth bit: that of element 64h + l is bit 2h of qh[l], of 64h + 32 + l bit 2h+1. */
typedef struct { uint16_t d, dmin; uint8_t scales[MN_K_SCALE_BYTES]; uint8_t qh[32]; uint8_t qs[128]; } mn_block_q5_k;
/* 16 groups of 16: x = d * scales[g] * (q - 32), q 6-bit. Element 128h + 32s + l: low nibble
 * from ql[64h + 32(s & 1) + l] (high nibble when s >= 2), top 2 bits at shift 2s of qh[32h + l]. */
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } mn_block_q6_k;
/* x = d * q; bsums[g] = sum of q over group g of 16 (the scale is an f32, not a half). */
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } mn_block_q8_k;

/* Widens n elements of `type` (any mn_dtype, F32/F16/BF16 included) from src to dst, which
 * must not overlap, bit-identical to ggml's to_float. n must be a multiple of the type's
 * block size; plain types may be unaligned. Picks the widest SIMD path the CPU has (see
 * mn_codec_simd_cap). Hot path of evaluation: decode a tile that fits in L1/L2, right before
 * it is used. */
void mn_dequantize(mn_dtype type, const void *src, float *dst, int64_t n);

/* Q4_K/Q5_K scales: 8 (scale, min) pairs of 6 bits in 12 bytes. Pairs 0-3 sit in the low 6 bits
 * of bytes 0-3 (scales) and 4-7 (mins); pairs 4-7 keep their low 4 bits in bytes 8-11 (scale in
 * the low nibble) and their top 2 bits in bits 6-7 of bytes 0-3 (scales) and 4-7 (mins). */
static inline void mn_k4_unpack_scale_min(const uint8_t *scales, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = scales[j] & 63;
        *m = scales[j + 4] & 63;
    } else {
        *sc = (uint8_t)((scales[j + 4] & 15) | ((scales[j - 4] >> 6) << 4));
        *m = (uint8_t)((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
    }
}
/* The inverse, for all 8 pairs at once. Values above 63 are not masked: their extra bits spill
 * into neighbouring fields exactly as they do in ggml's packers, which bit-exactness needs. */
void mn_k4_pack_scales_mins(uint8_t scales[12], const uint8_t sc[8], const uint8_t m[8]);

/* Q3_K scales: 16 6-bit values (returned minus 32, i.e. -32..31) in 12 bytes: low nibbles of
 * 0-7 in bytes 0-7, of 8-15 in the high nibbles of bytes 0-7, top 2 bits of scale j at shift
 * 2 * (j / 4) of byte 8 + j % 4. The packer takes the biased values 0..63. */
void mn_q3k_unpack_scales(const uint8_t scales[12], int8_t out[16]);
void mn_q3k_pack_scales(uint8_t scales[12], const uint8_t biased[16]);

/* Caps the SIMD level mn_dequantize (and quant/'s quantizers) may use; the CPU's own limit
 * still applies. For tests and benchmarks that compare paths. Returns the level now in use. */
typedef enum { MN_SIMD_SCALAR = 0, MN_SIMD_AVX2 = 1, MN_SIMD_AVX512 = 2 } mn_simd_level;
mn_simd_level mn_codec_simd_cap(mn_simd_level max);
/* The level in use (the CPU's best unless capped). */
mn_simd_level mn_codec_simd(void);

#endif
