/* The statistics library (hyplora/stats.h): self-tests, and filters for the scipy oracle
 * (tests/oracle/test_stats.py).
 *
 *   test_stats self                 self-tests (Kendall against an O(n^2) count, errors,
 *                                   constant input, quantiles, speed at n = 130000)
 *   test_stats corr FILE            FILE: lines "x y"; prints for pearson, spearman and
 *                                   kendall: "name r p z constant p_exact" or "name error MSG"
 *   test_stats quantile FILE Q...   FILE: values; prints numpy.quantile(values, Q) per Q
 *   test_stats bins FILE B          FILE: lines "x y"; prints one line per bin:
 *                                   lo hi count mean median q25 q75 min max
 *   test_stats betainc              stdin: lines "a b x"; prints I_x(a, b)
 * Numbers are printed %.17g. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "hyplora/stats.h"
#include "numerics.h"

/* ---- reading ---- */

static double *read_numbers(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1024, k = 0;
    double *v = malloc(cap * sizeof *v), d;
    while (v && fscanf(f, "%lf", &d) == 1) {
        if (k == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        if (v)
            v[k++] = d;
    }
    fclose(f);
    if (!v) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    *n = k;
    return v;
}

/* pairs "x y" into separate arrays */
static void read_pairs(const char *path, double **x, double **y, size_t *n)
{
    size_t k;
    double *v = read_numbers(path, &k);
    *n = k / 2;
    *x = malloc((*n + 1) * sizeof **x);
    *y = malloc((*n + 1) * sizeof **y);
    for (size_t i = 0; i < *n; i++)
        (*x)[i] = v[2 * i], (*y)[i] = v[2 * i + 1];
    free(v);
}

/* ---- filters ---- */

typedef int (*corr_fn)(const double *, const double *, size_t, hp_correlation *, hp_err *);

static int run_corr(const char *path)
{
    double *x, *y;
    size_t n;
    read_pairs(path, &x, &y, &n);
    const char *names[3] = {"pearson", "spearman", "kendall"};
    corr_fn fns[3] = {hp_pearson, hp_spearman, hp_kendall_tau};
    for (int m = 0; m < 3; m++) {
        hp_correlation c;
        hp_err err;
        if (fns[m](x, y, n, &c, &err) != 0)
            printf("%s error %s\n", names[m], err.msg);
        else
            printf("%s %.17g %.17g %.17g %d %d\n", names[m], c.r, c.p_value, c.statistic_z,
                   c.constant, c.p_exact);
    }
    free(x), free(y);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double u = *(const double *)a, v = *(const double *)b;
    return (u > v) - (u < v);
}

static int run_quantile(const char *path, int nq, char **qs)
{
    size_t n;
    double *v = read_numbers(path, &n);
    qsort(v, n, sizeof *v, cmp_double);
    for (int i = 0; i < nq; i++)
        printf("%.17g\n", hp_quantile_sorted(v, n, strtod(qs[i], NULL)));
    free(v);
    return 0;
}

static int run_bins(const char *path, int per_decade)
{
    double *x, *y;
    size_t n, nb;
    read_pairs(path, &x, &y, &n);
    hp_log_bin *b;
    hp_err err;
    int rc = hp_log_bins(x, y, n, per_decade, &b, &nb, &err);
    free(x), free(y);
    if (rc != 0) {
        printf("error %s\n", err.msg);
        return 1;
    }
    for (size_t j = 0; j < nb; j++)
        printf("%.17g %.17g %zu %.17g %.17g %.17g %.17g %.17g %.17g\n", b[j].lo, b[j].hi,
               b[j].count, b[j].mean, b[j].median, b[j].q25, b[j].q75, b[j].min, b[j].max);
    free(b);
    return 0;
}

static int run_betainc(void)
{
    double a, b, x;
    while (scanf("%lf %lf %lf", &a, &b, &x) == 3)
        printf("%.17g\n", hp_betainc(a, b, x));
    return 0;
}

/* ---- self-tests ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t next_u64(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static double uniform(void)
{
    return (double)(next_u64() >> 11) * 0x1p-53;
}

/* tau-b by counting every pair */
static double brute_tau(const double *x, const double *y, size_t n)
{
    double s = 0, nx = 0, ny = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            int sx = (x[j] > x[i]) - (x[j] < x[i]), sy = (y[j] > y[i]) - (y[j] < y[i]);
            s += sx * sy; /* +1 concordant, -1 discordant, 0 tied */
            nx += sx != 0, ny += sy != 0;
        }
    return s / sqrt(nx) / sqrt(ny);
}

static void self_kendall_brute(void)
{
    for (int rep = 0; rep < 200; rep++) {
        size_t n = 2 + next_u64() % 60;
        int levels = 1 + (int)(next_u64() % 8); /* few levels: many ties */
        double x[64], y[64];
        for (size_t i = 0; i < n; i++) {
            x[i] = (double)(next_u64() % (uint64_t)levels);
            y[i] = rep % 2 ? uniform() : (double)(next_u64() % 5);
        }
        hp_correlation c;
        hp_err err;
        CHECKF(hp_kendall_tau(x, y, n, &c, &err) == 0, "%s", err.msg);
        if (c.constant) {
            CHECK(isnan(c.r) && isnan(c.p_value));
            continue;
        }
        double t = brute_tau(x, y, n);
        CHECKF(fabs(c.r - t) < 1e-14, "n %zu: tau %.17g, pair count %.17g", n, c.r, t);
        CHECK(c.p_value >= 0 && c.p_value <= 1);
    }
}

static void self_errors(void)
{
    double x[4] = {1, 2, NAN, 4}, y[4] = {1, 2, 3, 4}, k[4] = {5, 5, 5, 5};
    hp_correlation c;
    hp_err err;
    CHECK(hp_pearson(x, y, 1, &c, &err) == -1 && strstr(err.msg, "at least 2"));
    CHECK(hp_spearman(y, y, 2, &c, &err) == -1 && strstr(err.msg, "at least 3"));
    CHECK(hp_kendall_tau(x, y, 4, &c, &err) == -1 && strstr(err.msg, "pair 3 has x = nan"));
    CHECK(hp_pearson(y, NULL, 4, &c, &err) == -1 && strstr(err.msg, "y array"));
    for (int m = 0; m < 3; m++) {
        corr_fn f = m == 0 ? hp_pearson : m == 1 ? hp_spearman : hp_kendall_tau;
        CHECK(f(y, k, 4, &c, &err) == 0 && c.constant == HP_STATS_CONSTANT_Y && isnan(c.r) &&
              isnan(c.p_value));
    }
    hp_log_bin *b;
    size_t nb;
    double neg[2] = {1, -1};
    CHECK(hp_log_bins(neg, y, 2, 4, &b, &nb, &err) == -1 && strstr(err.msg, "x[1] = -1"));
    CHECK(hp_log_bins(y, y, 4, 0, &b, &nb, &err) == -1 && strstr(err.msg, "at least 1"));
    CHECK(b == NULL && nb == 0);
}

static void self_values(void)
{
    double s[4] = {1, 2, 3, 4};
    CHECK(hp_quantile_sorted(s, 4, 0.5) == 2.5 && hp_quantile_sorted(s, 4, 1) == 4);
    CHECK(hp_quantile_sorted(s, 4, 0) == 1 && isnan(hp_quantile_sorted(s, 0, 0.5)));
    double r[4], v[4] = {3, 1, 3, 2};
    hp_err err;
    CHECK(hp_rank_average(v, 4, r, &err) == 0 && r[0] == 3.5 && r[1] == 1 && r[2] == 3.5 &&
          r[3] == 2);
    CHECK(fabs(hp_betainc(2, 3, 0.4) - 0.5248) < 1e-15); /* 1 - (1-x)^3 (1+3x) */
    CHECK(hp_betainc(1, 1, 0.3) > 0.3 - 1e-16 && hp_betainc(1, 1, 0.3) < 0.3 + 1e-16);
    hp_correlation c;
    double x2[2] = {0, 1}, y2[2] = {5, 3};
    CHECK(hp_pearson(x2, y2, 2, &c, &err) == 0 && c.r == -1 && c.p_value == 1);
    CHECK(hp_kendall_tau(x2, y2, 2, &c, &err) == 0 && c.r == -1 && c.p_value == 1);
}

/* Kendall must be O(n log n): 130000 pairs in well under a second, even instrumented */
static void self_speed(void)
{
    size_t n = 130000;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    CHECK(x && y);
    if (!x || !y)
        return;
    for (size_t i = 0; i < n; i++) {
        x[i] = floor(1 / (uniform() + 1e-9)); /* Zipf-like counts, heavy ties */
        y[i] = log(x[i]) + uniform();
    }
    hp_correlation c;
    hp_err err;
    clock_t t0 = clock();
    CHECKF(hp_kendall_tau(x, y, n, &c, &err) == 0, "%s", err.msg);
    double sec = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("kendall n=%zu: %.3f s (tau %.6f)\n", n, sec, c.r);
    CHECKF(sec < 2, "%.3f s", sec);
    free(x), free(y);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "corr"))
        return run_corr(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "quantile"))
        return run_quantile(argv[2], argc - 3, argv + 3);
    if (argc == 4 && !strcmp(argv[1], "bins"))
        return run_bins(argv[2], atoi(argv[3]));
    if (argc == 2 && !strcmp(argv[1], "betainc"))
        return run_betainc();
    if (argc == 2 && !strcmp(argv[1], "self")) {
        self_kendall_brute();
        self_errors();
        self_values();
        self_speed();
        return check_exit();
    }
    fprintf(stderr, "usage: %s self | corr FILE | quantile FILE Q... | bins FILE B | betainc\n",
            argv[0]);
    return 2;
}
