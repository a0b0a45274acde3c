/* safetensors files: an 8-byte little-endian header length, a JSON header
 *   {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value"}}
 * and the tensor bytes, with offsets relative to the end of the header.
 *
 * The reader maps the file and validates everything before handing out a tensor:
 * header length inside the file and under 100 MB, well-formed UTF-8 JSON, known
 * dtypes, offsets inside the data, sizes equal to dtype x shape, no overlaps. */
#ifndef HYPLORA_SAFETENSORS_H
#define HYPLORA_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "hyplora/error.h"
#include "hyplora/file.h"
#include "hyplora/tensor.h"

#define HP_SAFETENSORS_MAX_HEADER (100u * 1000u * 1000u)

typedef struct hp_safetensors {
    hp_file file;
    uint64_t data_start; /* 8 + header length */
    hp_tensor *tensors;  /* in header order */
    size_t n_tensors;
    char **meta_keys;    /* __metadata__, string to string */
    char **meta_values;
    size_t n_meta;
} hp_safetensors;

/* Opens and validates path; file_index is recorded in every tensor's `file`. */
int hp_safetensors_open(hp_safetensors *st, const char *path, int file_index, hp_err *err);
void hp_safetensors_close(hp_safetensors *st);

/* One tensor to write: its bytes are already in the stored dtype; data NULL leaves a
 * hole that reads as zeros (sparse files for benchmarks of huge layouts). */
typedef struct hp_st_write {
    const char *name;
    hp_dtype dtype;
    int ndim;
    int64_t shape[HP_MAX_DIMS];
    const void *data;
} hp_st_write;

/* Writes a safetensors file atomically (temp file, then rename): header padded with
 * spaces to a multiple of 8 bytes, tensors in the given order, metadata as
 * alternating key, value strings (meta may be NULL when n_meta is 0). */
int hp_safetensors_write(const char *path, const hp_st_write *tensors, size_t n,
                         const char *const *meta, size_t n_meta, hp_err *err);

#endif
