/* The HDF5 report layer: datasets and attributes of every kind written and read back;
 * a second group leaves the first intact and merges the root inputs; a rewritten group
 * replaces its old content; abort leaves the old file byte-identical; a file that is
 * not HDF5 is refused and left alone; readers give clear errors. */
#include "hyplora.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define OK(call) CHECKF((call) == 0, "%s: %s", #call, err.msg)

static char dir[] = "/tmp/hyplora-report-XXXXXX";
static char report[4096], input_a[4096], input_b[4096];
static char *argv_a[] = {"hyplora", "freq", "--corpus", "it's a file.txt", "-o", "r.h5"};
static char *argv_b[] = {"hyplora", "norms", "-o", "r.h5"};

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    fputs(text, fp);
    fclose(fp);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    hp_err err;
    return (unsigned char *)hp_read_small_file(path, 1 << 26, n, &err);
}

static int count_temp_files(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '\\.tmp-'", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (fscanf(p, "%d", &n) != 1)
        n = -1;
    pclose(p);
    return n;
}

/* Group /freq: every writer and attribute kind. */
static void write_first(void)
{
    hp_err err = {{0}};
    hp_report *r = hp_report_begin(report, "freq", 6, argv_a, "0.1.0", &err);
    CHECKF(r != NULL, "begin: %s", err.msg);
    if (!r)
        return;
    OK(hp_report_add_input(r, input_a, &err));
    OK(hp_report_add_input(r, input_a, &err)); /* recorded once */
    int64_t counts[5] = {1, 2, 3, 40000000000LL, -5};
    int64_t d1[1] = {5};
    OK(hp_report_write_i64(r, "counts", 1, d1, counts, "occurrences of each token id", NULL,
                           &err));
    double m[6] = {0.5, 1.5, 2.5, 3.5, 4.5, 5.5};
    int64_t d2[2] = {2, 3};
    OK(hp_report_write_f64(r, "bins/mean", 2, d2, m, "mean norm per bin", "nats", &err));
    float f[3] = {0.25f, -1.0f, 3e38f};
    int64_t d3[1] = {3};
    OK(hp_report_write_f32(r, "bins/f32", 1, d3, f, "float values", NULL, &err));
    double alpha = 1.95;
    OK(hp_report_write_f64(r, "alpha", 0, NULL, &alpha, "power-law exponent", NULL, &err));
    OK(hp_report_write_i64(r, "empty", 1, (int64_t[]){0}, NULL, "nothing at all", NULL, &err));
    const char *names[3] = {"the", "ünïcödé", ""};
    OK(hp_report_write_strings(r, "tokens", 3, names, "token strings", &err));
    OK(hp_report_attr_f64(r, "", "xmin_fraction", 0.125, &err));
    OK(hp_report_attr_i64(r, "", "xmin", 7, &err));
    OK(hp_report_attr_i64(r, "", "xmin", 8, &err)); /* replaces */
    OK(hp_report_attr_str(r, "", "method", "discrete MLE", &err));
    OK(hp_report_attr_str(r, "bins/mean", "note", "per bin", &err));

    /* Misuse is an error naming the object, and the report can still be committed. */
    CHECKF(hp_report_write_i64(r, "counts", 1, d1, counts, "again", NULL, &err) == -1,
          "a second write of counts accepted");
    CHECKF(strstr(err.msg, "/freq/counts") != NULL, "message: %s", err.msg);
    CHECKF(hp_report_write_i64(r, "Bad-Name", 1, d1, counts, "x", NULL, &err) == -1,
          "a non-snake_case name accepted");
    CHECKF(hp_report_write_i64(r, "nodef", 1, d1, counts, "", NULL, &err) == -1,
          "an empty definition accepted");
    CHECKF(strstr(err.msg, "definition") != NULL, "message: %s", err.msg);
    CHECKF(hp_report_write_i64(r, "neg", 1, (int64_t[]){-1}, counts, "x", NULL, &err) == -1,
          "a negative dimension accepted");
    CHECKF(hp_report_attr_str(r, "", "command_line", "forged", &err) == -1,
          "a reserved attribute accepted");
    CHECKF(hp_report_attr_f64(r, "missing", "x", 1, &err) == -1,
          "an attribute on a missing object accepted");
    const char *bad_utf8[1] = {"\xff\xfe"};
    CHECKF(hp_report_write_strings(r, "bad", 1, bad_utf8, "x", &err) == -1,
          "invalid UTF-8 accepted");
    OK(hp_report_commit(r, &err));
}

static void check_first(const char *when)
{
    hp_err err = {{0}};
    int64_t *c = NULL, n = 0;
    OK(hp_report_read_i64(report, "/freq/counts", &c, &n, &err));
    CHECKF(n == 5 && c && c[3] == 40000000000LL && c[4] == -5, "%s: counts", when);
    free(c);
    double *m = NULL;
    OK(hp_report_read_f64(report, "/freq/bins/mean", &m, &n, &err));
    CHECKF(n == 6 && m && m[0] == 0.5 && m[5] == 5.5, "%s: mean", when);
    free(m);
    float *f = NULL;
    OK(hp_report_read_f32(report, "/freq/bins/f32", &f, &n, &err));
    CHECKF(n == 3 && f && f[0] == 0.25f && f[2] == 3e38f, "%s: f32", when);
    free(f);
    double *fd = NULL; /* integers read as doubles */
    OK(hp_report_read_f64(report, "/freq/counts", &fd, &n, &err));
    CHECKF(n == 5 && fd && fd[2] == 3.0, "%s: counts as f64", when);
    free(fd);
    int rank = -1;
    int64_t dims[HP_REPORT_MAX_RANK];
    OK(hp_report_dims(report, "/freq/bins/mean", &rank, dims, &err));
    CHECKF(rank == 2 && dims[0] == 2 && dims[1] == 3, "%s: dims", when);
    OK(hp_report_dims(report, "/freq/alpha", &rank, dims, &err));
    CHECKF(rank == 0, "%s: scalar rank %d", when, rank);
    int64_t *e = NULL;
    OK(hp_report_read_i64(report, "/freq/empty", &e, &n, &err));
    CHECKF(n == 0, "%s: empty", when);
    free(e);
    char **s = NULL;
    size_t ns = 0;
    OK(hp_report_read_strings(report, "/freq/tokens", &s, &ns, &err));
    CHECKF(ns == 3 && s && !strcmp(s[1], "ünïcödé") && !strcmp(s[2], ""), "%s: strings", when);
    hp_report_free_strings(s, ns);

    double xf = 0;
    int64_t xi = 0;
    char *str = NULL;
    OK(hp_report_read_attr_f64(report, "/freq", "xmin_fraction", &xf, &err));
    CHECKF(xf == 0.125, "%s: xmin_fraction %g", when, xf);
    OK(hp_report_read_attr_i64(report, "/freq", "xmin", &xi, &err));
    CHECKF(xi == 8, "%s: xmin %lld", when, (long long)xi);
    OK(hp_report_read_attr_str(report, "/freq", "method", &str, &err));
    CHECKF(str && !strcmp(str, "discrete MLE"), "%s: method", when);
    free(str);
    OK(hp_report_read_attr_str(report, "/freq/counts", "definition", &str, &err));
    CHECKF(str && !strcmp(str, "occurrences of each token id"), "%s: definition", when);
    free(str);
    OK(hp_report_read_attr_str(report, "/freq/bins/mean", "units", &str, &err));
    CHECKF(str && !strcmp(str, "nats"), "%s: units", when);
    free(str);
    OK(hp_report_read_attr_str(report, "/freq", "command_line", &str, &err));
    CHECKF(str && !strcmp(str, "hyplora freq --corpus 'it'\\''s a file.txt' -o r.h5"),
          "%s: command line %s", when, str ? str : "(null)");
    free(str);
    OK(hp_report_read_attr_str(report, "/freq", "tool_version", &str, &err));
    CHECKF(str && !strcmp(str, "0.1.0"), "%s: tool_version", when);
    free(str);
    CHECKF(hp_report_has(report, "/freq/bins/mean", &err) == 1, "%s: has", when);
    CHECKF(hp_report_has(report, "/freq/nothing/here", &err) == 0, "%s: has not", when);
}

static void test_second_group(void)
{
    hp_err err = {{0}};
    char *created = NULL;
    OK(hp_report_read_attr_str(report, "/", "created_utc", &created, &err));
    sleep(1); /* so that updated_utc can differ from created_utc */
    hp_report *r = hp_report_begin(report, "norms", 4, argv_b, "0.1.1", &err);
    CHECKF(r != NULL, "begin norms: %s", err.msg);
    if (!r) {
        free(created);
        return;
    }
    /* While the new file is open, the old report is still readable. */
    int64_t *c = NULL, n = 0;
    OK(hp_report_read_i64(report, "/freq/counts", &c, &n, &err));
    free(c);
    OK(hp_report_add_input(r, input_b, &err));
    double v[2] = {1, 2};
    OK(hp_report_write_f64(r, "norm", 1, (int64_t[]){2}, v, "L2 norm of each embedding", NULL,
                           &err));
    OK(hp_report_commit(r, &err));

    check_first("after writing /norms");
    char *s = NULL;
    OK(hp_report_read_attr_str(report, "/", "created_utc", &s, &err));
    CHECKF(created && s && !strcmp(s, created), "created_utc changed: %s -> %s", created, s);
    free(s);
    OK(hp_report_read_attr_str(report, "/", "updated_utc", &s, &err));
    CHECKF(created && s && strcmp(s, created) > 0, "updated_utc %s not after %s", s, created);
    free(s);
    OK(hp_report_read_attr_str(report, "/", "command_line", &s, &err));
    CHECKF(s && !strcmp(s, "hyplora norms -o r.h5"), "root command_line %s", s);
    free(s);
    OK(hp_report_read_attr_str(report, "/", "tool_version", &s, &err));
    CHECKF(s && !strcmp(s, "0.1.1"), "root tool_version %s", s);
    free(s);
    free(created);
    CHECKF(count_temp_files() == 0, "a temporary file was left behind");
}

/* Rewriting /norms drops its old datasets; /freq stays. */
static void test_rewrite(void)
{
    hp_err err = {{0}};
    hp_report *r = hp_report_begin(report, "norms", 4, argv_b, "0.1.1", &err);
    CHECKF(r != NULL, "begin: %s", err.msg);
    if (!r)
        return;
    double v[1] = {9};
    OK(hp_report_write_f64(r, "other", 1, (int64_t[]){1}, v, "something else", NULL, &err));
    OK(hp_report_commit(r, &err));
    CHECKF(hp_report_has(report, "/norms/norm", &err) == 0, "old /norms/norm survived");
    CHECKF(hp_report_has(report, "/norms/other", &err) == 1, "new /norms/other missing");
    check_first("after rewriting /norms");
}

static void test_abort(void)
{
    hp_err err = {{0}};
    size_t n0 = 0, n1 = 0;
    unsigned char *before = slurp(report, &n0);
    hp_report *r = hp_report_begin(report, "freq", 6, argv_a, "0.2.0", &err);
    CHECKF(r != NULL, "begin: %s", err.msg);
    double v[1] = {1};
    OK(hp_report_write_f64(r, "x", 1, (int64_t[]){1}, v, "x", NULL, &err));
    hp_report_abort(r);
    hp_report_abort(NULL);
    unsigned char *after = slurp(report, &n1);
    CHECKF(before && after && n0 == n1 && !memcmp(before, after, n0),
          "abort changed the report");
    CHECKF(count_temp_files() == 0, "abort left a temporary file");
    free(before);
    free(after);
}

static void test_not_hdf5(void)
{
    hp_err err = {{0}};
    char path[4200];
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    write_file(path, "my precious notes\n");
    hp_report *r = hp_report_begin(path, "freq", 6, argv_a, "0.1.0", &err);
    CHECKF(r == NULL, "a text file accepted as a report");
    CHECKF(strstr(err.msg, path) && strstr(err.msg, "not an HDF5 file"), "message: %s", err.msg);
    hp_report_abort(r);
    size_t n = 0;
    unsigned char *text = slurp(path, &n);
    CHECKF(text && !strcmp((char *)text, "my precious notes\n"), "the text file was changed");
    free(text);
    CHECKF(count_temp_files() == 0, "a temporary file was left behind");
    double *d = NULL;
    int64_t nd = 0;
    CHECKF(hp_report_read_f64(path, "/freq/counts", &d, &nd, &err) == -1, "read from text");
    CHECKF(hp_report_has(path, "/freq", &err) == -1, "has on a text file");
    unlink(path);

    CHECKF(hp_report_begin(report, "Freq", 6, argv_a, "0.1.0", &err) == NULL,
          "a non-snake_case group accepted");
}

static void test_reader_errors(void)
{
    hp_err err = {{0}};
    double *d = NULL;
    int64_t n = 0, *i = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/absent.h5", dir);
    CHECKF(hp_report_has(path, "/freq", &err) == 0, "has on an absent report");
    CHECKF(hp_report_read_f64(path, "/freq/counts", &d, &n, &err) == -1, "absent report read");
    CHECKF(strstr(err.msg, "absent.h5") != NULL, "message: %s", err.msg);
    CHECKF(hp_report_read_f64(report, "/freq/missing", &d, &n, &err) == -1, "missing dataset");
    CHECKF(strstr(err.msg, "/freq/missing") != NULL, "message: %s", err.msg);
    CHECKF(hp_report_read_i64(report, "/freq/bins/mean", &i, &n, &err) == -1,
          "floats read as integers");
    CHECKF(hp_report_read_f64(report, "/freq/tokens", &d, &n, &err) == -1, "strings as f64");
    CHECKF(hp_report_read_f64(report, "/freq/bins", &d, &n, &err) == -1, "group as dataset");
    char *s = NULL;
    CHECKF(hp_report_read_attr_str(report, "/freq", "nope", &s, &err) == -1, "missing attr");
    CHECKF(strstr(err.msg, "nope") != NULL, "message: %s", err.msg);
    int64_t x = 0;
    CHECKF(hp_report_read_attr_i64(report, "/freq", "xmin_fraction", &x, &err) == -1,
          "a float attribute read as an integer");
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(report, sizeof report, "%s/report.h5", dir);
    snprintf(input_a, sizeof input_a, "%s/corpus.txt", dir);
    snprintf(input_b, sizeof input_b, "%s/model.safetensors", dir);
    write_file(input_a, "abc");
    write_file(input_b, "not really a model");

    write_first();
    check_first("after writing /freq");
    test_second_group();
    test_rewrite();
    test_abort();
    test_not_hdf5();
    test_reader_errors();

    unlink(report);
    unlink(input_a);
    unlink(input_b);
    rmdir(dir);
    return check_exit();
}
