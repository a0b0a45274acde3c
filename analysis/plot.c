/* `hyplora plot REPORT -o DIR`: gnuplot charts of whatever groups a report holds.
 *
 * This file is the dispatcher (options, which groups the report has, the output
 * directory) and the one place that writes files and runs gnuplot; each family of groups
 * (plot_powerlaw.c, plot_norms.c, plot_delta.c, plot_train.c) only writes the numbers and the
 * plot command of its charts (plot.h). gnuplot is run with -d (no ~/.gnuplot or system init
 * file) so a chart depends on the report alone, and neither its PNG (cairo) nor its SVG
 * terminal writes a date: the same report gives byte-identical files. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "plot.h"

static const char *HELP =
    "usage: hyplora plot [--format png|svg|both] [--group NAME] -o DIR REPORT\n"
    "\n"
    "Draws gnuplot charts of the groups of an HDF5 report, as PNG (pngcairo) and SVG, each\n"
    "beside its data as a tab-separated .tsv file (header line first) and the gnuplot\n"
    "script that drew it (redraw or restyle with: cd DIR && gnuplot NAME.gp).\n"
    "\n"
    "Groups drawn (docs/plot.md):\n"
    "  /freq       token counts (hyplora freq)\n"
    "  /powerlaw   a sample of numbers (hyplora powerlaw)\n"
    "as charts G_count_distribution (with the fitted power law, gamma and xmin), G_ccdf,\n"
    "G_rank_frequency (with the Zipf line) and G_xmin_scan, G the group's name;\n"
    "  /norms      embedding norms against token counts (hyplora norms)\n"
    "as norms_vs_frequency, norms_centered_vs_frequency, norms_output_vs_frequency (an\n"
    "untied head), norms_groups (word groups) and norms_pca (principal components);\n"
    "  /delta      Gromov delta-hyperbolicity (hyplora delta)\n"
    "as delta_G_distribution (delta_rel over the prompts or tries of /delta/G) and delta_G\n"
    "(delta_rel per layer); a group of one measurement has no chart;\n"
    "  /train      the training log (train_log.h5 of hyplora train and pretrain)\n"
    "as train_loss (loss per step, its moving average, the validation loss), train_lr,\n"
    "train_grad_norm and, for HypLoRA runs, train_curvature (K per module);\n"
    "  /recommend  the plan of hyplora analyze\n"
    "as recommend_layers (delta_rel per decoder layer, the layers given HypLoRA marked).\n"
    "\n"
    "Options:\n"
    "  -o, --output DIR    directory for the charts (created if missing)\n"
    "  --format F          png, svg or both (default both)\n"
    "  --group NAME        draw only this top-level group (freq, powerlaw, norms, delta,\n"
    "                      train, recommend)\n"
    "  -h, --help          this text\n"
    "\n"
    "Needs gnuplot (Debian package gnuplot-nox). Files are written under temporary names\n"
    "and renamed, so a failed run leaves no partial chart. The same report always gives\n"
    "byte-identical files.\n"
    "\n"
    "Exit status: 0 success, 1 bad input or failure, 2 usage error.\n"
    "\n"
    "Example:\n"
    "  hyplora powerlaw --compare notebooks-data/datasets/powerlaw/mobydick_words.txt -o r.h5\n"
    "  hyplora plot r.h5 -o charts    # charts/powerlaw_ccdf.png, charts/powerlaw_ccdf.svg, ...\n";

static const plot_family *const FAMILIES[] = {&plot_family_freq, &plot_family_powerlaw,
                                              &plot_family_norms, &plot_family_delta,
                                              &plot_family_train, &plot_family_recommend};
#define N_FAMILIES (sizeof FAMILIES / sizeof FAMILIES[0])

/* ---- small helpers shared with the families ---- */

void plot_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\'')
            fputs("''", f);
        else
            fputc(ch < 0x20 || ch == 0x7f ? ' ' : ch, f);
    }
    fputc('\'', f);
}

void plot_free_strings(char **s, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        free(s[i]);
    free(s);
}

/* Reads a string attribute already opened as attr into n fresh strings. */
static int read_string_attr(hid_t attr, hid_t type, size_t npts, char **out, hp_err *err)
{
    int vlen = H5Tis_variable_str(type) > 0;
    size_t width = H5Tget_size(type);
    hid_t mem = H5Tcopy(H5T_C_S1);
    if (mem < 0 || H5Tset_size(mem, vlen ? H5T_VARIABLE : width + 1) < 0 ||
        H5Tset_cset(mem, H5Tget_cset(type)) < 0) {
        if (mem >= 0)
            H5Tclose(mem);
        return hp_fail(err, "cannot set up a string type");
    }
    size_t elem = vlen ? sizeof(char *) : width + 1;
    char *buf = hp_calloc(npts ? npts : 1, elem, "a string attribute", err);
    int rc = -1;
    if (buf && H5Aread(attr, mem, buf) >= 0) {
        rc = 0;
        for (size_t i = 0; i < npts && rc == 0; i++) {
            const char *s = vlen ? ((char **)(void *)buf)[i] : buf + i * elem;
            out[i] = hp_strdup(s ? s : "", err);
            if (!out[i])
                rc = -1;
        }
        if (vlen) {
            hid_t space = H5Aget_space(attr);
            H5Dvlen_reclaim(mem, space, H5P_DEFAULT, buf);
            H5Sclose(space);
        }
    } else if (buf) {
        hp_fail(err, "cannot read a string attribute");
    }
    free(buf);
    H5Tclose(mem);
    return rc;
}

int plot_attr_strings(const plot_job *job, const char *object, const char *name, char ***s,
                      size_t *n, hp_err *err)
{
    *s = NULL;
    *n = 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(job->report, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return hp_fail(err, "%s: cannot open the report", job->report);
    int rc = 0;
    if (H5Aexists_by_name(f, object, name, H5P_DEFAULT) > 0) {
        hid_t a = H5Aopen_by_name(f, object, name, H5P_DEFAULT, H5P_DEFAULT);
        hid_t t = a >= 0 ? H5Aget_type(a) : -1;
        hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
        hssize_t npts = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        if (t >= 0 && H5Tget_class(t) == H5T_STRING && npts > 0 && npts < 100000) {
            char **v = hp_calloc((size_t)npts, sizeof *v, "attribute strings", err);
            rc = v ? read_string_attr(a, t, (size_t)npts, v, err) : -1;
            if (rc == 0) {
                *s = v;
                *n = (size_t)npts;
            } else {
                plot_free_strings(v, (size_t)npts);
                hp_failctx(err, "%s: attribute %s of %s", job->report, name, object);
            }
        }
        if (sp >= 0)
            H5Sclose(sp);
        if (t >= 0)
            H5Tclose(t);
        if (a >= 0)
            H5Aclose(a);
    }
    H5Fclose(f);
    return rc;
}

char *plot_short_paths(char *const *paths, size_t n, size_t max_len, hp_err *err)
{
    size_t cap = max_len + 64;
    char *out = hp_malloc(cap, "a label", err);
    if (!out)
        return NULL;
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        /* "path (note)": the path shortened to its last two components ("llama2/
         * tokenizer.json" says more than "tokenizer.json"), the note kept */
        const char *p = paths[i], *note = strstr(p, " (");
        const char *e = note ? note : p + strlen(p), *c = e;
        int slashes = 0;
        while (c > p && !(c[-1] == '/' && ++slashes == 2))
            c--;
        if (!note)
            note = e;
        size_t need = (size_t)(e - c) + strlen(note) + (i ? 2 : 0);
        if (i > 0 && len + need > max_len) {
            snprintf(out + len, cap - len, ", +%zu more", n - i);
            break;
        }
        snprintf(out + len, cap - len, "%s%.*s%s", i ? ", " : "", (int)(e - c), c, note);
        len = strlen(out);
        if (len + 24 >= cap)
            break;
    }
    return out;
}

/* ---- charts: data and script to a temporary directory, gnuplot, rename ---- */

void plot_frame(FILE *f, const char *title, const char *source, const char *xlabel, const char *ylabel)
{
    fputs("set title ", f);
    plot_quote(f, title);
    if (source && source[0]) {
        fputs(" . \"\\n\" . ", f);
        plot_quote(f, source);
    }
    fputs(" noenhanced\nset xlabel ", f);
    plot_quote(f, xlabel);
    fputs(" noenhanced\nset ylabel ", f);
    plot_quote(f, ylabel);
    fputs(" noenhanced\nset grid\n", f);
}

void plot_legend(FILE *f, const char *text)
{
    fputs(" title ", f);
    plot_quote(f, text);
    fputs(" noenhanced", f);
}

int plot_chart_begin(plot_chart *c, const char *group, const char *kind, FILE **data,
                     hp_err *err)
{
    memset(c, 0, sizeof *c);
    snprintf(c->group, sizeof c->group, "%s", group);
    snprintf(c->name, sizeof c->name, "%s_%s", group, kind);
    c->body = open_memstream(&c->body_buf, &c->body_len);
    if (!c->body)
        return hp_fail(err, "cannot allocate the script of chart %s", c->name);
    return plot_chart_add_data(c, "data", "", data, err);
}

int plot_chart_add_data(plot_chart *c, const char *var, const char *suffix, FILE **data,
                        hp_err *err)
{
    if (c->n_data == PLOT_MAX_DATA)
        return hp_fail(err, "chart %s: more than %d data files", c->name, PLOT_MAX_DATA);
    int i = c->n_data;
    snprintf(c->var[i], sizeof c->var[i], "%s", var);
    snprintf(c->suffix[i], sizeof c->suffix[i], "%s", suffix);
    c->data[i] = open_memstream(&c->data_buf[i], &c->data_len[i]);
    if (!c->data[i])
        return hp_fail(err, "cannot allocate the data of chart %s", c->name);
    c->n_data++;
    *data = c->data[i];
    return 0;
}

void plot_chart_discard(plot_chart *c)
{
    for (int i = 0; i < c->n_data; i++) {
        if (c->data[i])
            fclose(c->data[i]);
        free(c->data_buf[i]);
    }
    if (c->body)
        fclose(c->body);
    free(c->body_buf);
    memset(c, 0, sizeof *c);
}

/* The files of one chart, by final name: data files, script, images. */
typedef struct chart_files {
    char name[PLOT_MAX_DATA + 3][160];
    int n;
} chart_files;

static void chart_file_names(const plot_job *job, const plot_chart *c, chart_files *fl)
{
    fl->n = 0;
    for (int i = 0; i < c->n_data; i++)
        snprintf(fl->name[fl->n++], sizeof fl->name[0], "%s%s.tsv", c->name, c->suffix[i]);
    snprintf(fl->name[fl->n++], sizeof fl->name[0], "%s.gp", c->name);
    if (job->png)
        snprintf(fl->name[fl->n++], sizeof fl->name[0], "%s.png", c->name);
    if (job->svg)
        snprintf(fl->name[fl->n++], sizeof fl->name[0], "%s.svg", c->name);
}

static int write_file(const char *dir, const char *name, const char *buf, size_t len,
                      hp_err *err)
{
    char path[4096 + 200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return hp_fail(err, "%s: cannot create: %s", path, strerror(errno));
    int bad = fwrite(buf, 1, len, f) != len;
    bad |= fclose(f) != 0;
    if (bad)
        return hp_fail(err, "%s: cannot write: %s", path, strerror(errno));
    return 0;
}

/* The whole script: the data file names, then the chart drawn once per format. */
static int compose_script(const plot_job *job, const plot_chart *c, char **buf, size_t *len, hp_err *err)
{
    FILE *f = open_memstream(buf, len);
    if (!f)
        return hp_fail(err, "cannot allocate the script of chart %s", c->name);
    fprintf(f, "# %s: drawn by 'hyplora plot' from report group /%s.\n"
               "# Redraw or restyle in this directory with: gnuplot %s.gp\n"
               "set encoding utf8\nset datafile separator \"\\t\"\n",
            c->name, c->group, c->name);
    for (int i = 0; i < c->n_data; i++)
        fprintf(f, "%s = '%s%s.tsv'\n", c->var[i], c->name, c->suffix[i]);
    int drawn = 0;
    static const char *const TERM[2] = {
        "set terminal pngcairo size 1000,700 enhanced font 'Sans,11' background rgb 'white'",
        "set terminal svg size 1000,700 fixed enhanced font 'Sans,11' background rgb 'white'",
    };
    static const char *const EXT[2] = {"png", "svg"};
    for (int k = 0; k < 2; k++) {
        if (!(k == 0 ? job->png : job->svg))
            continue;
        fprintf(f, "\n%s\nset output '%s.%s'\n", TERM[k], c->name, EXT[k]);
        if (drawn++ == 0)
            fwrite(c->body_buf, 1, c->body_len, f);
        else
            fputs("replot\n", f);
        fputs("set output\n", f);
    }
    if (fclose(f) != 0)
        return hp_fail(err, "cannot write the script of chart %s", c->name);
    return 0;
}

/* Runs `gnuplot -d NAME.gp` in dir; its messages come back in err on failure. */
static int run_gnuplot(const char *dir, const char *script, hp_err *err)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return hp_fail(err, "cannot run gnuplot: pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return hp_fail(err, "cannot run gnuplot: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
        }
        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[0]);
        if (chdir(dir) != 0)
            _exit(126);
        execlp("gnuplot", "gnuplot", "-d", script, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    char msg[600];
    size_t used = 0;
    ssize_t r;
    char chunk[512];
    while ((r = read(pipefd[0], chunk, sizeof chunk)) > 0 || (r < 0 && errno == EINTR)) {
        size_t take = r > 0 ? (size_t)r : 0;
        if (take > sizeof msg - 1 - used)
            take = sizeof msg - 1 - used;
        memcpy(msg + used, chunk, take);
        used += take;
    }
    msg[used] = 0;
    close(pipefd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return hp_fail(err, "cannot run gnuplot: waitpid: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        if (used)
            cli_verbose("gnuplot on %s: %s", script, msg);
        return 0;
    }
    while (used && (msg[used - 1] == '\n' || msg[used - 1] == ' '))
        msg[--used] = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return hp_fail(err, "cannot run gnuplot (install the Debian package gnuplot-nox)");
    return hp_fail(err, "gnuplot failed on %s (%s %d)%s%s", script,
                   WIFEXITED(status) ? "exit status" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                   used ? ": " : "", msg);
}

static void remove_tmp(const char *tmp, const chart_files *fl)
{
    char path[4096 + 200];
    for (int i = 0; i < fl->n; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp, fl->name[i]);
        unlink(path);
    }
    rmdir(tmp);
}

/* Every file of the chart is made in a fresh directory inside job->dir and renamed out of
 * it only once gnuplot has drawn every image: a failure or a kill leaves no half-written
 * chart under a final name (at worst a stray .plot-tmp-XXXXXX directory). */
int plot_chart_finish(plot_job *job, plot_chart *c, hp_err *err)
{
    int bad = 0;
    for (int i = 0; i < c->n_data; i++)
        bad |= fflush(c->data[i]) != 0;
    bad |= fflush(c->body) != 0;
    if (bad) {
        plot_chart_discard(c);
        return hp_fail(err, "chart %s: out of memory", c->name);
    }
    chart_files fl;
    chart_file_names(job, c, &fl);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/.plot-tmp-XXXXXX", job->dir);
    if (!mkdtemp(tmp)) {
        plot_chart_discard(c);
        return hp_fail(err, "%s: cannot create a file here: %s", job->dir, strerror(errno));
    }
    char *script = NULL;
    size_t script_len = 0;
    int rc = compose_script(job, c, &script, &script_len, err);
    for (int i = 0; rc == 0 && i < c->n_data; i++)
        rc = write_file(tmp, fl.name[i], c->data_buf[i], c->data_len[i], err);
    if (rc == 0)
        rc = write_file(tmp, fl.name[c->n_data], script, script_len, err);
    if (rc == 0)
        rc = run_gnuplot(tmp, fl.name[c->n_data], err);
    for (int i = 0; rc == 0 && i < fl.n; i++) {
        char from[4096 + 200], to[4096 + 200];
        snprintf(from, sizeof from, "%s/%s", tmp, fl.name[i]);
        snprintf(to, sizeof to, "%s/%s", job->dir, fl.name[i]);
        if (rename(from, to) != 0)
            rc = hp_fail(err, "%s: cannot rename into place: %s", to, strerror(errno));
        else if (i > c->n_data && g_cli.verbosity > 0)
            printf("%s\n", to);
    }
    remove_tmp(tmp, &fl);
    free(script);
    plot_chart_discard(c);
    if (rc == 0)
        job->n_charts++;
    return rc;
}

int plot_subgroups(const char *report, const char *object, char ***names, size_t *n,
                   hp_err *err)
{
    *names = NULL;
    *n = 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(report, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return hp_fail(err, "%s: cannot open the report", report);
    hid_t g = H5Gopen2(f, object, H5P_DEFAULT);
    H5G_info_t info;
    int rc = g < 0 || H5Gget_info(g, &info) < 0
                 ? hp_fail(err, "%s: cannot list the groups of %s", report, object)
                 : 0;
    if (rc == 0 && info.nlinks > 0) {
        *names = hp_calloc(info.nlinks, sizeof **names, "group names", err);
        rc = *names ? 0 : -1;
    }
    for (hsize_t i = 0; rc == 0 && i < info.nlinks; i++) {
        char name[256];
        ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                         sizeof name, H5P_DEFAULT);
        if (len < 0 || (size_t)len >= sizeof name)
            continue;
        hid_t o = H5Oopen(g, name, H5P_DEFAULT);
        int is_group = o >= 0 && H5Iget_type(o) == H5I_GROUP;
        if (o >= 0)
            H5Oclose(o);
        if (is_group && !((*names)[(*n)++] = hp_strdup(name, err)))
            rc = -1;
    }
    if (g >= 0)
        H5Gclose(g);
    H5Fclose(f);
    return rc;
}

/* ---- the report and the output directory ---- */

typedef struct name_list {
    char **s;
    size_t n;
} name_list;

/* The top-level groups of the report, by name (HDF5's name index: a stable order). */
static int list_groups(const char *path, name_list *out, hp_err *err)
{
    return plot_subgroups(path, "/", &out->s, &out->n, err);
}

/* "/freq, /model" or "no groups at all". */
static void describe_groups(const name_list *g, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    if (g->n == 0)
        snprintf(buf, cap, "no groups at all");
    for (size_t i = 0; i < g->n && len < cap; i++) {
        snprintf(buf + len, cap - len, "%s/%s", i ? ", " : "", g->s[i]);
        len = strlen(buf);
    }
}

static const plot_family *family_of(const char *group)
{
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (strcmp(FAMILIES[i]->group, group) == 0)
            return FAMILIES[i];
    return NULL;
}

static int have_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/bin:/bin";
    char buf[4096];
    for (const char *p = path; *p;) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/gnuplot", (int)len, len ? p : ".");
        if (access(buf, X_OK) == 0)
            return 1;
        p += len + (e != NULL);
    }
    return 0;
}

/* The groups to draw: every family's group present in the report (or only --group).
 * Fails, listing what the report has, when there is nothing to draw. */
static int choose_groups(const plot_job *job, const name_list *g, const char *only,
                         const plot_family **todo, int *n_todo, hp_err *err)
{
    char have[1024];
    describe_groups(g, have, sizeof have);
    char why[1024] = "";
    size_t wl = 0;
    *n_todo = 0;
    int found_only = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (only && strcmp(g->s[i], only) != 0)
            continue;
        found_only = 1;
        const plot_family *fam = family_of(g->s[i]);
        const char *no = fam ? fam->unplottable(job, g->s[i]) : "hyplora plot cannot draw it yet";
        if (!no)
            todo[(*n_todo)++] = fam;
        else if (wl < sizeof why)
            wl += (size_t)snprintf(why + wl, sizeof why - wl, "%s/%s: %s", wl ? "; " : "",
                                   g->s[i], no);
    }
    if (only && !found_only)
        return hp_fail(err, "%s: the report has no group /%s (it has %s)", job->report, only,
                       have);
    if (*n_todo == 0)
        return hp_fail(err, "%s: nothing to plot: the report has %s%s%s%s; hyplora plot "
                            "draws /freq, /powerlaw, /norms, /delta, /train and /recommend", job->report,
                       have, wl ? " (" : "", why, wl ? ")" : "");
    return 0;
}

static int plot_report(plot_job *job, const char *only, hp_err *err)
{
    struct stat st;
    if (stat(job->report, &st) != 0)
        return hp_fail(err, "%s: cannot read the report: %s", job->report, strerror(errno));
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (S_ISREG(st.st_mode) && H5Fis_hdf5(job->report) <= 0)
        return hp_fail(err, "%s: not an HDF5 file (hyplora plot reads the report that "
                            "'hyplora freq', 'hyplora powerlaw', 'hyplora norms' or "
                            "'hyplora delta' wrote with -o, or the train_log.h5 of 'hyplora "
                            "train')", job->report);
    if (hp_report_has(job->report, "/", err) != 1)
        return -1;
    name_list g;
    const plot_family *todo[N_FAMILIES];
    int n_todo = 0;
    int rc = list_groups(job->report, &g, err);
    if (rc == 0)
        rc = choose_groups(job, &g, only, todo, &n_todo, err);
    plot_free_strings(g.s, g.n);
    if (rc != 0)
        return -1;
    if (!have_gnuplot())
        return hp_fail(err, "gnuplot is not installed (not found on PATH): hyplora plot draws "
                            "with it; install the Debian package gnuplot-nox "
                            "(apt-get install gnuplot-nox)");
    if (hp_make_dirs(job->dir, err) != 0)
        return -1;
    for (int i = 0; i < n_todo; i++)
        if (todo[i]->plot(job, todo[i]->group, err) != 0)
            return hp_failctx(err, "%s: group /%s", job->report, todo[i]->group);
    return 0;
}

int cmd_plot(int argc, char **argv)
{
    enum { O_FORMAT = 1000, O_GROUP };
    static const struct option OPTS[] = {
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, O_FORMAT},
        {"group", required_argument, NULL, O_GROUP},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    plot_job job = {.png = 1, .svg = 1};
    const char *only = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", OPTS, NULL)) != -1) {
        switch (c) {
        case 'o':
            job.dir = optarg;
            break;
        case O_FORMAT:
            job.png = !strcmp(optarg, "png") || !strcmp(optarg, "both");
            job.svg = !strcmp(optarg, "svg") || !strcmp(optarg, "both");
            if (!job.png && !job.svg)
                return cli_usage_error("plot", "--format expects png, svg or both, got '%s'",
                                       optarg);
            break;
        case O_GROUP:
            only = optarg[0] == '/' ? optarg + 1 : optarg;
            break;
        case 'h':
            fputs(HELP, stdout);
            return EXIT_OK;
        default:
            return cli_usage_error("plot", "invalid option");
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("plot", "expected one REPORT");
    if (!job.dir || !*job.dir)
        return cli_usage_error("plot", "-o DIR is required (the directory for the charts)");
    job.report = argv[optind];
    hp_err err;
    if (plot_report(&job, only, &err) != 0)
        return cli_fail(&err);
    return EXIT_OK;
}
