/* Instruction data, tokenized and batched (train/instruct_data.h). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "instruct_data.h"

int instruct_option(const char *cmd, int c, const char *arg, hp_instruct_options *o)
{
    long v;
    switch (c) {
    case INSTRUCT_O_TEMPLATE: return cli_template(cmd, arg, &o->template_) ? 1 : -1;
    case INSTRUCT_O_CUTOFF:
        if (!cli_parse_int(cmd, "--cutoff", arg, 2, 1 << 20, &v))
            return -1;
        o->cutoff = (int)v;
        return 1;
    case INSTRUCT_O_NO_TRAIN_ON_INPUTS: o->train_on_inputs = false; return 1;
    default: return 0;
    }
}

typedef struct reader {
    instruct_data *d;
    const hp_tokenizer *tok;
    const hp_instruct_options *o;
    long limit;
} reader;

/* input may be absent or null (no input section); the other two fields are required. */
static int on_item(const cJSON *j, size_t index, void *ctx, hp_err *err)
{
    reader *r = ctx;
    instruct_data *d = r->d;
    if (r->limit && index >= (size_t)r->limit)
        return 1;
    const char *instruction = hp_json_field_str(j, "instruction", err);
    const char *output = instruction ? hp_json_field_str(j, "output", err) : NULL;
    if (!output)
        return -1;
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "input");
    if (in && !cJSON_IsNull(in) && !cJSON_IsString(in))
        return hp_fail(err, "field \"input\" is not a string");
    if (hp_grow((void **)&d->items, &d->cap, d->n + 1, sizeof *d->items, "the items", err))
        return -1;
    instruct_item *it = &d->items[d->n];
    memset(it, 0, sizeof *it);
    if (hp_instruct_tokenize(r->tok, r->o, instruction, cJSON_IsString(in) ? in->valuestring : NULL, output, &it->ex,
                             err)) {
        hp_ids_free(&it->ex.ids);
        return -1;
    }
    d->n_truncated += it->ex.truncated;
    if ((int)it->ex.ids.n > d->max_len)
        d->max_len = (int)it->ex.ids.n;
    d->n++;
    return 0;
}

int instruct_data_read(instruct_data *d, const hp_tokenizer *tok, const hp_instruct_options *o, char *const *paths,
                       int n_paths, long limit, hp_err *err)
{
    memset(d, 0, sizeof *d);
    reader r = {d, tok, o, limit};
    for (int f = 0; f < n_paths; f++)
        if (hp_json_each(paths[f], on_item, &r, err))
            return -1;
    return 0;
}

void instruct_data_free(instruct_data *d)
{
    for (size_t i = 0; i < d->n; i++)
        hp_ids_free(&d->items[i].ex.ids);
    free(d->items);
    memset(d, 0, sizeof *d);
}

int instruct_batch(instruct_item *const *items, int B, int32_t *tokens, int32_t *targets, int *lengths)
{
    int T = 0;
    for (int b = 0; b < B; b++)
        if ((int)items[b]->ex.ids.n > T)
            T = (int)items[b]->ex.ids.n;
    for (int b = 0; b < B; b++) {
        const hp_instruct_example *ex = &items[b]->ex;
        int n = (int)ex->ids.n;
        lengths[b] = n;
        for (int t = 0; t < T; t++) {
            tokens[(size_t)b * T + t] = t < n ? ex->ids.ids[t] : 0;
            if (targets) /* position t predicts token t + 1 */
                targets[(size_t)b * T + t] = t + 1 < n && (size_t)(t + 1) >= ex->first_target ? ex->ids.ids[t + 1] : -1;
        }
    }
    return T;
}

int instruct_nll(const hp_fwd_model *fm, hp_fwd_acts *acts, instruct_item *const *items, int B, int32_t *tokens,
                 int *lengths, float *logits, hp_err *err)
{
    int T = instruct_batch(items, B, tokens, NULL, lengths), V = fm->config.vocab_size;
    if (hp_fwd_run(fm, acts, NULL, tokens, lengths, B, T, logits, NULL, err))
        return -1;
    for (int b = 0; b < B; b++) {
        instruct_item *it = items[b];
        for (size_t t = it->ex.first_target; t < it->ex.ids.n; t++) {
            it->nll += hp_fwd_nll(logits + ((size_t)b * T + t - 1) * V, V, it->ex.ids.ids[t]);
            it->targets++;
        }
    }
    return 0;
}
