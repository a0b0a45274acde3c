/* Instruction items to tokens and loss targets (hyplora/instruct.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/instruct.h"

/* The Alpaca prompt: a preamble, then "### Instruction:", optionally "### Input:", then
 * "### Response:" and the response. */
static const char ALPACA_HEAD[] = "Below is an instruction that describes a task. Write a response that "
                                  "appropriately completes the request.\n\n";
static const char ALPACA_HEAD_INPUT[] = "Below is an instruction that describes a task, paired with an input "
                                        "that provides further context. Write a response that appropriately "
                                        "completes the request.\n\n";

/* LLM-Adapters' finetune.py writes the same prompt in an indented Python f-string, so every
 * line after the first starts with 16 spaces, the blank separator lines hold those spaces,
 * and a lint comment ("# noqa: E501") that sits inside the string ends the first line. The
 * paper's models were trained on exactly these bytes. */
#define PAD "                "
static const char LA_HEAD[] = "Below is an instruction that describes a task. Write a response that "
                              "appropriately completes the request.  # noqa: E501\n\n";
static const char LA_HEAD_INPUT[] = "Below is an instruction that describes a task, paired with an input that "
                                    "provides further context. Write a response that appropriately completes "
                                    "the request.  # noqa: E501\n\n";

int hp_template_from_name(const char *name, hp_template *t)
{
    if (strcmp(name, "alpaca") == 0)
        *t = HP_TEMPLATE_ALPACA;
    else if (strcmp(name, "llm-adapters") == 0)
        *t = HP_TEMPLATE_LLM_ADAPTERS;
    else
        return -1;
    return 0;
}

const char *hp_template_name(hp_template t)
{
    return t == HP_TEMPLATE_ALPACA ? "alpaca" : "llm-adapters";
}

char *hp_template_format(hp_template t, const char *instruction, const char *input, const char *output,
                         hp_err *err)
{
    bool has_input = input && *input;
    const char *out = output ? output : "";
    char *s = NULL;
    int n;
    if (t == HP_TEMPLATE_ALPACA) {
        if (has_input)
            n = asprintf(&s, "%s### Instruction:\n%s\n\n### Input:\n%s\n\n### Response:\n%s", ALPACA_HEAD_INPUT,
                         instruction, input, out);
        else
            n = asprintf(&s, "%s### Instruction:\n%s\n\n### Response:\n%s", ALPACA_HEAD, instruction, out);
    } else {
        if (has_input)
            n = asprintf(&s,
                         "%s" PAD "### Instruction:\n" PAD "%s\n" PAD "\n" PAD "### Input:\n" PAD "%s\n" PAD
                         "\n" PAD "### Response:\n" PAD "%s",
                         LA_HEAD_INPUT, instruction, input, out);
        else
            n = asprintf(&s, "%s" PAD "### Instruction:\n" PAD "%s\n" PAD "\n" PAD "### Response:\n" PAD "%s",
                         LA_HEAD, instruction, out);
    }
    if (n < 0) {
        hp_fail(err, "out of memory formatting an instruction item");
        return NULL;
    }
    return s;
}

void hp_instruct_options_init(hp_instruct_options *o)
{
    *o = (hp_instruct_options){.template_ = HP_TEMPLATE_ALPACA, .cutoff = 256, .train_on_inputs = true};
}

/* Encodes text with special tokens, cut to cutoff; *cut says whether anything was lost. */
static int encode_cut(const hp_tokenizer *tok, const char *text, int cutoff, hp_ids *ids, bool *cut,
                      hp_err *err)
{
    ids->n = 0;
    if (hp_tokenizer_encode(tok, text, strlen(text), true, ids, err))
        return -1;
    *cut = ids->n > (size_t)cutoff;
    if (*cut)
        ids->n = (size_t)cutoff;
    return 0;
}

int hp_instruct_tokenize(const hp_tokenizer *tok, const hp_instruct_options *o, const char *instruction,
                         const char *input, const char *output, hp_instruct_example *ex, hp_err *err)
{
    char *full = hp_template_format(o->template_, instruction, input, output, err);
    if (!full)
        return -1;
    int rc = encode_cut(tok, full, o->cutoff, &ex->ids, &ex->truncated, err);
    free(full);
    if (rc)
        return -1;
    int32_t eos = hp_tokenizer_eos(tok);
    if (eos >= 0 && ex->ids.n < (size_t)o->cutoff && (ex->ids.n == 0 || ex->ids.ids[ex->ids.n - 1] != eos) &&
        hp_ids_push(&ex->ids, eos, err))
        return -1;
    ex->first_target = 1; /* the first token has no position before it */
    if (o->train_on_inputs)
        return 0;
    char *prompt = hp_template_format(o->template_, instruction, input, NULL, err);
    if (!prompt)
        return -1;
    hp_ids p = {0};
    bool cut;
    rc = encode_cut(tok, prompt, o->cutoff, &p, &cut, err);
    free(prompt);
    if (rc == 0 && p.n > ex->first_target)
        ex->first_target = p.n;
    hp_ids_free(&p);
    return rc;
}
