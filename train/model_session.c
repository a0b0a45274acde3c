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

hp_tokenizer *model_session_tokenizer(const hp_model *m, const char *path, const char *tokenizer_path,
                                      bool need, hp_err *err)
{
    hp_tokenizer *tok = NULL;
    if (tokenizer_path)
        tok = hp_tokenizer_load(tokenizer_path, err);
    else if (m->tokenizer_path)
        tok = hp_tokenizer_load(m->tokenizer_path, err);
    else if (m->gguf)
        tok = hp_tokenizer_from_gguf(m->gguf, err);
    else if (need)
        hp_fail(err, "%s has no tokenizer: give one with --tokenizer", path);
    else
        hp_fail(err, "%s has no tokenizer", path); /* not an error for the caller */
    if (tok && hp_tokenizer_vocab_size(tok) > (size_t)m->config.vocab_size) {
        hp_fail(err, "the tokenizer has %zu tokens but the model's vocabulary only %d", hp_tokenizer_vocab_size(tok),
                m->config.vocab_size);
        hp_tokenizer_free(tok);
        tok = NULL;
    }
    return tok;
}

int model_session_open(model_session *s, const char *path, const char *tokenizer_path, hp_fwd_weights w,
                       bool need_tokenizer, hp_err *err)
{
    memset(s, 0, sizeof *s);
    if (!(s->model = hp_model_open(path, err)))
        return -1;
    bool must = need_tokenizer || tokenizer_path || s->model->tokenizer_path;
    if (!(s->tok = model_session_tokenizer(s->model, path, tokenizer_path, need_tokenizer, err)) && must)
        return -1;
    hp_fwd_options opt = {.weights = w, .threads = g_cli.threads};
    s->fm = hp_fwd_load(s->model, &opt, err);
    return s->fm ? 0 : -1;
}

int model_session_adapter(model_session *s, const char *dir, hp_err *err)
{
    if (hp_adapter_set_load(&s->adapters, &s->fm->config, dir, err))
        return hp_failctx(err, "--adapter %s", dir);
    hp_adapter_set_attach(&s->adapters, s->fm);
    return 0;
}

void model_session_close(model_session *s)
{
    if (s->fm)
        hp_adapter_set_detach(&s->adapters, s->fm);
    hp_adapter_set_free(&s->adapters);
    hp_fwd_free(s->fm);
    hp_tokenizer_free(s->tok);
    hp_model_close(s->model);
    memset(s, 0, sizeof *s);
}
