/* The Nelder-Mead simplex method (Nelder & Mead 1965) with the standard coefficients
 * (reflection 1, expansion 2, contraction 1/2, shrink 1/2), restarted from its best point
 * so that a collapsed simplex cannot stop it early. Used for the two-parameter
 * alternatives of the likelihood-ratio tests. */
#include "numerics.h"

#include <math.h>
#include <string.h>

#define NM_MAX 4

static double eval(double (*f)(const double *, void *), void *ctx, const double *x)
{
    double v = f(x, ctx);
    return isnan(v) ? INFINITY : v;
}

static double nm_once(double (*f)(const double *, void *), void *ctx, int dim, double *x0,
                      const double *step)
{
    double p[NM_MAX + 1][NM_MAX], fv[NM_MAX + 1];
    int np = dim + 1;
    for (int i = 0; i < np; i++) {
        memcpy(p[i], x0, (size_t)dim * sizeof(double));
        if (i > 0)
            p[i][i - 1] += step[i - 1];
        fv[i] = eval(f, ctx, p[i]);
    }
    for (int it = 0; it < 20000; it++) {
        /* order: best first */
        for (int i = 1; i < np; i++)
            for (int k = i; k > 0 && fv[k] < fv[k - 1]; k--) {
                double t = fv[k];
                fv[k] = fv[k - 1], fv[k - 1] = t;
                double tp[NM_MAX];
                memcpy(tp, p[k], sizeof tp);
                memcpy(p[k], p[k - 1], sizeof tp);
                memcpy(p[k - 1], tp, sizeof tp);
            }
        double size = 0;
        for (int i = 1; i < np; i++)
            for (int d = 0; d < dim; d++)
                size = fmax(size, fabs(p[i][d] - p[0][d]) / fmax(1, fabs(p[0][d])));
        if (isfinite(fv[np - 1]) && fv[np - 1] - fv[0] <= 1e-15 * (fabs(fv[0]) + 1e-300) &&
            size < 1e-10)
            break;
        if (size < 1e-14)
            break;
        double c[NM_MAX] = {0}, xr[NM_MAX], xe[NM_MAX], xc[NM_MAX];
        for (int i = 0; i < np - 1; i++)
            for (int d = 0; d < dim; d++)
                c[d] += p[i][d] / (np - 1);
        double *w = p[np - 1];
        for (int d = 0; d < dim; d++)
            xr[d] = c[d] + (c[d] - w[d]);
        double fr = eval(f, ctx, xr);
        if (fr < fv[0]) {
            for (int d = 0; d < dim; d++)
                xe[d] = c[d] + 2 * (c[d] - w[d]);
            double fe = eval(f, ctx, xe);
            if (fe < fr)
                memcpy(w, xe, sizeof xe), fv[np - 1] = fe;
            else
                memcpy(w, xr, sizeof xr), fv[np - 1] = fr;
            continue;
        }
        if (fr < fv[np - 2]) {
            memcpy(w, xr, sizeof xr), fv[np - 1] = fr;
            continue;
        }
        int outside = fr < fv[np - 1];
        for (int d = 0; d < dim; d++)
            xc[d] = outside ? c[d] + 0.5 * (xr[d] - c[d]) : c[d] + 0.5 * (w[d] - c[d]);
        double fc = eval(f, ctx, xc);
        if (fc < (outside ? fr : fv[np - 1])) {
            memcpy(w, xc, sizeof xc), fv[np - 1] = fc;
            continue;
        }
        for (int i = 1; i < np; i++) { /* shrink towards the best */
            for (int d = 0; d < dim; d++)
                p[i][d] = p[0][d] + 0.5 * (p[i][d] - p[0][d]);
            fv[i] = eval(f, ctx, p[i]);
        }
    }
    int best = 0;
    for (int i = 1; i < np; i++)
        if (fv[i] < fv[best])
            best = i;
    memcpy(x0, p[best], (size_t)dim * sizeof(double));
    return fv[best];
}

double hp_nelder_mead(double (*f)(const double *x, void *ctx), void *ctx, int dim, double *x,
                      const double *step)
{
    double best = nm_once(f, ctx, dim, x, step);
    for (int r = 0; r < 20; r++) {
        double s[NM_MAX];
        for (int d = 0; d < dim; d++)
            s[d] = fmax(fabs(step[d]) * 1e-2, 1e-4 * fmax(1, fabs(x[d])));
        double v = nm_once(f, ctx, dim, x, s);
        int better = v < best - 1e-13 * fabs(best);
        best = fmin(v, best);
        if (!better)
            break;
    }
    return best;
}
