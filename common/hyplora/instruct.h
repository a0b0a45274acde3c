/* Instruction data as fine-tuning and `hyplora loss` see it: an item (instruction,
 * optional input, output) formatted with a prompt template, tokenized, cut to a maximum
 * length, and the positions whose next token counts in the loss.
 *
 * The tokenization follows LLM-Adapters' finetune.py, which the HypLoRA paper trains
 * with: the full text (prompt + output) is encoded with the tokenizer's special tokens,
 * cut to `cutoff` tokens, and EOS is appended when it is not already last and the cut left
 * room; when training on the response only, the first k labels are masked, k being the
 * length of the prompt encoded alone (also cut to `cutoff`). */
#ifndef HYPLORA_INSTRUCT_H
#define HYPLORA_INSTRUCT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyplora/error.h"
#include "hyplora/tokenizer.h"

typedef enum hp_template_kind {
    HP_TEMPLATE_ALPACA,       /* the Stanford Alpaca prompt (docs/instruction-data.md) */
    HP_TEMPLATE_LLM_ADAPTERS, /* the exact text LLM-Adapters' finetune.py builds, quirks included */
    HP_TEMPLATE_FILE,         /* read from a JSON file: prompt_input and prompt_no_input */
} hp_template_kind;

typedef struct hp_template {
    hp_template_kind kind;
    char *path;                /* HP_TEMPLATE_FILE: the file, and its two prompts, each with */
    char *with_input;          /* {instruction} (and {input}) to fill; "{{" and "}}" are */
    char *without_input;       /* literal braces, as in Python's str.format */
} hp_template;

/* "alpaca", "llm-adapters", or the path of a JSON template file as alpaca-lora's
 * templates (JSON): {"prompt_input": "...{instruction}...{input}...", "prompt_no_input":
 * "...{instruction}..."} (other members are ignored). Fails naming the file and member on
 * a missing prompt or a placeholder other than {instruction} and {input}. */
int hp_template_open(const char *name_or_path, hp_template *t, hp_err *err);
void hp_template_free(hp_template *t);
/* "alpaca", "llm-adapters" or the file's path. */
const char *hp_template_name(const hp_template *t);

/* The formatted text, malloc'd: the prompt followed by output (output NULL: the prompt
 * alone, as the model sees it before answering). input NULL or "" selects the variant of
 * the template without an input section. */
char *hp_template_format(const hp_template *t, const char *instruction, const char *input, const char *output,
                         hp_err *err);

typedef struct hp_instruct_example {
    hp_ids ids;        /* the tokens, at most cutoff */
    size_t first_target; /* targets are ids[first_target .. n): predicted from the position before */
    bool truncated;    /* the full text had more than cutoff tokens */
} hp_instruct_example;

typedef struct hp_instruct_options {
    hp_template template_;
    int cutoff;            /* tokens (256 as the paper) */
    bool train_on_inputs;  /* loss on prompt tokens too (true, as the paper) */
} hp_instruct_options;

void hp_instruct_options_init(hp_instruct_options *o);

/* Formats and tokenizes one item into ex (its ids buffer is reused; free with
 * hp_ids_free). */
int hp_instruct_tokenize(const hp_tokenizer *tok, const hp_instruct_options *o, const char *instruction,
                         const char *input, const char *output, hp_instruct_example *ex, hp_err *err);

#endif
