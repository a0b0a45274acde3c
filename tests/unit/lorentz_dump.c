/* Runs one HypLoRA per-token map of hyplora/lorentz.h and prints, as one line of JSON, its
 * output, its hand-written vector-Jacobian product, and the same gradients by central
 * finite differences in double, for tests/oracle/test_lorentz.py:
 *
 *   lorentz_dump consistent|released exp|log K IN DOUT
 *
 * IN and DOUT are comma-separated vectors of the same length. L = DOUT . map(IN) is the
 * scalar whose gradients are compared: {"out", "din", "dK", "fd_din", "fd_dK"}. The finite
 * differences use the step h = 1e-6 * max(|x|, 1e-3) for each coordinate x (and for K). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/lorentz.h"

enum { MAX_N = 4096 };

static size_t parse(const char *s, double *out)
{
    size_t n = 0;
    char *end;
    while (*s && n < MAX_N) {
        out[n++] = strtod(s, &end);
        if (end == s)
            return 0;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

static hp_hyp_form form;
static int is_exp;

static double loss(const double *in, size_t n, double K, const double *dout)
{
    double out[MAX_N], s = 0;
    if (is_exp)
        hp_lorentz_expmap(form, in, n, K, out);
    else
        hp_lorentz_logmap(form, in, n, K, out);
    for (size_t i = 0; i < n; i++)
        s += dout[i] * out[i];
    return s;
}

static void print_vec(const char *name, const double *v, size_t n)
{
    printf("\"%s\": [", name);
    for (size_t i = 0; i < n; i++)
        printf("%s%.17g", i ? ", " : "", v[i]);
    printf("], ");
}

int main(int argc, char **argv)
{
    static double in[MAX_N], dout[MAX_N], out[MAX_N], din[MAX_N], fd[MAX_N];
    if (argc != 6 || (strcmp(argv[1], "consistent") && strcmp(argv[1], "released")) ||
        (strcmp(argv[2], "exp") && strcmp(argv[2], "log"))) {
        fputs("usage: lorentz_dump consistent|released exp|log K IN DOUT\n", stderr);
        return 2;
    }
    form = strcmp(argv[1], "released") ? HP_HYP_CONSISTENT : HP_HYP_RELEASED;
    is_exp = strcmp(argv[2], "exp") == 0;
    double K = strtod(argv[3], NULL);
    size_t n = parse(argv[4], in), m = parse(argv[5], dout);
    if (n == 0 || n != m || !(K > 0)) {
        fputs("lorentz_dump: IN and DOUT must be vectors of the same length, K > 0\n", stderr);
        return 2;
    }
    double dK;
    if (is_exp) {
        hp_lorentz_expmap(form, in, n, K, out);
        dK = hp_lorentz_expmap_backward(form, in, n, K, dout, din);
    } else {
        hp_lorentz_logmap(form, in, n, K, out);
        dK = hp_lorentz_logmap_backward(form, in, n, K, dout, din);
    }
    for (size_t i = 0; i < n; i++) {
        double x = in[i], h = 1e-6 * fmax(fabs(x), 1e-3);
        in[i] = x + h;
        double lp = loss(in, n, K, dout);
        in[i] = x - h;
        double lm = loss(in, n, K, dout);
        in[i] = x;
        fd[i] = (lp - lm) / (2 * h);
    }
    double hK = 1e-6 * fmax(K, 1e-3);
    double fd_dK = (loss(in, n, K + hK, dout) - loss(in, n, K - hK, dout)) / (2 * hK);
    printf("{");
    print_vec("out", out, n);
    print_vec("din", din, n);
    print_vec("fd_din", fd, n);
    printf("\"dK\": %.17g, \"fd_dK\": %.17g}\n", dK, fd_dK);
    return 0;
}
