/* What a training run carries from step to step and across a restart (docs/training.md):
 * the log of every optimiser step and validation, the checkpoint (adapters, optimiser state,
 * log and the run's settings, one safetensors file written atomically), and the training
 * log as HDF5 (/train). */
#ifndef HYPLORA_TRAIN_STATE_H
#define HYPLORA_TRAIN_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyplora.h"
#include "hyplora/train_step.h"

/* One optimiser step as logged. */
enum { LOG_STEP, LOG_LOSS, LOG_LR, LOG_GRAD_NORM, LOG_TOKENS, LOG_TOKENS_PER_S, LOG_COLS };

typedef struct train_log {
    int n_hyp;              /* HypLoRA modules: the K columns */
    size_t n, cap, K_cap;   /* steps logged, and room for them in row and K */
    double *row;            /* [n, LOG_COLS] */
    double *K;              /* [n, n_hyp]: each HypLoRA module's K after the step */
    size_t n_val, val_cap;
    double *val;            /* [n_val, 2]: step, validation loss */
} train_log;

/* Appends a step's row, and each HypLoRA module's K from set (NULL when n_hyp is 0). */
int train_log_add(train_log *g, const double row[LOG_COLS], const hp_adapter_set *set, hp_err *err);
int train_log_add_val(train_log *g, double step, double loss, hp_err *err);
void train_log_free(train_log *g);

/* The settings a checkpoint must share with the run that resumes it: key and value strings. */
#define TRAIN_MAX_SETTINGS 48
typedef struct train_settings {
    size_t n;
    char key[TRAIN_MAX_SETTINGS][32];
    char value[TRAIN_MAX_SETTINGS][1024]; /* a report's rule in words fits */
} train_settings;

void train_settings_add(train_settings *s, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes path (atomically): the trained parameters (n_params floats, as tensor `what`:
 * "adapters" or "model"), the optimiser's state and step, the log and the settings; `step`
 * is the number of optimiser steps taken. */
int train_checkpoint_save(const char *path, const char *what, const float *params, size_t n_params, const hp_optim *opt,
                          const train_log *g, const train_settings *s, int64_t step, hp_err *err);

/* Reads path back into params (n_params floats, else an error), opt and g after checking
 * every setting against s (an error names the first that differs); *step gets the steps
 * taken. */
int train_checkpoint_load(const char *path, const char *what, float *params, size_t n_params, hp_optim *opt,
                          train_log *g, const train_settings *s, int64_t *step, hp_err *err);

/* Writes the log as the /train group of the HDF5 file at path, with the settings as
 * attributes, the HypLoRA modules' names (set may be NULL when the log has no K columns)
 * and the validation items (val_items, described by val_items_definition). */
int train_log_write(const char *path, const train_log *g, const hp_adapter_set *set, const train_settings *s,
                    const int64_t *val_items, size_t n_val, const char *val_items_definition,
                    const char *const *inputs, int n_inputs, hp_err *err);

/* ---- shared by train and pretrain ---- */

/* A training loop: the command's own step, validation loss and save, around what both
 * commands share: the validation and checkpoint cadence, the log, the progress line,
 * Ctrl-C, and the message naming the step that failed and the checkpoint kept. */
typedef struct train_loop {
    const char *command;   /* "train", "pretrain": messages */
    const char *written;   /* what save writes: "the checkpoint, adapter and log" */
    const char *out;       /* the output directory */
    const char *files;     /* what it holds, for the closing line: "config.json, ..." */
    int64_t total;         /* optimiser steps of the run */
    long eval_every, checkpoint_every;
    bool validate;         /* the run has a validation split */
    train_log *log;
    const hp_adapter_set *set; /* the log's K columns (NULL: none) */
    void *ctx;
    /* Optimiser step `step` (0-based): its learning rate in *lr, its figures in *st and the
     * positions it trained on in *tokens. */
    int (*step)(void *ctx, int64_t step, double *lr, hp_train_stats *st, size_t *tokens, hp_err *err);
    double (*validation_loss)(void *ctx, hp_err *err); /* NAN after setting err */
    int (*save)(void *ctx, int64_t step, hp_err *err);
} train_loop;

/* Runs steps start .. total - 1 and prints the last losses and what was written; returns 1
 * when stopped by Ctrl-C or SIGTERM (after the step in progress, with everything saved), 0
 * when done, -1 on an error. */
int train_loop_run(const train_loop *l, int64_t start, hp_err *err);

/* The validation loss after `step` steps, logged and printed. */
int train_loop_evaluate(const train_loop *l, int64_t step, hp_err *err);

/* The seed of one of a run's random streams (the split, an epoch's order, a step's
 * dropout): hp_rng_seed and the dropout masks pass it through splitmix64, so distinct tags
 * give unrelated streams. */
static inline uint64_t train_stream(uint64_t seed, uint64_t tag)
{
    return seed ^ (tag * 0x9e3779b97f4a7c15ull);
}

/* Fisher-Yates over n elements of `size` bytes with the stream of `seed`. */
void train_shuffle(void *v, size_t n, size_t size, uint64_t seed);

/* Whether the run may start: with --resume the checkpoint must exist, without it OUT must
 * not hold one (a second run would overwrite the first). */
int train_check_resume(const char *out, const char *checkpoint, bool resume, hp_err *err);

/* Ctrl-C and SIGTERM: the first asks the loop to stop after the current step (the loop
 * polls train_stop_requested()), a second one kills. In a job of several ranks mpirun
 * passes Ctrl-C on as SIGTERM and kills soon after: a rank then names its step and the
 * checkpoint kept, and exits; SIGUSR1 (which mpirun forwards) stops after the step. */
void train_catch_signals(void);
void train_release_signals(void);
bool train_stop_requested(void);

/* What a rank of several says on stderr when mpirun takes the job down (printf format,
 * ending in a newline); the training loop sets its own. */
#define TAKEN_DOWN "mpirun stops every rank when one fails or is interrupted"
void train_down_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sums a data-parallel step over the ranks (dist.h; one process: nothing to add): the
 * gradients, st's loss and target count, the tokens; and whether any rank was asked to
 * stop, so that all stop after the same step. Each command's step calls it between
 * accumulating and applying. */
void train_step_sum(float *grads, size_t n, hp_train_stats *st, size_t *tokens);

/* With several ranks, says how many and how a step's micro-batches are dealt to them. */
void train_print_ranks(long batch, long micro);

/* Every rank runs the same run from the same parameters: the settings' checksum (options,
 * model shape, data digest) is compared with rank 0's; after a resume, rank 0 (which alone
 * reads OUT) sends the parameters, the optimiser's state and *start to the others; then
 * the parameters' checksum (what names them) is compared with rank 0's. */
int train_share_state(const train_settings *s, float *params, size_t n, hp_optim *opt, int64_t *start,
                      const char *what, hp_err *err);

#endif
