/* Runs the library's Gromov δ on a matrix or a point cloud and prints what it found, for the
 * numpy oracle (tests/oracle/test_delta.py) to compare:
 *
 *   delta_dump (--distances FILE N | --points FILE N DIM [--distance euclidean|cosine|angular])
 *              [--base K | --exact] [--double] [--dump-distances OUT]
 *
 * FILE is raw little-endian data as numpy's .tofile writes it: N*N float64 distances, or
 * N*DIM float32 points. Distances go through hp_delta_check, points through
 * hp_delta_distances; then hp_delta_fixed_base (base K, 0 by default) or hp_delta_exact
 * (--double sets force_double). Prints one line of JSON:
 *   {"delta", "diameter", "delta_rel", "base", "exact", "used_double"}
 * --dump-distances writes the N*N float64 matrix that was used (raw). Errors go to stderr
 * with exit status 1, usage errors with 2. */
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

int main(int argc, char **argv)
{
    const char *dist_path = NULL, *points_path = NULL, *dump_path = NULL;
    size_t n = 0, dim = 0, base = 0;
    bool exact = false, have_base = false;
    hp_distance kind = HP_DISTANCE_EUCLIDEAN;
    hp_delta_options opt = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--distances") == 0 && i + 2 < argc) {
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
    if (!dist_path == !points_path || (exact && have_base) || (points_path && dim == 0))
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
    printf("{\"delta\": %.17g, \"diameter\": %.17g, \"delta_rel\": %.17g, \"base\": %zu, \"exact\": %s, "
           "\"used_double\": %s}\n",
           r.delta, r.diameter, r.delta_rel, r.base, r.exact ? "true" : "false", r.used_double ? "true" : "false");
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
