/* Files the library reads: a read-only mapping plus the descriptor for pread, and
 * whole small files read into memory. Writers go through a temporary file that is
 * renamed into place on success, so an interrupted write leaves the old file intact. */
#ifndef HYPLORA_FILE_H
#define HYPLORA_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hyplora/error.h"

typedef struct hp_file {
    char *path;
    int fd;
    uint64_t size;
    const unsigned char *map; /* NULL for an empty file */
} hp_file;

/* Opens and maps path read-only. Mapping costs no memory until pages are touched. */
int hp_file_open(hp_file *f, const char *path, hp_err *err);
void hp_file_close(hp_file *f);

/* Reads exactly n bytes at offset with pread (no mapping pages touched). */
int hp_file_pread(const hp_file *f, void *buf, size_t n, uint64_t offset, hp_err *err);

/* Reads a whole file of at most max_bytes into a NUL-terminated buffer. */
char *hp_read_small_file(const char *path, size_t max_bytes, size_t *len, hp_err *err);

/* "dir/name" in a fresh allocation. */
char *hp_path_join(const char *dir, const char *name, hp_err *err);
bool hp_is_dir(const char *path);
/* mkdir -p: creates dir and any missing parents, then checks it is a directory we can
 * write into; the message names the path and what failed. */
int hp_make_dirs(const char *dir, hp_err *err);
bool hp_exists(const char *path);

/* Atomic replacement: hp_atomic_begin creates "<path>.tmp-XXXXXX" beside the target
 * and returns its name; hp_atomic_commit fsyncs and renames it over path;
 * hp_atomic_abort removes it. */
typedef struct hp_atomic {
    char *path;
    char *tmp;
    FILE *fp; /* open for writing, when begun with want_stream */
} hp_atomic;
int hp_atomic_begin(hp_atomic *a, const char *path, bool want_stream, hp_err *err);
int hp_atomic_commit(hp_atomic *a, hp_err *err);
void hp_atomic_abort(hp_atomic *a);

/* Writes len bytes as the whole new content of path, atomically. */
int hp_write_file_atomic(const char *path, const void *data, size_t len, hp_err *err);

/* Checks that s[0..n) is well-formed UTF-8 (no overlongs, surrogates or values past
 * U+10FFFF); on failure *bad is the offset of the first bad byte. */
bool hp_utf8_valid(const char *s, size_t n, size_t *bad);

#endif
