/* Error reporting for the hyplora library.
 *
 * Library functions never print, abort or exit. A function that can fail takes an
 * `hp_err *` as its last argument, returns -1 (or NULL) on failure and leaves a
 * message in it that names the file, the field or offset, and what was expected.
 * The caller decides what to do with it (the CLI prints it and exits 1). */
#ifndef HYPLORA_ERROR_H
#define HYPLORA_ERROR_H

#include <stddef.h>

typedef struct hp_err {
    char msg[1024];
} hp_err;

/* Formats a message into err (err may be NULL) and returns -1, so that
 * `return hp_fail(err, "...")` is the idiom for failing. */
int hp_fail(hp_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like hp_fail, but keeps the existing message after the new prefix:
 * "prefix: old message". Used to add the file name on the way up. */
int hp_failctx(hp_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* malloc/calloc/realloc that report failure into err with the purpose and size. */
void *hp_malloc(size_t n, const char *what, hp_err *err);
void *hp_calloc(size_t count, size_t size, const char *what, hp_err *err);
/* For blocks of hundreds of MB or more that are written in full right away: the pages are
 * mapped when allocated (MAP_POPULATE), a third faster than faulting them in one by one
 * (about a second per 1.5 GB here); transparent huge pages are not asked for, as their
 * compaction on this kind of machine sometimes takes several times longer. Released with
 * hp_free_large(p, n) only. */
void *hp_malloc_large(size_t n, const char *what, hp_err *err);
void hp_free_large(void *p, size_t n);
void *hp_realloc(void *p, size_t n, const char *what, hp_err *err);
char *hp_strdup(const char *s, hp_err *err);

/* Makes room for at least `need` elements of `size` bytes in the array *p of capacity
 * *cap, doubling it (from 16) and zero-filling the new part: the one growth rule for
 * every growing array in the library. */
int hp_grow(void **p, size_t *cap, size_t need, size_t size, const char *what, hp_err *err);

#endif
