/* The training log, checkpoints and the HDF5 log (train/train_state.h). */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dist.h"
#include "train_state.h"

#define CHECKPOINT_FORMAT "hyplora-train-checkpoint-1"

/* ---- the log ---- */

int train_log_add(train_log *g, const double row[LOG_COLS], const hp_adapter_set *set, hp_err *err)
{
    if (hp_grow((void **)&g->row, &g->cap, g->n + 1, LOG_COLS * sizeof *g->row, "the training log", err) ||
        (g->n_hyp &&
         hp_grow((void **)&g->K, &g->K_cap, g->n + 1, (size_t)g->n_hyp * sizeof *g->K, "the training log", err)))
        return -1;
    memcpy(g->row + g->n * LOG_COLS, row, LOG_COLS * sizeof *row);
    for (size_t i = 0, j = 0; g->n_hyp && i < set->n; i++)
        if (set->a[i].k)
            g->K[g->n * (size_t)g->n_hyp + j++] = hp_adapter_curvature(*set->a[i].k);
    g->n++;
    return 0;
}

int train_log_add_val(train_log *g, double step, double loss, hp_err *err)
{
    if (hp_grow((void **)&g->val, &g->val_cap, g->n_val + 1, 2 * sizeof *g->val, "the training log", err))
        return -1;
    g->val[2 * g->n_val] = step;
    g->val[2 * g->n_val + 1] = loss;
    g->n_val++;
    return 0;
}

void train_log_free(train_log *g)
{
    free(g->row);
    free(g->K);
    free(g->val);
    int n_hyp = g->n_hyp;
    memset(g, 0, sizeof *g);
    g->n_hyp = n_hyp;
}

void train_settings_add(train_settings *s, const char *key, const char *fmt, ...)
{
    if (s->n == sizeof s->key / sizeof s->key[0])
        abort(); /* a programming error: raise the limit */
    snprintf(s->key[s->n], sizeof s->key[0], "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->value[s->n], sizeof s->value[0], fmt, ap);
    va_end(ap);
    s->n++;
}

/* ---- the checkpoint ---- */

static hp_st_write tensor(const char *name, hp_dtype dtype, int64_t rows, int64_t cols, const void *data)
{
    hp_st_write t = {.name = name, .dtype = dtype, .ndim = cols ? 2 : 1, .data = data};
    t.shape[0] = rows;
    t.shape[1] = cols;
    return t;
}

int train_checkpoint_save(const char *path, const char *what, const float *params, size_t n_params, const hp_optim *opt,
                          const train_log *g, const train_settings *s, int64_t step, hp_err *err)
{
    hp_st_write t[7];
    size_t n = 0;
    t[n++] = tensor(what, HP_F32, (int64_t)n_params, 0, params);
    t[n++] = tensor("optim_m", HP_F32, (int64_t)opt->n, 0, opt->m);
    if (opt->v)
        t[n++] = tensor("optim_v", HP_F32, (int64_t)opt->n, 0, opt->v);
    if (g->n) /* safetensors has no use for empty tensors: an absent one means none */
        t[n++] = tensor("log", HP_F64, (int64_t)g->n, LOG_COLS, g->row);
    if (g->n && g->n_hyp)
        t[n++] = tensor("log_K", HP_F64, (int64_t)g->n, g->n_hyp, g->K);
    if (g->n_val)
        t[n++] = tensor("val", HP_F64, (int64_t)g->n_val, 2, g->val);
    char steps[2][32];
    snprintf(steps[0], sizeof steps[0], "%lld", (long long)step);
    snprintf(steps[1], sizeof steps[1], "%lld", (long long)opt->step);
    const char *meta[2 * (3 + TRAIN_MAX_SETTINGS)];
    size_t m = 0;
    meta[m++] = "format", meta[m++] = CHECKPOINT_FORMAT;
    meta[m++] = "step", meta[m++] = steps[0];
    meta[m++] = "optim_step", meta[m++] = steps[1];
    for (size_t i = 0; i < s->n; i++)
        meta[m++] = s->key[i], meta[m++] = s->value[i];
    return hp_safetensors_write(path, t, n, meta, m / 2, err);
}

static const char *meta_get(const hp_safetensors *st, const char *key)
{
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0)
            return st->meta_values[i];
    return NULL;
}

/* Copies tensor `name` (dtype, rows x cols; cols 0: a vector) into dst; absent and
 * optional: nothing to copy. */
static int take(const hp_safetensors *st, const char *path, const char *name, hp_dtype dtype, size_t rows,
                size_t cols, bool optional, void *dst, hp_err *err)
{
    for (size_t i = 0; i < st->n_tensors; i++) {
        const hp_tensor *t = &st->tensors[i];
        if (strcmp(t->name, name))
            continue;
        bool ok = t->dtype == dtype && t->ndim == (cols ? 2 : 1) && (size_t)t->shape[0] == rows &&
                  (!cols || (size_t)t->shape[1] == cols);
        if (!ok)
            return hp_fail(err, "%s: tensor %s is %s %s; this run expects %s [%zu%s%.0zu]", path, name, t->dtype_name,
                           hp_tensor_shape_str(t, (char[64]){0}, 64), hp_dtype_name(dtype), rows, cols ? ", " : "",
                           cols);
        memcpy(dst, t->data, t->nbytes);
        return 0;
    }
    return optional ? 0 : hp_fail(err, "%s: tensor %s is missing", path, name);
}

static int read_count(const hp_safetensors *st, const char *path, const char *key, int64_t *v, hp_err *err)
{
    const char *s = meta_get(st, key);
    char *end;
    long long x = s ? strtoll(s, &end, 10) : -1;
    if (!s || *end || x < 0)
        return hp_fail(err, "%s: metadata %s is %s; expected a count", path, key, s ? s : "missing");
    *v = x;
    return 0;
}

int train_checkpoint_load(const char *path, const char *what, float *params, size_t n_params, hp_optim *opt,
                          train_log *g, const train_settings *s, int64_t *step, hp_err *err)
{
    hp_safetensors st;
    if (hp_safetensors_open(&st, path, 0, err))
        return -1;
    int rc = 0;
    const char *format = meta_get(&st, "format");
    if (!format || strcmp(format, CHECKPOINT_FORMAT))
        rc = hp_fail(err, "%s is not a hyplora training checkpoint (metadata format is %s, expected %s)", path,
                     format ? format : "missing", CHECKPOINT_FORMAT);
    for (size_t i = 0; rc == 0 && i < s->n; i++) {
        const char *v = meta_get(&st, s->key[i]);
        if (!v || strcmp(v, s->value[i]))
            rc = hp_fail(err, "--resume: the checkpoint %s was made with %s %s, this run has %s %s: resume with the "
                              "options of the interrupted run, or start afresh without --resume",
                         path, s->key[i], v ? v : "(none)", s->key[i], s->value[i]);
    }
    int64_t n_log = 0, n_val = 0;
    for (size_t i = 0; rc == 0 && i < st.n_tensors; i++) {
        const hp_tensor *t = &st.tensors[i];
        if (strcmp(t->name, "log") == 0)
            n_log = t->shape[0];
        else if (strcmp(t->name, "val") == 0)
            n_val = t->shape[0];
    }
    train_log_free(g);
    if (rc == 0 && (read_count(&st, path, "step", step, err) || read_count(&st, path, "optim_step", &opt->step, err)))
        rc = -1;
    if (rc == 0 && n_log != *step)
        rc = hp_fail(err, "%s: the log has %lld steps but the checkpoint says %lld were taken", path,
                     (long long)n_log, (long long)*step);
    if (rc == 0 && ((g->cap = g->K_cap = (size_t)n_log) > 0) &&
        (!(g->row = hp_malloc((size_t)n_log * LOG_COLS * sizeof *g->row, "the training log", err)) ||
         (g->n_hyp && !(g->K = hp_malloc((size_t)n_log * g->n_hyp * sizeof *g->K, "the training log", err)))))
        rc = -1;
    if (rc == 0 && ((g->val_cap = (size_t)n_val) > 0) &&
        !(g->val = hp_malloc((size_t)n_val * 2 * sizeof *g->val, "the training log", err)))
        rc = -1;
    if (rc == 0 &&
        (take(&st, path, what, HP_F32, n_params, 0, false, params, err) ||
         take(&st, path, "optim_m", HP_F32, opt->n, 0, false, opt->m, err) ||
         (opt->v && take(&st, path, "optim_v", HP_F32, opt->n, 0, false, opt->v, err)) ||
         take(&st, path, "log", HP_F64, (size_t)n_log, LOG_COLS, true, g->row, err) ||
         (g->n_hyp && take(&st, path, "log_K", HP_F64, (size_t)n_log, (size_t)g->n_hyp, n_log == 0, g->K, err)) ||
         take(&st, path, "val", HP_F64, (size_t)n_val, 2, true, g->val, err)))
        rc = -1;
    if (rc == 0) {
        g->n = (size_t)n_log;
        g->n_val = (size_t)n_val;
    }
    hp_safetensors_close(&st);
    return rc;
}

/* ---- the HDF5 log ---- */

static int write_column(hp_report *r, const train_log *g, int col, const char *name, const char *definition,
                        const char *units, hp_err *err)
{
    double *v = hp_malloc((g->n ? g->n : 1) * sizeof *v, "the training log", err);
    if (!v)
        return -1;
    for (size_t i = 0; i < g->n; i++)
        v[i] = g->row[i * LOG_COLS + col];
    int64_t dims[1] = {(int64_t)g->n};
    int rc = hp_report_write_f64(r, name, 1, dims, v, definition, units, err);
    free(v);
    return rc;
}

int train_log_write(const char *path, const train_log *g, const hp_adapter_set *set, const train_settings *s,
                    const int64_t *val_items, size_t n_val, const char *val_items_definition,
                    const char *const *inputs, int n_inputs, hp_err *err)
{
    hp_report *r = hp_report_begin(path, "train", g_cli.argc, g_cli.argv, HYPLORA_VERSION, err);
    if (!r)
        return -1;
    char **names = hp_calloc(g->n_hyp ? (size_t)g->n_hyp : 1, sizeof *names, "the module names", err);
    int rc = names ? 0 : -1;
    for (size_t i = 0, j = 0; rc == 0 && g->n_hyp && i < set->n; i++)
        if (set->a[i].k && !(names[j] = malloc(96)))
            rc = hp_fail(err, "out of memory for the module names");
        else if (set->a[i].k)
            hp_adapter_spec_name(&set->spec[i], names[j++], 96);
    for (int i = 0; rc == 0 && i < n_inputs; i++)
        rc = hp_report_add_input(r, inputs[i], err);
    for (size_t i = 0; rc == 0 && i < s->n; i++)
        rc = hp_report_attr_str(r, "", s->key[i], s->value[i], err);
    if (rc == 0)
        rc = write_column(r, g, LOG_STEP, "step", "the optimiser step (1-based) each row describes", NULL, err) ||
             write_column(r, g, LOG_LOSS, "loss",
                          "the step's training loss: the mean over its micro-batches of their mean token "
                          "cross-entropy (natural log), with dropout where the run has it", "nats per token", err) ||
             write_column(r, g, LOG_LR, "learning_rate", "the learning rate of the step", NULL, err) ||
             write_column(r, g, LOG_GRAD_NORM, "grad_norm", "the global L2 norm of the trained "
                          "parameters' gradient (the mean over the micro-batches), before clipping", NULL, err) ||
             write_column(r, g, LOG_TOKENS, "tokens", "the positions of the step's micro-batches that are not "
                          "padding", "tokens", err) ||
             write_column(r, g, LOG_TOKENS_PER_S, "tokens_per_s", "tokens divided by the step's wall time",
                          "tokens/s", err)
                 ? -1 : 0;
    if (rc == 0 && g->n_hyp) {
        int64_t dims[2] = {(int64_t)g->n, g->n_hyp};
        rc = hp_report_write_f64(r, "curvature", 2, dims, g->K, "each HypLoRA module's curvature K = "
                                 "softplus(k) + 1e-6 after the step; columns in the order of curvature_modules",
                                 NULL, err) ||
             hp_report_write_strings(r, "curvature_modules", (size_t)g->n_hyp, (const char *const *)names,
                                     "the HypLoRA module of each column of curvature", err) ? -1 : 0;
    }
    double *steps = rc == 0 ? hp_malloc((g->n_val ? g->n_val : 1) * 2 * sizeof *steps, "the log", err) : NULL;
    if (rc == 0 && !steps)
        rc = -1;
    if (rc == 0) {
        for (size_t i = 0; i < g->n_val; i++)
            steps[i] = g->val[2 * i], steps[g->n_val + i] = g->val[2 * i + 1];
        int64_t dims[1] = {(int64_t)g->n_val};
        rc = hp_report_write_f64(r, "val_step", 1, dims, steps, "the optimiser steps after which the validation "
                                 "loss was measured", NULL, err) ||
             hp_report_write_f64(r, "val_loss", 1, dims, steps + g->n_val, "the mean token cross-entropy over "
                                 "the validation items (as hyplora loss computes it), without dropout",
                                 "nats per token", err) ? -1 : 0;
    }
    if (rc == 0) {
        int64_t dims[1] = {(int64_t)n_val};
        rc = hp_report_write_i64(r, "val_items", 1, dims, val_items, val_items_definition, NULL, err);
    }
    free(steps);
    for (int i = 0; names && i < g->n_hyp; i++)
        free(names[i]);
    free(names);
    if (rc == 0)
        return hp_report_commit(r, err);
    hp_report_abort(r);
    return -1;
}

/* ---- stopping ----
 * One process stops after the step in progress on Ctrl-C or SIGTERM, with everything saved.
 * In a job of several ranks, mpirun answers Ctrl-C, and any rank's failure, by sending
 * SIGTERM to every rank and SIGKILL soon after, so a rank cannot finish its step: it says
 * which step it was in and which checkpoint is kept, and exits at once (after a save in
 * progress, which is atomic anyway). SIGUSR1, which mpirun forwards to every rank, stops
 * after the step there too; the ranks agree on it in train_step_sum. */

static volatile sig_atomic_t g_stop, g_saving, g_down;
static bool g_stop_agreed; /* a rank was asked to stop: all stop after this step (train_step_sum) */
static char g_down_msg[1024];
static size_t g_down_len;

void train_down_message(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g_down_msg, sizeof g_down_msg, fmt, ap);
    va_end(ap);
    g_down_len = n < 0 ? 0 : (size_t)n < sizeof g_down_msg ? (size_t)n : sizeof g_down_msg - 1;
}

static void down_message(const train_loop *l, int64_t step, int64_t saved)
{
    if (saved > 0)
        train_down_message("hyplora %s: rank %d: stopped by a signal during step %lld (" TAKEN_DOWN "); the "
                           "checkpoint of step %lld in %s is kept\n",
                           l->command, g_dist.rank, (long long)step, (long long)saved, l->out);
    else
        train_down_message("hyplora %s: rank %d: stopped by a signal during step %lld (" TAKEN_DOWN "); no "
                           "checkpoint was written yet\n", l->command, g_dist.rank, (long long)step);
}

static _Noreturn void taken_down(int sig)
{
    if (write(STDERR_FILENO, g_down_msg, g_down_len) < 0) {
        /* nothing more to say */
    }
    _exit(128 + sig);
}

static void on_signal(int sig)
{
    g_stop = sig;
    signal(sig, SIG_DFL);
}

static void on_signal_ranks(int sig)
{
    if (!g_saving)
        taken_down(sig);
    g_down = sig;
}

static int train_save(const train_loop *l, int64_t step, hp_err *err)
{
    if (g_dist.rank != 0)
        return 0;
    g_saving = 1;
    int rc = l->save(l->ctx, step, err);
    g_saving = 0;
    if (g_down)
        taken_down(g_down);
    return rc;
}

void train_catch_signals(void)
{
    void (*handler)(int) = g_dist.size > 1 ? on_signal_ranks : on_signal;
    signal(SIGINT, handler);
    signal(SIGTERM, handler);
    signal(SIGUSR1, on_signal);
}

void train_release_signals(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
}

bool train_stop_requested(void)
{
    return g_stop != 0;
}

/* ---- several ranks (dist.h) ---- */

void train_print_ranks(long batch, long micro)
{
    if (g_dist.size < 2)
        return;
    long n_micro = (batch + micro - 1) / micro;
    printf("ranks: %d, %d threads each; a step's %ld micro-batches are dealt to them in turn\n", g_dist.size,
           g_cli.threads, n_micro);
    if (n_micro < g_dist.size)
        cli_note("%d of the %d ranks get no micro-batch: raise --batch or lower --micro-batch",
                 g_dist.size - (int)n_micro, g_dist.size);
}

void train_step_sum(float *grads, size_t n, hp_train_stats *st, size_t *tokens)
{
    double sums[4] = {st->loss, (double)st->n_targets, (double)*tokens, g_stop != 0};
    dist_sum_f64(sums, 4);
    dist_sum_f32(grads, n);
    st->loss = sums[0];
    st->n_targets = (size_t)sums[1];
    *tokens = (size_t)sums[2];
    g_stop_agreed = sums[3] > 0;
}

int train_share_state(const train_settings *s, float *params, size_t n, hp_optim *opt, int64_t *start,
                      const char *what, hp_err *err)
{
    uint64_t h = 0; /* the settings as one string: the options, the model's shape, the data */
    for (size_t i = 0; i < s->n; i++)
        h = dist_hash(h, s->value[i], strlen(s->value[i]) + 1);
    if (dist_check_same(&h, sizeof h, "the run's settings (the options, the model's shape and the data's digest)",
                        err))
        return -1;
    int64_t steps[2] = {*start, opt->step}; /* from the checkpoint, read on rank 0 */
    dist_bcast(steps, sizeof steps);
    *start = steps[0];
    opt->step = steps[1];
    if (*start > 0) {
        dist_bcast(params, n * sizeof *params);
        dist_bcast(opt->m, opt->n * sizeof *opt->m);
        if (opt->v)
            dist_bcast(opt->v, opt->n * sizeof *opt->v);
    }
    return dist_check_same(params, n * sizeof *params, what, err);
}

/* ---- shared by train and pretrain ---- */

void train_shuffle(void *v, size_t n, size_t size, uint64_t seed)
{
    hp_rng r;
    hp_rng_seed(&r, seed);
    unsigned char *b = v, tmp[64];
    if (size > sizeof tmp)
        abort(); /* a programming error: elements are pointers or indices */
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(hp_rng_uniform(&r) * (double)i);
        memcpy(tmp, b + (i - 1) * size, size);
        memcpy(b + (i - 1) * size, b + j * size, size);
        memcpy(b + j * size, tmp, size);
    }
}

int train_check_resume(const char *out, const char *checkpoint, bool resume, hp_err *err)
{
    if (g_dist.rank != 0) /* only rank 0 reads and writes OUT */
        return 0;
    bool have = hp_exists(checkpoint);
    if (resume && !have)
        return hp_fail(err, "--resume: %s does not exist: there is no run to continue in %s", checkpoint, out);
    if (!resume && have)
        return hp_fail(err, "%s already holds a training run (%s): give --resume to continue it, or another -o", out,
                       checkpoint);
    return 0;
}

int train_loop_evaluate(const train_loop *l, int64_t step, hp_err *err)
{
    double v = l->validation_loss(l->ctx, err);
    if (isnan(v) || train_log_add_val(l->log, (double)step, v, err))
        return hp_failctx(err, "the validation loss after step %lld", (long long)step);
    printf("step %lld: validation loss %.6f\n", (long long)step, v);
    fflush(stdout);
    return 0;
}

int train_loop_run(const train_loop *l, int64_t start, hp_err *err)
{
    int64_t last_saved = start;
    char label[160];
    snprintf(label, sizeof label, "%s", l->command);
    cli_progress p;
    hp_progress *prog = cli_progress_begin(&p, label);
    int rc = 0;
    double busy = 0; /* seconds in the steps */
    train_catch_signals();
    for (int64_t step = start; step < l->total && rc == 0; step++) {
        hp_train_stats st;
        double lr, t0 = cli_now();
        size_t tokens;
        down_message(l, step + 1, last_saved);
        if (l->step(l->ctx, step, &lr, &st, &tokens, err)) {
            char msg[sizeof err->msg];
            memcpy(msg, err->msg, sizeof msg);
            if (last_saved > 0)
                rc = hp_fail(err, "step %lld: %s; the checkpoint of step %lld in %s is kept", (long long)step + 1, msg,
                             (long long)last_saved, l->out);
            else
                rc = hp_fail(err, "step %lld: %s; no checkpoint was written yet", (long long)step + 1, msg);
            break;
        }
        double dt = cli_now() - t0;
        busy += dt;
        double row[LOG_COLS] = {(double)(step + 1), st.loss, lr, st.grad_norm, (double)tokens, (double)tokens / dt};
        if (train_log_add(l->log, row, l->set, err)) {
            rc = -1;
            break;
        }
        snprintf(label, sizeof label, "%s: step %lld/%lld, loss %.4f, %.0f tokens/s", l->command, (long long)step + 1,
                 (long long)l->total, st.loss, row[LOG_TOKENS_PER_S]);
        hp_progress_update(prog, (uint64_t)(step + 1 - start), (uint64_t)(l->total - start));
        bool last = step + 1 == l->total, stop = g_stop_agreed;
        if (l->validate && (last || (l->eval_every && (step + 1) % l->eval_every == 0))) {
            cli_progress_end(&p);
            rc = train_loop_evaluate(l, step + 1, err);
        }
        if (rc == 0 && (stop || last || (l->checkpoint_every && (step + 1) % l->checkpoint_every == 0))) {
            rc = train_save(l, step + 1, err);
            last_saved = step + 1;
        }
        if (rc == 0 && stop && !last) {
            cli_progress_end(&p);
            rc = 1;
            if (g_dist.rank == 0)
                fprintf(stderr, "hyplora %s: interrupted after step %lld of %lld: %s in %s are written; give the same "
                                "command with --resume to continue\n",
                        l->command, (long long)step + 1, (long long)l->total, l->written, l->out);
        }
    }
    train_release_signals();
    cli_progress_end(&p);
    if (rc)
        return rc;
    const double *row = l->log->row + (l->log->n - 1) * LOG_COLS;
    printf("trained %lld steps: loss %.6f at the last step", (long long)l->total, row[LOG_LOSS]);
    if (l->log->n_val)
        printf(", validation loss %.6f", l->log->val[2 * l->log->n_val - 1]);
    printf("\nwrote %s (%s)\n", l->out, l->files);
    int64_t steps = l->total - start;
    if (g_dist.size > 1 && steps > 0)
        printf("mpi: %d ranks; per step of %.4f s, %.4f s waiting for the slowest rank and %.4f s in collectives; "
               "%.3f MB summed per step at %.3f GB/s\n",
               g_dist.size, busy / (double)steps, g_dist.waiting / (double)steps, g_dist.seconds / (double)steps,
               (double)g_dist.bytes / (double)steps / 1e6, (double)g_dist.bytes / g_dist.seconds / 1e9);
    return 0;
}
