/* NumPy .npy output (format 1.0): the simplest file that numpy, PyTorch and every
 * scripting language load without a library of ours. */
#ifndef HYPLORA_NPY_H
#define HYPLORA_NPY_H

#include <stdint.h>

#include "hyplora/error.h"

/* Writes a C-order float32 array of the given shape, atomically (temp file, rename). */
int hp_npy_write_f32(const char *path, int ndim, const int64_t *shape, const float *data, hp_err *err);

#endif
