#include "hyplora/tensor.h"

#include <inttypes.h>
#include <stdio.h>

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
