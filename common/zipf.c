/* The Zipf rank-frequency exponent: f(r) ~ r^-s for the types ranked by decreasing count.
 *
 * exponent: ordinary least squares of ln f_r on ln r over ranks 1..R (R the types with
 * count >= min_count), every rank one point: the straight line a rank-frequency plot on
 * log-log axes shows. For a count distribution with
 * tail exponent alpha the rank-frequency exponent is s = 1/(alpha - 1), so alpha ~ 1 + 1/s
 * (docs/powerlaw.md). */
#include "hyplora/powerlaw.h"
#include "powerlaw_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *ZIPF_METHOD =
    "least squares of ln(count) on ln(rank) over ranks 1..n_ranks (types with count >= "
    "min_count, ranked by decreasing count), each rank one point";

int hp_zipf_fit_counts(const double *counts, size_t n, double min_count, hp_zipf_fit *out,
                       hp_err *err)
{
    memset(out, 0, sizeof *out);
    size_t R = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(counts[i]) || counts[i] < 0)
            return hp_fail(err, "count %zu is %g: counts must be finite and >= 0", i + 1,
                           counts[i]);
        R += counts[i] > 0 && counts[i] >= min_count;
    }
    if (R < 3)
        return hp_fail(err, "%zu type%s with count >= %g: the Zipf fit needs at least 3", R,
                       R == 1 ? "" : "s", min_count);
    double *f = hp_malloc(2 * R * sizeof *f, "the rank-frequency table", err);
    if (!f)
        return -1;
    double *tmp = f + R;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (counts[i] > 0 && counts[i] >= min_count)
            f[k++] = counts[i];
    pl_sort_positive(f, tmp, R); /* increasing; rank r = R - index */
    double sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0, y = 0, prev = -1;
    for (size_t r = 1; r <= R; r++) {
        double c = f[R - r], x = log((double)r);
        if (c != prev) /* counts come in runs: one log per run */
            y = log(c), prev = c;
        sx += x, sy += y, sxx += x * x, sxy += x * y, syy += y * y;
    }
    double N = (double)R, cxx = sxx - sx * sx / N, cxy = sxy - sx * sy / N, cyy = syy - sy * sy / N;
    double slope = cxy / cxx;
    out->exponent = -slope;
    out->intercept = (sy - slope * sx) / N;
    out->r_squared = cyy > 0 ? cxy * cxy / (cxx * cyy) : 1;
    out->alpha_equivalent = 1 + 1 / out->exponent;
    out->min_count = min_count;
    out->n_ranks = R;
    out->method = ZIPF_METHOD;
    free(f);
    return 0;
}
