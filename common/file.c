#include "hyplora/file.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int hp_file_open(hp_file *f, const char *path, hp_err *err)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hp_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return hp_fail(err, "%s: not a regular file", path);
    }
    f->path = hp_strdup(path, err);
    if (!f->path) {
        close(fd);
        return -1;
    }
    f->fd = fd;
    f->size = (uint64_t)st.st_size;
    if (f->size > 0) {
        void *m = mmap(NULL, f->size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            hp_fail(err, "%s: cannot map %llu bytes: %s", path, (unsigned long long)f->size,
                    strerror(errno));
            hp_file_close(f);
            return -1;
        }
        f->map = m;
    }
    return 0;
}

void hp_file_close(hp_file *f)
{
    if (f->map)
        munmap((void *)f->map, f->size);
    if (f->fd >= 0)
        close(f->fd);
    free(f->path);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

int hp_file_pread(const hp_file *f, void *buf, size_t n, uint64_t offset, hp_err *err)
{
    if (offset > f->size || n > f->size - offset)
        return hp_fail(err, "%s: read of %zu bytes at offset %llu is past the end (%llu bytes)",
                       f->path, n, (unsigned long long)offset, (unsigned long long)f->size);
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = pread(f->fd, p, n, (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return hp_fail(err, "%s: read failed at offset %llu: %s", f->path,
                           (unsigned long long)offset, got < 0 ? strerror(errno) : "unexpected end");
        p += got;
        n -= (size_t)got;
        offset += (uint64_t)got;
    }
    return 0;
}

char *hp_read_small_file(const char *path, size_t max_bytes, size_t *len, hp_err *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        hp_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = hp_malloc(cap + 1, path, err);
    while (buf) {
        if (n == cap) {
            if (cap >= max_bytes) {
                hp_fail(err, "%s: larger than the %zu bytes expected of this kind of file", path,
                        max_bytes);
                free(buf);
                buf = NULL;
                break;
            }
            cap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            char *nb = hp_realloc(buf, cap + 1, path, err);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) {
            if (ferror(fp)) {
                hp_fail(err, "%s: read error", path);
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    fclose(fp);
    if (buf) {
        buf[n] = 0;
        if (len)
            *len = n;
    }
    return buf;
}

char *hp_path_join(const char *dir, const char *name, hp_err *err)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = hp_malloc(a + b + 2, "a path", err);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    return p;
}

bool hp_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool hp_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int hp_atomic_begin(hp_atomic *a, const char *path, bool want_stream, hp_err *err)
{
    memset(a, 0, sizeof *a);
    size_t n = strlen(path);
    a->path = hp_strdup(path, err);
    a->tmp = hp_malloc(n + 16, "a temporary file name", err);
    if (!a->path || !a->tmp) {
        hp_atomic_abort(a);
        return -1;
    }
    memcpy(a->tmp, path, n);
    memcpy(a->tmp + n, ".tmp-XXXXXX", 12);
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        hp_fail(err, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
        free(a->tmp);
        a->tmp = NULL;
        hp_atomic_abort(a);
        return -1;
    }
    fchmod(fd, 0644);
    if (want_stream) {
        a->fp = fdopen(fd, "wb");
        if (!a->fp) {
            close(fd);
            hp_atomic_abort(a);
            return hp_fail(err, "%s: cannot open a stream", path);
        }
    } else {
        close(fd);
    }
    return 0;
}

int hp_atomic_commit(hp_atomic *a, hp_err *err)
{
    if (a->fp) {
        int bad = fflush(a->fp) != 0 || fsync(fileno(a->fp)) != 0;
        bad |= fclose(a->fp) != 0;
        a->fp = NULL;
        if (bad) {
            hp_fail(err, "%s: write failed: %s", a->path, strerror(errno));
            hp_atomic_abort(a);
            return -1;
        }
    }
    /* Test hook: die exactly where a crash would hurt most, to prove the old file
     * survives. Only the tests set this variable. */
    const char *fault = getenv("HYPLORA_FAULT");
    if (fault && strcmp(fault, "before-rename") == 0)
        raise(SIGKILL);
    if (rename(a->tmp, a->path) != 0) {
        hp_fail(err, "%s: cannot rename the finished temporary file into place: %s", a->path,
                strerror(errno));
        hp_atomic_abort(a);
        return -1;
    }
    free(a->tmp);
    free(a->path);
    a->tmp = a->path = NULL;
    return 0;
}

void hp_atomic_abort(hp_atomic *a)
{
    if (a->fp)
        fclose(a->fp);
    if (a->tmp)
        unlink(a->tmp);
    free(a->tmp);
    free(a->path);
    memset(a, 0, sizeof *a);
}

int hp_write_file_atomic(const char *path, const void *data, size_t len, hp_err *err)
{
    hp_atomic a;
    if (hp_atomic_begin(&a, path, true, err) != 0)
        return -1;
    if (fwrite(data, 1, len, a.fp) != len) {
        hp_atomic_abort(&a);
        return hp_fail(err, "%s: write failed (disk full?)", path);
    }
    return hp_atomic_commit(&a, err);
}

bool hp_utf8_valid(const char *str, size_t n, size_t *bad)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            goto fail;
        }
        if (n - i < len)
            goto fail;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                goto fail;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            goto fail;
        i += len;
    }
    return true;
fail:
    if (bad)
        *bad = i;
    return false;
}

int hp_make_dirs(const char *dir, hp_err *err)
{
    char path[4000];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return hp_fail(err, "%s: path too long", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != 0)
            continue;
        char saved = *p;
        *p = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return hp_fail(err, "%s: cannot create the output directory: %s", path,
                           strerror(errno));
        *p = saved;
        if (!saved)
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return hp_fail(err, "%s: the output path exists and is not a directory", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return hp_fail(err, "%s: cannot write into the output directory: %s", dir,
                       strerror(errno));
    return 0;
}
