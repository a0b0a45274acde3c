#include "hyplora/dtype.h"

#include <math.h>
#include <string.h>

static const struct {
    hp_dtype t;
    const char *name;
    size_t block, bytes;
} TABLE[] = {
    {HP_F32, "F32", 1, 4},     {HP_F16, "F16", 1, 2},         {HP_BF16, "BF16", 1, 2},
    {HP_F64, "F64", 1, 8},     {HP_I8, "I8", 1, 1},           {HP_U8, "U8", 1, 1},
    {HP_I16, "I16", 1, 2},     {HP_U16, "U16", 1, 2},         {HP_I32, "I32", 1, 4},
    {HP_U32, "U32", 1, 4},     {HP_I64, "I64", 1, 8},         {HP_U64, "U64", 1, 8},
    {HP_BOOL, "BOOL", 1, 1},   {HP_F8_E4M3, "F8_E4M3", 1, 1}, {HP_F8_E5M2, "F8_E5M2", 1, 1},
    {HP_Q8_0, "Q8_0", 32, 34}, {HP_Q4_0, "Q4_0", 32, 18},
};
#define NTABLE (sizeof TABLE / sizeof TABLE[0])

const char *hp_dtype_name(hp_dtype t)
{
    for (size_t i = 0; i < NTABLE; i++)
        if (TABLE[i].t == t)
            return TABLE[i].name;
    return t == HP_DTYPE_OTHER ? "OTHER" : "UNKNOWN";
}

hp_dtype hp_dtype_from_name(const char *name)
{
    /* Quantised types are GGUF-only; a safetensors header naming them is invalid. */
    for (size_t i = 0; i < NTABLE; i++)
        if (TABLE[i].block == 1 && strcmp(TABLE[i].name, name) == 0)
            return TABLE[i].t;
    return HP_DTYPE_UNKNOWN;
}

size_t hp_dtype_block(hp_dtype t)
{
    for (size_t i = 0; i < NTABLE; i++)
        if (TABLE[i].t == t)
            return TABLE[i].block;
    return 0;
}

size_t hp_dtype_block_bytes(hp_dtype t)
{
    for (size_t i = 0; i < NTABLE; i++)
        if (TABLE[i].t == t)
            return TABLE[i].bytes;
    return 0;
}

bool hp_dtype_readable(hp_dtype t)
{
    return t == HP_F32 || t == HP_F16 || t == HP_BF16 || t == HP_Q8_0 || t == HP_Q4_0;
}

uint64_t hp_dtype_bytes(hp_dtype t, uint64_t n)
{
    size_t block = hp_dtype_block(t), bytes = hp_dtype_block_bytes(t);
    if (block == 0 || n % block != 0)
        return 0;
    uint64_t blocks = n / block;
    if (blocks != 0 && bytes > UINT64_MAX / blocks)
        return 0;
    return blocks * bytes;
}

static inline float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* inf or NaN */
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {
        /* subnormal: value = man * 2^-24, exact in float32 */
        float f = ldexpf((float)man, -24);
        memcpy(&bits, &f, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline float bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float hp_f16_to_f32(uint16_t h)
{
    return f16_to_f32(h);
}

float hp_bf16_to_f32(uint16_t b)
{
    return bf16_to_f32(b);
}

uint16_t hp_f32_to_bf16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((bits >> 16) | 0x40); /* NaN: keep it a (quiet) NaN */
    bits += 0x7fffu + ((bits >> 16) & 1);
    return (uint16_t)(bits >> 16);
}

uint16_t hp_f32_to_f16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, 4);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    uint32_t abs = bits & 0x7fffffffu;
    if (abs > 0x7f800000u)
        return sign | 0x7e00;
    if (abs >= 0x477ff000u) /* rounds to >= 65520: overflow */
        return sign | 0x7c00;
    if (abs < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        float a;
        memcpy(&a, &abs, 4);
        /* scaled so that one half-subnormal ulp is 1.0; rintf rounds to even */
        return sign | (uint16_t)rintf(a * 16777216.0f);
    }
    uint32_t r = abs + 0xfffu + ((abs >> 13) & 1) - (112u << 23);
    return sign | (uint16_t)(r >> 13);
}

static inline uint16_t load_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

int hp_convert_f32(hp_dtype t, const void *src, float *dst, size_t n)
{
    const unsigned char *s = src;
    switch (t) {
    case HP_F32:
        memcpy(dst, src, n * 4); /* the machines we target are little-endian */
        return 0;
    case HP_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = f16_to_f32(load_u16(s + 2 * i));
        return 0;
    case HP_BF16:
        for (size_t i = 0; i < n; i++)
            dst[i] = bf16_to_f32(load_u16(s + 2 * i));
        return 0;
    case HP_Q8_0:
        for (size_t b = 0; b < n / 32; b++, s += 34) {
            float d = f16_to_f32(load_u16(s));
            for (int j = 0; j < 32; j++)
                dst[32 * b + j] = d * (float)(int8_t)s[2 + j];
        }
        return 0;
    case HP_Q4_0:
        /* byte j holds element j in its low nibble and element j+16 in its high one */
        for (size_t b = 0; b < n / 32; b++, s += 18) {
            float d = f16_to_f32(load_u16(s));
            for (int j = 0; j < 16; j++) {
                dst[32 * b + j] = d * (float)((s[2 + j] & 0x0f) - 8);
                dst[32 * b + j + 16] = d * (float)((s[2 + j] >> 4) - 8);
            }
        }
        return 0;
    default:
        return -1;
    }
}
