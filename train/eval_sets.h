/* The data sets `hyplora eval` scores: their items and labels, the kind of answer each
 * asks for, the outputs (from the model, a resumed run or a predictions file), and the
 * results file. */
#ifndef HYPLORA_EVAL_SETS_H
#define HYPLORA_EVAL_SETS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "hyplora.h"

typedef struct eval_item {
    char *instruction, *input; /* input NULL when absent, null or "" */
    char *label;               /* "answer", a number written as text */
    char *output;              /* NULL until generated or read */
    char prediction[64];       /* the answer output gives, "" for none */
    bool correct;
} eval_item;

typedef struct eval_set {
    char *name;   /* the file's folder ("gsm8k" for .../gsm8k/test.json), or its path */
    char *path;
    hp_answer_kind kind;
    eval_item *items;
    size_t n, cap;
} eval_set;

typedef struct eval_sets {
    eval_set *sets;
    int n;
    size_t n_items;
} eval_sets;

/* Reads every file (JSON array or JSONL of items with "instruction", optional "input" and
 * "answer"), at most `limit` items each (0: all), and decides each one's task (`task`, or
 * from its labels when AUTO). Errors name the file and the item. */
int eval_sets_read(eval_sets *s, char *const *paths, int n_paths, long limit, hp_task task, hp_err *err);
void eval_sets_free(eval_sets *s);

/* Sets item `index` of set `set`'s output (copied) and scores it. */
int eval_set_output(eval_sets *s, int set, size_t index, const char *output, hp_err *err);

/* Items scored so far and how many are right. */
void eval_sets_tally(const eval_sets *s, size_t *scored, size_t *correct);

/* Reads outputs from path: a JSON array or JSONL of objects with "output" and either both
 * "dataset" (a set's name) and "index", or neither (then in the order of the items), or a
 * results file of hyplora eval (its "items"). With `header`, path is a partial results
 * file whose first line must be `header` (printed unformatted): the file of an
 * interrupted run with the same settings; a torn last line (the run was killed while
 * writing it) is dropped. Fails on an output for no item or for one already given. */
int eval_sets_read_outputs(eval_sets *s, const char *path, const char *header, hp_err *err);

/* Writes the results file: the settings, per set and on average the items, correct
 * answers and accuracy, and every item with its output and prediction. */
int eval_sets_write_results(const eval_sets *s, const cJSON *settings, const char *path, hp_err *err);

/* Prints the table of accuracies. */
void eval_sets_print(const eval_sets *s, FILE *f);

#endif
