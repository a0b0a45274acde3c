/* The per-token maps of HypLoRA (hyplora/lorentz.h). Both maps scale their input by a
 * factor g of its norm and of K, out = g(|in|, K) in, so one pattern serves all four: the
 * forward pass is a scaling, and with gn = (dg/d|in|) / |in| and gK = dg/dK the backward
 * pass is d_in = g d_out + gn (in . d_out) in, and dK = (in . d_out) gK. Near 0 the factors
 * come from their Taylor series, where the closed forms would cancel. */
#include <math.h>
#include <stdbool.h>

#include "hyplora/lorentz.h"

typedef hp_lorentz_radial radial;

/* Below this the series are used (their first omitted term is under 1e-15 relative). */
#define SERIES_BELOW 0.05

/* sinh(a)/a and its derivative in a. */
static void sinhc(double a, double *f, double *df)
{
    if (a < SERIES_BELOW) {
        double a2 = a * a;
        *f = 1 + a2 / 6 * (1 + a2 / 20 * (1 + a2 / 42 * (1 + a2 / 72)));
        *df = a * (1.0 / 3 + a2 * (1.0 / 30 + a2 * (1.0 / 840 + a2 / 45360)));
    } else {
        *f = sinh(a) / a;
        *df = (a * cosh(a) - sinh(a)) / (a * a);
    }
}

/* asinh(b)/b and its derivative in b. */
static void asinhc(double b, double *f, double *df)
{
    if (b < SERIES_BELOW) {
        double b2 = b * b;
        *f = 1 + b2 * (-1.0 / 6 + b2 * (3.0 / 40 + b2 * (-5.0 / 112 + b2 * 35.0 / 1152)));
        *df = b * (-1.0 / 3 + b2 * (3.0 / 10 + b2 * (-15.0 / 56 + b2 * 35.0 / 144)));
    } else {
        *f = asinh(b) / b;
        *df = (b / sqrt(1 + b * b) - asinh(b)) / (b * b);
    }
}

/* The factor of the exponential map at |v| = n: g = sinhc(a) with a = n / c, c = sqrt K;
 * clamped, g = c sinh(12) / n. The released form evaluates at max(n, eps), and below eps
 * g no longer depends on n. */
radial hp_lorentz_exp_radial(hp_hyp_form form, double n, double K)
{
    double c = sqrt(K);
    bool held = form == HP_HYP_RELEASED && n < HP_LORENTZ_RELEASED_EPS;
    if (held)
        n = HP_LORENTZ_RELEASED_EPS;
    radial r;
    double a = n / c;
    if (a >= HP_LORENTZ_SINH_CLAMP) {
        double s = sinh(HP_LORENTZ_SINH_CLAMP);
        r.g = c * s / n;
        r.gn = -r.g / (n * n);
        r.gK = s / n / (2 * c); /* dg/dc = sinh(12) / n, dc/dK = 1 / (2c) */
    } else {
        double f, df;
        sinhc(a, &f, &df);
        r.g = f;
        r.gn = a > 0 ? df / (c * c * a) : 1 / (3 * K);
        r.gK = -df * a / c / (2 * c); /* dg/dc = f'(a) da/dc = -f'(a) a / c */
    }
    if (held)
        r.gn = 0;
    return r;
}

/* The factor of the logarithmic map at |y| = m. Consistent: g = asinhc(b), b = m / c.
 * Released: g = c arc(theta) / max(m, eps), theta = t / c, t = sqrt(m^2 + 1/K). */
radial hp_lorentz_log_radial(hp_hyp_form form, double m, double K)
{
    double c = sqrt(K);
    radial r;
    if (form == HP_HYP_CONSISTENT) {
        double b = m / c, f, df;
        asinhc(b, &f, &df);
        r.g = f;
        r.gn = b > 0 ? df / (c * c * b) : -1 / (3 * K);
        r.gK = -df * b / c / (2 * c);
        return r;
    }
    double mm = m > HP_LORENTZ_RELEASED_EPS ? m : HP_LORENTZ_RELEASED_EPS;
    double t = sqrt(m * m + 1 / K), theta = t / c, arc, darc;
    if (theta < HP_LORENTZ_RELEASED_THETA) {
        double d = theta - 1 > 1e-6 ? theta - 1 : 1e-6;
        arc = sqrt(2 * d);
        darc = theta - 1 > 1e-6 ? 1 / arc : 0;
    } else {
        arc = acosh(theta);
        darc = 1 / sqrt(theta * theta - 1);
    }
    r.g = c * arc / mm;
    /* dg/dm = c arc' dtheta/dm / mm - [m above eps] c arc / mm^2, with dtheta/dm = m / (t c) */
    r.gn = darc / (t * mm) - (m > HP_LORENTZ_RELEASED_EPS ? c * arc / (mm * mm * mm) : 0);
    double dt_dK = -1 / (2 * K * K * t);
    double dtheta_dK = dt_dK / c - t / (c * c) / (2 * c);
    r.gK = arc / mm / (2 * c) + c * darc * dtheta_dK / mm;
    return r;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static double norm2(const double *x, size_t n)
{
    return sqrt(dot(x, x, n));
}

static void scale(const radial *r, const double *in, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = r->g * in[i];
}

static double scale_backward(const radial *r, const double *in, size_t n, const double *dout, double *din)
{
    double d = dot(in, dout, n);
    for (size_t i = 0; i < n; i++)
        din[i] = r->g * dout[i] + r->gn * d * in[i];
    return d * r->gK;
}

void hp_lorentz_expmap(hp_hyp_form form, const double *v, size_t n, double K, double *u)
{
    radial r = hp_lorentz_exp_radial(form, norm2(v, n), K);
    scale(&r, v, n, u);
}

double hp_lorentz_expmap_backward(hp_hyp_form form, const double *v, size_t n, double K, const double *du,
                                  double *dv)
{
    radial r = hp_lorentz_exp_radial(form, norm2(v, n), K);
    return scale_backward(&r, v, n, du, dv);
}

void hp_lorentz_logmap(hp_hyp_form form, const double *y, size_t n, double K, double *o)
{
    radial r = hp_lorentz_log_radial(form, norm2(y, n), K);
    scale(&r, y, n, o);
}

double hp_lorentz_logmap_backward(hp_hyp_form form, const double *y, size_t n, double K, const double *dout,
                                  double *dy)
{
    radial r = hp_lorentz_log_radial(form, norm2(y, n), K);
    return scale_backward(&r, y, n, dout, dy);
}
