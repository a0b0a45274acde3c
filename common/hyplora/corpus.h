/* Corpora: the texts of plain-text files and JSON data sets, handed out in batches of
 * many texts so that the work on them (tokenizing, counting) can be spread over threads.
 *
 * A file is read as JSON when its name ends in .json, .jsonl or .ndjson (a top-level
 * array or one value per line, hp_json_each): each item gives the string value of each
 * of the requested fields, in order, or the item itself when it is a string and no field
 * was requested. Any other file (and "-", standard input) is plain text: each line is one
 * text, without its "\n" or "\r\n". Memory is bounded by the batch size, not the file. */
#ifndef HYPLORA_CORPUS_H
#define HYPLORA_CORPUS_H

#include <stdbool.h>
#include <stddef.h>

#include "hyplora/error.h"
#include "hyplora/progress.h"

typedef struct hp_corpus_options {
    const char *const *fields; /* JSON: the string fields to read from each item */
    size_t n_fields;           /* 0: each item must itself be a string (default) */
    size_t batch_bytes;        /* a batch closes past this many bytes of text (8 MiB) */
    size_t batch_texts;        /* ... or this many texts (16384) */
    hp_progress *progress;     /* plain text: bytes read of the file; may be NULL */
} hp_corpus_options;

void hp_corpus_options_init(hp_corpus_options *opt);

/* One batch: text[i] (len[i] bytes, followed by a NUL that is not part of it; a plain
 * text line may hold NUL bytes of its own) came from line or item record[i] of the file,
 * counted from 1. Everything is valid only during the callback. */
typedef struct hp_corpus_batch {
    const char *const *text;
    const size_t *len;
    const size_t *record;
    size_t n;
} hp_corpus_batch;

/* Returns 0 to go on, -1 after setting err (the iteration stops and returns -1 with that
 * message as it is: the callback knows which record failed). */
typedef int (*hp_corpus_batch_fn)(const hp_corpus_batch *b, void *ctx, hp_err *err);

/* True when path is read as JSON (by its name, as above). */
bool hp_corpus_is_json(const char *path);

/* Calls on_batch for consecutive batches of the texts of path, in file order. Errors of
 * the file itself (cannot open, malformed JSON, a missing or non-string field) name the
 * file and the line or item. */
int hp_corpus_each(const char *path, const hp_corpus_options *opt, hp_corpus_batch_fn on_batch,
                   void *ctx, hp_err *err);

#endif
