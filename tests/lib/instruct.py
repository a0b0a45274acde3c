"""Instruction data as LLM-Adapters' finetune.py (and the HypLoRA paper) feeds it to the
model, rebuilt here from its description (docs/instruction-data.md): the prompt templates
written out, and the ids and labels of an item from the token ids of its texts."""

import json
import os

EOS = 2         # LLaMA-2's </s>
IGNORE = -100   # a label that does not count

ALPACA_NO_INPUT = ("Below is an instruction that describes a task. Write a response that appropriately "
                   "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n{output}")
ALPACA_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further "
                "context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
                "{instruction}\n\n### Input:\n{input}\n\n### Response:\n{output}")
IND = " " * 16  # LLM-Adapters' f-string is indented by 16 spaces
LLMA_NO_INPUT = ("Below is an instruction that describes a task. Write a response that appropriately "
                 "completes the request.  # noqa: E501\n\n"
                 + IND + "### Instruction:\n" + IND + "{instruction}\n"
                 + IND + "\n" + IND + "### Response:\n" + IND + "{output}")
LLMA_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further "
              "context. Write a response that appropriately completes the request.  # noqa: E501\n\n"
              + IND + "### Instruction:\n" + IND + "{instruction}\n"
              + IND + "\n" + IND + "### Input:\n" + IND + "{input}\n"
              + IND + "\n" + IND + "### Response:\n" + IND + "{output}")
TEMPLATES = {"alpaca": (ALPACA_NO_INPUT, ALPACA_INPUT), "llm-adapters": (LLMA_NO_INPUT, LLMA_INPUT)}


def fill(template, item, output):
    """The text of an item: template is a name of TEMPLATES, or the object of a template
    file (alpaca-lora's format), filled in by str.format as alpaca-lora's Prompter does."""
    inp = item.get("input")
    if isinstance(template, dict):
        prompt = template["prompt_input"] if inp else template["prompt_no_input"]
        return prompt.format(instruction=item["instruction"], input=inp or "") + output
    no_input, with_input = TEMPLATES[template]
    # str.format would read braces in the fields; plain replacement in a fixed order does not.
    text = with_input if inp else no_input
    parts = text.split("{output}")
    assert len(parts) == 2
    head = parts[0].replace("{instruction}", "\0I").replace("{input}", "\0N")
    head = head.replace("\0I", item["instruction"])
    if inp:
        head = head.replace("\0N", inp)
    return head + output


def labels_of(full, prompt, cutoff, train_on_inputs):
    """The ids and labels of an item from the ids of its full text and of its prompt alone
    (both encoded with BOS): the full text cut to the cutoff, EOS appended when it is not
    last and there is room, and the prompt's labels ignored unless training on inputs."""
    ids = full[:cutoff]
    if ids[-1] != EOS and len(ids) < cutoff:
        ids = ids + [EOS]
    labels = list(ids)
    if not train_on_inputs:
        k = min(len(prompt), cutoff)
        labels[:k] = [IGNORE] * min(k, len(labels))
    return ids, labels


def mawps_items(root):
    """The vendored MAWPS training problems (notebooks-data) as instruction items: the
    problem, then its equation and the answer."""
    with open(os.path.join(root, "notebooks-data", "datasets", "mawps", "trainset.json")) as f:
        return [{"instruction": it["original_text"], "input": "",
                 "output": "%s\nThe answer is %s." % (it["equation"], it["ans"])} for it in json.load(f)]


def write_items(suite, name, items):
    """Writes items as a JSON array (UTF-8) in the suite's folder as name; returns the path."""
    path = suite.path(name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(items, f, ensure_ascii=False)
    return path
