/* A model opened for running it (generate, loss): the files, the forward pass and the
 * tokenizer, with the options those commands share. */
#ifndef HYPLORA_MODEL_SESSION_H
#define HYPLORA_MODEL_SESSION_H

#include <stdbool.h>

#include "cli.h"

typedef struct model_session {
    hp_model *model;
    hp_fwd_model *fm;
    hp_tokenizer *tok; /* NULL when not needed and absent */
    hp_adapter_set adapters; /* --adapter, attached to fm (n 0 without) */
} model_session;

/* Help text lines for the options below. */
#define MODEL_SESSION_HELP                                                                          \
    "  --tokenizer PATH  tokenizer to use instead of the model's own (tokenizer.json, GGUF)\n"     \
    "  --weights MODE    auto (float32 when it fits in half the memory, else stored), f32\n"     \
    "                    (widen every weight at load: fastest), stored (keep the file's dtype,\n" \
    "                    widen as used: 2 bytes a BF16 weight)\n"

/* Parses --weights MODE; prints a usage error and returns false on a bad value. */
bool model_session_weights(const char *cmd, const char *s, hp_fwd_weights *w);

/* The tokenizer for model m opened from path: tokenizer_path, else the model's own
 * (tokenizer.json beside it, or the GGUF's). NULL with a message when there is none (need:
 * the message asks for --tokenizer) or it does not fit the model's vocabulary. */
hp_tokenizer *model_session_tokenizer(const hp_model *m, const char *path, const char *tokenizer_path,
                                      bool need, hp_err *err);

/* Opens path, loads the forward pass and the tokenizer (tokenizer_path, else the model's;
 * required when need_tokenizer). */
int model_session_open(model_session *s, const char *path, const char *tokenizer_path, hp_fwd_weights w,
                       bool need_tokenizer, hp_err *err);
/* Loads the PEFT adapter directory dir (hyplora train's, or PEFT's plain LoRA) and puts its
 * adapters on the model; before any hp_fwd_acts_new. */
int model_session_adapter(model_session *s, const char *dir, hp_err *err);

void model_session_close(model_session *s);

#endif
