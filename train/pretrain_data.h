/* The pretraining corpus as `hyplora pretrain` holds it: every document tokenized once into
 * one stream of ids, each document as the tokenizer encodes it with its special tokens
 * (BOS first for Llama-2) and followed by EOS, then cut into sequences of T + 1 ids that
 * overlap by one: sequence i is ids[i T .. i T + T], its inputs the first T and its targets
 * the last T, so every id after the first is predicted exactly once. */
#ifndef HYPLORA_PRETRAIN_DATA_H
#define HYPLORA_PRETRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "hyplora.h"

typedef struct pretrain_data {
    hp_ids ids;
    size_t n_docs, n_bytes;
    int T;          /* positions per sequence */
    size_t n_seq;   /* (ids - 1) / T: the tail that does not fill a sequence is left out */
} pretrain_data;

/* Reads the documents of the files (a plain-text line, or each of the JSON fields of an
 * item: hyplora/corpus.h) and cuts them into sequences of T positions. Fails on an empty
 * corpus, a tokenizer without EOS, or fewer ids than one sequence. */
int pretrain_data_read(pretrain_data *d, const hp_tokenizer *tok, char *const *files, int n_files,
                       const char *const *fields, size_t n_fields, int T, hp_err *err);
void pretrain_data_free(pretrain_data *d);

/* The inputs and targets [T] of sequence i. */
void pretrain_data_sequence(const pretrain_data *d, size_t i, int32_t *tokens, int32_t *targets);

/* A digest of the ids (FNV-1a): a resumed run must see the same corpus. */
uint64_t pretrain_data_digest(const pretrain_data *d);

#endif
