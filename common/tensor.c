#include "hyplora/tensor.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t hp_tensor_rows(const hp_tensor *t)
{
    return t->ndim <= 1 ? 1 : t->shape[0];
}

int64_t hp_tensor_cols(const hp_tensor *t)
{
    int64_t rows = hp_tensor_rows(t);
    return rows ? (int64_t)(t->n_elements / (uint64_t)rows) : 0;
}

const char *hp_tensor_shape_str(const hp_tensor *t, char *buf, int size)
{
    int n = snprintf(buf, (size_t)size, "[");
    for (int i = 0; i < t->ndim && n < size; i++)
        n += snprintf(buf + n, (size_t)(size - n), "%s%" PRId64, i ? ", " : "", t->shape[i]);
    if (n < size)
        snprintf(buf + n, (size_t)(size - n), "]");
    return buf;
}

uint64_t hp_tensor_row_bytes(const hp_tensor *t)
{
    return hp_dtype_bytes(t->dtype, (uint64_t)hp_tensor_cols(t));
}

int64_t hp_tensor_stored_row(const hp_tensor *t, int64_t r)
{
    if (t->permute_heads <= 0)
        return r;
    /* HF row (head h, half s, index i) is stored at (h, i, s): llama.cpp interleaves the
     * two halves so that its RoPE rotates adjacent pairs. */
    int64_t hd = t->shape[0] / t->permute_heads, half = hd / 2;
    int64_t h = r / hd, within = r % hd, s = within / half, i = within % half;
    return h * hd + 2 * i + s;
}

/* A permuted bias: read whole, then put each element back at its Hugging Face index. */
static int read_permuted_vector(const hp_file *f, const hp_tensor *t, float *out, hp_err *err)
{
    int64_t n = t->shape[0];
    unsigned char *buf = hp_malloc((size_t)t->nbytes, "a bias buffer", err);
    float *stored = hp_malloc((size_t)n * sizeof *stored, "a bias buffer", err);
    int rc = buf && stored ? hp_file_pread(f, buf, (size_t)t->nbytes, t->offset, err) : -1;
    if (rc == 0) {
        hp_convert_f32(t->dtype, buf, stored, (size_t)n);
        for (int64_t i = 0; i < n; i++)
            out[i] = stored[hp_tensor_stored_row(t, i)];
    }
    free(buf);
    free(stored);
    return rc;
}

int hp_tensor_read_rows(const hp_file *f, const hp_tensor *t, int64_t row0, int64_t n, float *out,
                        void *scratch, hp_err *err)
{
    int64_t rows = hp_tensor_rows(t), cols = hp_tensor_cols(t);
    if (row0 < 0 || n < 0 || row0 > rows || n > rows - row0)
        return hp_fail(err, "%s: rows [%lld, %lld) requested of tensor \"%s\" with %lld rows", f->path,
                       (long long)row0, (long long)(row0 + n), t->name, (long long)rows);
    if (!hp_dtype_readable(t->dtype))
        return hp_fail(err, "%s: tensor \"%s\" has type %s, which cannot be converted to float32 "
                       "(readable: F32, F16, BF16, Q8_0, Q4_0)", f->path, t->name, t->dtype_name);
    uint64_t rb = hp_tensor_row_bytes(t);
    if (rb == 0 && cols != 0)
        return hp_fail(err, "%s: tensor \"%s\": row of %lld elements is not a whole number of %s blocks",
                       f->path, t->name, (long long)cols, t->dtype_name);
    /* The permutation runs over the first dimension: the rows of a weight, the elements
     * of a bias. */
    int64_t extent = t->ndim >= 1 ? t->shape[0] : 1;
    if (t->permute_heads > 0 && (extent % t->permute_heads != 0 || (extent / t->permute_heads) % 2 != 0))
        return hp_fail(err, "%s: tensor \"%s\": %lld rows do not split into %d heads of even size",
                       f->path, t->name, (long long)extent, t->permute_heads);
    if (t->permute_heads > 0 && t->ndim == 1)
        return read_permuted_vector(f, t, out, err);
    unsigned char *buf = scratch;
    if (!buf && !(buf = hp_malloc((size_t)(rb * (uint64_t)n), "a row buffer", err)))
        return -1;
    int rc = 0;
    if (t->permute_heads <= 0) {
        rc = hp_file_pread(f, buf, (size_t)(rb * (uint64_t)n), t->offset + rb * (uint64_t)row0, err);
    } else if (rb > 0) { /* rows of no bytes (a zero-width tensor) have nothing to read */
        for (int64_t r = 0; r < n && rc == 0; r++)
            rc = hp_file_pread(f, buf + rb * (uint64_t)r, (size_t)rb,
                               t->offset + rb * (uint64_t)hp_tensor_stored_row(t, row0 + r), err);
    }
    if (rc == 0)
        hp_convert_f32(t->dtype, buf, out, (size_t)(n * cols));
    if (buf != scratch)
        free(buf);
    return rc;
}

const char *hp_tensor_file_name(const hp_tensor *t)
{
    return t->stored_name ? t->stored_name : t->name;
}

static int cmp_offset(const void *a, const void *b)
{
    const hp_tensor *x = *(hp_tensor *const *)a, *y = *(hp_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(hp_tensor *const *)a)->name, (*(hp_tensor *const *)b)->name);
}

int hp_tensors_check_layout(const char *path, const hp_tensor *tensors, size_t n, hp_err *err)
{
    if (n < 2)
        return 0;
    const hp_tensor **v = hp_malloc(n * sizeof *v, "tensor index", err);
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++)
        v[i] = &tensors[i];
    int rc = 0;
    qsort(v, n, sizeof *v, cmp_name);
    for (size_t i = 1; i < n && rc == 0; i++) {
        if (strcmp(v[i - 1]->name, v[i]->name) != 0)
            continue;
        if (strcmp(hp_tensor_file_name(v[i - 1]), hp_tensor_file_name(v[i])) == 0)
            rc = hp_fail(err, "%s: tensor \"%s\" appears twice", path, hp_tensor_file_name(v[i]));
        else
            rc = hp_fail(err, "%s: tensors \"%s\" and \"%s\" both stand for \"%s\" (it appears twice)",
                         path, hp_tensor_file_name(v[i - 1]), hp_tensor_file_name(v[i]), v[i]->name);
    }
    /* In offset order, each non-empty range must start at or after the furthest end so
     * far (comparing with the previous one alone lets an empty tensor hide an overlap). */
    qsort(v, n, sizeof *v, cmp_offset);
    const hp_tensor *far = v[0];
    for (size_t i = 1; i < n && rc == 0; i++) {
        if (v[i]->nbytes && far->offset + far->nbytes > v[i]->offset)
            rc = hp_fail(err, "%s: tensors \"%s\" and \"%s\" overlap in the data section (bytes %llu..%llu and %llu..%llu)",
                         path, hp_tensor_file_name(far), hp_tensor_file_name(v[i]), (unsigned long long)far->offset,
                         (unsigned long long)(far->offset + far->nbytes),
                         (unsigned long long)v[i]->offset,
                         (unsigned long long)(v[i]->offset + v[i]->nbytes));
        if (v[i]->offset + v[i]->nbytes > far->offset + far->nbytes)
            far = v[i];
    }
    free(v);
    return rc;
}
