/* What every command shares: global options, usage errors, progress lines, and the
 * command table. A command is `int cmd_NAME(int argc, char **argv)` returning the exit
 * status: 0 success, 1 failure (message already printed), 2 usage error. */
#ifndef HYPLORA_CLI_H
#define HYPLORA_CLI_H

#include <stdbool.h>

#include "hyplora.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef struct cli_globals {
    int threads;   /* 0: the library's default (all cores) */
    int verbosity; /* 0 quiet, 1 normal, 2 verbose */
    int argc;      /* the whole command line, for report provenance */
    char **argv;
} cli_globals;

extern cli_globals g_cli;

/* Prints "hyplora CMD: message" plus a pointer to --help, returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "hyplora: error: <err->msg>", returns EXIT_FAIL. */
int cli_fail(const hp_err *err);

/* "hyplora: note: ..." on stderr unless --quiet: something the user should know that is
 * not an error (a fallback taken, a part skipped). */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Verbose-only message on stderr. */
void cli_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A progress line on stderr when it is a terminal and not --quiet; silent otherwise. */
typedef struct cli_progress {
    hp_progress base; /* must be first: the library sees this part */
    const char *label;
    double start, last;
    bool active, drawn;
} cli_progress;

hp_progress *cli_progress_begin(cli_progress *p, const char *label);
void cli_progress_end(cli_progress *p);

/* Seconds on a monotonic clock. */
double cli_now(void);

/* Parses a positive integer option value, or prints a usage error. */
bool cli_parse_int(const char *cmd, const char *opt, const char *s, long min, long max, long *out);

/* Parses a number from min to max (a decimal or exponent form), or prints a usage error. */
bool cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max, double *out);

/* Parses --seed's non-negative 64-bit integer, or prints a usage error. */
bool cli_parse_seed(const char *cmd, const char *s, unsigned long long *out);

/* Parses "all" or a list of indices and ranges ("0,4-7,12"), each in 0..max, setting
 * want[i] (want holds max + 1 entries; entries not named are left as they are). */
int cli_parse_list(const char *opt, const char *spec, int max, bool *want, hp_err *err);

/* Opens --template's argument into t (freeing what t held), or prints a usage error. */
bool cli_template(const char *cmd, const char *arg, hp_template *t);

/* Where vendored data (notebooks-data) lives: $HYPLORA_DATA_DIR, the source tree the
 * binary was built from, or the installed data directory. */
const char *cli_data_dir(void);

/* Prints the summary of a power-law analysis of `name` on stdout (analysis/powerlaw_print.c). */
void cli_print_powerlaw(const char *name, const hp_powerlaw_analysis *a, bool xmin_fixed);

int cmd_info(int argc, char **argv);
int cmd_tensor(int argc, char **argv);
int cmd_make_model(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_powerlaw(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_freq(int argc, char **argv);
int cmd_norms(int argc, char **argv);
int cmd_delta(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_loss(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_analyze(int argc, char **argv);

#endif
