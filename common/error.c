#include "hyplora/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int hp_fail(hp_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int hp_failctx(hp_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", old);
    return -1;
}

void *hp_malloc(size_t n, const char *what, hp_err *err)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        hp_fail(err, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

void *hp_malloc_large(size_t n, const char *what, hp_err *err)
{
    void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) {
        hp_fail(err, "out of memory allocating %zu bytes for %s", n, what);
        return NULL;
    }
    return p;
}

void hp_free_large(void *p, size_t n)
{
    if (p)
        munmap(p, n ? n : 1);
}

void *hp_calloc(size_t count, size_t size, const char *what, hp_err *err)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        hp_fail(err, "out of memory allocating %zu x %zu bytes for %s", count, size, what);
    return p;
}

void *hp_realloc(void *p, size_t n, const char *what, hp_err *err)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        hp_fail(err, "out of memory growing %s to %zu bytes", what, n);
    return q;
}

int hp_grow(void **p, size_t *cap, size_t need, size_t size, const char *what, hp_err *err)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / size)
            return hp_fail(err, "%s: %zu elements of %zu bytes do not fit in memory", what, need, size);
        nc *= 2;
    }
    void *q = hp_realloc(*p, nc * size, what, err);
    if (!q)
        return -1;
    memset((char *)q + *cap * size, 0, (nc - *cap) * size);
    *p = q;
    *cap = nc;
    return 0;
}

char *hp_strdup(const char *s, hp_err *err)
{
    size_t n = strlen(s) + 1;
    char *p = hp_malloc(n, "a string", err);
    if (p)
        memcpy(p, s, n);
    return p;
}
