/* The state of one `hyplora norms` run, shared by its files: norms.c (inputs and flow),
 * norms_groups.c (word groups) and norms_output.c (summary and report). */
#ifndef HYPLORA_NORMS_CMD_H
#define HYPLORA_NORMS_CMD_H

#include <stdbool.h>

#include "cli.h"
#include "freq_counts.h"

typedef struct group_result {
    double mean_norm, mean_centered_norm, mean_count; /* over the words that map to a row */
    size_t n_used;
} group_result;

typedef struct norms_run {
    /* options */
    bool is_vectors, do_pca;
    int bins_per_decade;
    const char *freq_report, *groups_path, *input;
    /* the rows: a model's embedding or word vectors */
    hp_model *model;
    const hp_tensor *emb, *head; /* head: the untied output matrix, or NULL */
    hp_tokenizer *tok;           /* the model's own tokenizer, or NULL */
    hp_sha256_job *checksums;    /* the inputs' SHA-256, computed while the rest runs */
    const char **input_files;
    size_t n_input_files;
    hp_vectors vec;
    float *rows;
    size_t n, dim;
    char what[4200]; /* "model.embed_tokens.weight of DIR" */
    /* counts: /freq as read, and aligned to the rows */
    freq_counts fc;
    const int64_t *counts; /* fc.row */
    size_t n_beyond;       /* embedding rows past the tokenizer's ids */
    /* results */
    double *norm, *centered, *mean;
    hp_norm_freq nf, nf_centered;
    hp_word_group *groups;
    size_t n_groups;
    group_result *group;
    size_t n_members;     /* every word of every group, flattened in file order */
    int64_t *member_group, *member_row;
    const char **member_word;
    hp_pca pca;
    bool have_pca;
    double *pca_coords;   /* n_seen x 2 */
    int64_t *pca_rows;
    double pca_origin[2]; /* where the zero vector lands in the plane */
    size_t n_head;
    double *head_norm, *head_centered, *head_mean;
    hp_norm_freq head_nf;
} norms_run;

int norms_groups_compute(norms_run *r, const hp_tokenizer *tok, const hp_word_counts *index,
                         hp_err *err);
void norms_groups_free(norms_run *r);
int norms_pca(norms_run *r, hp_err *err);
void norms_print(const norms_run *r);
int norms_write_report(norms_run *r, const char *out, hp_err *err);

#endif
