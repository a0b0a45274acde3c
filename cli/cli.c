#include "cli.h"
#include "dist.h"

#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

cli_globals g_cli = {.threads = 0, .verbosity = 1};

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    if (g_dist.rank != 0) /* every rank parsed the same command line: one message is enough */
        return EXIT_USAGE;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hyplora%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'hyplora %s%s--help' for usage.\n", cmd ? cmd : "", cmd ? " " : "");
    return EXIT_USAGE;
}

int cli_fail(const hp_err *err)
{
    if (g_dist.size > 1)
        fprintf(stderr, "hyplora: error: rank %d: %s\n", g_dist.rank, err->msg);
    else
        fprintf(stderr, "hyplora: error: %s\n", err->msg);
    return EXIT_FAIL;
}

void cli_note(const char *fmt, ...)
{
    if (g_cli.verbosity < 1 || g_dist.rank != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("hyplora: note: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cli_verbose(const char *fmt, ...)
{
    if (g_cli.verbosity < 2)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress_update(hp_progress *base, uint64_t done, uint64_t total)
{
    cli_progress *p = (cli_progress *)base;
    double t = cli_now();
    if (!p->active || (t - p->last < 0.1 && done < total))
        return;
    p->last = t;
    double elapsed = t - p->start, frac = total ? (double)done / (double)total : 0;
    fprintf(stderr, "\r%s: %5.1f%% (%llu/%llu)", p->label, 100 * frac, (unsigned long long)done,
            (unsigned long long)total);
    if (frac > 0 && frac < 1)
        fprintf(stderr, ", %.0f s left ", elapsed / frac - elapsed);
    else
        fprintf(stderr, ", %.1f s        ", elapsed);
    fflush(stderr);
    p->drawn = true;
}

hp_progress *cli_progress_begin(cli_progress *p, const char *label)
{
    memset(p, 0, sizeof *p);
    p->base.update = progress_update;
    p->label = label;
    p->start = cli_now();
    p->active = g_cli.verbosity > 0 && g_dist.rank == 0 && isatty(STDERR_FILENO);
    return &p->base;
}

void cli_progress_end(cli_progress *p)
{
    if (p->drawn)
        fputc('\n', stderr);
    p->drawn = false;
}

bool cli_parse_int(const char *cmd, const char *opt, const char *s, long min, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < min || v > max) {
        cli_usage_error(cmd, "%s expects an integer from %ld to %ld, got '%s'", opt, min, max, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= min && v <= max))
        return cli_usage_error(cmd, "%s expects a number from %g to %g, got '%s'", opt, min, max, s), false;
    *out = v;
    return true;
}

bool cli_parse_seed(const char *cmd, const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 10);
    if (!*s || *end || *s == '-' || errno == ERANGE)
        return cli_usage_error(cmd, "--seed expects a non-negative integer below 2^64, got '%s'", s), false;
    return true;
}

const char *cli_data_dir(void)
{
    const char *env = getenv("HYPLORA_DATA_DIR");
    if (env && *env)
        return env;
    if (access(HYPLORA_SOURCE_DATA_DIR "/tokenizers", R_OK) == 0)
        return HYPLORA_SOURCE_DATA_DIR;
    return HYPLORA_INSTALL_DATA_DIR;
}

int cli_parse_list(const char *opt, const char *spec, int max, bool *want, hp_err *err)
{
    if (strcmp(spec, "all") == 0) {
        for (int i = 0; i <= max; i++)
            want[i] = true;
        return 0;
    }
    for (const char *p = spec;;) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p || *p == '-' || *p == '+')
            return hp_fail(err, "%s expects all or a list such as 0,4-7,12, got '%s'", opt, spec);
        if (*end == '-') {
            p = end + 1;
            b = strtol(p, &end, 10);
            if (end == p || *p == '-' || *p == '+' || b < a)
                return hp_fail(err, "%s: bad range in '%s'", opt, spec);
        }
        if (a < 0 || b > max)
            return hp_fail(err, "%s: %ld is out of range 0..%d", opt, b > max ? b : a, max);
        for (long i = a; i <= b; i++)
            want[i] = true;
        if (*end == 0)
            return 0;
        if (*end != ',')
            return hp_fail(err, "%s expects all or a list such as 0,4-7,12, got '%s'", opt, spec);
        p = end + 1;
    }
}

bool cli_template(const char *cmd, const char *arg, hp_template *t)
{
    hp_err err;
    hp_template_free(t);
    if (hp_template_open(arg, t, &err) == 0)
        return true;
    cli_usage_error(cmd, "%s", err.msg);
    return false;
}
