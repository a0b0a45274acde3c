/* Row norms and norm against frequency (hyplora/norms.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/norms.h"
#include "parallel.h"

/* Rows per task. The mean is summed per chunk and the chunks added in order, so it is
 * the same bit for bit whatever the number of threads. */
#define ROWS_PER_CHUNK 1024

typedef struct norm_job {
    const float *rows;
    size_t dim;
    const double *mean; /* NULL on the first pass */
    double *out;
    double **partial;   /* first pass: per-chunk column sums for the mean */
} norm_job;

/* Sums of squares in eight independent double lanes: the compiler can keep them in vector
 * registers (a single running sum is a serial chain it may not reorder), and double keeps
 * the result exact to far below float32's resolution. */
#define LANES 8

static double sum_sq(const float *r, size_t dim)
{
    double acc[LANES] = {0};
    size_t k = 0;
    for (; k + LANES <= dim; k += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += (double)r[k + l] * r[k + l];
    for (; k < dim; k++)
        acc[0] += (double)r[k] * r[k];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

static double sum_sq_centered(const float *r, const double *mean, size_t dim)
{
    double acc[LANES] = {0};
    size_t k = 0;
    for (; k + LANES <= dim; k += LANES)
        for (int l = 0; l < LANES; l++) {
            double d = r[k + l] - mean[k + l];
            acc[l] += d * d;
        }
    for (; k < dim; k++) {
        double d = r[k] - mean[k];
        acc[0] += d * d;
    }
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* One pass: row norms and, for the mean, the chunk's column sums (first pass), or the
 * distance from the mean (second pass). */
static int norm_chunk(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    (void)worker;
    norm_job *j = ctx;
    double *sum = NULL;
    if (j->partial &&
        !(sum = j->partial[begin / ROWS_PER_CHUNK] = hp_calloc(j->dim, sizeof *sum,
                                                                "column sums", err)))
        return -1;
    for (size_t i = begin; i < end; i++) {
        const float *r = j->rows + i * j->dim;
        if (j->mean) {
            j->out[i] = sqrt(sum_sq_centered(r, j->mean, j->dim));
            continue;
        }
        j->out[i] = sqrt(sum_sq(r, j->dim));
        for (size_t k = 0; sum && k < j->dim; k++)
            sum[k] += r[k];
    }
    return 0;
}

int hp_row_norms(const float *rows, size_t n, size_t dim, int threads, double *norm,
                 double *mean, double *centered_norm, hp_err *err)
{
    if (n == 0 || dim == 0)
        return hp_fail(err, "no rows to take norms of (%zu x %zu)", n, dim);
    if ((mean == NULL) != (centered_norm == NULL))
        return hp_fail(err, "hp_row_norms: mean and centered_norm go together");
    size_t chunks = (n + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
    int workers = hp_threads_resolve(threads, chunks);
    norm_job j = {rows, dim, NULL, norm, NULL};
    if (mean && !(j.partial = hp_calloc(chunks, sizeof *j.partial, "column sums", err)))
        return -1;
    int rc = hp_parallel_for(workers, n, ROWS_PER_CHUNK, norm_chunk, &j, err);
    if (rc == 0 && mean) {
        memset(mean, 0, dim * sizeof *mean);
        for (size_t c = 0; c < chunks; c++)
            for (size_t k = 0; k < dim; k++)
                mean[k] += j.partial[c][k];
        for (size_t k = 0; k < dim; k++)
            mean[k] /= (double)n;
        norm_job c = {rows, dim, mean, centered_norm, NULL};
        rc = hp_parallel_for(workers, n, ROWS_PER_CHUNK, norm_chunk, &c, err);
    }
    for (size_t c = 0; j.partial && c < chunks; c++)
        free(j.partial[c]);
    free(j.partial);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* mean and median of v[0..n) (sorted in place); NaN for none */
static void summarise(double *v, size_t n, double *mean, double *median)
{
    *mean = *median = NAN;
    if (n == 0)
        return;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    qsort(v, n, sizeof *v, cmp_double);
    *mean = s / (double)n;
    *median = hp_quantile_sorted(v, n, 0.5);
}

int hp_norm_vs_freq(const double *norm, const int64_t *counts, size_t n, int bins_per_decade,
                    hp_norm_freq *out, hp_err *err)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        if (counts[i] < 0)
            return hp_fail(err, "count %lld of row %zu is negative", (long long)counts[i], i);
        if (counts[i] > 0)
            out->n_seen++;
    }
    out->n_unseen = n - out->n_seen;
    if (out->n_seen < 3)
        return hp_fail(err, "only %zu rows have a nonzero count: at least 3 are needed to "
                            "relate norm to frequency", out->n_seen);
    double *x = hp_malloc(out->n_seen * sizeof *x, "log counts", err);
    double *y = hp_malloc(out->n_seen * sizeof *y, "norms of seen rows", err);
    double *u = hp_malloc((out->n_unseen ? out->n_unseen : 1) * sizeof *u, "unseen norms", err);
    double *c = hp_malloc(out->n_seen * sizeof *c, "counts", err);
    int rc = -1;
    if (x && y && u && c) {
        size_t s = 0, k = 0;
        for (size_t i = 0; i < n; i++) {
            if (counts[i] > 0) {
                c[s] = (double)counts[i];
                x[s] = log10(c[s]);
                y[s++] = norm[i];
            } else {
                u[k++] = norm[i];
            }
        }
        rc = hp_spearman(x, y, s, &out->spearman, err) ||
                     hp_kendall_tau(x, y, s, &out->kendall, err) ||
                     hp_pearson(x, y, s, &out->pearson, err) ||
                     hp_log_bins(c, y, s, bins_per_decade, &out->bins, &out->n_bins, err)
                 ? -1
                 : 0;
        summarise(y, s, &out->mean_seen, &out->median_seen);
        summarise(u, k, &out->mean_unseen, &out->median_unseen);
    }
    free(x);
    free(y);
    free(u);
    free(c);
    if (rc != 0)
        hp_norm_freq_free(out);
    return rc;
}

void hp_norm_freq_free(hp_norm_freq *nf)
{
    free(nf->bins);
    nf->bins = NULL;
    nf->n_bins = 0;
}
