/* Element types of stored tensors and their conversion to float32.
 *
 * Weights stay in their stored type in memory (a BF16 checkpoint keeps 2 bytes per
 * weight) and are widened to float32 only where they are used. Quantised GGUF types
 * are stored in blocks: `hp_dtype_block` elements take `hp_dtype_block_bytes` bytes. */
#ifndef HYPLORA_DTYPE_H
#define HYPLORA_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum hp_dtype {
    HP_DTYPE_UNKNOWN = 0,
    HP_F32,
    HP_F16,
    HP_BF16,
    HP_F64,
    HP_I8,
    HP_U8,
    HP_I16,
    HP_U16,
    HP_I32,
    HP_U32,
    HP_I64,
    HP_U64,
    HP_BOOL,
    HP_F8_E4M3,
    HP_F8_E5M2,
    HP_Q8_0, /* GGUF: 32 int8 values and one f16 scale per block */
    HP_Q4_0, /* GGUF: 32 4-bit values (offset 8) and one f16 scale per block */
    HP_DTYPE_OTHER /* a type we can list but not read (other GGUF quantisations) */
} hp_dtype;

/* The safetensors spelling ("F32", "BF16", ...) and its inverse. The inverse returns
 * HP_DTYPE_UNKNOWN for a name that is not a safetensors dtype. */
const char *hp_dtype_name(hp_dtype t);
hp_dtype hp_dtype_from_name(const char *name);

/* Elements per storage block (1 for plain types) and bytes per block. */
size_t hp_dtype_block(hp_dtype t);
size_t hp_dtype_block_bytes(hp_dtype t);

/* True when hp_convert_f32 can widen this type. */
bool hp_dtype_readable(hp_dtype t);

/* Bytes taken by n elements (n a multiple of the block size), or 0 on overflow or a
 * count that does not fill whole blocks. */
uint64_t hp_dtype_bytes(hp_dtype t, uint64_t n);

float hp_f16_to_f32(uint16_t h);
float hp_bf16_to_f32(uint16_t b);
uint16_t hp_f32_to_bf16(float f); /* round to nearest even, NaN kept quiet */
uint16_t hp_f32_to_f16(float f);  /* round to nearest even, overflow to inf */

/* Widens n elements (a multiple of the block size) of type t from src (little-endian
 * storage) to float32 in dst. Returns -1 for a type that cannot be read. */
int hp_convert_f32(hp_dtype t, const void *src, float *dst, size_t n);

#endif
