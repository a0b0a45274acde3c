/* `hyplora plot`: what the dispatcher (plot.c) shares with the files that draw one family
 * of report groups (plot_powerlaw.c, plot_norms.c, plot_delta.c, plot_train.c).
 *
 * A chart is a gnuplot script plus its data, written beside the images as tab-separated
 * files with a header line, so the plotted numbers can be checked and the chart redrawn
 * (`cd DIR && gnuplot NAME.gp`). A family fills the data files and the body of the
 * script (settings and one `plot` command, reading its data through the gnuplot variables
 * it declared); plot_chart_finish adds the terminals, runs gnuplot and renames every file
 * into place. */
#ifndef HYPLORA_PLOT_H
#define HYPLORA_PLOT_H

#include <stddef.h>
#include <stdio.h>

#include "hyplora/error.h"

typedef struct plot_job {
    const char *report; /* the HDF5 report being plotted */
    const char *dir;    /* output directory (exists by the time a family runs) */
    int png, svg;       /* formats to draw */
    int n_charts;       /* charts written so far */
} plot_job;

#define PLOT_MAX_DATA 2

typedef struct plot_chart {
    char group[64];                    /* report group: "freq" */
    char name[128];                    /* file stem: "freq_ccdf" */
    int n_data;
    char var[PLOT_MAX_DATA][24];       /* gnuplot variable naming each data file */
    char suffix[PLOT_MAX_DATA][32];    /* data file NAME<suffix>.tsv */
    FILE *data[PLOT_MAX_DATA];
    char *data_buf[PLOT_MAX_DATA];
    size_t data_len[PLOT_MAX_DATA];
    FILE *body;                        /* settings and the plot command */
    char *body_buf;
    size_t body_len;
} plot_chart;

/* Starts the chart `kind` of report group `group`, named (file stem) GROUP_KIND, with its
 * main data file NAME.tsv, read by the script as the variable `data`. Returns the stream
 * for the data in *data. */
int plot_chart_begin(plot_chart *c, const char *group, const char *kind, FILE **data,
                     hp_err *err);

/* Another data file NAME<suffix>.tsv, read by the script as variable `var`. */
int plot_chart_add_data(plot_chart *c, const char *var, const char *suffix, FILE **data,
                        hp_err *err);

/* Writes the data files and the script under temporary names in job->dir, runs gnuplot
 * to draw the requested formats, then renames everything into place; on failure removes
 * what it wrote. Frees the chart either way. */
int plot_chart_finish(plot_job *job, plot_chart *c, hp_err *err);

/* Frees a chart that will not be finished. */
void plot_chart_discard(plot_chart *c);

/* Writes s to f as a gnuplot single-quoted string literal ('' doubles a quote; control
 * characters become spaces), so any report text is safe inside a script. */
void plot_quote(FILE *f, const char *s);

/* The title, on two lines when source is not empty (the measurement, then where the data
 * came from: one line is cut off at the chart's width for long paths), the axis labels and
 * a grid. Report text goes through plot_quote and noenhanced, so _ and ^ print as they are. */
void plot_frame(FILE *f, const char *title, const char *source, const char *xlabel, const char *ylabel);

/* ` title '<text>' noenhanced`: a series' key entry, appended to its plot clause. */
void plot_legend(FILE *f, const char *text);

/* The string attribute `name` of report object `object` (scalar or 1-D, variable- or
 * fixed-length) as n fresh strings; *n = 0 when the attribute is absent or not text.
 * Free with plot_free_strings. */
int plot_attr_strings(const plot_job *job, const char *object, const char *name, char ***s,
                      size_t *n, hp_err *err);
void plot_free_strings(char **s, size_t n);

/* The subgroups of report object `object` ("/" for the top level) as n fresh names, in
 * HDF5's name order (stable). Free with plot_free_strings. */
int plot_subgroups(const char *report, const char *object, char ***names, size_t *n,
                   hp_err *err);

/* A short, deterministic label for a list of "path" or "path (note)" strings: the last
 * two components of each path, its note kept, joined with ", ", cut to about max_len
 * characters ("..., +3 more"). Fresh string. */
char *plot_short_paths(char *const *paths, size_t n, size_t max_len, hp_err *err);

/* A family of report groups it can draw. unplottable answers before anything is written:
 * NULL when the group holds what the charts need, else why not (a static string). plot
 * draws every chart of the group; returns 0 or -1. */
typedef struct plot_family {
    const char *group; /* top-level group name, "freq" */
    const char *(*unplottable)(const plot_job *job, const char *group);
    int (*plot)(plot_job *job, const char *group, hp_err *err);
} plot_family;

/* plot_powerlaw.c: /freq (token counts) and /powerlaw (a sample of numbers). */
extern const plot_family plot_family_freq;
extern const plot_family plot_family_powerlaw;

/* plot_norms.c: /norms (embedding norms against token counts, word groups, PCA). */
extern const plot_family plot_family_norms;

/* plot_delta.c: /delta (δ_rel over the prompts or tries of a group, and per layer). */
extern const plot_family plot_family_delta;

/* plot_train.c: /train (the training log: loss and validation loss, learning rate,
 * gradient norm, K per HypLoRA module). */
extern const plot_family plot_family_train;

/* plot_recommend.c: /recommend (δ_rel per decoder layer, the HypLoRA layers marked). */
extern const plot_family plot_family_recommend;

#endif
