/* The analyses as stages of `hyplora analyze` (analysis/analyze.c): each takes what an
 * earlier stage made in memory instead of making it again. The data is tokenized once; the
 * token counts go to the freq and norms stages, and the token ids of each item to the δ
 * stage, which runs the model once for every layer. Each stage writes its group of the
 * report and prints its summary exactly as its command does. */
#ifndef HYPLORA_STAGES_H
#define HYPLORA_STAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/* /freq from token counts already made (analysis/freq.c): the power-law fit of the counts
 * (p_sets bootstrap sets), printed and written to `out` (NULL: printed only). */
typedef struct freq_stage {
    const char *tokenizer_path;
    const hp_tokenizer *tok;
    const int64_t *counts; /* per token id */
    size_t n_counts;
    int64_t n_tokens;
    size_t n_texts;
    char **corpora; /* the files counted, and their JSON fields */
    int n_corpora;
    const char *const *fields;
    size_t n_fields;
    bool add_special;
    int p_sets;
    const char *out;
} freq_stage;
int freq_stage_run(const freq_stage *s, hp_err *err);

/* /norms of a model's embedding against token counts in memory (analysis/norms.c), which
 * came from /freq of the same report `out`. */
int norms_stage_run(const char *model, const int64_t *counts, size_t n_counts, const char *out, hp_err *err);

/* The per-prompt δ of the embeddings and of every layer (analysis/delta.c) of items already
 * tokenized with the tokenizer's special tokens: ids[i] is item i of the data files (counted
 * through the files in order), `tok` the tokenizer that made them (still owned by the caller). */
typedef struct delta_stage {
    const char *model;
    const hp_tokenizer *tok;
    const char *tokenizer_path; /* NULL: the model's own */
    const hp_ids *ids;
    const int64_t *item; /* the index of each in the data: its line or item, through the files */
    size_t n_items;
    const char *const *data_files;
    int n_data;
    const char *field;
    size_t limit, cutoff; /* 0: none */
    const char *out;
} delta_stage;
int delta_stage_run(const delta_stage *s, hp_err *err);

#endif
