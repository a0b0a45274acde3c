/* Instruction data as `hyplora loss` and `hyplora train` hold it: every item of the files
 * formatted and tokenized once (hyplora/instruct.h), and padded batches of items for the
 * forward pass, so the loss command and the trainer's validation loss are the same number. */
#ifndef HYPLORA_INSTRUCT_DATA_H
#define HYPLORA_INSTRUCT_DATA_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "hyplora.h"

/* The options of every command that reads instruction data: their getopt_long entries
 * and their parsing. */
enum { INSTRUCT_O_TEMPLATE = 1000, INSTRUCT_O_CUTOFF, INSTRUCT_O_NO_TRAIN_ON_INPUTS };
#define INSTRUCT_OPTIONS                                                                           \
    {"template", required_argument, NULL, INSTRUCT_O_TEMPLATE},                                    \
        {"cutoff", required_argument, NULL, INSTRUCT_O_CUTOFF},                                    \
        {"no-train-on-inputs", no_argument, NULL, INSTRUCT_O_NO_TRAIN_ON_INPUTS}
#define INSTRUCT_HELP                                                                              \
    "  --template NAME       alpaca (default), llm-adapters or a JSON template file\n"            \
    "                        (docs/instruction-data.md)\n"                                        \
    "  --cutoff N            tokens per item at most (256)\n"                                     \
    "  --no-train-on-inputs  loss on the response tokens only (default: prompt too, as the\n"     \
    "                        paper trains)\n"

/* Takes option c when it is one of those: 1 taken, 0 not one of them, -1 after printing a
 * usage error. */
int instruct_option(const char *cmd, int c, const char *arg, hp_instruct_options *o);

typedef struct instruct_item {
    hp_instruct_example ex;
    double nll;     /* summed over the item's targets by instruct_nll */
    size_t targets;
} instruct_item;

typedef struct instruct_data {
    instruct_item *items;
    size_t n, cap;
    size_t n_truncated; /* items cut at the cutoff */
    int max_len;        /* the longest item, in tokens */
} instruct_data;

/* Reads every item of paths[0 .. n_paths) (JSON array or JSONL; "instruction" and "output"
 * strings, "input" a string, null or absent), at most `limit` per file (0: all), and
 * tokenizes it. Errors name the file and the item. */
int instruct_data_read(instruct_data *d, const hp_tokenizer *tok, const hp_instruct_options *o, char *const *paths,
                       int n_paths, long limit, hp_err *err);
void instruct_data_free(instruct_data *d);

/* A padded batch of B items: tokens [B*T] (0 past an item's end), lengths [B], and, when
 * targets is not NULL, targets [B*T] (position t predicts ids[t+1] when that is one of the
 * item's targets, else -1). T is the longest item. Returns T. */
int instruct_batch(instruct_item *const *items, int B, int32_t *tokens, int32_t *targets, int *lengths);

/* Runs items[0 .. B) as one padded batch (acts sized for it, logits [B*T*vocab]) and adds
 * each item's summed target NLL and target count to its nll and targets. */
int instruct_nll(const hp_fwd_model *fm, hp_fwd_acts *acts, instruct_item *const *items, int B, int32_t *tokens,
                 int *lengths, float *logits, hp_err *err);

#endif
