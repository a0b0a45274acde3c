#include "hyplora/vectors.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hyplora/dtype.h"
#include "hyplora/file.h"
#include "hyplora/json_stream.h"

/* No real embedding has a row this wide; the cap turns a corrupt header into an error
 * rather than a huge allocation. */
#define MAX_DIM 1000000

void hp_vectors_free(hp_vectors *v)
{
    if (v->words)
        for (size_t i = 0; i < v->n_words; i++)
            free(v->words[i]);
    free(v->words);
    free(v->data);
    memset(v, 0, sizeof *v);
}

/* ---- growing the matrix while rows arrive ---- */

/* Room for `rows` rows of words and (once dim is known) values. Grows by half, not by
 * doubling, to stay near the final size; large blocks are resized in place by mremap,
 * so growth does not need old and new copies at once. *cap is in rows. */
static int reserve_rows(hp_vectors *v, size_t *cap, size_t rows, bool exact, hp_err *err)
{
    if (rows <= *cap)
        return 0;
    /* slack of 1024 rows, or of about 4 MB of values for very wide rows */
    size_t step = v->dim > 1024 ? (1u << 20) / v->dim + 1 : 1024;
    size_t want = exact ? rows : *cap + *cap / 2 + step;
    if (want < rows)
        want = rows;
    if (v->dim > 0 && want > SIZE_MAX / sizeof(float) / v->dim)
        return hp_fail(err, "%zu rows of %zu values do not fit in memory", want, v->dim);
    char **w = hp_realloc(v->words, want * sizeof *w, "the word list", err);
    if (!w)
        return -1;
    memset(w + *cap, 0, (want - *cap) * sizeof *w);
    v->words = w;
    if (v->dim > 0) {
        float *d = hp_realloc(v->data, want * v->dim * sizeof *d, "the vectors", err);
        if (!d)
            return -1;
        v->data = d;
    }
    *cap = want;
    return 0;
}

/* Gives back the slack once the row count is final. */
static void trim_rows(hp_vectors *v, size_t cap)
{
    if (cap == v->n_words || v->n_words == 0)
        return;
    char **w = realloc(v->words, v->n_words * sizeof *w);
    if (w)
        v->words = w;
    if (v->data) {
        float *d = realloc(v->data, v->n_words * v->dim * sizeof *d);
        if (d)
            v->data = d;
    }
}

static char *copy_word(const char *s, size_t n, hp_err *err)
{
    char *w = hp_malloc(n + 1, "a word", err);
    if (w) {
        memcpy(w, s, n);
        w[n] = 0;
    }
    return w;
}

/* The size of path, for sanity bounds on counts read from its header (0 if unknown). */
static uint64_t file_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* ---- GloVe and word2vec text ---- */

static bool is_sep(char c)
{
    return c == ' ' || c == '\t';
}

/* Parses the values after the word into out (room for max values); returns how many
 * there were, or -1 with the bad value named. Stops counting past max so that a ragged
 * line is reported with its true length. */
static long parse_values(const char *p, const char *end, float *out, size_t max, size_t line,
                         hp_err *err)
{
    size_t k = 0;
    for (;;) {
        while (p < end && is_sep(*p))
            p++;
        if (p == end)
            return (long)k;
        const char *tok = p;
        while (p < end && !is_sep(*p))
            p++;
        int len = (int)(p - tok > 40 ? 40 : p - tok);
        char *stop;
        float f = hp_strtof(tok, &stop);
        if (stop != p)
            return hp_fail(err, "line %zu, value %zu: \"%.*s\" is not a number", line, k + 1, len,
                           tok);
        if (!isfinite(f))
            return hp_fail(err, "line %zu, value %zu: \"%.*s\" is not a finite float32", line,
                           k + 1, len, tok);
        if (k < max)
            out[k] = f;
        k++;
    }
}

/* "count dim": two non-negative integers and nothing else. */
static bool parse_header(const char *line, size_t *count, size_t *dim)
{
    unsigned long long a, b;
    int used = 0;
    if (sscanf(line, " %llu %llu %n", &a, &b, &used) != 2 || line[used] != 0)
        return false;
    if (a > SIZE_MAX / 2 || b == 0 || b > MAX_DIM)
        return false;
    *count = (size_t)a;
    *dim = (size_t)b;
    return true;
}

typedef struct text_reader {
    const char *path;
    FILE *fp;
    uint64_t file_bytes;
    char *line;
    size_t line_cap;
    size_t line_no;
} text_reader;

/* Next line without its end-of-line bytes, or NULL at the end. *len excludes them. */
static char *next_line(text_reader *r, size_t *len)
{
    ssize_t n = getline(&r->line, &r->line_cap, r->fp);
    if (n < 0)
        return NULL;
    r->line_no++;
    while (n > 0 && (r->line[n - 1] == '\n' || r->line[n - 1] == '\r'))
        r->line[--n] = 0;
    *len = (size_t)n;
    return r->line;
}

static int parse_word(text_reader *r, const char *line, size_t len, const char **end_word,
                      hp_err *err)
{
    if (memchr(line, 0, len))
        return hp_fail(err, "line %zu contains NUL bytes: this looks like word2vec's binary format, which is not supported (save the vectors as text)",
                       r->line_no);
    if (is_sep(line[0]))
        return hp_fail(err, "line %zu starts with a blank: expected a word, then its values",
                       r->line_no);
    const char *e = line;
    while (*e && !is_sep(*e))
        e++;
    size_t bad;
    if (!hp_utf8_valid(line, (size_t)(e - line), &bad))
        return hp_fail(err, "line %zu: the word is not valid UTF-8 (byte %zu of the word is 0x%02x)",
                       r->line_no, bad + 1, (unsigned char)line[bad]);
    *end_word = e;
    return 0;
}

/* word2vec's "count dim" line: the rows can be allocated at once. Each value takes at
 * least two bytes ("0 "), so a count beyond that is a corrupt header, better reported
 * than attempted as an allocation. */
static int reserve_for_header(const text_reader *r, hp_vectors *v, size_t count, size_t *cap,
                              hp_err *err)
{
    if (count > r->file_bytes / (2 * v->dim + 2))
        return hp_fail(err, "line 1: the header says %zu words of %zu values, more than the file's %llu bytes can hold",
                       count, v->dim, (unsigned long long)r->file_bytes);
    return reserve_rows(v, cap, count, true, err);
}

static int load_text(text_reader *r, hp_vectors *v, hp_err *err)
{
    size_t cap = 0, count = 0, len, dim_line = 0;
    bool w2v = false;
    char *line;
    int rc = 0;
    while (rc == 0 && (line = next_line(r, &len)) != NULL) {
        if (len == 0 || strspn(line, " \t") == len)
            continue; /* blank lines carry nothing */
        if (r->line_no == 1 && parse_header(line, &count, &v->dim)) {
            w2v = true;
            dim_line = 1;
            rc = reserve_for_header(r, v, count, &cap, err);
            continue;
        }
        const char *word_end = NULL;
        if ((rc = parse_word(r, line, len, &word_end, err)) != 0)
            break;
        if (v->dim == 0) {
            /* The first data line of a GloVe file fixes the width. */
            long k = parse_values(word_end, line + len, NULL, 0, r->line_no, err);
            if (k <= 0) {
                rc = k < 0 ? -1 : hp_fail(err, "line %zu: a word with no values", r->line_no);
                break;
            }
            if ((size_t)k > MAX_DIM) {
                rc = hp_fail(err, "line %zu: %ld values, more than the %d supported", r->line_no,
                             k, MAX_DIM);
                break;
            }
            v->dim = (size_t)k;
            dim_line = r->line_no;
        }
        if ((rc = reserve_rows(v, &cap, v->n_words + 1, false, err)) != 0)
            break;
        float *row = v->data + v->n_words * v->dim;
        long k = parse_values(word_end, line + len, row, v->dim, r->line_no, err);
        if (k < 0) {
            rc = -1;
        } else if ((size_t)k != v->dim) {
            rc = hp_fail(err, "line %zu has %ld values, expected %zu (%s line %zu)", r->line_no, k,
                         v->dim, w2v ? "as the header says on" : "as on", dim_line);
        } else {
            v->words[v->n_words] = copy_word(line, (size_t)(word_end - line), err);
            rc = v->words[v->n_words] ? 0 : -1;
            v->n_words += rc == 0;
        }
    }
    if (rc == 0 && ferror(r->fp))
        rc = hp_fail(err, "read error after line %zu", r->line_no);
    if (rc == 0 && w2v && v->n_words != count)
        rc = hp_fail(err, "the header says %zu words but the file has %zu", count, v->n_words);
    if (rc == 0 && v->n_words == 0)
        rc = hp_fail(err, "no vectors in the file");
    if (rc == 0) {
        snprintf(v->format, sizeof v->format, "%s", w2v ? "word2vec" : "glove");
        trim_rows(v, cap);
    }
    return rc;
}

static int load_text_file(const char *path, hp_vectors *v, hp_err *err)
{
    text_reader r = {.path = path, .file_bytes = file_bytes(path)};
    r.fp = fopen(path, "rb");
    if (!r.fp)
        return hp_fail(err, "%s: cannot open: %s", path, strerror(errno));
    int rc = load_text(&r, v, err);
    free(r.line);
    fclose(r.fp);
    if (rc == 0)
        return 0;
    /* Failing on the very first line most often means the file is something else. */
    if (v->n_words == 0 && v->dim == 0)
        return hp_failctx(err, "%s: not a known word-vector format (GloVe or word2vec text, .npy with a vocabulary, wink JSON); read as GloVe text", path);
    return hp_failctx(err, "%s", path);
}

/* ---- .npy + vocabulary ---- */

typedef struct npy_header {
    hp_dtype dtype;
    size_t item_bytes;
    uint64_t rows, cols;
    uint64_t data_start;
} npy_header;

/* The value text after 'key': in the header dict, or NULL. */
static const char *dict_value(const char *h, const char *key)
{
    char pat[32];
    for (int q = 0; q < 2; q++) {
        snprintf(pat, sizeof pat, q ? "\"%s\"" : "'%s'", key);
        const char *p = strstr(h, pat);
        if (p) {
            p += strlen(pat);
            p += strspn(p, " ");
            if (*p != ':')
                return NULL;
            p++;
            return p + strspn(p, " ");
        }
    }
    return NULL;
}

static int parse_npy_dict(const char *h, npy_header *nh, hp_err *err)
{
    const char *d = dict_value(h, "descr");
    if (!d || (*d != '\'' && *d != '"'))
        return hp_fail(err, "header has no 'descr' string: %s", h);
    const char *q = strchr(d + 1, *d);
    int dl = q ? (int)(q - d - 1) : 0;
    if (dl == 3 && memcmp(d + 1, "<f4", 3) == 0)
        nh->dtype = HP_F32, nh->item_bytes = 4;
    else if (dl == 3 && memcmp(d + 1, "<f8", 3) == 0)
        nh->dtype = HP_F64, nh->item_bytes = 8;
    else if (dl == 3 && memcmp(d + 1, "<f2", 3) == 0)
        nh->dtype = HP_F16, nh->item_bytes = 2;
    else
        return hp_fail(err, "unsupported dtype '%.*s' (expected '<f4', '<f8' or '<f2': little-endian float32, float64 or float16)",
                       dl > 40 ? 40 : dl, d + 1);
    const char *f = dict_value(h, "fortran_order");
    if (!f || (strncmp(f, "False", 5) != 0 && strncmp(f, "True", 4) != 0))
        return hp_fail(err, "header has no 'fortran_order' True/False: %s", h);
    if (*f == 'T')
        return hp_fail(err, "fortran_order is True (stored column by column); expected a C-order matrix (save numpy.ascontiguousarray(m))");
    const char *s = dict_value(h, "shape");
    if (!s || *s != '(')
        return hp_fail(err, "header has no 'shape' tuple: %s", h);
    unsigned long long dims[3];
    int nd = 0;
    s++;
    for (;;) {
        s += strspn(s, " ");
        if (*s == ')')
            break;
        char *e;
        errno = 0;
        unsigned long long x = strtoull(s, &e, 10);
        if (e == s || errno || nd == 3)
            return hp_fail(err, "cannot read the 'shape' tuple: %s", h);
        dims[nd++] = x;
        s = e + strspn(e, " ");
        if (*s == ',')
            s++;
    }
    if (nd != 2)
        return hp_fail(err, "the array has %d dimension%s, expected 2 (words x dim): %s", nd,
                       nd == 1 ? "" : "s", h);
    nh->rows = dims[0];
    nh->cols = dims[1];
    if (nh->cols == 0 || nh->cols > MAX_DIM)
        return hp_fail(err, "%llu columns: expected 1 to %d values per word", dims[1], MAX_DIM);
    return 0;
}

static int parse_npy_header(const hp_file *f, npy_header *nh, hp_err *err)
{
    const unsigned char *m = f->map;
    if (f->size < 10 || memcmp(m, "\x93NUMPY", 6) != 0)
        return hp_fail(err, "bad magic: a .npy file starts with \\x93NUMPY");
    unsigned major = m[6], minor = m[7];
    uint64_t hlen, start;
    if (major == 1 && minor == 0) {
        hlen = (uint64_t)m[8] | (uint64_t)m[9] << 8;
        start = 10;
    } else if ((major == 2 || major == 3) && minor == 0 && f->size >= 12) {
        hlen = (uint64_t)m[8] | (uint64_t)m[9] << 8 | (uint64_t)m[10] << 16 | (uint64_t)m[11] << 24;
        start = 12;
    } else {
        return hp_fail(err, "format version %u.%u, expected 1.0, 2.0 or 3.0", major, minor);
    }
    if (hlen > f->size - start)
        return hp_fail(err, "the header claims %llu bytes but the file has only %llu after the preamble",
                       (unsigned long long)hlen, (unsigned long long)(f->size - start));
    char *h = hp_malloc(hlen + 1, "the .npy header", err);
    if (!h)
        return -1;
    memcpy(h, m + start, hlen);
    h[hlen] = 0;
    int rc = parse_npy_dict(h, nh, err);
    free(h);
    nh->data_start = start + hlen;
    return rc;
}

/* One word per line; the count must equal the rows of the matrix. */
static int load_vocab(const char *path, const char *npy_path, uint64_t rows, hp_vectors *v,
                      hp_err *err)
{
    text_reader r = {.path = path};
    r.fp = fopen(path, "rb");
    if (!r.fp)
        return hp_fail(err, "%s: cannot open the vocabulary: %s", path, strerror(errno));
    v->words = hp_calloc(rows, sizeof *v->words, "the word list", err);
    int rc = v->words ? 0 : -1;
    size_t len, bad;
    char *line;
    while (rc == 0 && (line = next_line(&r, &len)) != NULL) {
        if (len == 0)
            rc = hp_fail(err, "%s: line %zu is empty: expected one word per line", path, r.line_no);
        else if (memchr(line, 0, len))
            rc = hp_fail(err, "%s: line %zu: the word contains a NUL byte (byte %zu)", path,
                         r.line_no, (size_t)((const char *)memchr(line, 0, len) - line) + 1);
        else if (!hp_utf8_valid(line, len, &bad))
            rc = hp_fail(err, "%s: line %zu: the word is not valid UTF-8 (byte %zu)", path,
                         r.line_no, bad + 1);
        else if (r.line_no <= rows) {
            v->words[r.line_no - 1] = copy_word(line, len, err);
            rc = v->words[r.line_no - 1] ? 0 : -1;
            v->n_words += rc == 0;
        }
    }
    if (rc == 0 && ferror(r.fp))
        rc = hp_fail(err, "%s: read error after line %zu", path, r.line_no);
    if (rc == 0 && r.line_no != rows)
        rc = hp_fail(err, "%s: the vocabulary has %zu words but the matrix in %s has %llu rows",
                     path, r.line_no, npy_path, (unsigned long long)rows);
    free(r.line);
    fclose(r.fp);
    return rc;
}

static void convert_rows(const npy_header *nh, const unsigned char *src, float *dst, size_t n)
{
    if (nh->dtype == HP_F64) {
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8); /* the data need not be 8-byte aligned */
            dst[i] = (float)d;
        }
    } else {
        hp_convert_f32(nh->dtype, src, dst, n);
    }
}

static int load_npy(const char *path, const char *vocab_path, hp_vectors *v, hp_err *err)
{
    if (!vocab_path)
        return hp_fail(err, "%s: a .npy matrix needs a vocabulary file (one word per line)", path);
    hp_file f;
    if (hp_file_open(&f, path, err) != 0)
        return -1;
    npy_header nh = {0};
    int rc = parse_npy_header(&f, &nh, err);
    uint64_t have = f.size - (nh.data_start < f.size ? nh.data_start : f.size);
    uint64_t need = 0;
    if (rc == 0) {
        if (nh.rows > UINT64_MAX / nh.cols / nh.item_bytes ||
            nh.rows * nh.cols > SIZE_MAX / sizeof(float))
            rc = hp_fail(err, "shape (%llu, %llu) is too large", (unsigned long long)nh.rows,
                         (unsigned long long)nh.cols);
        else
            need = nh.rows * nh.cols * nh.item_bytes;
    }
    if (rc == 0 && have < need)
        rc = hp_fail(err, "truncated: shape (%llu, %llu) needs %llu data bytes but the file has %llu after the header",
                     (unsigned long long)nh.rows, (unsigned long long)nh.cols,
                     (unsigned long long)need, (unsigned long long)have);
    if (rc == 0 && have > need)
        rc = hp_fail(err, "%llu bytes follow the %llu data bytes of shape (%llu, %llu)",
                     (unsigned long long)(have - need), (unsigned long long)need,
                     (unsigned long long)nh.rows, (unsigned long long)nh.cols);
    if (rc != 0) {
        hp_failctx(err, "%s", path);
    } else if ((rc = load_vocab(vocab_path, path, nh.rows, v, err)) == 0) {
        v->dim = (size_t)nh.cols;
        v->data = hp_malloc((size_t)(nh.rows * nh.cols) * sizeof(float), "the vectors", err);
        rc = v->data ? 0 : -1;
        if (rc == 0 && need > 0)
            convert_rows(&nh, f.map + nh.data_start, v->data, (size_t)(nh.rows * nh.cols));
        snprintf(v->format, sizeof v->format, "npy");
    }
    hp_file_close(&f);
    return rc;
}

/* ---- wink-embeddings JSON ---- */

typedef struct wink {
    hp_vectors *v;
    uint64_t file_bytes;
    size_t cap;          /* rows allocated */
    long long dimensions, size, norm_at, index_at; /* -1 until read */
    size_t dim_from;     /* 0, or the item number of the vector that fixed dim */
    size_t n_listed;     /* entries in "words" */
    size_t n_vectors;    /* entries in "vectors" */
    size_t rows;         /* highest index seen + 1 */
    unsigned char *got;  /* per row: 1 once its vector arrived */
} wink;

/* A whole number in [0, max] from a JSON number. */
static int whole(const cJSON *item, long long max, long long *out, const char *what, hp_err *err)
{
    double d = cJSON_IsNumber(item) ? item->valuedouble : -1;
    if (!(d >= 0 && d <= (double)max) || floor(d) != d)
        return hp_fail(err, "%s must be a whole number from 0 to %lld", what, max);
    *out = (long long)d;
    return 0;
}

/* A word takes at least 2 x (dim + 2) bytes of the file ("0," per number of its vector),
 * so rows beyond what the file can hold come from a corrupt index or count and are
 * refused before they are allocated: a 100-byte file must not ask for gigabytes. */
static int wink_fits(const wink *w, size_t rows, hp_err *err)
{
    if (rows > w->file_bytes / (2 * w->v->dim + 2))
        return hp_fail(err, "%zu words of %zu values cannot fit in a file of %llu bytes", rows,
                       w->v->dim, (unsigned long long)w->file_bytes);
    return 0;
}

static int wink_rows(wink *w, size_t rows, bool exact, hp_err *err)
{
    if (wink_fits(w, rows, err) != 0)
        return -1;
    size_t old = w->cap;
    if (reserve_rows(w->v, &w->cap, rows, exact, err) != 0)
        return -1;
    if (w->cap > old) {
        unsigned char *g = hp_realloc(w->got, w->cap, "the vector flags", err);
        if (!g)
            return -1;
        memset(g + old, 0, w->cap - old);
        w->got = g;
    }
    return 0;
}

/* dim becomes known (from "dimensions" or the first vector): the matrix can be made. */
static int wink_set_dim(wink *w, size_t dim, hp_err *err)
{
    w->v->dim = dim;
    if (w->cap == 0)
        return 0;
    size_t rows = w->size >= 0 ? (size_t)w->size : w->n_listed;
    rows = rows > w->rows ? rows : w->rows;
    if (wink_fits(w, rows, err) != 0)
        return -1;
    /* The word list may have grown with slack while dim was unknown; the matrix is made
     * for the rows known so far (no word is placed beyond them) and grows as they come. */
    if (w->cap > rows)
        w->cap = rows;
    w->v->data = hp_malloc(w->cap * dim * sizeof(float), "the vectors", err);
    return w->v->data ? 0 : -1;
}

static int wink_dimensions(const cJSON *item, size_t index, void *ctx, hp_err *err)
{
    (void)index;
    wink *w = ctx;
    if (whole(item, MAX_DIM, &w->dimensions, "\"dimensions\"", err) != 0)
        return -1;
    if (w->dimensions == 0)
        return hp_fail(err, "\"dimensions\" is 0: expected at least one value per word");
    if (w->v->dim == 0)
        return wink_set_dim(w, (size_t)w->dimensions, err);
    if ((size_t)w->dimensions != w->v->dim)
        return hp_fail(err, "\"dimensions\" is %lld but vector %zu of \"vectors\" has %zu values (plus l2 norm and index)",
                       w->dimensions, w->dim_from, w->v->dim);
    return 0;
}

static int wink_size(const cJSON *item, size_t index, void *ctx, hp_err *err)
{
    (void)index;
    wink *w = ctx;
    if (whole(item, 1LL << 40, &w->size, "\"size\"", err) != 0)
        return -1;
    if (w->rows > (size_t)w->size)
        return hp_fail(err, "\"size\" is %lld but a vector has index %zu", w->size, w->rows - 1);
    if (w->n_listed > (size_t)w->size)
        return hp_fail(err, "\"size\" is %lld but \"words\" has %zu entries", w->size, w->n_listed);
    /* A word takes at least 8 bytes ("a",  "a":[0,0,0]): a larger size is corrupt and
     * better reported than attempted as an allocation. */
    if ((uint64_t)w->size > w->file_bytes / 8)
        return hp_fail(err, "\"size\" is %lld, more words than a file of %llu bytes can hold",
                       w->size, (unsigned long long)w->file_bytes);
    return wink_rows(w, (size_t)w->size, true, err);
}

/* One callback per member: an item's ->string is not the member's name when the member
 * holds an array (its elements have none) or an object (they have their own). */
static int wink_norm_index(const cJSON *item, size_t index, void *ctx, hp_err *err)
{
    (void)index;
    wink *w = ctx;
    return whole(item, MAX_DIM + 1, &w->norm_at, "\"l2NormIndex\"", err);
}

static int wink_word_index(const cJSON *item, size_t index, void *ctx, hp_err *err)
{
    (void)index;
    wink *w = ctx;
    return whole(item, MAX_DIM + 1, &w->index_at, "\"wordIndex\"", err);
}

/* Both "words" and a vector's key name the word at an index; whichever comes second
 * must agree with the first. */
static int wink_name(wink *w, size_t i, const char *word, bool from_words, hp_err *err)
{
    char **slot = &w->v->words[i];
    if (*slot) {
        if (strcmp(*slot, word) == 0)
            return 0;
        return hp_fail(err, "\"words\"[%zu] is \"%.200s\" but the vector with index %zu is keyed \"%.200s\"",
                       i, from_words ? word : *slot, i, from_words ? *slot : word);
    }
    *slot = hp_strdup(word, err);
    return *slot ? 0 : -1;
}

static int wink_word(const cJSON *item, size_t index, void *ctx, hp_err *err)
{
    wink *w = ctx;
    if (!cJSON_IsString(item))
        return hp_fail(err, "expected a string (a word)");
    w->n_listed = index + 1;
    if (w->size >= 0 && index >= (size_t)w->size)
        return hp_fail(err, "\"words\" has more than the %lld entries \"size\" says", w->size);
    if (wink_rows(w, index + 1, false, err) != 0)
        return -1;
    return wink_name(w, index, item->valuestring, true, err);
}

static int wink_vector(const cJSON *item, size_t index, void *ctx, hp_err *err)
{
    wink *w = ctx;
    if (!item->string)
        return hp_fail(err, "\"vectors\" must be an object keyed by word, not an array");
    size_t n = cJSON_IsArray(item) ? (size_t)cJSON_GetArraySize(item) : 0;
    if (n < 3)
        return hp_fail(err, "expected an array [values..., l2 norm, index]");
    if (w->v->dim == 0) {
        w->dim_from = index;
        if (wink_set_dim(w, n - 2, err) != 0)
            return -1;
    }
    if (n != w->v->dim + 2)
        return hp_fail(err, "%zu numbers, expected %zu (%zu values, l2 norm, index)%s", n,
                       w->v->dim + 2, w->v->dim, w->dimensions >= 0 ? " as \"dimensions\" says" : "");
    long long at = 0;
    const cJSON *last = cJSON_GetArrayItem(item, (int)n - 1);
    long long max = w->size >= 0 ? w->size - 1 : (1LL << 40);
    if (whole(last, max, &at, "the last number (the word's index)", err) != 0)
        return -1;
    size_t row = (size_t)at;
    if (wink_rows(w, row + 1, false, err) != 0)
        return -1;
    if (w->got[row])
        return hp_fail(err, "a second vector for index %zu (\"%.200s\")", row,
                       w->v->words[row] ? w->v->words[row] : "?");
    if (wink_name(w, row, item->string, false, err) != 0)
        return -1;
    float *dst = w->v->data + row * w->v->dim;
    const cJSON *c = item->child;
    for (size_t j = 0; j < w->v->dim; j++, c = c->next)
        if (hp_json_f32(c, &dst[j], err) != 0)
            return hp_failctx(err, "value %zu", j + 1);
    w->got[row] = 1;
    w->rows = row + 1 > w->rows ? row + 1 : w->rows;
    w->n_vectors++;
    return 0;
}

/* After the pass: sizes agree and every listed word got exactly one vector. */
static int wink_check(wink *w, hp_err *err)
{
    hp_vectors *v = w->v;
    if (w->n_listed == 0 && w->n_vectors == 0)
        return hp_fail(err, "no \"words\" and no \"vectors\": not the wink-embeddings format ({\"dimensions\", \"size\", \"words\": [...], \"vectors\": {word: [values, l2 norm, index]}})");
    size_t n = w->size >= 0 ? (size_t)w->size : w->n_listed;
    if (w->n_listed != n)
        return hp_fail(err, "\"words\" has %zu entries but \"size\" is %zu", w->n_listed, n);
    if (w->rows > n)
        return hp_fail(err, "a vector has index %zu but \"words\" has %zu entries", w->rows - 1, n);
    if (w->norm_at >= 0 && (size_t)w->norm_at != v->dim)
        return hp_fail(err, "\"l2NormIndex\" is %lld, expected %zu (the norm follows the values)",
                       w->norm_at, v->dim);
    if (w->index_at >= 0 && (size_t)w->index_at != v->dim + 1)
        return hp_fail(err, "\"wordIndex\" is %lld, expected %zu (the index comes last)",
                       w->index_at, v->dim + 1);
    v->n_words = n;
    if (w->n_vectors != n) {
        size_t i = 0;
        while (i < n && w->got[i])
            i++;
        return hp_fail(err, "word \"%.200s\" (index %zu) has no vector; %zu of %zu words lack one",
                       v->words[i], i, n - w->n_vectors, n);
    }
    return 0;
}

static int load_wink(const char *path, hp_vectors *v, hp_err *err)
{
    wink w = {.v = v, .file_bytes = file_bytes(path), .dimensions = -1, .size = -1, .norm_at = -1, .index_at = -1};
    const hp_json_member members[] = {
        {"dimensions", wink_dimensions}, {"size", wink_size},
        {"l2NormIndex", wink_norm_index}, {"wordIndex", wink_word_index},
        {"words", wink_word},            {"vectors", wink_vector},
    };
    int rc = hp_json_each_member(path, members, sizeof members / sizeof members[0], &w, err);
    if (rc == 0 && (rc = wink_check(&w, err)) != 0)
        hp_failctx(err, "%s", path);
    if (rc == 0) {
        snprintf(v->format, sizeof v->format, "wink");
        trim_rows(v, w.cap);
    } else {
        v->n_words = w.cap; /* so that hp_vectors_free frees every word placed so far */
    }
    free(w.got);
    return rc;
}

/* ---- format detection ---- */

static bool has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int hp_vectors_load(const char *path, const char *vocab_path, hp_vectors *v, hp_err *err)
{
    memset(v, 0, sizeof *v);
    unsigned char head[512];
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return hp_fail(err, "%s: cannot open: %s", path, strerror(errno));
    size_t n = fread(head, 1, sizeof head, fp);
    bool unreadable = ferror(fp); /* a directory opens but does not read */
    int read_errno = errno;
    fclose(fp);
    if (unreadable)
        return hp_fail(err, "%s: cannot read: %s", path, strerror(read_errno));
    size_t skip = 0;
    while (skip < n && strchr(" \t\r\n", head[skip]))
        skip++;
    bool npy = (n >= 6 && memcmp(head, "\x93NUMPY", 6) == 0) || has_suffix(path, ".npy");
    if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b)
        return hp_fail(err, "%s: gzip-compressed; decompress it first", path);
    if (!npy && vocab_path)
        return hp_fail(err, "%s: a vocabulary file is only used with a .npy matrix", path);
    if (skip == n)
        return hp_fail(err, "%s: empty file: expected word vectors (GloVe or word2vec text, .npy, or wink JSON)",
                       path);
    int rc;
    if (npy)
        rc = load_npy(path, vocab_path, v, err);
    else if (head[skip] == '{' || head[skip] == '[')
        rc = head[skip] == '{' ? load_wink(path, v, err)
                               : hp_fail(err, "%s: a JSON array is not a word-vector format (expected the wink-embeddings object)", path);
    else
        rc = load_text_file(path, v, err);
    if (rc != 0)
        hp_vectors_free(v);
    return rc;
}
