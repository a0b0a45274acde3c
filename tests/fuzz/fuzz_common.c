#include "fuzz_common.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void fz_check_failed(const char *what, const char *file, int line)
{
    fprintf(stderr, "\nFZ_CHECK failed: %s (%s:%d)\n", what, file, line);
    abort();
}

static char dir[4096];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void rm_dir(void)
{
    if (dir[0])
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fz_dir(void)
{
    if (!dir[0]) {
        /* $TMPDIR, else /dev/shm (memory: several times faster than a disk here). */
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !tmp[0])
            tmp = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof dir, "%s/hyplora-fuzz-XXXXXX", tmp);
        if (!mkdtemp(dir)) {
            fprintf(stderr, "fuzz: cannot create a scratch directory %s: %s\n", dir, strerror(errno));
            abort();
        }
        atexit(rm_dir);
    }
    return dir;
}

const char *fz_path(int slot, const char *name)
{
    static char paths[8][4096 + 64];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", fz_dir(), name);
    return paths[slot];
}

void fz_write(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "fuzz: write to %s failed: %s\n", path, strerror(errno));
            abort();
        }
        p += w;
        n -= (size_t)w;
    }
    close(fd);
}

void fz_unlink(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "fuzz: cannot remove %s: %s\n", path, strerror(errno));
        abort();
    }
}

volatile unsigned char fz_sink;

void fz_touch(const void *p, size_t n)
{
    const volatile unsigned char *c = p;
    unsigned char acc = 0;
    for (size_t i = 0; i < n; i++)
        acc ^= c[i];
    fz_sink = acc;
}

void fz_check_err(const hp_err *err)
{
    FZ_CHECK(memchr(err->msg, 0, sizeof err->msg) != NULL);
    FZ_CHECK(err->msg[0] != 0); /* a failure always says why */
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("FZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "fuzz: refused: %s\n", err->msg);
}

void fz_check_tensor(const hp_file *f, const hp_tensor *t)
{
    FZ_CHECK(t->name != NULL);
    FZ_CHECK(t->dtype_name != NULL);
    FZ_CHECK(t->ndim >= 0 && t->ndim <= HP_MAX_DIMS);
    /* The element count is the product of the shape; a zero anywhere makes it 0 (and the
     * other dimensions may then multiply past 64 bits in any order). */
    uint64_t count = 1;
    bool zero = false;
    for (int i = 0; i < t->ndim; i++) {
        FZ_CHECK(t->shape[i] >= 0);
        zero |= t->shape[i] == 0;
    }
    for (int i = 0; i < t->ndim && !zero; i++)
        FZ_CHECK(!__builtin_mul_overflow(count, (uint64_t)t->shape[i], &count));
    if (zero)
        count = 0;
    FZ_CHECK(count == t->n_elements);
    FZ_CHECK(t->offset <= f->size && t->nbytes <= f->size - t->offset);
    if (f->map && t->nbytes > 0)
        FZ_CHECK(t->data == f->map + t->offset);
    if (t->dtype != HP_DTYPE_OTHER && t->dtype != HP_DTYPE_UNKNOWN)
        FZ_CHECK(t->nbytes == hp_dtype_bytes(t->dtype, t->n_elements) || t->n_elements == 0);
    if (t->nbytes > 0)
        fz_touch(t->data, (size_t)t->nbytes);
    char shape[256];
    hp_tensor_shape_str(t, shape, sizeof shape);
    FZ_CHECK(memchr(shape, 0, sizeof shape) != NULL);
    FZ_CHECK(hp_tensor_file_name(t) != NULL);
    (void)hp_tensor_row_bytes(t);
}

static bool small_enough(const hp_tensor *t)
{
    return t->n_elements <= FZ_MAX_F32_BYTES / sizeof(float);
}

void fz_read_tensor(const hp_file *f, const hp_tensor *t)
{
    hp_err err = {{0}};
    int64_t rows = hp_tensor_rows(t), cols = hp_tensor_cols(t);
    FZ_CHECK(rows >= 0 && cols >= 0);
    /* Out-of-range requests are refused. */
    FZ_CHECK(hp_tensor_read_rows(f, t, rows, 1, NULL, NULL, &err) == -1);
    fz_check_err(&err);
    FZ_CHECK(hp_tensor_read_rows(f, t, -1, 1, NULL, NULL, &err) == -1);
    if (!small_enough(t))
        return;
    FZ_CHECK((uint64_t)rows * (uint64_t)cols <= t->n_elements);
    size_t nf = (size_t)rows * (size_t)cols;
    float *out = malloc((nf ? nf : 1) * sizeof *out);
    FZ_CHECK(out != NULL);
    int rc = hp_tensor_read_rows(f, t, 0, rows, out, NULL, &err);
    if (rc != 0) {
        fz_check_err(&err);
        /* A tensor the reader validated, of a type it can widen, is readable (permuted
         * q/k rows have their own conditions, checked at read time). */
        if (hp_dtype_readable(t->dtype) && t->permute_heads <= 0)
            FZ_CHECK(!"a validated readable tensor could not be read");
    } else if (rows >= 2 && hp_tensor_row_bytes(t) > 0) {
        /* Rows [1, rows) through a caller's scratch buffer agree with the full read. */
        uint64_t rb = hp_tensor_row_bytes(t);
        void *scratch = malloc((size_t)(rb * (uint64_t)(rows - 1)));
        float *part = malloc((size_t)(rows - 1) * (size_t)cols * sizeof *part + 1);
        FZ_CHECK(scratch && part);
        FZ_CHECK(hp_tensor_read_rows(f, t, 1, rows - 1, part, scratch, &err) == 0);
        FZ_CHECK(memcmp(part, out + cols, (size_t)(rows - 1) * (size_t)cols * sizeof *part) == 0);
        free(scratch);
        free(part);
    }
    if (rc == 0)
        fz_touch(out, nf * sizeof *out);
    free(out);
}

void fz_walk_model(const hp_model *m)
{
    hp_err err = {{0}};
    FZ_CHECK(m->path != NULL);
    FZ_CHECK(hp_model_format_name(m->format) != NULL);
    FZ_CHECK(m->n_files >= 1 || m->n_tensors == 0);
    for (size_t i = 0; i < m->n_files; i++)
        FZ_CHECK(m->files[i] && m->files[i]->path);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const hp_tensor *t = m->tensors[i];
        FZ_CHECK(t->file >= 0 && (size_t)t->file < m->n_files);
        const hp_file *f = m->files[t->file];
        fz_check_tensor(f, t);
        /* Names are unique in a model, so every tensor is found under its own name. */
        FZ_CHECK(hp_model_find(m, t->name) == t);
        if (!small_enough(t))
            continue;
        int64_t rows = hp_tensor_rows(t), cols = hp_tensor_cols(t);
        size_t nf = (size_t)rows * (size_t)cols;
        float *a = malloc((nf ? nf : 1) * sizeof *a);
        float *b = malloc((nf ? nf : 1) * sizeof *b);
        FZ_CHECK(a && b);
        int ra = hp_model_read_f32(m, t, a, NULL, &err);
        if (ra != 0)
            fz_check_err(&err);
        int rb = hp_model_read_rows(m, t, 0, rows, b, &err);
        if (rb != 0)
            fz_check_err(&err);
        FZ_CHECK(ra == rb);
        if (ra == 0)
            FZ_CHECK(memcmp(a, b, nf * sizeof *a) == 0);
        free(a);
        free(b);
    }
    (void)hp_model_n_params(m);
    const hp_tensor *e = hp_model_embedding(m, &err);
    if (e)
        FZ_CHECK(e->ndim == 2 && hp_model_find(m, e->name) == e);
    else
        fz_check_err(&err);
    char tok[64];
    if (hp_model_tokenizer_type(m, tok, sizeof tok, &err) != 0)
        fz_check_err(&err);
    FZ_CHECK(memchr(tok, 0, sizeof tok) != NULL);
    if (m->has_config && m->config.forward_supported)
        FZ_CHECK(hp_config_validate(&m->config, m->path, &err) == 0);
}

size_t fz_split(const uint8_t *data, size_t size, const char *sep, const uint8_t **part,
                size_t *len, size_t max)
{
    size_t n = 0, sl = strlen(sep);
    const uint8_t *p = data, *end = data + size;
    while (n + 1 < max) {
        const uint8_t *q = memmem(p, (size_t)(end - p), sep, sl);
        if (!q)
            break;
        part[n] = p;
        len[n++] = (size_t)(q - p);
        p = q + sl;
    }
    part[n] = p;
    len[n++] = (size_t)(end - p);
    return n;
}
