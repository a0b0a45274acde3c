/* A model on disk: a Hugging Face directory (config.json, model.safetensors or shards
 * with model.safetensors.index.json, tokenizer.json), a single .safetensors file, or a
 * GGUF file. Opening maps the files and validates every header; no weight is read until
 * asked for, and weights stay in their stored dtype. */
#ifndef HYPLORA_MODEL_H
#define HYPLORA_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "hyplora/config.h"
#include "hyplora/error.h"
#include "hyplora/file.h"
#include "hyplora/progress.h"
#include "hyplora/tensor.h"

typedef enum hp_model_format {
    HP_FORMAT_HF_DIR,
    HP_FORMAT_SAFETENSORS,
    HP_FORMAT_GGUF,
} hp_model_format;

typedef struct hp_model {
    hp_model_format format;
    char *path;
    bool has_config;        /* false for a bare .safetensors file or a dir without config.json */
    hp_config config;
    const hp_tensor **tensors; /* every tensor of every file, in file then header order */
    size_t n_tensors;
    const hp_file **files;  /* tensors[i]->file indexes this */
    size_t n_files;
    char *tokenizer_path;   /* tokenizer.json beside the weights, or NULL */
    struct hp_safetensors *shards;
    size_t n_shards;
    struct hp_gguf *gguf;
} hp_model;

/* Returns NULL with a message in err when the path is not a readable model. */
hp_model *hp_model_open(const char *path, hp_err *err);
void hp_model_close(hp_model *m);

const char *hp_model_format_name(hp_model_format f);

/* The tensor of that (Hugging Face) name, or NULL. */
const hp_tensor *hp_model_find(const hp_model *m, const char *name);

/* The input embedding matrix, found by the names architectures use for it; NULL with a
 * message listing the names tried when there is none. */
const hp_tensor *hp_model_embedding(const hp_model *m, hp_err *err);

uint64_t hp_model_n_params(const hp_model *m);

/* Widens rows [row0, row0 + n) of t to float32 (see hp_tensor_read_rows). */
int hp_model_read_rows(const hp_model *m, const hp_tensor *t, int64_t row0, int64_t n, float *out,
                       hp_err *err);

/* Reads a whole tensor as a rows x cols float32 matrix into out, streaming the stored
 * bytes through a small buffer with pread so that only this tensor's bytes are read and
 * memory stays at the float32 size plus a few MB. */
int hp_model_read_f32(const hp_model *m, const hp_tensor *t, float *out, hp_progress *progress,
                      hp_err *err);

/* The tokenizer's kind: for tokenizer.json its "model.type" ("BPE", "Unigram", ...),
 * for GGUF "gguf:" + tokenizer.ggml.model; "none" when there is no tokenizer. */
int hp_model_tokenizer_type(const hp_model *m, char *buf, size_t size, hp_err *err);

#endif
