/* `hyplora powerlaw FILE`: fit a power law to a plain list of numbers, the way plfit does,
 * with the bootstrap p-value, likelihood-ratio tests and the Zipf exponent on request.
 * The library (common/powerlaw*.c, hyplora/powerlaw.h) does the work. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hyplora/powerlaw.h"

static const char *HELP =
    "usage: hyplora powerlaw [--discrete | --continuous] [--xmin X | --xmin-range A:B]\n"
    "                        [--p-value N] [--seed S] [--compare] [--finite-size]\n"
    "                        [--json] [-o REPORT] FILE|-\n"
    "\n"
    "Fits a power law p(x) ~ x^-alpha for x >= xmin to a list of numbers (one per line;\n"
    "blank lines and '#' comments are ignored; '-' reads standard input) by the method of\n"
    "Clauset, Shalizi & Newman (2009): maximum-likelihood alpha, xmin minimising the\n"
    "Kolmogorov-Smirnov distance over every distinct value, sigma = (alpha-1)/sqrt(n_tail).\n"
    "Whole numbers >= 1 get the discrete fit (Hurwitz zeta normalisation), anything else the\n"
    "continuous one. For token counts, the Zipf rank-frequency exponent is printed too.\n"
    "\n"
    "Options:\n"
    "  --discrete          force the discrete fit (every value must be a whole number >= 1)\n"
    "  --continuous        force the continuous fit\n"
    "  --xmin X            use this xmin instead of scanning\n"
    "  --xmin-range A:B    scan only the candidates in [A, B]\n"
    "  --p-value N         goodness of fit: the semi-parametric bootstrap with N synthetic\n"
    "                      sets (2500 give p to about +-0.01); uses --threads\n"
    "  --seed S            seed of the bootstrap (default 0): same seed, same p\n"
    "  --compare           likelihood-ratio tests against the exponential, lognormal,\n"
    "                      stretched exponential and power law with exponential cutoff\n"
    "  --finite-size       finite-size correction alpha' = alpha (n-1)/n + 1/n\n"
    "  --json              one JSON object on stdout instead of the summary\n"
    "  -o, --output REPORT record the fit as group /powerlaw of an HDF5 report\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 success, 1 bad input or failure, 2 usage error.\n"
    "\n"
    "Example:\n"
    "  hyplora powerlaw --p-value 2500 --compare notebooks-data/datasets/powerlaw/mobydick_words.txt\n"
    "  (discrete fit: alpha 1.95273, xmin 7, as plfit finds)\n";

typedef struct input {
    double *v;
    long *line;
    size_t n, cap;
} input;

static int push(input *in, double v, long line, hp_err *err)
{
    if (in->n == in->cap) {
        size_t cap = in->cap ? 2 * in->cap : 4096;
        double *nv = hp_realloc(in->v, cap * sizeof *nv, "the values", err);
        if (!nv)
            return -1;
        in->v = nv;
        long *nl = hp_realloc(in->line, cap * sizeof *nl, "their line numbers", err);
        if (!nl)
            return -1;
        in->line = nl;
        in->cap = cap;
    }
    in->v[in->n] = v;
    in->line[in->n++] = line;
    return 0;
}

static int read_values(const char *path, input *in, hp_err *err)
{
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "standard input" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "r");
    if (!f)
        return hp_fail(err, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    long line = 0;
    int rc = 0;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        line++;
        if ((size_t)len != strlen(buf)) {
            rc = hp_fail(err, "%s line %ld: a NUL byte: not a text file of numbers", name, line);
            break;
        }
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = 0;
        char *s = buf;
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        if (!*s)
            continue;
        char *e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
            *--e = 0;
        char *end = s;
        double v = 0;
        while (*end >= '0' && *end <= '9' && end - s < 15) /* fast path: counts */
            v = 10 * v + (*end++ - '0');
        if (*end || end == s)
            v = strtod(s, &end);
        if (end == s || *end) {
            rc = hp_fail(err, "%s line %ld: \"%.60s\" is not a number (expected one number per "
                              "line)", name, line, s);
            break;
        }
        if (!isfinite(v)) {
            rc = hp_fail(err, "%s line %ld: \"%.60s\" is not a finite number", name, line, s);
            break;
        }
        if (push(in, v, line, err) != 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = hp_fail(err, "%s: read error: %s", name, strerror(errno));
    if (rc == 0 && in->n == 0)
        rc = hp_fail(err, "%s: no numbers (the input is empty or only blank and comment lines)",
                     name);
    free(buf);
    if (!is_stdin)
        fclose(f);
    return rc;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The data as its distinct values and their multiplicities: fit/distinct_values and
 * fit/value_counts (the plots and any reader rebuild the sample from them). */
static int write_data(hp_report *r, const input *in, hp_err *err)
{
    double *u = hp_malloc(in->n * sizeof *u, "the distinct values", err);
    int64_t *c = hp_malloc(in->n * sizeof *c, "their counts", err);
    int rc = -1;
    if (u && c) {
        memcpy(u, in->v, in->n * sizeof *u);
        qsort(u, in->n, sizeof *u, cmpd);
        size_t K = 0;
        for (size_t i = 0; i < in->n;) {
            size_t e = i + 1;
            while (e < in->n && u[e] == u[i])
                e++;
            u[K] = u[i];
            c[K++] = (int64_t)(e - i);
            i = e;
        }
        int64_t dims[1] = {(int64_t)K};
        rc = hp_report_write_f64(r, "fit/distinct_values", 1, dims, u,
                                 "the distinct values of the data, increasing", NULL, err) ||
                     hp_report_write_i64(r, "fit/value_counts", 1, dims, c,
                                         "how many times each of fit/distinct_values occurs",
                                         NULL, err)
                 ? -1
                 : 0;
    }
    free(u);
    free(c);
    return rc;
}

static int write_report(const char *out, const char *path, const input *in,
                        const hp_powerlaw_analysis *a, hp_err *err)
{
    hp_report *r = hp_report_begin(out, "powerlaw", g_cli.argc, g_cli.argv, HYPLORA_VERSION, err);
    if (!r)
        return -1;
    if ((strcmp(path, "-") != 0 && hp_report_add_input(r, path, err) != 0) ||
        write_data(r, in, err) != 0 || hp_powerlaw_report_write(r, "fit", a, err) != 0) {
        hp_report_abort(r);
        return -1;
    }
    return hp_report_commit(r, err);
}

static cJSON *json_result(const char *name, const hp_powerlaw_analysis *a)
{
    const hp_powerlaw_fit *fit = &a->fit;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", name);
    cJSON_AddStringToObject(o, "kind", fit->discrete ? "discrete" : "continuous");
    cJSON_AddNumberToObject(o, "alpha", fit->alpha);
    cJSON_AddNumberToObject(o, "sigma", fit->sigma);
    cJSON_AddNumberToObject(o, "xmin", fit->xmin);
    cJSON_AddNumberToObject(o, "log_likelihood", fit->log_likelihood);
    cJSON_AddNumberToObject(o, "ks_distance", fit->ks_distance);
    cJSON_AddNumberToObject(o, "n", (double)fit->n);
    cJSON_AddNumberToObject(o, "n_tail", (double)fit->n_tail);
    if (a->have_boot) {
        cJSON_AddNumberToObject(o, "p_value", a->boot.p_value);
        cJSON_AddNumberToObject(o, "p_trials", a->boot.n_sets);
        cJSON_AddNumberToObject(o, "seed", (double)a->seed);
    } else {
        cJSON_AddNullToObject(o, "p_value");
    }
    if (a->have_zipf) {
        cJSON *z = cJSON_AddObjectToObject(o, "zipf");
        cJSON_AddNumberToObject(z, "exponent", a->zipf.exponent);
        cJSON_AddNumberToObject(z, "intercept", a->zipf.intercept);
        cJSON_AddNumberToObject(z, "r_squared", a->zipf.r_squared);
        cJSON_AddNumberToObject(z, "alpha_equivalent", a->zipf.alpha_equivalent);
        cJSON_AddNumberToObject(z, "min_count", a->zipf.min_count);
        cJSON_AddNumberToObject(z, "n_ranks", (double)a->zipf.n_ranks);
        cJSON_AddStringToObject(z, "method", a->zipf.method);
    }
    if (a->n_cmp > 0) {
        cJSON *alts = cJSON_AddObjectToObject(o, "compare");
        for (int i = 0; i < a->n_cmp; i++) {
            const hp_powerlaw_comparison *c = &a->cmp[i];
            cJSON *e = cJSON_AddObjectToObject(alts, c->name);
            cJSON_AddNumberToObject(e, "loglik_ratio", c->loglik_ratio);
            cJSON_AddNumberToObject(e, "normalized_ratio", c->normalized_ratio);
            cJSON_AddNumberToObject(e, "p_value", c->p_value);
            cJSON_AddBoolToObject(e, "nested", c->nested);
            if (c->nested)
                cJSON_AddNumberToObject(e, "p_value_boundary", c->p_value_boundary);
            cJSON_AddNumberToObject(e, "loglik_alternative", c->loglik_alt);
            cJSON *p = cJSON_AddObjectToObject(e, "parameters");
            for (int k = 0; k < c->n_params; k++)
                cJSON_AddNumberToObject(p, c->param_names[k], c->params[k]);
        }
    }
    return o;
}

static int parse_double(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || !(v > 0)) {
        cli_usage_error("powerlaw", "%s expects a positive number, got '%s'", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_powerlaw(int argc, char **argv)
{
    enum { O_DISCRETE = 1000, O_CONTINUOUS, O_XMIN, O_RANGE, O_PVALUE, O_SEED, O_COMPARE,
           O_JSON, O_FINITE };
    static const struct option OPTS[] = {
        {"discrete", no_argument, NULL, O_DISCRETE},
        {"continuous", no_argument, NULL, O_CONTINUOUS},
        {"xmin", required_argument, NULL, O_XMIN},
        {"xmin-range", required_argument, NULL, O_RANGE},
        {"p-value", required_argument, NULL, O_PVALUE},
        {"seed", required_argument, NULL, O_SEED},
        {"compare", no_argument, NULL, O_COMPARE},
        {"finite-size", no_argument, NULL, O_FINITE},
        {"json", no_argument, NULL, O_JSON},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    hp_powerlaw_analysis_options ao;
    hp_powerlaw_analysis_options_init(&ao);
    ao.compare = 0;
    hp_powerlaw_options opt = ao.fit;
    const char *out = NULL;
    int json = 0, compare = 0, have_range = 0;
    long p_sets = 0;
    uint64_t seed = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", OPTS, NULL)) != -1) {
        switch (c) {
        case O_DISCRETE:
        case O_CONTINUOUS: {
            hp_powerlaw_kind k = c == O_DISCRETE ? HP_POWERLAW_DISCRETE : HP_POWERLAW_CONTINUOUS;
            if (opt.kind != HP_POWERLAW_AUTO && opt.kind != k)
                return cli_usage_error("powerlaw", "--discrete and --continuous exclude each other");
            opt.kind = k;
            break;
        }
        case O_XMIN:
            if (parse_double("--xmin", optarg, &opt.xmin) != 0)
                return EXIT_USAGE;
            break;
        case O_RANGE: {
            char *colon = strchr(optarg, ':');
            if (!colon)
                return cli_usage_error("powerlaw", "--xmin-range expects A:B, got '%s'", optarg);
            *colon = 0;
            if (parse_double("--xmin-range", optarg, &opt.xmin_lo) != 0 ||
                parse_double("--xmin-range", colon + 1, &opt.xmin_hi) != 0)
                return EXIT_USAGE;
            if (opt.xmin_lo > opt.xmin_hi)
                return cli_usage_error("powerlaw", "--xmin-range A:B needs A <= B");
            have_range = 1;
            break;
        }
        case O_PVALUE:
            if (!cli_parse_int("powerlaw", "--p-value", optarg, 1, 100000000, &p_sets))
                return EXIT_USAGE;
            break;
        case O_SEED: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (!*optarg || *end || errno || optarg[0] == '-')
                return cli_usage_error("powerlaw", "--seed expects a whole number >= 0, got '%s'",
                                       optarg);
            seed = v;
            break;
        }
        case O_COMPARE:
            compare = 1;
            break;
        case O_FINITE:
            opt.finite_size_correction = 1;
            break;
        case O_JSON:
            json = 1;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            fputs(HELP, stdout);
            return EXIT_OK;
        default:
            return cli_usage_error("powerlaw", "invalid option");
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("powerlaw", "expected one FILE (or - for standard input)");
    if (opt.xmin > 0 && have_range)
        return cli_usage_error("powerlaw", "--xmin and --xmin-range exclude each other");
    const char *path = argv[optind];
    const char *name = strcmp(path, "-") == 0 ? "standard input" : path;

    hp_err err;
    input in = {0};
    hp_powerlaw_analysis an = {0};
    int rc = EXIT_FAIL;
    if (read_values(path, &in, &err) != 0)
        goto fail;
    size_t bad;
    if (hp_powerlaw_check(in.v, in.n, opt.kind == HP_POWERLAW_AUTO ? HP_POWERLAW_CONTINUOUS
                                                                   : opt.kind,
                          &bad, &err) != 0) {
        if (bad < in.n)
            hp_failctx(&err, "%s line %ld", name, in.line[bad]);
        else
            hp_failctx(&err, "%s", name);
        goto fail;
    }
    opt.keep_scan = out != NULL;
    ao.fit = opt;
    ao.compare = compare;
    ao.p_sets = (int)p_sets;
    ao.boot.seed = seed;
    ao.boot.threads = g_cli.threads;
    cli_progress prog;
    ao.boot.progress = p_sets > 0 ? cli_progress_begin(&prog, "bootstrap") : NULL;
    int arc = hp_powerlaw_analyze(in.v, in.n, &ao, &an, &err);
    if (p_sets > 0)
        cli_progress_end(&prog);
    if (arc != 0) {
        hp_failctx(&err, "%s", name);
        goto fail;
    }
    if (json) {
        cJSON *o = json_result(name, &an);
        char *s = cJSON_Print(o);
        if (s)
            puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        cli_print_powerlaw(name, &an, opt.xmin > 0);
    }
    fflush(stdout);
    if (out && write_report(out, path, &in, &an, &err) != 0)
        goto fail;
    rc = EXIT_OK;
    goto done;
fail:
    rc = cli_fail(&err);
done:
    hp_powerlaw_analysis_free(&an);
    free(in.v);
    free(in.line);
    return rc;
}
