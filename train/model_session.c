/* Opening a model to run it (train/model_session.h). */
#include <string.h>

#include "model_session.h"

bool model_session_weights(const char *cmd, const char *s, hp_fwd_weights *w)
{
    if (strcmp(s, "auto") == 0)
        *w = HP_FWD_WEIGHTS_AUTO;
    else if (strcmp(s, "f32") == 0)
        *w = HP_FWD_WEIGHTS_F32;
    else if (strcmp(s, "stored") == 0)
        *w = HP_FWD_WEIGHTS_STORED;
    else
        return cli_usage_error(cmd, "--weights expects auto, f32 or stored, got '%s'", s), false;
    return true;
}

int model_session_open(model_session *s, const char *path, const char *tokenizer_path, hp_fwd_weights w,
                       bool need_tokenizer, hp_err *err)
{
    memset(s, 0, sizeof *s);
    if (!(s->model = hp_model_open(path, err)))
        return -1;
    if (tokenizer_path)
        s->tok = hp_tokenizer_load(tokenizer_path, err);
    else if (s->model->tokenizer_path)
        s->tok = hp_tokenizer_load(s->model->tokenizer_path, err);
    else if (s->model->gguf)
        s->tok = hp_tokenizer_from_gguf(s->model->gguf, err);
    else if (need_tokenizer)
        hp_fail(err, "%s has no tokenizer: give one with --tokenizer", path);
    if (!s->tok && (need_tokenizer || tokenizer_path || s->model->tokenizer_path))
        return -1;
    if (s->tok && hp_tokenizer_vocab_size(s->tok) > (size_t)s->model->config.vocab_size)
        return hp_fail(err, "the tokenizer has %zu tokens but the model's vocabulary only %d",
                       hp_tokenizer_vocab_size(s->tok), s->model->config.vocab_size);
    hp_fwd_options opt = {.weights = w, .threads = g_cli.threads};
    s->fm = hp_fwd_load(s->model, &opt, err);
    return s->fm ? 0 : -1;
}

void model_session_close(model_session *s)
{
    hp_fwd_free(s->fm);
    hp_tokenizer_free(s->tok);
    hp_model_close(s->model);
    memset(s, 0, sizeof *s);
}
