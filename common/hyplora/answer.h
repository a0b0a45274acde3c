/* Answers of the paper's benchmarks: which kind of answer a data set's labels ask for, the
 * answer a model's output gives, and whether it is right (docs/eval.md).
 *
 *  - number (GSM8K, SVAMP, MAWPS, AddSub, MultiArith, SingleEq): the last number in the
 *    output, thousands separators removed; right within 0.001 of the label.
 *  - letter (AQuA, MathQA): an option letter A-E standing alone (not inside a word): the
 *    one in the last \boxed{...}, else the one right after the last "answer is" or
 *    "answer:", else the last one in the output.
 *  - option (BoolQ, PIQA, SIQA, WinoGrande, ARC, OpenBookQA): the first whole word of the
 *    labels' family (true/false, solutionN, answerN or optionN), any case. */
#ifndef HYPLORA_ANSWER_H
#define HYPLORA_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

#include "hyplora/error.h"

typedef enum hp_task { HP_TASK_AUTO, HP_TASK_NUMBER, HP_TASK_LETTER, HP_TASK_OPTION } hp_task;

/* "auto", "number", "letter", "option". */
const char *hp_task_name(hp_task t);
/* The task named s; -1 when s names none. */
int hp_task_parse(const char *s, hp_task *t);

/* What a data set's answers look like: the task and, for options, the word family. */
typedef struct hp_answer_kind {
    hp_task task;        /* never AUTO */
    char option_prefix[16]; /* option: "solution", "answer", "option", or "" for true/false */
} hp_answer_kind;

/* The kind of the labels[0 .. n): `want` itself (AUTO: the first of number, letter, option
 * that every label fits). Fails naming the first label (and its index) that fits no task or
 * not the one wanted, and on labels of two option families. */
int hp_answer_kind_of(hp_task want, const char *const *labels, size_t n, hp_answer_kind *k, hp_err *err);

/* "number", "letter", or "option (true/false)", "option (answerN)"... */
void hp_answer_kind_describe(const hp_answer_kind *k, char *buf, size_t cap);

/* The answer output gives, written to pred (a number without separators, "D", "answer3";
 * "" when it gives none). Returns whether it gives one. */
bool hp_answer_extract(const hp_answer_kind *k, const char *output, char *pred, size_t cap);

/* Whether pred (from hp_answer_extract) is right for label. */
bool hp_answer_correct(const hp_answer_kind *k, const char *label, const char *pred);

#endif
