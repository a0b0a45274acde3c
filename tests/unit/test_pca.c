/* Principal components (common/pca.c): self-tests, and a small CLI for the numpy oracle.
 *   test_pca self
 *   test_pca fit FILE [--shape N D] [-k K] [--oversample O] [--iterations I] [--seed S]
 *                     [--threads T] [--tolerance E] [--project] [--fit-coords]
 * --fit-coords: the coordinates come from the fit itself (opt.project), not hp_pca_project.
 * FILE is a float32 .npy (C order, 2-D) or, with --shape, raw little-endian float32. The fit
 * is printed one field a line with 17 significant digits (coordinates too with --project). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hyplora.h"

/* ---- input ---- */

static float *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)len;
    return (float *)buf;
}

/* Parses the .npy header of buf (format 1.0 or 2.0, '<f4', C order, 2-D). Returns the byte
 * offset of the data, or 0 when it is not such a file. */
static size_t npy_header(const char *buf, size_t size, size_t *n, size_t *d)
{
    if (size < 12 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return 0;
    size_t hlen, start;
    if (buf[6] == 1) {
        hlen = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8;
        start = 10;
    } else {
        hlen = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8 |
               (size_t)(unsigned char)buf[10] << 16 | (size_t)(unsigned char)buf[11] << 24;
        start = 12;
    }
    if (start + hlen > size)
        return 0;
    char h[1024];
    size_t copy = hlen < sizeof h - 1 ? hlen : sizeof h - 1;
    memcpy(h, buf + start, copy);
    h[copy] = 0;
    const char *shape = strstr(h, "'shape': (");
    if (!strstr(h, "'<f4'") || !strstr(h, "'fortran_order': False") || !shape ||
        sscanf(shape, "'shape': (%zu, %zu)", n, d) != 2)
        return 0;
    return start + hlen;
}

/* ---- the CLI ---- */

static void print_row(const char *name, const double *v, size_t count)
{
    printf("%s", name);
    for (size_t i = 0; i < count; i++)
        printf(" %.17g", v[i]);
    putchar('\n');
}

static int cli_fit(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_pca fit FILE [--shape N D] [-k K] ...\n");
        return 2;
    }
    hp_pca_options o;
    hp_pca_options_init(&o);
    size_t n = 0, d = 0;
    int project = 0;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--shape") && i + 2 < argc) {
            n = strtoull(argv[++i], NULL, 10);
            d = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(a, "-k") && i + 1 < argc)
            o.n_components = atoi(argv[++i]);
        else if (!strcmp(a, "--oversample") && i + 1 < argc)
            o.oversample = atoi(argv[++i]);
        else if (!strcmp(a, "--iterations") && i + 1 < argc)
            o.iterations = atoi(argv[++i]);
        else if (!strcmp(a, "--seed") && i + 1 < argc)
            o.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--threads") && i + 1 < argc)
            o.threads = atoi(argv[++i]);
        else if (!strcmp(a, "--tolerance") && i + 1 < argc)
            o.tolerance = atof(argv[++i]);
        else if (!strcmp(a, "--project"))
            project = 1;
        else if (!strcmp(a, "--fit-coords"))
            project = o.project = 1;
        else {
            fprintf(stderr, "test_pca: unknown option %s\n", a);
            return 2;
        }
    }
    size_t size;
    char *buf = (char *)read_all(argv[2], &size);
    if (!buf) {
        fprintf(stderr, "test_pca: cannot read %s\n", argv[2]);
        return 1;
    }
    size_t off = 0;
    if (n == 0 && !(off = npy_header(buf, size, &n, &d))) {
        fprintf(stderr, "test_pca: %s is not a 2-D C-order float32 .npy (give --shape for raw)\n", argv[2]);
        free(buf);
        return 1;
    }
    if (off + n * d * sizeof(float) > size) {
        fprintf(stderr, "test_pca: %s holds fewer than %zu x %zu floats\n", argv[2], n, d);
        free(buf);
        return 1;
    }
    /* copied to aligned memory: the .npy header leaves the data at any offset */
    float *x = malloc(n * d * sizeof(float) + 1);
    memcpy(x, buf + off, n * d * sizeof(float));
    free(buf);
    hp_err err;
    hp_pca p;
    int rc = hp_pca_fit(x, n, d, &o, &p, &err);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err.msg);
        free(x);
        return 1;
    }
    printf("k %d\ndim %zu\npasses %d\nangle_bound %.17g\ntotal_variance %.17g\n", p.k, p.dim,
           p.passes, p.angle_bound, p.total_variance);
    print_row("variance", p.variance, p.k);
    print_row("explained_ratio", p.explained_ratio, p.k);
    print_row("mean", p.mean, p.dim);
    for (int c = 0; c < p.k; c++)
        print_row("component", p.components + (size_t)c * p.dim, p.dim);
    if (project) {
        double *coords = malloc(n * p.k * sizeof *coords + 1);
        if (o.project)
            memcpy(coords, p.coords, n * p.k * sizeof *coords);
        if (!o.project && hp_pca_project(&p, x, n, coords, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            rc = 1;
        } else {
            for (size_t i = 0; i < n; i++)
                print_row("coords", coords + i * p.k, p.k);
        }
        free(coords);
    }
    hp_pca_free(&p);
    free(x);
    return rc;
}

/* ---- self-tests ---- */

static void fill_gaussian(float *x, size_t count, uint64_t seed, double scale)
{
    hp_rng r;
    hp_rng_seed(&r, seed);
    for (size_t i = 0; i < count; i++)
        x[i] = (float)(scale * hp_rng_normal(&r));
}

/* Three points of the plane with a covariance of diag(1, 3) worked out by hand. */
static void test_hand_case(void)
{
    const float x[] = {0, 0, 2, 0, 1, 3};
    hp_pca_options o;
    hp_pca_options_init(&o);
    hp_pca p;
    hp_err err;
    CHECKF(hp_pca_fit(x, 3, 2, &o, &p, &err) == 0, "%s", err.msg);
    CHECK(p.k == 2 && p.dim == 2);
    CHECKF(fabs(p.mean[0] - 1) < 1e-12 && fabs(p.mean[1] - 1) < 1e-12, "mean %g %g", p.mean[0], p.mean[1]);
    /* float32 products: eps-level (1e-7) relative error in this tiny case */
    CHECKF(fabs(p.variance[0] - 3) < 1e-6 && fabs(p.variance[1] - 1) < 1e-6, "variance %.17g %.17g",
           p.variance[0], p.variance[1]);
    CHECKF(fabs(p.total_variance - 4) < 1e-12, "total %g", p.total_variance);
    CHECKF(fabs(p.components[1] - 1) < 1e-7 && fabs(p.components[2] - 1) < 1e-7,
           "components (%g %g) (%g %g)", p.components[0], p.components[1], p.components[2], p.components[3]);
    CHECK(fabs(p.explained_ratio[0] - 0.75) < 1e-6);
    double c[6];
    CHECKF(hp_pca_project(&p, x, 3, c, &err) == 0, "%s", err.msg);
    /* centred rows (-1,-1) (1,-1) (0,2) on (0,1) and (1,0) */
    const double want[] = {-1, -1, -1, 1, 2, 0};
    for (int i = 0; i < 6; i++)
        CHECKF(fabs(c[i] - want[i]) < 1e-6, "coord %d: %g, want %g", i, c[i], want[i]);
    hp_pca_free(&p);
}

static void expect_error(const float *x, size_t n, size_t d, int k, const char *words)
{
    hp_pca_options o;
    hp_pca_options_init(&o);
    o.n_components = k;
    hp_pca p;
    hp_err err = {{0}};
    int rc = hp_pca_fit(x, n, d, &o, &p, &err);
    CHECKF(rc == -1, "fit of %zu x %zu, k %d should fail", n, d, k);
    CHECKF(strstr(err.msg, words) != NULL, "message \"%s\" lacks \"%s\"", err.msg, words);
    CHECK(p.mean == NULL && p.components == NULL && p.variance == NULL);
    hp_pca_free(&p); /* safe on the emptied result */
}

static void test_bad_input(void)
{
    float x[40 * 8];
    fill_gaussian(x, 40 * 8, 1, 1);
    expect_error(x, 1, 8, 1, "need at least 2");
    expect_error(x, 0, 8, 1, "need at least 2");
    expect_error(x, 40, 0, 1, "dimension 0");
    expect_error(x, 40, 8, 9, "need 1 to 8");
    expect_error(x, 3, 8, 4, "need 1 to 3");
    expect_error(x, 40, 8, 0, "need 1 to 8");
    expect_error(NULL, 40, 8, 1, "no rows");
    x[17 * 8 + 3] = NAN;
    expect_error(x, 40, 8, 2, "row 17 column 3 is NaN");
    x[17 * 8 + 3] = 0;
    x[39 * 8 + 7] = INFINITY;
    expect_error(x, 40, 8, 2, "row 39 column 7 is infinite");
    x[39 * 8 + 7] = 0;
    hp_pca_options o;
    hp_pca_options_init(&o);
    o.iterations = 0;
    hp_pca p;
    hp_err err;
    CHECK(hp_pca_fit(x, 40, 8, &o, &p, &err) == -1 && strstr(err.msg, "iterations 0"));
    hp_pca_options_init(&o);
    o.threads = -1;
    CHECK(hp_pca_fit(x, 40, 8, &o, &p, &err) == -1 && strstr(err.msg, "threads -1"));
    /* more components than the method supports: an error, not a stack overflow */
    enum { BN = 40, BD = 40 };
    static float big[BN * BD];
    fill_gaussian(big, BN * BD, 1, 3);
    hp_pca_options_init(&o);
    o.n_components = HP_PCA_MAX_COMPONENTS + 1;
    CHECK(hp_pca_fit(big, BN, BD, &o, &p, &err) == -1 && strstr(err.msg, "at most"));
    hp_pca_options_init(&o);
    o.tolerance = 0;
    CHECK(hp_pca_fit(x, 40, 8, &o, &p, &err) == -1 && strstr(err.msg, "tolerance 0"));
    o.tolerance = NAN;
    CHECK(hp_pca_fit(x, 40, 8, &o, &p, &err) == -1 && strstr(err.msg, "tolerance"));
    CHECK(hp_pca_project(NULL, x, 40, NULL, &err) == -1 && strstr(err.msg, "fitted model"));
}

/* Same seed: the same bits. One and two OpenBLAS threads: the same numbers to 1e-10. */
static void test_determinism(void)
{
    size_t n = 3000, d = 200;
    float *x = malloc(n * d * sizeof *x);
    fill_gaussian(x, n * d, 7, 1);
    for (size_t i = 0; i < n; i++) /* a few strong directions, so the fit converges */
        for (size_t j = 0; j < 4; j++)
            x[i * d + j * 7] *= (float)(8 - j);
    hp_pca_options o;
    hp_pca_options_init(&o);
    o.n_components = 3;
    o.seed = 99;
    hp_pca a, b, c;
    hp_err err;
    o.threads = 2;
    CHECKF(hp_pca_fit(x, n, d, &o, &a, &err) == 0, "%s", err.msg);
    CHECKF(hp_pca_fit(x, n, d, &o, &b, &err) == 0, "%s", err.msg);
    o.threads = 1;
    CHECKF(hp_pca_fit(x, n, d, &o, &c, &err) == 0, "%s", err.msg);
    CHECK(a.passes == b.passes && a.passes == c.passes);
    CHECK(memcmp(a.components, b.components, 3 * d * sizeof(double)) == 0);
    CHECK(memcmp(a.variance, b.variance, 3 * sizeof(double)) == 0);
    CHECK(memcmp(a.mean, b.mean, d * sizeof(double)) == 0);
    double worst = 0;
    for (size_t i = 0; i < 3 * d; i++)
        worst = fmax(worst, fabs(a.components[i] - c.components[i]));
    for (int i = 0; i < 3; i++)
        worst = fmax(worst, fabs(a.variance[i] - c.variance[i]) / a.variance[i]);
    CHECKF(worst < 1e-10, "1 and 2 threads differ by %g", worst);
    /* a different seed starts elsewhere but lands on the same components */
    o.seed = 12345;
    hp_pca_free(&c);
    CHECKF(hp_pca_fit(x, n, d, &o, &c, &err) == 0, "%s", err.msg);
    for (int k = 0; k < 3; k++)
        CHECKF(fabs(a.variance[k] - c.variance[k]) < 1e-6 * a.variance[k], "seed changes variance %d", k);
    hp_pca_free(&a);
    hp_pca_free(&b);
    hp_pca_free(&c);
    free(x);
}

/* Projections of the fitted rows: mean zero, variance the eigenvalue, uncorrelated. */
static void test_projection_moments(void)
{
    size_t n = 2000, d = 50;
    float *x = malloc(n * d * sizeof *x);
    fill_gaussian(x, n * d, 3, 1);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = x[i * d + j] * (float)(1 + 0.3 * (double)(j % 5)) + 50.0f; /* big mean */
    hp_pca p;
    hp_err err;
    CHECKF(hp_pca_fit(x, n, d, NULL, &p, &err) == 0, "%s", err.msg);
    double *c = malloc(n * 2 * sizeof *c);
    CHECKF(hp_pca_project(&p, x, n, c, &err) == 0, "%s", err.msg);
    double m[2] = {0, 0}, v[2] = {0, 0}, cov = 0;
    for (size_t i = 0; i < n; i++)
        for (int a = 0; a < 2; a++)
            m[a] += c[i * 2 + a] / (double)n;
    for (size_t i = 0; i < n; i++) {
        for (int a = 0; a < 2; a++)
            v[a] += (c[i * 2 + a] - m[a]) * (c[i * 2 + a] - m[a]) / (double)(n - 1);
        cov += (c[i * 2] - m[0]) * (c[i * 2 + 1] - m[1]) / (double)(n - 1);
    }
    for (int a = 0; a < 2; a++) {
        CHECKF(fabs(m[a]) < 1e-5 * sqrt(p.variance[a]), "projection mean %g", m[a]);
        CHECKF(fabs(v[a] - p.variance[a]) < 1e-5 * p.variance[a], "projection variance %g vs %g", v[a],
               p.variance[a]);
    }
    CHECKF(fabs(cov) < 1e-4 * p.variance[0], "projections correlated: %g", cov);
    free(c);
    hp_pca_free(&p);
    free(x);
}

/* A looser tolerance stops earlier with its bound met; the fit's own coordinates
 * (opt.project) are those hp_pca_project gives; both runs agree on the components. */
static void test_tolerance_and_fit_coords(void)
{
    size_t n = 4000, d = 300;
    float *x = malloc(n * d * sizeof *x);
    fill_gaussian(x, n * d, 11, 1);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < 3; j++)
            x[i * d + j * 5] *= (float)(6 - j);
    hp_pca_options o;
    hp_pca_options_init(&o);
    o.project = 1;
    hp_pca tight, loose;
    hp_err err;
    CHECKF(hp_pca_fit(x, n, d, &o, &tight, &err) == 0, "%s", err.msg);
    o.tolerance = 1e-3;
    CHECKF(hp_pca_fit(x, n, d, &o, &loose, &err) == 0, "%s", err.msg);
    CHECKF(loose.passes <= tight.passes && loose.angle_bound < 1e-3, "loose: %d passes (tight %d), bound %g",
           loose.passes, tight.passes, loose.angle_bound);
    CHECKF(tight.angle_bound < 1e-6, "tight bound %g", tight.angle_bound);
    double *c = malloc(n * 2 * sizeof *c), worst = 0, angle = 0;
    CHECKF(hp_pca_project(&tight, x, n, c, &err) == 0, "%s", err.msg);
    CHECK(tight.coords != NULL && tight.n == n);
    for (size_t i = 0; i < n * 2; i++)
        worst = fmax(worst, fabs(c[i] - tight.coords[i]) / sqrt(tight.variance[i % 2]));
    CHECKF(worst < 1e-5, "fit coordinates differ from hp_pca_project by %g of the scale", worst);
    for (int k = 0; k < 2; k++) {
        double dot = 0;
        for (size_t j = 0; j < d; j++)
            dot += tight.components[k * d + j] * loose.components[k * d + j];
        angle = fmax(angle, sqrt(fmax(0, 1 - dot * dot)));
    }
    CHECKF(angle < 2e-3, "tolerance 1e-3: components %g apart", angle);
    free(c);
    hp_pca_free(&tight);
    hp_pca_free(&loose);
    free(x);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "fit"))
        return cli_fit(argc, argv);
    if (argc != 2 || strcmp(argv[1], "self") != 0) {
        fprintf(stderr, "usage: test_pca self | test_pca fit FILE [options]\n");
        return 2;
    }
    test_hand_case();
    test_bad_input();
    test_determinism();
    test_projection_moments();
    test_tolerance_and_fit_coords();
    return check_exit();
}
