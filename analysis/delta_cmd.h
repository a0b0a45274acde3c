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

/* Above this many vectors the whole set needs --sample (one n x n matrix of doubles plus
 * the float32 products is 200 MB at 4000). */
#define DELTA_MAX_ALL_POINTS 4000
/* The largest graph: its n x n hop distances are computed in full (7.2 GB at 30000). */
#define DELTA_MAX_GRAPH_NODES 30000

typedef struct delta_kept delta_kept; /* the other groups of /delta in an existing report */

typedef struct delta_run {
    /* options */
    delta_source source;
    const char *input, *vocab, *name, *out;
    bool sampled, with_replacement, exact;
    size_t sample, tries;
    uint64_t seed;
    delta_base base;
    size_t base_index;
    hp_distance distance; /* points only */
    /* the input: points (a model's rows, read per try, or word vectors) or a full matrix */
    hp_model *model;
    const hp_tensor *emb;
    hp_vectors vec;
    double *D;          /* distances and graphs: the n x n matrix */
    size_t n, dim;      /* rows of the input; the dimension of points (0 for matrices) */
    size_t n_edges;     /* graphs */
    char matrix[256];   /* the embedding's name, the vectors' format, the .npy dtype, "edge list" */
    char what[4400];    /* "model.embed_tokens.weight of DIR (300 x 64, BF16)" */
    /* provenance: the files read, hashed on a thread of their own while the rest runs */
    const char *input_files[2];
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

/* Reads every other group of /delta in the report at path (an absent file or group gives
 * an empty set), so that rewriting /delta keeps them. */
int delta_keep_read(const char *path, const char *name, delta_kept **kept, hp_err *err);
/* Writes them into the report being written, and records their inputs. */
int delta_keep_write(const delta_kept *kept, hp_report *rep, hp_err *err);
void delta_keep_free(delta_kept *kept);

#endif
