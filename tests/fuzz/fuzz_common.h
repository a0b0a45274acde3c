/* Shared by the libFuzzer harnesses.
 *
 * The library's readers take paths, so each harness writes its input into files in a
 * scratch directory private to the process and calls the real open/load function on
 * them, then does with a successful result what a caller would: read every readable
 * tensor, walk every metadata value, and so on. FZ_CHECK turns a broken promise of the
 * API (a tensor outside its file, a name that cannot be found again) into a crash that
 * libFuzzer reports, so the fuzzers look for wrong answers as well as memory errors. */
#ifndef HYPLORA_FUZZ_COMMON_H
#define HYPLORA_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "hyplora.h"

/* Tensors whose float32 form is larger than this are listed but not read, so that a
 * tiny file claiming a huge (sparse) tensor cannot exhaust the harness's memory. The
 * library itself is exercised on them up to the point of allocating the result. */
#define FZ_MAX_F32_BYTES (64u << 20)

#define FZ_CHECK(cond) \
    ((cond) ? (void)0 : fz_check_failed(#cond, __FILE__, __LINE__))

__attribute__((noreturn)) void fz_check_failed(const char *what, const char *file, int line);

/* The scratch directory (created on first use under $TMPDIR, removed at exit) and
 * "dir/name" inside it, in a static buffer per call site's choice of slot (0..7). */
const char *fz_dir(void);
const char *fz_path(int slot, const char *name);

/* Writes data as the whole content of path (aborts on an I/O error of the harness). */
void fz_write(const char *path, const void *data, size_t n);
void fz_unlink(const char *path);

/* Reads every byte so that ASan sees a bad pointer or length. */
void fz_touch(const void *p, size_t n);

/* The message must be a NUL-terminated string inside the buffer. */
void fz_check_err(const hp_err *err);

/* Checks a tensor against its file (bytes inside the file, data pointer in the
 * mapping, element count of the shape) and reads it as a caller would. */
void fz_check_tensor(const hp_file *f, const hp_tensor *t);
void fz_read_tensor(const hp_file *f, const hp_tensor *t);

/* Everything a caller does with an opened model. */
void fz_walk_model(const hp_model *m);

/* Splits data at every occurrence of sep (not inside the parts' own bytes: the first
 * occurrences win). Returns the number of parts (at most max); parts beyond max are
 * merged into the last one. */
size_t fz_split(const uint8_t *data, size_t size, const char *sep, const uint8_t **part,
                size_t *len, size_t max);

#endif
