/* A stored tensor, as listed by a safetensors or GGUF file.
 *
 * Shapes are in row-major order, outermost first (the PyTorch/safetensors order; GGUF's
 * innermost-first dims are reversed on load). A tensor's bytes lie in one file of the
 * model at an absolute offset; `data` points at them inside that file's read-only
 * mapping, so weights stay in their stored type and only the pages used are read. */
#ifndef HYPLORA_TENSOR_H
#define HYPLORA_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "hyplora/dtype.h"
#include "hyplora/error.h"
#include "hyplora/file.h"

#define HP_MAX_DIMS 8

typedef struct hp_tensor {
    char *name;             /* Hugging Face name (GGUF names are mapped) */
    char *stored_name;      /* the name in the file, when it differs (GGUF), else NULL */
    hp_dtype dtype;
    char *dtype_name;       /* as stored ("BF16", "Q4_K"), also for types we cannot read */
    int ndim;
    int64_t shape[HP_MAX_DIMS];
    uint64_t n_elements;
    uint64_t offset;        /* absolute byte offset of the data in its file */
    uint64_t nbytes;
    int file;               /* index of the file among the model's files */
    const void *data;       /* inside the file's mapping */
    /* GGUF from llama.cpp stores q/k projection rows permuted for interleaved RoPE;
     * when heads > 0 the rows are read back in the Hugging Face rotate-half order. */
    int permute_heads;
} hp_tensor;

/* Rows of a tensor seen as a matrix: shape[0] rows of (n_elements / shape[0]) columns;
 * a 1-D tensor is one row. */
int64_t hp_tensor_rows(const hp_tensor *t);
int64_t hp_tensor_cols(const hp_tensor *t);

/* The stored index along the first dimension of Hugging Face index r: they differ only
 * for permuted q/k weights (rows) and biases (elements). */
int64_t hp_tensor_stored_row(const hp_tensor *t, int64_t r);

/* Reads rows [row0, row0 + n) widened to float32 into out (n x cols), with pread on f,
 * the file that holds the tensor, so no other tensor's pages are touched. scratch, when
 * not NULL, holds at least n rows in the stored type; otherwise one is allocated. */
int hp_tensor_read_rows(const hp_file *f, const hp_tensor *t, int64_t row0, int64_t n, float *out,
                        void *scratch, hp_err *err);

/* Bytes of one stored row. */
uint64_t hp_tensor_row_bytes(const hp_tensor *t);

/* The name as the file spells it (the GGUF name, for messages about the file). */
const char *hp_tensor_file_name(const hp_tensor *t);

/* Checks a file's tensor table: no name twice (also after GGUF names are mapped), and no
 * two byte ranges overlapping. */
int hp_tensors_check_layout(const char *path, const hp_tensor *tensors, size_t n, hp_err *err);

/* Formats the shape as "[4096, 128256]" into buf. */
const char *hp_tensor_shape_str(const hp_tensor *t, char *buf, int size);

#endif
