/* GGUF files (llama.cpp's model format), versions 2 and 3, little-endian:
 *   "GGUF", u32 version, u64 tensor count, u64 KV count,
 *   KVs:          string key, u32 type, value (arrays: u32 element type, u64 count, elements),
 *   tensor infos: string name, u32 n_dims, u64 dims[n_dims] (innermost first), u32 ggml type,
 *                 u64 offset relative to the data section,
 *   padding to `general.alignment` (default 32), then the tensor data.
 * Strings are a u64 length and that many bytes, without a terminator.
 *
 * The reader maps the file and checks every length and count against the bytes that are
 * actually there before it allocates or reads, so a corrupt or hostile file gives an error
 * naming the field and offset, never a huge allocation or a read past the mapping.
 * Tensors are listed under their Hugging Face names (blk.0.attn_q.weight ->
 * model.layers.0.self_attn.q_proj.weight) so the rest of the toolkit sees one naming. */
#ifndef HYPLORA_GGUF_H
#define HYPLORA_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyplora/config.h"
#include "hyplora/error.h"
#include "hyplora/file.h"
#include "hyplora/tensor.h"

#define HP_GGUF_DEFAULT_ALIGNMENT 32
#define HP_GGUF_MAX_DIMS 4      /* ggml tensors have at most 4 dimensions */
#define HP_GGUF_MAX_NESTING 8   /* arrays of arrays deeper than this are rejected */

typedef enum hp_gguf_type {
    HP_GGUF_UINT8 = 0,
    HP_GGUF_INT8 = 1,
    HP_GGUF_UINT16 = 2,
    HP_GGUF_INT16 = 3,
    HP_GGUF_UINT32 = 4,
    HP_GGUF_INT32 = 5,
    HP_GGUF_FLOAT32 = 6,
    HP_GGUF_BOOL = 7,
    HP_GGUF_STRING = 8,
    HP_GGUF_ARRAY = 9,
    HP_GGUF_UINT64 = 10,
    HP_GGUF_INT64 = 11,
    HP_GGUF_FLOAT64 = 12,
} hp_gguf_type;

/* "uint32", "string", ... for messages. */
const char *hp_gguf_type_name(hp_gguf_type t);

/* One metadata value. Scalars are decoded; a string value is copied (NUL-terminated);
 * array elements stay in the mapping and are read with the hp_gguf_arr_* functions, except
 * that arrays of arrays are parsed into `arr.items`. */
typedef struct hp_gguf_kv {
    char *key;         /* NULL for the elements of an array of arrays */
    hp_gguf_type type;
    union {
        uint64_t u;    /* UINT8, UINT16, UINT32, UINT64 */
        int64_t i;     /* INT8, INT16, INT32, INT64 */
        double f;      /* FLOAT32 (widened exactly), FLOAT64 */
        bool b;        /* BOOL */
    } v;
    char *str;         /* STRING: a NUL-terminated copy */
    size_t str_len;    /* its length in bytes (it may hold NULs of its own) */
    struct {
        hp_gguf_type type;          /* element type */
        uint64_t count;
        uint64_t offset;            /* absolute file offset of the first element */
        const unsigned char *data;  /* the first element, inside the mapping */
        uint64_t *str_off;          /* STRING elements: each element's length prefix, as an
                                       offset from data (element i = data + str_off[i]) */
        struct hp_gguf_kv *items;   /* ARRAY elements: the nested arrays, parsed */
    } arr;
} hp_gguf_kv;

typedef struct hp_gguf {
    hp_file file;
    uint32_t version;
    hp_gguf_kv *kvs;     /* in file order */
    size_t n_kv;
    hp_tensor *tensors;  /* in file order, names mapped to Hugging Face names */
    size_t n_tensors;
    uint64_t alignment;
    uint64_t data_start; /* absolute offset of the data section (header end, aligned) */
    char architecture[64]; /* general.architecture ("llama", "qwen2", ...) or "" */
} hp_gguf;

/* Opens and validates path; file_index is recorded in every tensor's `file`. On failure
 * g is left closed (hp_gguf_close on it is harmless). */
int hp_gguf_open(hp_gguf *g, const char *path, int file_index, hp_err *err);
void hp_gguf_close(hp_gguf *g);

/* The KV with this key, or NULL. */
const hp_gguf_kv *hp_gguf_get(const hp_gguf *g, const char *key);

/* Typed getters. Each fails with a message naming the file and key when the key is missing
 * or holds another type:
 *   get_u64  any integer type with a non-negative value;
 *   get_i64  any integer type that fits in int64_t;
 *   get_f64  FLOAT32, FLOAT64, or any integer type (converted);
 *   get_bool BOOL;
 *   get_str  STRING (the returned pointer lives as long as g). */
int hp_gguf_get_u64(const hp_gguf *g, const char *key, uint64_t *out, hp_err *err);
int hp_gguf_get_i64(const hp_gguf *g, const char *key, int64_t *out, hp_err *err);
int hp_gguf_get_f64(const hp_gguf *g, const char *key, double *out, hp_err *err);
int hp_gguf_get_bool(const hp_gguf *g, const char *key, bool *out, hp_err *err);
const char *hp_gguf_get_str(const hp_gguf *g, const char *key, hp_err *err);

/* The array under key, checked to hold elements of the kind of elem: HP_GGUF_STRING,
 * HP_GGUF_BOOL and HP_GGUF_ARRAY must match exactly; any integer type accepts every integer
 * element type, and a float type accepts FLOAT32 and FLOAT64 (scores are float32 in files
 * from llama.cpp but nothing forbids float64). */
const hp_gguf_kv *hp_gguf_get_array(const hp_gguf *g, const char *key, hp_gguf_type elem,
                                    hp_err *err);

/* Element access on an array KV. These return -1 / NULL, without a message, only for an
 * index past the end or an element of the wrong kind, which hp_gguf_get_array rules out.
 *   arr_str  the bytes of string element i (not NUL-terminated) and their length;
 *   arr_i64  integer or bool element i (UINT64 values above INT64_MAX fail);
 *   arr_f64  numeric or bool element i, converted. */
const char *hp_gguf_arr_str(const hp_gguf_kv *a, uint64_t i, size_t *len);
int hp_gguf_arr_i64(const hp_gguf_kv *a, uint64_t i, int64_t *out);
int hp_gguf_arr_f64(const hp_gguf_kv *a, uint64_t i, double *out);

/* The tensor with this Hugging Face name (or, failing that, this GGUF name), or NULL. */
const hp_tensor *hp_gguf_tensor(const hp_gguf *g, const char *name);

/* Fills c from the metadata of a llama or qwen2 file (the keys "<arch>.embedding_length",
 * ".block_count", ".feed_forward_length", ".attention.head_count", ".attention.head_count_kv",
 * ".attention.layer_norm_rms_epsilon", ".rope.freq_base", ".context_length",
 * ".attention.key_length", tokenizer.ggml.*_token_id) and the tensors present (vocabulary
 * from token_embd's rows, tied embeddings when there is no output.weight, biases when
 * attn_q.bias exists), then validates it. Other architectures get what their metadata has,
 * with forward_supported false. */
int hp_gguf_config(const hp_gguf *g, hp_config *c, hp_err *err);

/* The Hugging Face name for a GGUF tensor name, in a fresh allocation; names without a
 * counterpart are copied unchanged. */
char *hp_gguf_hf_name(const char *gguf_name, hp_err *err);

#endif
