/* The corpus counts of /freq in a report, matched to the rows of an embedding or of word
 * vectors: what `norms` plots against and what `delta --seen` samples from. */
#ifndef HYPLORA_FREQ_COUNTS_H
#define HYPLORA_FREQ_COUNTS_H

#include <stdbool.h>

#include "cli.h"

typedef struct freq_counts {
    const char *report;
    bool words;         /* counted words (freq --words), else token ids */
    int64_t *counts;    /* /freq/counts as read: per token id, or per word of `words` */
    size_t n;
    char **words_of;    /* /freq/words (words only) */
    size_t n_words;
    int64_t *row;       /* after freq_counts_align: the count of each row */
    size_t n_rows;
    size_t n_beyond;    /* embedding rows past the counted ids (padding): count 0 */
} freq_counts;

/* Reads /freq of report (given with `option`); fails naming what is missing, or when it
 * counted tokens and `words` (word vectors) is asked for, or the other way round. */
int freq_counts_read(freq_counts *fc, const char *report, bool words, const char *option, hp_err *err);

/* The count of each of n_rows rows: token rows by id (rows past the counts, an embedding
 * padded beyond the tokenizer, count 0 with a note; more counts than rows is an error),
 * vector rows by their word (vec). */
int freq_counts_align(freq_counts *fc, size_t n_rows, const hp_vectors *vec, hp_err *err);

void freq_counts_free(freq_counts *fc);

#endif
