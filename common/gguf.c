#include "hyplora/gguf.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- ggml tensor types --------------------------------------------------------------- */

/* Every ggml type id we know. The ones hp_dtype has keep its block sizes; the others are
 * listed with their own so that their sizes, and so the layout of the whole file, are still
 * checked even though we cannot widen them. Ids 4, 5 and 31..33, 36..38 were removed from
 * ggml and are unknown here as they are there. */
static const struct {
    uint32_t id;
    const char *name;
    hp_dtype dtype;
    uint32_t block, bytes; /* only for HP_DTYPE_OTHER */
} GGML_TYPES[] = {
    {0, "F32", HP_F32, 0, 0},          {1, "F16", HP_F16, 0, 0},
    {2, "Q4_0", HP_Q4_0, 0, 0},        {3, "Q4_1", HP_DTYPE_OTHER, 32, 20},
    {6, "Q5_0", HP_DTYPE_OTHER, 32, 22}, {7, "Q5_1", HP_DTYPE_OTHER, 32, 24},
    {8, "Q8_0", HP_Q8_0, 0, 0},        {9, "Q8_1", HP_DTYPE_OTHER, 32, 36},
    {10, "Q2_K", HP_DTYPE_OTHER, 256, 84},  {11, "Q3_K", HP_DTYPE_OTHER, 256, 110},
    {12, "Q4_K", HP_DTYPE_OTHER, 256, 144}, {13, "Q5_K", HP_DTYPE_OTHER, 256, 176},
    {14, "Q6_K", HP_DTYPE_OTHER, 256, 210}, {15, "Q8_K", HP_DTYPE_OTHER, 256, 292},
    {16, "IQ2_XXS", HP_DTYPE_OTHER, 256, 66}, {17, "IQ2_XS", HP_DTYPE_OTHER, 256, 74},
    {18, "IQ3_XXS", HP_DTYPE_OTHER, 256, 98}, {19, "IQ1_S", HP_DTYPE_OTHER, 256, 50},
    {20, "IQ4_NL", HP_DTYPE_OTHER, 32, 18},   {21, "IQ3_S", HP_DTYPE_OTHER, 256, 110},
    {22, "IQ2_S", HP_DTYPE_OTHER, 256, 82},   {23, "IQ4_XS", HP_DTYPE_OTHER, 256, 136},
    {24, "I8", HP_I8, 0, 0},           {25, "I16", HP_I16, 0, 0},
    {26, "I32", HP_I32, 0, 0},         {27, "I64", HP_I64, 0, 0},
    {28, "F64", HP_F64, 0, 0},         {29, "IQ1_M", HP_DTYPE_OTHER, 256, 56},
    {30, "BF16", HP_BF16, 0, 0},       {34, "TQ1_0", HP_DTYPE_OTHER, 256, 54},
    {35, "TQ2_0", HP_DTYPE_OTHER, 256, 66}, {39, "MXFP4", HP_DTYPE_OTHER, 32, 17},
};
#define N_GGML_TYPES (sizeof GGML_TYPES / sizeof GGML_TYPES[0])

static int ggml_type_index(uint32_t id)
{
    for (size_t i = 0; i < N_GGML_TYPES; i++)
        if (GGML_TYPES[i].id == id)
            return (int)i;
    return -1;
}

/* ---- KV value types ----------------------------------------------------------------- */

static const char *const TYPE_NAMES[] = {"uint8", "int8",   "uint16", "int16", "uint32",
                                         "int32", "float32", "bool",  "string", "array",
                                         "uint64", "int64", "float64"};

const char *hp_gguf_type_name(hp_gguf_type t)
{
    return (unsigned)t < sizeof TYPE_NAMES / sizeof TYPE_NAMES[0] ? TYPE_NAMES[t] : "unknown";
}

/* Bytes of a fixed-size value, 0 for strings and arrays. */
static uint64_t scalar_size(hp_gguf_type t)
{
    switch (t) {
    case HP_GGUF_UINT8: case HP_GGUF_INT8: case HP_GGUF_BOOL: return 1;
    case HP_GGUF_UINT16: case HP_GGUF_INT16: return 2;
    case HP_GGUF_UINT32: case HP_GGUF_INT32: case HP_GGUF_FLOAT32: return 4;
    case HP_GGUF_UINT64: case HP_GGUF_INT64: case HP_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static bool is_unsigned(hp_gguf_type t)
{
    return t == HP_GGUF_UINT8 || t == HP_GGUF_UINT16 || t == HP_GGUF_UINT32 || t == HP_GGUF_UINT64;
}

static bool is_signed(hp_gguf_type t)
{
    return t == HP_GGUF_INT8 || t == HP_GGUF_INT16 || t == HP_GGUF_INT32 || t == HP_GGUF_INT64;
}

static bool is_float(hp_gguf_type t)
{
    return t == HP_GGUF_FLOAT32 || t == HP_GGUF_FLOAT64;
}

/* ---- bounded little-endian reading -------------------------------------------------- */

typedef struct reader {
    const unsigned char *m;
    uint64_t size, pos;
    const char *path;
} reader;

static uint64_t load_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Every read goes through here, so nothing past the mapping is ever touched. */
static int need(reader *r, uint64_t n, const char *what, hp_err *err)
{
    if (n > r->size - r->pos)
        return hp_fail(err, "%s: truncated at offset %llu: %s needs %llu bytes but only %llu remain",
                       r->path, (unsigned long long)r->pos, what, (unsigned long long)n,
                       (unsigned long long)(r->size - r->pos));
    return 0;
}

static int rd_u32(reader *r, uint32_t *v, const char *what, hp_err *err)
{
    if (need(r, 4, what, err) != 0)
        return -1;
    *v = (uint32_t)load_le(r->m + r->pos, 4);
    r->pos += 4;
    return 0;
}

static int rd_u64(reader *r, uint64_t *v, const char *what, hp_err *err)
{
    if (need(r, 8, what, err) != 0)
        return -1;
    *v = load_le(r->m + r->pos, 8);
    r->pos += 8;
    return 0;
}

/* A string: u64 length then the bytes. The length is checked against what is left of the
 * file before anything is done with it, so a corrupt length cannot cause a big allocation. */
static int rd_str(reader *r, const char **s, uint64_t *len, const char *what, hp_err *err)
{
    uint64_t at = r->pos;
    if (rd_u64(r, len, what, err) != 0)
        return -1;
    if (*len > r->size - r->pos)
        return hp_fail(err, "%s: %s at offset %llu: string length %llu runs past the end of the file (%llu bytes remain)",
                       r->path, what, (unsigned long long)at, (unsigned long long)*len,
                       (unsigned long long)(r->size - r->pos));
    *s = (const char *)r->m + r->pos;
    r->pos += *len;
    return 0;
}

/* Keys and tensor names become C strings and are matched and printed: they must be
 * non-empty UTF-8 without NULs. */
static int check_name(reader *r, const char *s, uint64_t len, uint64_t at, const char *what,
                      hp_err *err)
{
    size_t bad;
    if (len == 0)
        return hp_fail(err, "%s: %s at offset %llu is empty", r->path, what, (unsigned long long)at);
    if (memchr(s, 0, len))
        return hp_fail(err, "%s: %s at offset %llu contains a NUL byte", r->path, what,
                       (unsigned long long)at);
    if (!hp_utf8_valid(s, len, &bad))
        return hp_fail(err, "%s: %s at offset %llu is not valid UTF-8 (byte %zu of it)", r->path,
                       what, (unsigned long long)at, bad);
    return 0;
}

static char *dup_bytes(const char *s, uint64_t len, hp_err *err)
{
    char *p = hp_malloc(len + 1, "a GGUF string", err);
    if (p) {
        memcpy(p, s, len);
        p[len] = 0;
    }
    return p;
}

/* ---- KVs ---------------------------------------------------------------------------- */

static void free_kv(hp_gguf_kv *kv)
{
    free(kv->key);
    free(kv->str);
    free(kv->arr.str_off);
    if (kv->arr.items) {
        for (uint64_t i = 0; i < kv->arr.count; i++)
            free_kv(&kv->arr.items[i]);
        free(kv->arr.items);
    }
    memset(kv, 0, sizeof *kv);
}

/* A scalar or string value of type t (already read) into kv. */
static int parse_scalar(reader *r, hp_gguf_kv *kv, hp_gguf_type t, const char *key, hp_err *err)
{
    kv->type = t;
    if (t == HP_GGUF_STRING) {
        const char *s;
        uint64_t len;
        char what[160];
        snprintf(what, sizeof what, "KV \"%.100s\" string value", key);
        if (rd_str(r, &s, &len, what, err) != 0)
            return -1;
        kv->str_len = (size_t)len;
        kv->str = dup_bytes(s, len, err);
        return kv->str ? 0 : -1;
    }
    uint64_t n = scalar_size(t);
    char what[160];
    snprintf(what, sizeof what, "KV \"%.100s\" (%s)", key, hp_gguf_type_name(t));
    if (need(r, n, what, err) != 0)
        return -1;
    const unsigned char *p = r->m + r->pos;
    uint64_t raw = load_le(p, (int)n);
    switch (t) {
    case HP_GGUF_UINT8: case HP_GGUF_UINT16: case HP_GGUF_UINT32: case HP_GGUF_UINT64:
        kv->v.u = raw;
        break;
    case HP_GGUF_INT8: kv->v.i = (int8_t)raw; break;
    case HP_GGUF_INT16: kv->v.i = (int16_t)raw; break;
    case HP_GGUF_INT32: kv->v.i = (int32_t)raw; break;
    case HP_GGUF_INT64: kv->v.i = (int64_t)raw; break;
    case HP_GGUF_FLOAT32: {
        float f;
        uint32_t b = (uint32_t)raw;
        memcpy(&f, &b, 4);
        kv->v.f = f;
        break;
    }
    case HP_GGUF_FLOAT64: memcpy(&kv->v.f, &raw, 8); break;
    case HP_GGUF_BOOL:
        if (raw > 1)
            return hp_fail(err, "%s: KV \"%s\" at offset %llu: bool byte is %llu, expected 0 or 1",
                           r->path, key, (unsigned long long)r->pos, (unsigned long long)raw);
        kv->v.b = raw != 0;
        break;
    default:
        return hp_fail(err, "%s: KV \"%s\": internal error: type %d is not a scalar", r->path, key, t);
    }
    r->pos += n;
    return 0;
}

static int check_type(reader *r, uint32_t t, uint64_t at, const char *key, const char *what,
                      hp_err *err)
{
    if (t > HP_GGUF_FLOAT64)
        return hp_fail(err, "%s: KV \"%s\" at offset %llu: unknown %s %u (expected 0..12)", r->path,
                       key, (unsigned long long)at, what, t);
    return 0;
}

/* The array header (element type, count) and its elements. Fixed-size elements are only
 * bounds-checked; strings are walked once to check every length and then indexed; arrays
 * of arrays are parsed into items, which grow as elements are actually read so a large
 * count cannot allocate more than the file backs. */
static int parse_array(reader *r, hp_gguf_kv *kv, const char *key, int depth, hp_err *err)
{
    kv->type = HP_GGUF_ARRAY;
    if (depth > HP_GGUF_MAX_NESTING)
        return hp_fail(err, "%s: KV \"%s\" at offset %llu: arrays nested more than %d deep", r->path,
                       key, (unsigned long long)r->pos, HP_GGUF_MAX_NESTING);
    uint32_t et;
    uint64_t at = r->pos, count;
    if (rd_u32(r, &et, "array element type", err) != 0 || check_type(r, et, at, key, "array element type", err) != 0)
        return -1;
    if (rd_u64(r, &count, "array length", err) != 0)
        return -1;
    kv->arr.type = (hp_gguf_type)et;
    kv->arr.offset = r->pos;
    kv->arr.data = r->m + r->pos;
    uint64_t left = r->size - r->pos;
    uint64_t min = scalar_size(kv->arr.type);
    if (et == HP_GGUF_STRING)
        min = 8;
    else if (et == HP_GGUF_ARRAY)
        min = 12;
    if (count > left / min)
        return hp_fail(err, "%s: KV \"%s\" at offset %llu: array of %llu %s elements cannot fit in the %llu bytes that remain",
                       r->path, key, (unsigned long long)at, (unsigned long long)count,
                       hp_gguf_type_name(kv->arr.type), (unsigned long long)left);
    if (et == HP_GGUF_STRING) {
        uint64_t start = r->pos;
        for (uint64_t i = 0; i < count; i++) {
            const char *s;
            uint64_t len;
            char what[160];
            snprintf(what, sizeof what, "KV \"%.100s\" string element %llu", key, (unsigned long long)i);
            if (rd_str(r, &s, &len, what, err) != 0)
                return -1;
        }
        kv->arr.str_off = hp_malloc(count * sizeof(uint64_t), "string array index", err);
        if (!kv->arr.str_off)
            return -1;
        uint64_t p = start;
        for (uint64_t i = 0; i < count; i++) {
            kv->arr.str_off[i] = p - start;
            p += 8 + load_le(r->m + p, 8);
        }
        kv->arr.count = count;
    } else if (et == HP_GGUF_ARRAY) {
        uint64_t cap = 0;
        for (uint64_t i = 0; i < count; i++) {
            if (i == cap) {
                cap = cap ? cap * 2 : 16;
                if (cap > count)
                    cap = count;
                hp_gguf_kv *n = hp_realloc(kv->arr.items, cap * sizeof *n, "nested array", err);
                if (!n)
                    return -1;
                kv->arr.items = n;
            }
            memset(&kv->arr.items[i], 0, sizeof kv->arr.items[i]);
            kv->arr.count = i + 1; /* so free_kv releases what was parsed so far */
            if (parse_array(r, &kv->arr.items[i], key, depth + 1, err) != 0)
                return -1;
        }
        kv->arr.count = count;
    } else {
        if (et == HP_GGUF_BOOL)
            for (uint64_t i = 0; i < count; i++)
                if (r->m[r->pos + i] > 1)
                    return hp_fail(err, "%s: KV \"%s\": bool element %llu is %u, expected 0 or 1",
                                   r->path, key, (unsigned long long)i, r->m[r->pos + i]);
        r->pos += count * min;
        kv->arr.count = count;
    }
    return 0;
}

static int parse_kv(reader *r, hp_gguf_kv *kv, uint64_t index, hp_err *err)
{
    uint64_t at = r->pos;
    const char *s;
    uint64_t len;
    char what[48];
    snprintf(what, sizeof what, "key of KV %llu", (unsigned long long)index);
    if (rd_str(r, &s, &len, what, err) != 0 || check_name(r, s, len, at, what, err) != 0)
        return -1;
    kv->key = dup_bytes(s, len, err);
    if (!kv->key)
        return -1;
    uint32_t t;
    uint64_t tat = r->pos;
    if (rd_u32(r, &t, "KV type", err) != 0 || check_type(r, t, tat, kv->key, "value type", err) != 0)
        return -1;
    if (t == HP_GGUF_ARRAY)
        return parse_array(r, kv, kv->key, 1, err);
    return parse_scalar(r, kv, (hp_gguf_type)t, kv->key, err);
}

/* ---- getters ------------------------------------------------------------------------ */

const hp_gguf_kv *hp_gguf_get(const hp_gguf *g, const char *key)
{
    for (size_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kvs[i].key, key) == 0)
            return &g->kvs[i];
    return NULL;
}

static const hp_gguf_kv *get_kv(const hp_gguf *g, const char *key, hp_err *err)
{
    const hp_gguf_kv *kv = hp_gguf_get(g, key);
    if (!kv)
        hp_fail(err, "%s: metadata key \"%s\" is missing", g->file.path, key);
    return kv;
}

static int wrong_type(const hp_gguf *g, const hp_gguf_kv *kv, const char *expected, hp_err *err)
{
    return hp_fail(err, "%s: metadata key \"%s\" is a %s, expected %s", g->file.path, kv->key,
                   hp_gguf_type_name(kv->type), expected);
}

int hp_gguf_get_u64(const hp_gguf *g, const char *key, uint64_t *out, hp_err *err)
{
    const hp_gguf_kv *kv = get_kv(g, key, err);
    if (!kv)
        return -1;
    if (is_unsigned(kv->type)) {
        *out = kv->v.u;
        return 0;
    }
    if (is_signed(kv->type)) {
        if (kv->v.i < 0)
            return hp_fail(err, "%s: metadata key \"%s\" is %lld, expected a non-negative integer",
                           g->file.path, key, (long long)kv->v.i);
        *out = (uint64_t)kv->v.i;
        return 0;
    }
    return wrong_type(g, kv, "an integer", err);
}

int hp_gguf_get_i64(const hp_gguf *g, const char *key, int64_t *out, hp_err *err)
{
    const hp_gguf_kv *kv = get_kv(g, key, err);
    if (!kv)
        return -1;
    if (is_signed(kv->type)) {
        *out = kv->v.i;
        return 0;
    }
    if (is_unsigned(kv->type)) {
        if (kv->v.u > INT64_MAX)
            return hp_fail(err, "%s: metadata key \"%s\" is %llu, too large for a signed 64-bit integer",
                           g->file.path, key, (unsigned long long)kv->v.u);
        *out = (int64_t)kv->v.u;
        return 0;
    }
    return wrong_type(g, kv, "an integer", err);
}

int hp_gguf_get_f64(const hp_gguf *g, const char *key, double *out, hp_err *err)
{
    const hp_gguf_kv *kv = get_kv(g, key, err);
    if (!kv)
        return -1;
    if (is_float(kv->type))
        *out = kv->v.f;
    else if (is_unsigned(kv->type))
        *out = (double)kv->v.u;
    else if (is_signed(kv->type))
        *out = (double)kv->v.i;
    else
        return wrong_type(g, kv, "a number", err);
    return 0;
}

int hp_gguf_get_bool(const hp_gguf *g, const char *key, bool *out, hp_err *err)
{
    const hp_gguf_kv *kv = get_kv(g, key, err);
    if (!kv)
        return -1;
    if (kv->type != HP_GGUF_BOOL)
        return wrong_type(g, kv, "a bool", err);
    *out = kv->v.b;
    return 0;
}

const char *hp_gguf_get_str(const hp_gguf *g, const char *key, hp_err *err)
{
    const hp_gguf_kv *kv = get_kv(g, key, err);
    if (!kv)
        return NULL;
    if (kv->type != HP_GGUF_STRING) {
        wrong_type(g, kv, "a string", err);
        return NULL;
    }
    return kv->str;
}

static bool elem_matches(hp_gguf_type have, hp_gguf_type want)
{
    if (is_unsigned(want) || is_signed(want))
        return is_unsigned(have) || is_signed(have);
    if (is_float(want))
        return is_float(have);
    return have == want;
}

const hp_gguf_kv *hp_gguf_get_array(const hp_gguf *g, const char *key, hp_gguf_type elem,
                                    hp_err *err)
{
    const hp_gguf_kv *kv = get_kv(g, key, err);
    if (!kv)
        return NULL;
    const char *want = is_unsigned(elem) || is_signed(elem) ? "integer"
                       : is_float(elem)                     ? "float"
                                                            : hp_gguf_type_name(elem);
    if (kv->type != HP_GGUF_ARRAY) {
        hp_fail(err, "%s: metadata key \"%s\" is a %s, expected an array of %s", g->file.path, key,
                hp_gguf_type_name(kv->type), want);
        return NULL;
    }
    if (!elem_matches(kv->arr.type, elem)) {
        hp_fail(err, "%s: metadata key \"%s\" is an array of %s, expected an array of %s",
                g->file.path, key, hp_gguf_type_name(kv->arr.type), want);
        return NULL;
    }
    return kv;
}

const char *hp_gguf_arr_str(const hp_gguf_kv *a, uint64_t i, size_t *len)
{
    if (a->type != HP_GGUF_ARRAY || a->arr.type != HP_GGUF_STRING || i >= a->arr.count)
        return NULL;
    const unsigned char *p = a->arr.data + a->arr.str_off[i];
    if (len)
        *len = (size_t)load_le(p, 8);
    return (const char *)p + 8;
}

/* Element i of a fixed-size array, decoded as kv's scalar union would hold it. */
static int arr_elem(const hp_gguf_kv *a, uint64_t i, hp_gguf_kv *e)
{
    uint64_t n = a->type == HP_GGUF_ARRAY ? scalar_size(a->arr.type) : 0;
    if (n == 0 || i >= a->arr.count)
        return -1;
    reader r = {a->arr.data + i * n, n, 0, ""};
    memset(e, 0, sizeof *e);
    return parse_scalar(&r, e, a->arr.type, "", NULL);
}

int hp_gguf_arr_i64(const hp_gguf_kv *a, uint64_t i, int64_t *out)
{
    hp_gguf_kv e;
    if (arr_elem(a, i, &e) != 0)
        return -1;
    if (is_signed(e.type))
        *out = e.v.i;
    else if (is_unsigned(e.type) && e.v.u <= INT64_MAX)
        *out = (int64_t)e.v.u;
    else if (e.type == HP_GGUF_BOOL)
        *out = e.v.b;
    else
        return -1;
    return 0;
}

int hp_gguf_arr_f64(const hp_gguf_kv *a, uint64_t i, double *out)
{
    hp_gguf_kv e;
    if (arr_elem(a, i, &e) != 0)
        return -1;
    if (is_float(e.type))
        *out = e.v.f;
    else if (is_unsigned(e.type))
        *out = (double)e.v.u;
    else if (is_signed(e.type))
        *out = (double)e.v.i;
    else
        *out = e.v.b;
    return 0;
}

const hp_tensor *hp_gguf_tensor(const hp_gguf *g, const char *name)
{
    for (size_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0)
            return &g->tensors[i];
    for (size_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].stored_name && strcmp(g->tensors[i].stored_name, name) == 0)
            return &g->tensors[i];
    return NULL;
}

/* ---- tensor names ------------------------------------------------------------------- */

static const struct {
    const char *gguf, *hf;
} GLOBAL_NAMES[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

/* Suffixes after "blk.N." and their counterparts after "model.layers.N.". */
static const struct {
    const char *gguf, *hf;
} LAYER_NAMES[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_q.bias", "self_attn.q_proj.bias"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_k.bias", "self_attn.k_proj.bias"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_v.bias", "self_attn.v_proj.bias"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_output.bias", "self_attn.o_proj.bias"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
};

/* Splits "blk.N.rest" into the layer digits and rest; the digits must be a plain decimal
 * (no sign, no leading zero) so that the mapping is one-to-one. */
static bool split_layer(const char *name, size_t *ndigits, const char **rest)
{
    if (strncmp(name, "blk.", 4) != 0)
        return false;
    const char *d = name + 4;
    size_t n = 0;
    while (d[n] >= '0' && d[n] <= '9')
        n++;
    if (n == 0 || n > 9 || d[n] != '.' || (n > 1 && d[0] == '0'))
        return false;
    *ndigits = n;
    *rest = d + n + 1;
    return true;
}

char *hp_gguf_hf_name(const char *name, hp_err *err)
{
    for (size_t i = 0; i < sizeof GLOBAL_NAMES / sizeof GLOBAL_NAMES[0]; i++)
        if (strcmp(name, GLOBAL_NAMES[i].gguf) == 0)
            return hp_strdup(GLOBAL_NAMES[i].hf, err);
    size_t nd;
    const char *rest;
    if (split_layer(name, &nd, &rest))
        for (size_t i = 0; i < sizeof LAYER_NAMES / sizeof LAYER_NAMES[0]; i++)
            if (strcmp(rest, LAYER_NAMES[i].gguf) == 0) {
                size_t n = strlen("model.layers.") + nd + 1 + strlen(LAYER_NAMES[i].hf) + 1;
                char *s = hp_malloc(n, "a tensor name", err);
                if (s)
                    snprintf(s, n, "model.layers.%.*s.%s", (int)nd, name + 4, LAYER_NAMES[i].hf);
                return s;
            }
    return hp_strdup(name, err);
}

/* ---- tensor infos ------------------------------------------------------------------- */

static int parse_tensor_info(reader *r, hp_tensor *t, uint64_t index, uint64_t *rel_offset,
                             hp_err *err)
{
    const char *path = r->path;
    uint64_t at = r->pos;
    const char *s;
    uint64_t len;
    char what[160];
    snprintf(what, sizeof what, "name of tensor %llu", (unsigned long long)index);
    if (rd_str(r, &s, &len, what, err) != 0 || check_name(r, s, len, at, what, err) != 0)
        return -1;
    char *name = dup_bytes(s, len, err);
    if (!name)
        return -1;
    t->stored_name = name;
    snprintf(what, sizeof what, "tensor \"%.100s\" header", name);
    uint32_t nd;
    if (rd_u32(r, &nd, what, err) != 0)
        return -1;
    if (nd < 1 || nd > HP_GGUF_MAX_DIMS)
        return hp_fail(err, "%s: tensor \"%s\": n_dims is %u, expected 1 to %d", path, name, nd,
                       HP_GGUF_MAX_DIMS);
    uint64_t dims[HP_GGUF_MAX_DIMS], count = 1;
    for (uint32_t i = 0; i < nd; i++) {
        if (rd_u64(r, &dims[i], what, err) != 0)
            return -1;
        if (dims[i] > INT64_MAX)
            return hp_fail(err, "%s: tensor \"%s\": dimension %u is negative (%lld)", path, name, i,
                           (long long)dims[i]);
        if (dims[i] != 0 && count > UINT64_MAX / dims[i])
            return hp_fail(err, "%s: tensor \"%s\": element count overflows 64 bits", path, name);
        count *= dims[i];
    }
    uint32_t type;
    if (rd_u32(r, &type, what, err) != 0 || rd_u64(r, rel_offset, what, err) != 0)
        return -1;
    int ti = ggml_type_index(type);
    if (ti < 0)
        return hp_fail(err, "%s: tensor \"%s\": unknown ggml type id %u", path, name, type);
    t->dtype = GGML_TYPES[ti].dtype;
    t->dtype_name = hp_strdup(GGML_TYPES[ti].name, err);
    if (!t->dtype_name)
        return -1;
    uint64_t block = t->dtype == HP_DTYPE_OTHER ? GGML_TYPES[ti].block : hp_dtype_block(t->dtype);
    uint64_t bbytes = t->dtype == HP_DTYPE_OTHER ? GGML_TYPES[ti].bytes : hp_dtype_block_bytes(t->dtype);
    /* Blocks never span rows in ggml, so the row (innermost dimension) must fill whole ones. */
    if (dims[0] % block != 0)
        return hp_fail(err, "%s: tensor \"%s\": row length %llu is not a multiple of the %s block size %llu",
                       path, name, (unsigned long long)dims[0], GGML_TYPES[ti].name,
                       (unsigned long long)block);
    if (count / block != 0 && bbytes > UINT64_MAX / (count / block))
        return hp_fail(err, "%s: tensor \"%s\": byte size overflows 64 bits", path, name);
    t->nbytes = count / block * bbytes;
    t->n_elements = count;
    t->ndim = (int)nd;
    for (uint32_t i = 0; i < nd; i++)
        t->shape[i] = (int64_t)dims[nd - 1 - i]; /* GGUF lists the innermost dimension first */
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A key given twice would make lookups depend on order; llama.cpp rejects it too. */
static int check_kv_keys(hp_gguf *g, hp_err *err)
{
    size_t n = g->n_kv;
    if (n < 2)
        return 0;
    const char **k = hp_malloc(n * sizeof *k, "key index", err);
    if (!k)
        return -1;
    for (size_t i = 0; i < n; i++)
        k[i] = g->kvs[i].key;
    int rc = 0;
    qsort(k, n, sizeof *k, cmp_str);
    for (size_t i = 1; i < n && rc == 0; i++)
        if (strcmp(k[i - 1], k[i]) == 0)
            rc = hp_fail(err, "%s: metadata key \"%s\" appears twice", g->file.path, k[i]);
    free(k);
    return rc;
}

/* ---- open / close ------------------------------------------------------------------- */

void hp_gguf_close(hp_gguf *g)
{
    for (size_t i = 0; i < g->n_kv; i++)
        free_kv(&g->kvs[i]);
    free(g->kvs);
    for (size_t i = 0; i < g->n_tensors; i++) {
        free(g->tensors[i].name);
        free(g->tensors[i].stored_name);
        free(g->tensors[i].dtype_name);
    }
    free(g->tensors);
    if (g->file.path)
        hp_file_close(&g->file);
    memset(g, 0, sizeof *g);
    g->file.fd = -1; /* so that closing twice never closes descriptor 0 */
}

static int get_heads(const hp_gguf *g, const char *key, const char *fallback, int *out, hp_err *err)
{
    uint64_t v;
    if (!hp_gguf_get(g, key) && fallback)
        key = fallback;
    if (!hp_gguf_get(g, key))
        return hp_fail(err, "%s: metadata key \"%s\" is missing (needed to undo llama.cpp's q/k row permutation)",
                       g->file.path, key);
    if (hp_gguf_get_u64(g, key, &v, err) != 0)
        return -1;
    if (v == 0 || v > INT_MAX)
        return hp_fail(err, "%s: metadata key \"%s\" is %llu, expected a positive head count",
                       g->file.path, key, (unsigned long long)v);
    *out = (int)v;
    return 0;
}

/* llama.cpp's converter reorders the rows of q and k for Llama-architecture models (the
 * interleaved RoPE its kernels use), and not for Qwen2; mark those tensors so that their
 * rows are read back in the Hugging Face order. The head split must be exact, or the
 * row arithmetic would read outside the tensor. */
static int mark_permuted(hp_gguf *g, hp_err *err)
{
    if (strcmp(g->architecture, "llama") != 0)
        return 0;
    int heads = 0, kv_heads = 0;
    for (size_t i = 0; i < g->n_tensors; i++) {
        hp_tensor *t = &g->tensors[i];
        size_t nd;
        const char *rest;
        if (!t->stored_name || !split_layer(t->stored_name, &nd, &rest))
            continue;
        bool q = strcmp(rest, "attn_q.weight") == 0 || strcmp(rest, "attn_q.bias") == 0;
        bool k = strcmp(rest, "attn_k.weight") == 0 || strcmp(rest, "attn_k.bias") == 0;
        if (!q && !k)
            continue;
        if (!heads && (get_heads(g, "llama.attention.head_count", NULL, &heads, err) != 0 ||
                       get_heads(g, "llama.attention.head_count_kv", "llama.attention.head_count",
                                 &kv_heads, err) != 0))
            return -1;
        int h = q ? heads : kv_heads;
        int64_t rows = t->shape[0];
        if (rows % h != 0 || (rows / h) % 2 != 0)
            return hp_fail(err, "%s: tensor \"%s\": %lld rows do not split into %d heads of even size "
                           "(needed to undo llama.cpp's q/k row permutation)",
                           g->file.path, t->stored_name, (long long)rows, h);
        t->permute_heads = h;
    }
    return 0;
}

int hp_gguf_open(hp_gguf *g, const char *path, int file_index, hp_err *err)
{
    memset(g, 0, sizeof *g);
    g->file.fd = -1;
    if (hp_file_open(&g->file, path, err) != 0)
        return -1;
    reader r = {g->file.map, g->file.size, 0, path};
    size_t cap;
    uint32_t version;
    if (r.size < 4) {
        hp_fail(err, "%s: not a GGUF file: %llu bytes, expected the magic \"GGUF\"", path,
                (unsigned long long)r.size);
        goto fail;
    }
    if (memcmp(r.m, "GGUF", 4) != 0) {
        char shown[20];
        int n = 0;
        for (int i = 0; i < 4; i++)
            n += snprintf(shown + n, sizeof shown - (size_t)n, "%02x", r.m[i]);
        hp_fail(err, "%s: not a GGUF file: magic bytes are %s, expected \"GGUF\"", path, shown);
        goto fail;
    }
    r.pos = 4;
    if (rd_u32(&r, &version, "version", err) != 0)
        goto fail;
    g->version = version;
    if (g->version != 2 && g->version != 3) {
        uint32_t swapped = __builtin_bswap32(g->version);
        hp_fail(err, "%s: GGUF version %u is not supported (expected 2 or 3)%s", path, g->version,
                swapped == 2 || swapped == 3 ? "; this looks like a big-endian file" : "");
        goto fail;
    }
    uint64_t n_tensors, n_kv;
    if (rd_u64(&r, &n_tensors, "tensor count", err) != 0 || rd_u64(&r, &n_kv, "KV count", err) != 0)
        goto fail;
    /* The smallest KV (1-byte key, 1-byte value) takes 8 + 1 + 4 + 1 bytes and the smallest
     * tensor info (1-byte name, one dimension) 8 + 1 + 4 + 8 + 4 + 8: counts that cannot fit
     * in the file are corrupt, and are refused before anything is allocated for them. */
    uint64_t left = r.size - r.pos;
    if (n_kv > left / 14) {
        hp_fail(err, "%s: KV count %llu cannot fit in the %llu bytes after the header (each KV takes at least 14)",
                path, (unsigned long long)n_kv, (unsigned long long)left);
        goto fail;
    }
    if (n_tensors > left / 33 || n_kv * 14 > left - n_tensors * 33) {
        hp_fail(err, "%s: tensor count %llu cannot fit in the %llu bytes after the header with %llu KVs (each tensor info takes at least 33)",
                path, (unsigned long long)n_tensors, (unsigned long long)left, (unsigned long long)n_kv);
        goto fail;
    }

    /* Tables grow as entries are actually parsed, so memory follows the file's real
     * content whatever count the header claims. */
    cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        if (hp_grow((void **)&g->kvs, &cap, g->n_kv + 1, sizeof *g->kvs, "metadata", err) != 0)
            goto fail;
        g->n_kv++;
        if (parse_kv(&r, &g->kvs[i], i, err) != 0) {
            if (!g->kvs[i].key)
                g->n_kv--; /* nothing owned yet; keeps hp_gguf_close from reading a NULL key */
            goto fail;
        }
    }
    if (check_kv_keys(g, err) != 0)
        goto fail;

    const hp_gguf_kv *arch = hp_gguf_get(g, "general.architecture");
    if (arch) {
        if (arch->type != HP_GGUF_STRING) {
            wrong_type(g, arch, "a string", err);
            goto fail;
        }
        snprintf(g->architecture, sizeof g->architecture, "%s", arch->str);
    }
    g->alignment = HP_GGUF_DEFAULT_ALIGNMENT;
    if (hp_gguf_get(g, "general.alignment")) {
        if (hp_gguf_get_u64(g, "general.alignment", &g->alignment, err) != 0)
            goto fail;
        if (g->alignment == 0 || (g->alignment & (g->alignment - 1)) != 0) {
            hp_fail(err, "%s: general.alignment is %llu, expected a power of two", path,
                    (unsigned long long)g->alignment);
            goto fail;
        }
    }

    uint64_t *rel = NULL;
    size_t rel_cap = 0;
    cap = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        if (hp_grow((void **)&g->tensors, &cap, g->n_tensors + 1, sizeof *g->tensors, "tensor table", err) != 0 ||
            hp_grow((void **)&rel, &rel_cap, g->n_tensors + 1, sizeof *rel, "tensor offsets", err) != 0) {
            free(rel);
            goto fail;
        }
        hp_tensor *t = &g->tensors[g->n_tensors++];
        t->file = file_index;
        if (parse_tensor_info(&r, t, i, &rel[i], err) != 0) {
            free(rel);
            goto fail;
        }
        t->name = hp_gguf_hf_name(t->stored_name, err);
        if (!t->name) {
            free(rel);
            goto fail;
        }
        if (strcmp(t->name, t->stored_name) == 0) {
            /* tensor.h: stored_name is set only when it differs from name */
            free(t->stored_name);
            t->stored_name = NULL;
        }
    }

    /* The data section starts at the end of the tensor infos rounded up to the alignment;
     * a file without tensors may end before that. */
    uint64_t a = g->alignment;
    if (r.pos > UINT64_MAX - (a - 1)) {
        free(rel);
        hp_fail(err, "%s: general.alignment %llu is too large", path, (unsigned long long)a);
        goto fail;
    }
    g->data_start = (r.pos + a - 1) / a * a;
    for (size_t i = 0; i < g->n_tensors; i++) {
        hp_tensor *t = &g->tensors[i];
        const char *name = hp_tensor_file_name(t);
        if (rel[i] % a != 0) {
            hp_fail(err, "%s: tensor \"%s\": offset %llu is not a multiple of the alignment %llu",
                    path, name, (unsigned long long)rel[i], (unsigned long long)a);
            free(rel);
            goto fail;
        }
        if (g->data_start > r.size || rel[i] > r.size - g->data_start ||
            t->nbytes > r.size - g->data_start - rel[i]) {
            hp_fail(err, "%s: tensor \"%s\": %llu bytes at data offset %llu (the data section starts at %llu) run past the end of the file (%llu bytes)",
                    path, name, (unsigned long long)t->nbytes, (unsigned long long)rel[i],
                    (unsigned long long)g->data_start, (unsigned long long)r.size);
            free(rel);
            goto fail;
        }
        t->offset = g->data_start + rel[i];
        t->data = r.m + t->offset;
    }
    free(rel);
    if (hp_tensors_check_layout(g->file.path, g->tensors, g->n_tensors, err) != 0 || mark_permuted(g, err) != 0)
        goto fail;
    return 0;
fail:
    hp_gguf_close(g);
    return -1;
}

/* ---- config ------------------------------------------------------------------------- */

/* The architectures the forward pass runs, by general.architecture. Mistral models
 * converted by llama.cpp say "llama". */
static const struct {
    const char *arch, *hf;
} SUPPORTED[] = {
    {"llama", "LlamaForCausalLM"},
    {"qwen2", "Qwen2ForCausalLM"},
};

typedef struct cfg_ctx {
    const hp_gguf *g;
    bool strict; /* supported architecture: wrong or missing required fields are errors */
} cfg_ctx;

static const char *akey(const cfg_ctx *x, const char *suffix, char *buf, size_t n)
{
    snprintf(buf, n, "%s.%s", x->g->architecture, suffix);
    return buf;
}

/* "<arch>.suffix" into an int. Absent: an error when required (for a supported
 * architecture), else *out is left alone. For other architectures a value of an
 * unexpected type (some store per-layer arrays) is skipped rather than refused. */
static int cfg_int(const cfg_ctx *x, const char *suffix, int *out, bool required, hp_err *err)
{
    char key[160];
    akey(x, suffix, key, sizeof key);
    if (!hp_gguf_get(x->g, key)) {
        if (required && x->strict)
            return hp_fail(err, "%s: metadata key \"%s\" is missing (an integer is required for a %s model)",
                           x->g->file.path, key, x->g->architecture);
        return 0;
    }
    uint64_t v;
    hp_err local;
    if (hp_gguf_get_u64(x->g, key, &v, x->strict ? err : &local) != 0)
        return x->strict ? -1 : 0;
    if (v > INT_MAX) {
        if (!x->strict)
            return 0;
        return hp_fail(err, "%s: metadata key \"%s\" is %llu, expected at most %d", x->g->file.path,
                       key, (unsigned long long)v, INT_MAX);
    }
    *out = (int)v;
    return 0;
}

static int cfg_f64(const cfg_ctx *x, const char *suffix, double *out, bool required, hp_err *err)
{
    char key[160];
    akey(x, suffix, key, sizeof key);
    if (!hp_gguf_get(x->g, key)) {
        if (required && x->strict)
            return hp_fail(err, "%s: metadata key \"%s\" is missing (a number is required for a %s model)",
                           x->g->file.path, key, x->g->architecture);
        return 0;
    }
    hp_err local;
    if (hp_gguf_get_f64(x->g, key, out, x->strict ? err : &local) != 0)
        return x->strict ? -1 : 0;
    return 0;
}

static int cfg_token_id(const cfg_ctx *x, const char *key, int *out, hp_err *err)
{
    if (!hp_gguf_get(x->g, key))
        return 0;
    uint64_t v;
    hp_err local;
    if (hp_gguf_get_u64(x->g, key, &v, x->strict ? err : &local) != 0)
        return x->strict ? -1 : 0;
    if (v > INT_MAX)
        return x->strict ? hp_fail(err, "%s: metadata key \"%s\" is %llu, not a token id",
                                   x->g->file.path, key, (unsigned long long)v)
                         : 0;
    *out = (int)v;
    return 0;
}

/* RoPE scaling as llama.cpp's converter records it: rope.scaling.type ("none", "linear",
 * "yarn", ...) with rope.scaling.factor, or the older rope.scale_linear. */
static int cfg_rope_scaling(const cfg_ctx *x, hp_config *c, hp_err *err)
{
    char key[160];
    const char *path = x->g->file.path;
    const hp_gguf_kv *type = hp_gguf_get(x->g, akey(x, "rope.scaling.type", key, sizeof key));
    double factor = 0;
    if (!type) {
        if (hp_gguf_get(x->g, akey(x, "rope.scale_linear", key, sizeof key))) {
            if (cfg_f64(x, "rope.scale_linear", &factor, false, err) != 0)
                return -1;
            if (factor != 1.0) {
                c->rope_scaling.type = HP_ROPE_LINEAR;
                c->rope_scaling.factor = factor;
            }
        }
        return 0;
    }
    if (type->type != HP_GGUF_STRING)
        return x->strict ? wrong_type(x->g, type, "a string", err) : 0;
    if (strcmp(type->str, "none") == 0)
        return 0;
    if (strcmp(type->str, "linear") == 0) {
        if (cfg_f64(x, "rope.scaling.factor", &factor, true, err) != 0)
            return -1;
        c->rope_scaling.type = HP_ROPE_LINEAR;
        c->rope_scaling.factor = factor;
        return 0;
    }
    if (!x->strict)
        return 0;
    return hp_fail(err, "%s: metadata key \"%s\" is \"%s\"; only \"none\" and \"linear\" RoPE scaling are supported",
                   path, key, type->str);
}

static bool has_layer_tensor(const hp_gguf *g, const char *suffix)
{
    for (size_t i = 0; i < g->n_tensors; i++) {
        size_t nd;
        const char *rest;
        const char *name = hp_tensor_file_name(&g->tensors[i]);
        if (split_layer(name, &nd, &rest) && strcmp(rest, suffix) == 0)
            return true;
    }
    return false;
}

int hp_gguf_config(const hp_gguf *g, hp_config *c, hp_err *err)
{
    memset(c, 0, sizeof *c);
    c->bos_token_id = c->eos_token_id = -1;
    c->rope_theta = 10000.0; /* llama.cpp's default when rope.freq_base is absent */
    const char *path = g->file.path;
    if (!g->architecture[0])
        return 0; /* e.g. a vocabulary-only file: nothing to fill, nothing to run */
    cfg_ctx x = {g, false};
    snprintf(c->model_type, sizeof c->model_type, "%.31s", g->architecture);
    for (size_t i = 0; i < sizeof SUPPORTED / sizeof SUPPORTED[0]; i++)
        if (strcmp(g->architecture, SUPPORTED[i].arch) == 0) {
            x.strict = true;
            snprintf(c->architecture, sizeof c->architecture, "%s", SUPPORTED[i].hf);
        }
    c->forward_supported = x.strict;

    if (cfg_int(&x, "embedding_length", &c->hidden_size, true, err) ||
        cfg_int(&x, "block_count", &c->n_layers, true, err) ||
        cfg_int(&x, "feed_forward_length", &c->intermediate_size, true, err) ||
        cfg_int(&x, "attention.head_count", &c->n_heads, true, err) ||
        cfg_f64(&x, "attention.layer_norm_rms_epsilon", &c->rms_norm_eps, true, err) ||
        cfg_f64(&x, "rope.freq_base", &c->rope_theta, false, err) ||
        cfg_int(&x, "context_length", &c->max_position_embeddings, false, err) ||
        cfg_rope_scaling(&x, c, err) ||
        cfg_token_id(&x, "tokenizer.ggml.bos_token_id", &c->bos_token_id, err) ||
        cfg_token_id(&x, "tokenizer.ggml.eos_token_id", &c->eos_token_id, err))
        return -1;
    /* Defaults as llama.cpp applies them: kv heads = heads, head_dim = hidden / heads. */
    c->n_kv_heads = c->n_heads;
    if (c->n_heads > 0)
        c->head_dim = c->hidden_size / c->n_heads;
    if (cfg_int(&x, "attention.head_count_kv", &c->n_kv_heads, false, err) ||
        cfg_int(&x, "attention.key_length", &c->head_dim, false, err))
        return -1;
    int rope_dims = c->head_dim;
    if (cfg_int(&x, "rope.dimension_count", &rope_dims, false, err))
        return -1;
    if (x.strict && rope_dims != c->head_dim)
        return hp_fail(err, "%s: %s.rope.dimension_count is %d but the head size is %d; partial rotary embeddings are not supported",
                       path, g->architecture, rope_dims, c->head_dim);

    /* The vocabulary the forward pass needs is the embedding's row count (it may be padded
     * past the tokenizer's list); without an embedding, what the metadata says. */
    const hp_tensor *embd = hp_gguf_tensor(g, "model.embed_tokens.weight");
    const hp_gguf_kv *tokens = hp_gguf_get(g, "tokenizer.ggml.tokens");
    if (embd && embd->ndim == 2 && embd->shape[0] <= INT_MAX) {
        c->vocab_size = (int)embd->shape[0];
    } else {
        if (cfg_int(&x, "vocab_size", &c->vocab_size, false, err))
            return -1;
        if (!c->vocab_size && tokens && tokens->type == HP_GGUF_ARRAY && tokens->arr.count <= INT_MAX)
            c->vocab_size = (int)tokens->arr.count;
    }
    if (x.strict && !embd)
        return hp_fail(err, "%s: tensor \"token_embd.weight\" is missing (a %s model needs its embedding)",
                       path, g->architecture);
    c->tie_word_embeddings = embd && !hp_gguf_tensor(g, "lm_head.weight");
    c->attention_bias = has_layer_tensor(g, "attn_q.bias");

    /* general.file_type says what most weights are stored as (llama.cpp's LLAMA_FTYPE). */
    uint64_t ft;
    if (hp_gguf_get(g, "general.file_type") && hp_gguf_get_u64(g, "general.file_type", &ft, NULL) == 0)
        snprintf(c->torch_dtype, sizeof c->torch_dtype, "%s",
                 ft == 0 ? "float32" : ft == 1 ? "float16" : ft == 32 ? "bfloat16" : "");
    if (x.strict && hp_config_validate(c, path, err) != 0)
        return -1;
    return 0;
}
