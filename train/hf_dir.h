/* Writing a model as a Hugging Face directory (config.json, model.safetensors,
 * tokenizer.json): what make-model and pretrain produce and every command reads. */
#ifndef HYPLORA_HF_DIR_H
#define HYPLORA_HF_DIR_H

#include <cjson/cJSON.h>

#include "hyplora.h"

/* Writes dir/name as pretty-printed JSON, atomically, and frees doc. */
int hf_write_json(const char *dir, const char *name, cJSON *doc, hp_err *err);

/* dir/config.json of a LlamaForCausalLM with c's shape and constants, torch_dtype from
 * dtype. */
int hf_write_config(const char *dir, const hp_config *c, hp_dtype dtype, hp_err *err);

/* Copies the tokenizer.json at `tokenizer` into dir, with the tokenizer_config.json beside
 * it when there is one (it says whether BOS is added, which the HF loaders read there). */
int hf_copy_tokenizer(const char *tokenizer, const char *dir, hp_err *err);

/* dir/model.safetensors (atomically) from the parameter block of fm (every weight in the
 * block), each tensor rounded once to dtype (F32, BF16 or F16). */
int hf_write_weights(const char *dir, const hp_fwd_model *fm, hp_dtype dtype, hp_err *err);

#endif
