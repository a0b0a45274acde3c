/* A small report writer for tests/oracle/test_report.py:
 *   report_writer REPORT GROUP [ARG]...
 * with ARG one of
 *   --input FILE        record FILE as an input
 *   f64:NAME=1,2.5,...  a 1-D dataset (also f32:, i64:)
 *   str:NAME=a,b,...    a 1-D string dataset
 *   attr:NAME=VALUE     a string attribute on the group
 * Exits 1 with the library's message on failure. */
#include "hyplora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits "a,b,c" in place into at most max pieces. */
static size_t split(char *s, char **out, size_t max)
{
    size_t n = 0;
    if (!*s)
        return 0;
    while (n < max) {
        out[n++] = s;
        char *p = strchr(s, ',');
        if (!p)
            break;
        *p = 0;
        s = p + 1;
    }
    return n;
}

static int write_arg(hp_report *r, char *arg, hp_err *err)
{
    char *colon = strchr(arg, ':'), *eq = strchr(arg, '=');
    if (!colon || !eq || eq < colon)
        return hp_fail(err, "argument \"%s\" is not KIND:NAME=VALUES", arg);
    *colon = *eq = 0;
    const char *kind = arg, *name = colon + 1;
    char *values = eq + 1;
    if (!strcmp(kind, "attr"))
        return hp_report_attr_str(r, "", name, values, err);
    static char *v[4096];
    size_t n = split(values, v, 4096);
    int64_t dims[1] = {(int64_t)n};
    char definition[256];
    snprintf(definition, sizeof definition, "test values of %s", name);
    if (!strcmp(kind, "str"))
        return hp_report_write_strings(r, name, n, (const char *const *)v, definition, err);
    static double d[4096];
    static float f[4096];
    static int64_t i[4096];
    for (size_t k = 0; k < n; k++) {
        d[k] = strtod(v[k], NULL);
        f[k] = strtof(v[k], NULL);
        i[k] = strtoll(v[k], NULL, 10);
    }
    if (!strcmp(kind, "f64"))
        return hp_report_write_f64(r, name, 1, dims, d, definition, "test_units", err);
    if (!strcmp(kind, "f32"))
        return hp_report_write_f32(r, name, 1, dims, f, definition, NULL, err);
    if (!strcmp(kind, "i64"))
        return hp_report_write_i64(r, name, 1, dims, i, definition, NULL, err);
    return hp_fail(err, "unknown kind \"%s\"", kind);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: report_writer REPORT GROUP [ARG]...\n");
        return 2;
    }
    hp_err err = {{0}};
    hp_report *r = hp_report_begin(argv[1], argv[2], argc, argv, "0.0.0-test", &err);
    if (!r) {
        fprintf(stderr, "report_writer: %s\n", err.msg);
        return 1;
    }
    for (int k = 3; k < argc; k++) {
        int rc = !strcmp(argv[k], "--input") && k + 1 < argc
                     ? hp_report_add_input(r, argv[++k], &err)
                     : write_arg(r, argv[k], &err);
        if (rc < 0) {
            fprintf(stderr, "report_writer: %s\n", err.msg);
            hp_report_abort(r);
            return 1;
        }
    }
    if (hp_report_commit(r, &err) < 0) {
        fprintf(stderr, "report_writer: %s\n", err.msg);
        return 1;
    }
    return 0;
}
