/* The per-token maps of HypLoRA on the Lorentz model (docs/hyplora.md): the hyperboloid
 * -x0^2 + |xs|^2 = -K (curvature -1/K) with origin o = (sqrt K, 0). An adapter maps its
 * input v into the hyperboloid, u = space part of exp_o(v); the low-rank product y = B A u
 * acts on those ambient space coordinates; the output is o = log_o of the point whose space
 * part is y (its time part sqrt(|y|^2 + K) puts it on the hyperboloid).
 *
 * Two forms, both exact:
 *   consistent (the default): u = sqrt(K) sinh(min(|v|/sqrt(K), 12)) v/|v|,
 *                             o = sqrt(K) asinh(|y|/sqrt(K)) y/|y|
 *                             (= sqrt(K) arccosh(t/sqrt(K)) y/|y| with t = sqrt(|y|^2 + K));
 *   released (the authors' code): |v| and |y| clamped below at 1e-7 where they divide,
 *                             t = sqrt(|y|^2 + 1/K), theta = t/sqrt(K), and arccosh(theta)
 *                             replaced by sqrt(2 max(theta - 1, 1e-6)) when theta < 1.01.
 * Both are the identity to first order at 0 in the consistent form (u = v, o = y there).
 *
 * Each map has a hand-written vector-Jacobian product: given the gradient of a loss with
 * respect to the map's output, it gives the gradient with respect to its input and returns
 * the gradient with respect to K. The scalar factors are computed in double: a token's map
 * costs O(n), next to the O(n r) of the products around it. */
#ifndef HYPLORA_LORENTZ_H
#define HYPLORA_LORENTZ_H

#include <stddef.h>

typedef enum hp_hyp_form {
    HP_HYP_CONSISTENT, /* the mathematics of the paper */
    HP_HYP_RELEASED,   /* the authors' released code, quirks included */
} hp_hyp_form;

/* Above this |v|/sqrt(K) the exponential map is clamped (sinh(12) ~ 8e4). */
#define HP_LORENTZ_SINH_CLAMP 12.0
/* The released form's lower clamp on |v| and |y|, and its switch on theta. */
#define HP_LORENTZ_RELEASED_EPS 1e-7
#define HP_LORENTZ_RELEASED_THETA 1.01

/* u (n values) = the space part of exp_o(v). */
void hp_lorentz_expmap(hp_hyp_form form, const double *v, size_t n, double K, double *u);

/* dv (n values, overwritten; may be du itself) = du^T du/dv; returns du^T du/dK. */
double hp_lorentz_expmap_backward(hp_hyp_form form, const double *v, size_t n, double K, const double *du,
                                  double *dv);

/* o (n values) = log_o of the hyperboloid point with space part y. */
void hp_lorentz_logmap(hp_hyp_form form, const double *y, size_t n, double K, double *o);

/* dy (n values, overwritten; may be dout itself) = do^T do/dy; returns do^T do/dK. */
double hp_lorentz_logmap_backward(hp_hyp_form form, const double *y, size_t n, double K, const double *dout,
                                  double *dy);

/* Both maps scale their input: out = g in, g a function of n = |in| and K. Their
 * vector-Jacobian products are din = g dout + gn (in . dout) in and dK = (in . dout) gK.
 * The adapters use these factors directly on their float rows; the functions above apply
 * them to double vectors. */
typedef struct hp_lorentz_radial {
    double g, gn, gK;
} hp_lorentz_radial;

hp_lorentz_radial hp_lorentz_exp_radial(hp_hyp_form form, double n, double K);
hp_lorentz_radial hp_lorentz_log_radial(hp_hyp_form form, double n, double K);

#endif
