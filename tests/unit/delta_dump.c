/* Runs the library's Gromov δ on a matrix or a point cloud and prints what it found, for the
 * numpy oracle (tests/oracle/test_delta.py) to compare:
 *
 *   delta_dump (--distances FILE N | --points FILE N DIM [--distance euclidean|cosine|angular])
 *              [--base K | --exact] [--double] [--dump-distances OUT]
 *   delta_dump --sets FILE DIM SIZES [--bases LIST | --exact] [--distance KIND] [--threads T]
 * *
 * FILE is raw little-endian data as numpy's .tofile writes it: N*N float64 distances, or
 * N*DIM float32 points. Distances go through hp_delta_check, points through
 * hp_delta_distances; then hp_delta_fixed_base (base K, 0 by default) or hp_delta_exact
 * (--double sets force_double). Prints one line of JSON:
 *   {"delta", "diameter", "delta_rel", "base", "exact", "used_double"}
 * --dump-distances writes the N*N float64 matrix that was used (raw). With --sets, FILE
 * holds the points of several sets one after the other (SIZES: their point counts, comma-
 * separated; LIST their base points), measured by hp_delta_sets: one JSON line per set.
 * Errors go to stderr with exit status 1, usage errors with 2. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora.h"
#include "hyplora/delta.h"

static void usage(void)
{
    fputs("usage: delta_dump (--distances FILE N | --points FILE N DIM [--distance euclidean|cosine|angular])\n"
          "                  [--base K | --exact] [--double] [--dump-distances OUT]\n",
          stderr);
}

/* Parses a non-negative count; returns false on anything else. */
static bool parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno)
        return false;
    *out = (size_t)v;
    return true;
}

/* Reads exactly `bytes` bytes of `path` into a new block; NULL with a message otherwise. */
static void *read_exact(const char *path, size_t bytes)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "delta_dump: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    void *buf = malloc(bytes ? bytes : 1);
    size_t got = buf ? fread(buf, 1, bytes, fp) : 0;
    int extra = fgetc(fp);
    fclose(fp);
    if (!buf) {
        fprintf(stderr, "delta_dump: out of memory for %zu bytes\n", bytes);
        return NULL;
    }
    if (got != bytes || extra != EOF) {
        fprintf(stderr, "delta_dump: %s: expected exactly %zu bytes\n", path, bytes);
        free(buf);
        return NULL;
    }
    return buf;
}

/* Parses "a,b,c" into a new array of counts; NULL on anything else. */
static size_t *parse_list(const char *s, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    size_t *v = malloc(cap * sizeof *v);
    char *copy = strdup(s), *save = NULL;
    *n = 0;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; v && t; t = strtok_r(NULL, ",", &save))
        if (!parse_size(t, &v[(*n)++])) {
            free(v);
            v = NULL;
        }
    free(copy);
    if (v && *n != cap) {
        free(v);
        v = NULL;
    }
    return v;
}

static void print_result(const hp_delta_result *r)
{
    printf("{\"delta\": %.17g, \"diameter\": %.17g, \"delta_rel\": %.17g, \"base\": %zu, \"exact\": %s, "
           "\"used_double\": %s}\n",
           r->delta, r->diameter, r->delta_rel, r->base, r->exact ? "true" : "false",
           r->used_double ? "true" : "false");
}

typedef struct sets_ctx {
    const float *X;
    const size_t *start;
    size_t dim;
} sets_ctx;

/* Even sets hand out their rows in place, odd ones copy them into the buffer: both ways
 * of hp_delta_points_fn are exercised. */
static const float *set_points(void *ctx, size_t set, float *buf, hp_err *err)
{
    (void)err;
    const sets_ctx *c = ctx;
    size_t n = c->start[set + 1] - c->start[set];
    const float *rows = c->X + c->start[set] * c->dim;
    if (set % 2 == 0)
        return rows;
    memcpy(buf, rows, n * c->dim * sizeof *buf);
    return buf;
}

static int run_sets(const char *path, size_t dim, const char *sizes, const char *bases, bool exact,
                    hp_distance kind, int threads)
{
    size_t n_sets = 0, n_bases = 0, *size = parse_list(sizes, &n_sets), *base = NULL;
    if (!size || (bases && (!(base = parse_list(bases, &n_bases)) || n_bases != n_sets))) {
        usage();
        return 2;
    }
    size_t *start = malloc((n_sets + 1) * sizeof *start);
    start[0] = 0;
    for (size_t i = 0; i < n_sets; i++)
        start[i + 1] = start[i] + size[i];
    float *X = read_exact(path, start[n_sets] * dim * sizeof *X);
    hp_delta_result *out = calloc(n_sets ? n_sets : 1, sizeof *out);
    sets_ctx c = {X, start, dim};
    hp_delta_sets_options o = {.distance = kind, .exact = exact, .base = base, .threads = threads};
    hp_err err = {{0}};
    int status = 1;
    if (X && out) {
        if (hp_delta_sets(n_sets, size, dim, set_points, &c, &o, out, &err) == 0) {
            for (size_t i = 0; i < n_sets; i++)
                print_result(&out[i]);
            status = 0;
        } else {
            fprintf(stderr, "delta_dump: %s\n", err.msg);
        }
    }
    free(size), free(base), free(start), free(X), free(out);
    return status;
}

int main(int argc, char **argv)
{
    const char *dist_path = NULL, *points_path = NULL, *dump_path = NULL;
    size_t n = 0, dim = 0, base = 0;
    bool exact = false, have_base = false;
    hp_distance kind = HP_DISTANCE_EUCLIDEAN;
    hp_delta_options opt = {0};
    const char *sets_path = NULL, *sizes = NULL, *bases = NULL;
    size_t threads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sets") == 0 && i + 3 < argc) {
            sets_path = argv[++i];
            sizes = argv[i + 2];
            if (!parse_size(argv[++i], &dim))
                goto bad_usage;
            i++;
        } else if (strcmp(argv[i], "--bases") == 0 && i + 1 < argc) {
            bases = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (!parse_size(argv[++i], &threads))
                goto bad_usage;
        } else if (strcmp(argv[i], "--distances") == 0 && i + 2 < argc) {
            dist_path = argv[++i];
            if (!parse_size(argv[++i], &n))
                goto bad_usage;
        } else if (strcmp(argv[i], "--points") == 0 && i + 3 < argc) {
            points_path = argv[++i];
            if (!parse_size(argv[++i], &n) || !parse_size(argv[++i], &dim))
                goto bad_usage;
        } else if (strcmp(argv[i], "--distance") == 0 && i + 1 < argc) {
            const char *k = argv[++i];
            if (strcmp(k, "euclidean") == 0)
                kind = HP_DISTANCE_EUCLIDEAN;
            else if (strcmp(k, "cosine") == 0)
                kind = HP_DISTANCE_COSINE;
            else if (strcmp(k, "angular") == 0)
                kind = HP_DISTANCE_ANGULAR;
            else
                goto bad_usage;
        } else if (strcmp(argv[i], "--base") == 0 && i + 1 < argc) {
            if (!parse_size(argv[++i], &base))
                goto bad_usage;
            have_base = true;
        } else if (strcmp(argv[i], "--exact") == 0)
            exact = true;
        else if (strcmp(argv[i], "--double") == 0)
            opt.force_double = true;
        else if (strcmp(argv[i], "--dump-distances") == 0 && i + 1 < argc)
            dump_path = argv[++i];
        else
            goto bad_usage;
    }
    if (sets_path && !dist_path && !points_path && !have_base && !(exact && bases) && dim > 0)
        return run_sets(sets_path, dim, sizes, bases, exact, kind, (int)threads);
    if (!dist_path == !points_path || (exact && have_base) || (points_path && dim == 0) || sets_path || bases)
        goto bad_usage;
    if (n != 0 && n > (size_t)-1 / sizeof(double) / n) {
        fprintf(stderr, "delta_dump: N = %zu is too large\n", n);
        return 1;
    }

    hp_err err = {{0}};
    int status = 1;
    double *D = NULL;
    float *X = NULL;
    if (dist_path) {
        D = read_exact(dist_path, n * n * sizeof *D);
        if (!D)
            return 1;
        if (hp_delta_check(D, n, &err))
            goto fail;
    } else {
        if (dim > (size_t)-1 / sizeof(float) / (n ? n : 1)) {
            fprintf(stderr, "delta_dump: N x DIM = %zu x %zu is too large\n", n, dim);
            return 1;
        }
        X = read_exact(points_path, n * dim * sizeof *X);
        if (!X)
            return 1;
        D = malloc((n ? n * n : 1) * sizeof *D);
        if (!D) {
            hp_fail(&err, "out of memory for the %zu x %zu distance matrix", n, n);
            goto fail;
        }
        if (hp_delta_distances(X, n, dim, kind, D, &err))
            goto fail;
    }
    hp_delta_result r = {0};
    if (exact ? hp_delta_exact(D, n, &opt, &r, &err) : hp_delta_fixed_base(D, n, base, &opt, &r, &err))
        goto fail;
    if (dump_path) {
        FILE *fp = fopen(dump_path, "wb");
        bool wrote = fp && fwrite(D, sizeof *D, n * n, fp) == n * n;
        if (fp && fclose(fp) != 0)
            wrote = false;
        if (!wrote) {
            hp_fail(&err, "cannot write %s", dump_path);
            goto fail;
        }
    }
    print_result(&r);
    status = 0;
    goto out;
fail:
    fprintf(stderr, "delta_dump: %s\n", err.msg);
out:
    free(D);
    free(X);
    return status;

bad_usage:
    usage();
    return 2;
}
