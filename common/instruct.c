/* Instruction items to tokens and loss targets (hyplora/instruct.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hyplora/file.h"
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

/* Checks a file template's prompt: every '{' opens "{{", "{instruction}" or (with_input)
 * "{input}", every '}' closes one of them or is doubled. */
static int check_prompt(const char *path, const char *member, const char *p, bool with_input, hp_err *err)
{
    bool have_instruction = false;
    for (; *p; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            p++;
        } else if (strncmp(p, "{instruction}", 13) == 0) {
            have_instruction = true;
            p += 12;
        } else if (with_input && strncmp(p, "{input}", 7) == 0) {
            p += 6;
        } else if (*p == '{' || *p == '}') {
            int n = (int)strcspn(p + 1, "}") + 2;
            return hp_fail(err, "%s: member %s: '%.*s' is not a placeholder of this prompt (only {instruction}%s; "
                                "write {{ and }} for literal braces)",
                           path, member, n > 40 ? 40 : n, p, with_input ? " and {input}" : "");
        }
    }
    if (!have_instruction)
        return hp_fail(err, "%s: member %s has no {instruction} placeholder", path, member);
    return 0;
}

static char *prompt_member(const cJSON *root, const char *path, const char *member, bool with_input, hp_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, member);
    if (!cJSON_IsString(v)) {
        hp_fail(err, "%s: member %s is %s; a template file needs prompt_input and prompt_no_input strings", path,
                member, v ? "not a string" : "missing");
        return NULL;
    }
    if (check_prompt(path, member, v->valuestring, with_input, err))
        return NULL;
    char *s = strdup(v->valuestring);
    if (!s)
        hp_fail(err, "out of memory reading %s", path);
    return s;
}

int hp_template_open(const char *name, hp_template *t, hp_err *err)
{
    memset(t, 0, sizeof *t);
    if (strcmp(name, "alpaca") == 0)
        return t->kind = HP_TEMPLATE_ALPACA, 0;
    if (strcmp(name, "llm-adapters") == 0)
        return t->kind = HP_TEMPLATE_LLM_ADAPTERS, 0;
    t->kind = HP_TEMPLATE_FILE;
    size_t len;
    char *text = hp_read_small_file(name, 1u << 20, &len, err);
    if (!text)
        return hp_failctx(err, "--template expects alpaca, llm-adapters or a JSON template file");
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    int rc = 0;
    if (!cJSON_IsObject(root))
        rc = hp_fail(err, "%s: not a JSON object (a template file holds prompt_input and prompt_no_input)", name);
    else if (!(t->path = strdup(name)))
        rc = hp_fail(err, "out of memory");
    else if (!(t->with_input = prompt_member(root, name, "prompt_input", true, err)) ||
             !(t->without_input = prompt_member(root, name, "prompt_no_input", false, err)))
        rc = -1;
    cJSON_Delete(root);
    if (rc)
        hp_template_free(t);
    return rc;
}

void hp_template_free(hp_template *t)
{
    free(t->path);
    free(t->with_input);
    free(t->without_input);
    t->path = t->with_input = t->without_input = NULL;
}

const char *hp_template_name(const hp_template *t)
{
    return t->kind == HP_TEMPLATE_ALPACA ? "alpaca" : t->kind == HP_TEMPLATE_LLM_ADAPTERS ? "llm-adapters" : t->path;
}

/* A file template's prompt filled in (its placeholders were checked at open), then the
 * output: one pass to measure, one to write. */
static char *fill(const char *prompt, const char *instruction, const char *input, const char *out)
{
    char *s = NULL;
    for (int pass = 0; pass < 2; pass++) {
        size_t w = 0;
        for (const char *q = prompt; *q; q++) {
            const char *v = NULL;
            char c = *q;
            if ((q[0] == '{' && q[1] == '{') || (q[0] == '}' && q[1] == '}'))
                q++;
            else if (strncmp(q, "{instruction}", 13) == 0)
                v = instruction, q += 12;
            else if (strncmp(q, "{input}", 7) == 0)
                v = input ? input : "", q += 6;
            size_t len = v ? strlen(v) : 1;
            if (pass == 1 && v)
                memcpy(s + w, v, len);
            else if (pass == 1)
                s[w] = c;
            w += len;
        }
        if (pass == 1) {
            strcpy(s + w, out);
            return s;
        }
        if (!(s = malloc(w + strlen(out) + 1)))
            return NULL;
    }
    return s;
}

char *hp_template_format(const hp_template *t, const char *instruction, const char *input, const char *output,
                         hp_err *err)
{
    bool has_input = input && *input;
    const char *out = output ? output : "";
    char *s = NULL;
    int n = 0;
    if (t->kind == HP_TEMPLATE_FILE) {
        /* alpaca-lora's Prompter: the prompt with or without input, then the response */
        s = fill(has_input ? t->with_input : t->without_input, instruction, input, out);
        n = s ? 0 : -1;
    } else if (t->kind == HP_TEMPLATE_ALPACA) {
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
    *o = (hp_instruct_options){.template_ = {.kind = HP_TEMPLATE_ALPACA}, .cutoff = 256, .train_on_inputs = true};
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
    char *full = hp_template_format(&o->template_, instruction, input, output, err);
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
    char *prompt = hp_template_format(&o->template_, instruction, input, NULL, err);
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
