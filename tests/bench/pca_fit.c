/* Benchmark driver: a float32 matrix with a planted spectrum, generated in memory (no file),
 * then hp_pca_fit + hp_pca_project (k = 2) timed `runs` times. Prints one line a run:
 *   fit_seconds project_seconds passes var1 var2 angle_bound fit_cpu project_cpu
 * (the last two: CPU seconds of the process, all threads), then "rss MB" (peak RSS of the
 * whole process) and "ref v1 v2 ..." (the planted variances). With MODE "fused" the fit
 * gives the coordinates itself (opt.project) and the projection time is 0.
 * The rows: x = u diag(sigma) V^T + uniform noise (variance 1) + an offset mean, with V
 * orthonormal d x R and u standard normal.
 * Usage: pca_fit N D RUNS [THREADS [TOLERANCE [MODE [OVERSAMPLE]]]] */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_timing.h"

#include "hyplora.h"

enum { R = 8 };
static const double SIGMA2[R] = {40, 20, 12, 8, 6, 5, 4, 3.5}; /* planted variances over noise */

static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *planted(size_t n, size_t d)
{
    float *x = malloc(n * d * sizeof *x), *u = malloc(n * R * sizeof *u), *vt = malloc(R * d * sizeof *vt);
    double *v = malloc(d * R * sizeof *v), tau[R];
    if (!x || !u || !vt || !v)
        return NULL;
    hp_rng r;
    hp_rng_seed(&r, 42);
    for (size_t i = 0; i < d * R; i++)
        v[i] = hp_rng_normal(&r);
    LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (int)d, R, v, R, tau);
    LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (int)d, R, R, v, R, tau);
    for (int c = 0; c < R; c++)
        for (size_t j = 0; j < d; j++)
            vt[c * d + j] = (float)(sqrt(SIGMA2[c]) * v[j * R + c]);
    for (size_t i = 0; i < n * R; i++)
        u[i] = (float)hp_rng_normal(&r);
    float mean[d];
    for (size_t j = 0; j < d; j++)
        mean[j] = (float)(0.5 * hp_rng_normal(&r));
    const float a = 1.7320508f * 0x1.0p-31f; /* uniform in [-sqrt 3, sqrt 3): variance 1 */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = mean[j] + a * (float)((int64_t)(hp_rng_u64(&r) >> 32) - 0x80000000ll);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)d, R, 1.0f, u, R, vt, (int)d,
                1.0f, x, (int)d);
    free(u);
    free(vt);
    free(v);
    return x;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: pca_fit N D RUNS [THREADS [TOLERANCE [fused|separate [OVERSAMPLE]]]]\n");
        return 2;
    }
    size_t n = strtoull(argv[1], NULL, 10), d = strtoull(argv[2], NULL, 10);
    int runs = atoi(argv[3]);
    float *x = planted(n, d);
    double *coords = malloc(n * 2 * sizeof *coords);
    if (!x || !coords) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    hp_pca_options o;
    hp_pca_options_init(&o);
    o.threads = argc > 4 ? atoi(argv[4]) : 0;
    if (argc > 5)
        o.tolerance = atof(argv[5]);
    o.project = argc > 6 && strcmp(argv[6], "fused") == 0;
    if (argc > 7)
        o.oversample = atoi(argv[7]);
    hp_err err;
    for (int i = 0; i < runs; i++) {
        hp_pca p;
        double t0 = bench_now(), c0 = cpu();
        if (hp_pca_fit(x, n, d, &o, &p, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double t1 = bench_now(), c1 = cpu();
        if (o.project)
            memcpy(coords, p.coords, n * 2 * sizeof *coords);
        else if (hp_pca_project(&p, x, n, coords, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double t2 = bench_now(), c2 = cpu();
        printf("%.3f %.3f %d %.8g %.8g %.2e %.3f %.3f\n", t1 - t0, t2 - t1, p.passes, p.variance[0],
               p.variance[1], p.angle_bound, c1 - c0, c2 - c1);
        hp_pca_free(&p);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("rss %ld\nref %.8g %.8g\n", ru.ru_maxrss / 1024, SIGMA2[0] + 1, SIGMA2[1] + 1);
    free(coords);
    free(x);
    return 0;
}
