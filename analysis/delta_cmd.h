/* The state of one `hyplora delta` run, shared by its files: delta.c (options, the tries,
 * summary and report) and delta_inputs.c (the inputs: a model's embedding rows, word
 * vectors, a .npy distance matrix, an edge list; and the other /delta groups of an
 * existing report, carried over). */
#ifndef HYPLORA_DELTA_CMD_H
#define HYPLORA_DELTA_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

typedef enum delta_source { SRC_MODEL, SRC_VECTORS, SRC_DISTANCES, SRC_GRAPH } delta_source;
typedef enum delta_base { BASE_FIRST, BASE_RANDOM, BASE_INDEX } delta_base;
/* all: every point of the input at once; sampled: Khrulkov's random subsets; prompts: the
 * points of each item of a data set (delta_prompts.c) */
typedef enum delta_mode { MODE_ALL, MODE_SAMPLED, MODE_PROMPTS } delta_mode;

/* Above this many vectors the whole set needs --sample (one n x n matrix of doubles plus
 * the float32 products is 200 MB at 4000). */
#define DELTA_MAX_ALL_POINTS 4000
/* The largest graph: its n x n hop distances are computed in full (7.2 GB at 30000). */
#define DELTA_MAX_GRAPH_NODES 30000

/* Files recorded in the provenance: a model's shards, its tokenizer and the data sets. */
#define DELTA_MAX_INPUTS 280
/* --data files of one run (their items are measured as one data set, in order). */
#define DELTA_MAX_DATA 16

typedef struct delta_kept delta_kept; /* the other groups of /delta in an existing report */

/* The per-prompt protocol's items: the points of item i are rows[start[i] .. start[i+1])
 * (token ids or vector indices), i.e. item_points[i] of them. */
typedef struct delta_items {
    size_t n;              /* items measured (>= 4 points) */
    size_t n_read;         /* items read from the data set (--limit counts these) */
    size_t n_skipped;      /* read but fewer than 4 points */
    size_t n_oov;          /* words not in the vectors' vocabulary (vectors only) */
    size_t n_cut;          /* items cut to --cutoff points */
    bool bos_added;        /* BOS was put first where the tokenizer did not */
    int64_t *item;         /* [n] the item's index in the data (the files one after the other), from 0 */
    int64_t *item_points;  /* [n] */
    size_t *start;         /* [n + 1] */
    int64_t *rows;         /* [start[n]] */
    size_t *base;          /* [n] the base point's position in its item (fixed base) */
    size_t cap_item, cap_points, cap_start, cap_rows;
} delta_items;

/* δ of the hidden states entering each chosen layer, per prompt (--layers). */
typedef struct delta_layers {
    size_t n;                 /* layers measured */
    int64_t *layer;           /* [n] ascending, 0 .. n_model_layers */
    int n_model_layers;
    double *delta, *diameter, *delta_rel; /* [n, items] */
    double *delta_rel_mean, *delta_rel_std, *delta_mean, *diameter_mean; /* [n] */
} delta_layers;

typedef struct delta_run {
    /* options */
    delta_source source;
    delta_mode mode;
    const char *data, *field, *layers_spec, *tokenizer; /* per prompt; data: the files, joined by ", " */
    const char *data_files[DELTA_MAX_DATA];
    int n_data;
    char data_joined[4096];
    char layers_name[80]; /* the group of --layers: "layers" or NAME_layers */
    size_t limit, cutoff; /* 0: none */
    int batch;            /* --layers: sequences per forward batch (0: chosen) */
    hp_fwd_weights weights;
    const char *input, *vocab, *name, *out;
    const char *dataset; /* --distances of an HDF5 file: the dataset */
    bool sampled, with_replacement, exact;
    const char *seen;    /* --seen REPORT: sample only rows counted in its /freq */
    size_t n_candidates; /* the rows a sample could take */
    size_t sample, tries;
    uint64_t seed;
    delta_base base;
    size_t base_index;
    hp_distance distance; /* points only */
    /* the input: points (a model's rows, read per try, or word vectors) or a full matrix */
    hp_model *model;
    const hp_tensor *emb;
    hp_vectors vec;
    hp_tokenizer *tok; /* per prompt on a model */
    /* per prompt, tokenized already (hyplora analyze): the ids of every item of the data
     * files, with the tokenizer's special tokens; tok is then the caller's */
    const hp_ids *given_ids;
    const int64_t *given_item; /* the index of each in the data (line or item, through the files) */
    size_t n_given;
    delta_items items;
    delta_layers layers;
    double *D;          /* distances and graphs: the n x n matrix */
    size_t n, dim;      /* rows of the input; the dimension of points (0 for matrices) */
    size_t n_edges;     /* graphs */
    char matrix[256];   /* the embedding's name, the vectors' format, the .npy dtype, "edge list" */
    char what[4400];    /* "model.embed_tokens.weight of DIR (300 x 64, BF16)" */
    /* provenance: the files read, hashed on a thread of their own while the rest runs */
    const char *input_files[DELTA_MAX_INPUTS];
    size_t n_input_files;
    hp_sha256_job *checksums;
    delta_kept *kept;
    /* results, one entry per try */
    size_t n_points; /* points per try */
    double *delta, *diameter, *delta_rel;
    int64_t *base_row, *used_double, *rows; /* rows: [tries, n_points] (sampled only) */
    double delta_rel_mean, delta_rel_std, delta_mean, diameter_mean;
    bool any_double;
} delta_run;

const char *delta_source_name(delta_source s);
const char *delta_distance_name(const delta_run *r);

/* Opens or reads the input named by r->source and r->input, and starts hashing its files. */
int delta_load(delta_run *r, hp_err *err);

/* The float32 rows rows[0..m) of a points input into X [m, dim]. */
int delta_gather_points(const delta_run *r, const int64_t *rows, size_t m, float *X, hp_err *err);

void delta_inputs_free(delta_run *r);

/* Writes /delta/<name> (and /delta/layers) into r->out, keeping the other groups. */
int delta_write_report(delta_run *r, hp_err *err);

/* ---- per prompt (delta_prompts.c) ---- */

/* Reads the data set and turns each item into its points (token ids, BOS first; or the
 * words found in the vectors), after delta_load. */
int delta_prompts_read(delta_run *r, hp_err *err);
/* δ of each item's points into the per-try arrays (one entry per item). Under mpirun
 * both measures fill this rank's share (dist.h) and leave 0 in the rest. */
int delta_prompts_measure(delta_run *r, hp_err *err);
/* Runs the model over the items and measures the hidden states of the chosen layers. */
int delta_layers_measure(delta_run *r, hp_err *err);
/* The layers' means and deviations over the items, once every rank's share is in. */
void delta_layers_summarize(delta_run *r);
/* Parses --layers all|LIST against a model of n_layers layers (indices 0 .. n_layers). */
int delta_layers_parse(const char *spec, int n_layers, delta_layers *l, hp_err *err);
void delta_prompts_free(delta_run *r);
/* Whether any --data file is JSON (its items' --field is read). */
bool delta_data_is_json(const delta_run *r);
/* The mean and population standard deviation of v[0..n). */
void delta_mean_std(const double *v, size_t n, double *mean, double *std);

/* Reads every group of /delta in the report at path but name and name2 (NULL: none), an
 * absent file or group giving an empty set, so that rewriting /delta keeps them. */
int delta_keep_read(const char *path, const char *name, const char *name2, delta_kept **kept, hp_err *err);
/* Writes them into the report being written, and records their inputs. */
int delta_keep_write(const delta_kept *kept, hp_report *rep, hp_err *err);
void delta_keep_free(delta_kept *kept);

#endif
