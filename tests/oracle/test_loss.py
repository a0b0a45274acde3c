#!/usr/bin/python3
"""Loss oracle: `hyplora loss` against the instruction-tuning loss rebuilt here from its
description (docs/instruction-data.md, LLM-Adapters' finetune.py): the prompt templates
written out in this file, token ids from `hyplora tokenize` (checked against the reference
tokenizers by tokenizer_oracle), EOS and truncation rules, ignored prompt labels, and
Hugging Face's shifted causal-LM cross-entropy computed with PyTorch in float64 on the
logits of the independent model in tests/lib/torch_llama.py.

    test_loss.py HYPLORA_EXE

The model is make-model's default (hidden 64, 2 layers, the LLaMA-2 tokenizer, vocab 32000)
with sharpened weights, so the losses spread well away from ln(32000). Checks: the mean and
every item's loss within 1e-5 (relative) for both templates and both train-on-inputs
settings, on hand-written items (input absent, null, empty, non-empty; an empty output; an
output ending in "</s>") and real GSM8K items (a JSONL copy, and the vendored file with
--limit); a cutoff that cuts some items (no EOS) and leaves some prompts without targets;
an item exactly as long as the cutoff; --batch 1 and 3 and --weights stored agreeing to 1e-6;
clear errors for bad data.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import numpy as np  # noqa: E402
try:
    import torch  # noqa: E402
except ImportError:  # a clear failure, not a skip: this is the loss's only oracle
    sys.exit("test_loss.py: PyTorch is missing: apt-get install python3-torch (Debian's, for /usr/bin/python3)")

import harness  # noqa: E402
from checkpoints import make_model, rewrite, sharpen, tokenize_texts  # noqa: E402
from instruct import EOS, IGNORE, TEMPLATES, fill, labels_of  # noqa: E402
import peft  # noqa: E402
import st_writer  # noqa: E402
from torch_hyplora import MODULES  # noqa: E402
from torch_llama import load_safetensors_dir, reference  # noqa: E402

suite = harness.Suite()
HYPLORA = suite.exe
ROOT = os.environ.get("HYPLORA_SOURCE_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GSM8K = os.path.join(ROOT, "notebooks-data", "datasets", "gsm8k", "test.json")
TOL = 1e-5      # against the reference
SAME = 1e-6     # between hyplora runs (batch size, weight mode)

HAND = [
    {"instruction": "Add 3 and 4.", "output": "3 + 4 = 7."},
    {"instruction": "Translate to French.", "input": "The cat sleeps.", "output": "Le chat dort."},
    {"instruction": "Name a colour.", "input": None, "output": "Blue"},
    {"instruction": "Summarise {this}.", "input": "", "output": "Nothing to summarise.\nDone."},
    {"instruction": "Répondez : combien font 2×3 ?", "input": "Contexte : « multiplication » 🙂",
     "output": "2×3 = 6 ✓", "answer": "6", "id": 17},
    {"instruction": "Say nothing.", "output": ""},
    {"instruction": "Stop.", "input": "Already ended", "output": "Stop here.</s>"},
    {"instruction": "Count to sixty.", "input": "Numbers, separated by spaces",
     "output": " ".join(str(i) for i in range(1, 61))},
]


def gsm8k_items(n):
    with open(GSM8K) as f:
        items = json.load(f)
    return [it for it in items if it["output"].strip()][:n]


# ---- the model ----

def sharp_model():
    """make-model's default checkpoint (BF16, seed 21), sharpened: larger q/k and v/o and a
    final norm that spreads the logits over several units."""
    d = make_model(suite, HYPLORA, "model", "--seed", 21)
    rng = np.random.default_rng(21)
    dtype = rewrite(d, lambda t: sharpen(t, rng, qk_scale=8.0, vo_scale=6.0, out_scale=12.0, sort_names=True))
    assert dtype == "BF16", dtype
    with open(os.path.join(d, "config.json")) as f:
        assert json.load(f)["eos_token_id"] == EOS
    return d


MODEL = sharp_model()
TOKENIZER = os.path.join(MODEL, "tokenizer.json")
WEIGHTS = load_safetensors_dir(MODEL)
_tok_cache, _logit_cache = {}, {}


def tokenize(texts):
    """`hyplora tokenize --add-special` of each text (read from a JSON array, so a text may
    hold newlines; tests/lib/checkpoints.py), cached."""
    todo = sorted({t for t in texts if t not in _tok_cache})
    if todo:
        for t, ids in zip(todo, tokenize_texts(suite, TOKENIZER, todo)):
            _tok_cache[t] = ids
    return [_tok_cache[t] for t in texts]


def ref_logits(ids, adapt_for=None):
    key = (tuple(ids), id(adapt_for))
    if key not in _logit_cache:
        _logit_cache[key] = reference(MODEL, ids, weights=WEIGHTS, adapt_for=adapt_for)[0]
    return _logit_cache[key]


def expected(items, template="alpaca", cutoff=256, train_on_inputs=True, adapt_for=None):
    """Every item's (n targets, truncated, summed NLL, ids), as LLM-Adapters builds them."""
    fulls = tokenize([fill(template, it, it["output"]) for it in items])
    prompts = tokenize([fill(template, it, "") for it in items])
    out = []
    for full, prompt in zip(fulls, prompts):
        truncated = len(full) > cutoff
        ids, labels = labels_of(full, prompt, cutoff, train_on_inputs)
        logits = torch.tensor(ref_logits(ids, adapt_for), dtype=torch.float64)
        target = torch.tensor(labels[1:], dtype=torch.long)
        n = int((target != IGNORE).sum())
        per_token = torch.nn.functional.cross_entropy(logits[:-1], target, ignore_index=IGNORE, reduction="none")
        nll = float(torch.nn.functional.cross_entropy(logits[:-1], target, ignore_index=IGNORE,
                                                      reduction="sum")) if n else 0.0
        out.append({"n": n, "truncated": truncated, "nll": nll, "ids": ids,
                    "per_token": per_token[target != IGNORE].numpy()})
    return out


# ---- running hyplora ----

def write_json(name, items):
    path = suite.path(name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(items, f, ensure_ascii=False, indent=1)
    return path


def write_jsonl(name, items):
    path = suite.path(name)
    with open(path, "w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")
    return path


def loss_json(*args):
    r = suite.ok("loss", MODEL, *args, "--json")
    lines = r.out.splitlines()
    assert len(lines) == 1, r.out
    return json.loads(lines[0])


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def compare(got, want, template, cutoff, train_on_inputs, tag):
    assert got["template"] == template and got["cutoff"] == cutoff and got["train_on_inputs"] is train_on_inputs, \
        {k: got[k] for k in ("template", "cutoff", "train_on_inputs")}
    assert got["n_items"] == len(want) == len(got["items"]), (got["n_items"], len(want), len(got["items"]))
    total_n = sum(w["n"] for w in want)
    assert got["n_tokens"] == total_n, "%s: n_tokens %d, expected %d" % (tag, got["n_tokens"], total_n)
    worst = 0.0
    for i, (g, w) in enumerate(zip(got["items"], want)):
        assert g["n_tokens"] == w["n"], "%s item %d: n_tokens %d, expected %d" % (tag, i, g["n_tokens"], w["n"])
        assert g["truncated"] is w["truncated"], "%s item %d: truncated %s, expected %s" % (
            tag, i, g["truncated"], w["truncated"])
        if w["n"] == 0:
            assert g["loss"] is None, "%s item %d: no targets, loss %r" % (tag, i, g["loss"])
            continue
        e = rel(g["loss"], w["nll"] / w["n"])
        worst = max(worst, e)
        assert e < TOL, "%s item %d: loss %.10g, reference %.10g (rel %.3g)" % (tag, i, g["loss"], w["nll"] / w["n"], e)
    if total_n:
        want_mean = sum(w["nll"] for w in want) / total_n
        e = rel(got["mean_loss"], want_mean)
        worst = max(worst, e)
        assert e < TOL, "%s: mean %.10g, reference %.10g (rel %.3g)" % (tag, got["mean_loss"], want_mean, e)
    else:
        assert got["mean_loss"] is None, got["mean_loss"]
    losses = [w["nll"] / w["n"] for w in want if w["n"]]
    print("     %s: %d items, %d targets, losses %.3f..%.3f, worst relative difference %.2g" % (
        tag, len(want), total_n, min(losses, default=0), max(losses, default=0), worst))


def same(a, b, tag):
    assert a["n_tokens"] == b["n_tokens"] and a["n_items"] == b["n_items"], tag
    assert rel(a["mean_loss"], b["mean_loss"]) < SAME, (tag, a["mean_loss"], b["mean_loss"])
    for i, (x, y) in enumerate(zip(a["items"], b["items"])):
        assert x["n_tokens"] == y["n_tokens"] and x["truncated"] == y["truncated"], (tag, i, x, y)
        if x["loss"] is None or y["loss"] is None:
            assert x["loss"] is None and y["loss"] is None, (tag, i, x, y)
        else:
            assert rel(x["loss"], y["loss"]) < SAME, "%s item %d: %.10g vs %.10g" % (tag, i, x["loss"], y["loss"])


REAL = gsm8k_items(4)
HAND_PATH = write_json("hand.json", HAND)
REAL_PATH = write_jsonl("gsm8k4.jsonl", REAL)
ITEMS = HAND + REAL


def run_case(template, train_on_inputs, cutoff=256, extra=()):
    args = [HAND_PATH, REAL_PATH, "--template", template, "--cutoff", cutoff, *extra]
    if not train_on_inputs:
        args.append("--no-train-on-inputs")
    got = loss_json(*args)
    want = expected(ITEMS, template, cutoff, train_on_inputs)
    compare(got, want, template, cutoff, train_on_inputs,
            "%s cutoff %d %s" % (template, cutoff, "all tokens" if train_on_inputs else "response only"))
    return got, want


def case_template(template):
    def fn():
        for train in (True, False):
            _, want = run_case(template, train)
            assert not any(w["truncated"] for w in want)
            losses = [w["nll"] / w["n"] for w in want if w["n"]]
            # The model is not uniform: the items' losses are spread.
            assert max(losses) - min(losses) > 0.5, losses
            per_token = np.concatenate([w["per_token"] for w in want])
            assert per_token.std() > 1, per_token.std()  # token losses spread too
            assert all(w["ids"][-1] == EOS for w in want)
        # The plain-text summary states the same mean.
        r = suite.ok("loss", MODEL, HAND_PATH, REAL_PATH, "--template", template)
        got = loss_json(HAND_PATH, REAL_PATH, "--template", template)
        words = r.out.split()
        assert words[:2] == ["mean", "loss"], r.out
        assert rel(float(words[2]), got["mean_loss"]) < 1e-6, (r.out, got["mean_loss"])
    return fn


def case_template_file():
    """A template file in alpaca-lora's format (extra members ignored), with literal braces,
    a repeated placeholder and non-ASCII text, against str.format; then malformed files."""
    t = {"description": "a test template", "response_split": "### Answer:",
         "prompt_input": "Task {{{instruction}}} — given «{input}»:\n{instruction}\n### Answer:\n",
         "prompt_no_input": "{{Task}}: {instruction}\n### Answer:\n"}
    path = suite.path("template.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(t, f, ensure_ascii=False)
    data = write_json("template-items.json", HAND)
    for toi in (True, False):
        got = loss_json(data, "--template", path, *([] if toi else ["--no-train-on-inputs"]))
        compare(got, expected(HAND, template=t, train_on_inputs=toi), path, 256, toi, "template file")
    bad = [({"prompt_no_input": "{instruction}"}, "prompt_input is missing"),
           ({"prompt_input": "{instruction} {input}", "prompt_no_input": "{instruction} {input}"},
            "'{input}' is not a placeholder"),
           ({"prompt_input": "{instruction} {inputs}", "prompt_no_input": "{instruction}"}, "'{inputs}'"),
           ({"prompt_input": "{input}", "prompt_no_input": "{instruction}"}, "no {instruction}"),
           ({"prompt_input": "{instruction} {", "prompt_no_input": "{instruction}"}, "'{' is not"),
           ([1, 2], "not a JSON object")]
    for i, (obj, words) in enumerate(bad):
        p = suite.path("bad-template-%d.json" % i)
        with open(p, "w") as f:
            json.dump(obj, f)
        r = suite.run("loss", MODEL, data, "--template", p)
        assert r.code == 2 and words in r.err and p in r.err, (obj, r.err)
    r = suite.run("loss", MODEL, data, "--template", "alpaka")
    assert r.code == 2 and "alpaca, llm-adapters or a JSON template file" in r.err, r.err


def case_default_template():
    a = loss_json(HAND_PATH, REAL_PATH)
    b = loss_json(HAND_PATH, REAL_PATH, "--template", "alpaca", "--cutoff", 256)
    assert a == b, (a, b)


def case_cutoff():
    cutoff = 64
    for template in TEMPLATES:
        for train in (True, False):
            got, want = run_case(template, train, cutoff)
            cut = [w for w in want if w["truncated"]]
            whole = [w for w in want if not w["truncated"]]
            assert len(cut) >= 2 and len(whole) >= 2, (len(cut), len(whole))
            assert all(len(w["ids"]) == cutoff and w["ids"][-1] != EOS for w in cut)
            if not train:
                assert any(w["n"] == 0 for w in want) and any(w["n"] > 0 for w in want), [w["n"] for w in want]


def case_exact_cutoff():
    """An item exactly cutoff tokens long is not cut and gets no EOS (no room); one more
    token of room and EOS is appended. An output ending in "</s>" gets no second EOS."""
    item = HAND[1]
    (full,) = tokenize([fill("alpaca", item, item["output"])])
    assert full[-1] != EOS
    path = write_json("one.json", [item])
    for cutoff, n in ((len(full), len(full) - 1), (len(full) + 1, len(full))):
        got = loss_json(path, "--cutoff", cutoff)
        want = expected([item], "alpaca", cutoff, True)
        assert want[0]["n"] == n, (want[0]["n"], n)
        compare(got, want, "alpaca", cutoff, True, "one item, %d tokens, cutoff %d" % (len(full), cutoff))
    stop = HAND[6]
    (full,) = tokenize([fill("alpaca", stop, stop["output"])])
    assert full[-1] == EOS, full
    got = loss_json(write_json("stop.json", [stop]))
    assert got["items"][0]["n_tokens"] == len(full) - 1, (got["items"][0], len(full))


def case_batch_weights():
    base = loss_json(HAND_PATH, REAL_PATH, "--cutoff", 128, "--no-train-on-inputs")
    want = expected(ITEMS, "alpaca", 128, False)
    compare(base, want, "alpaca", 128, False, "alpaca cutoff 128 response only, batch 4")
    for extra in (["--batch", 1], ["--batch", 3], ["--weights", "stored"], ["--weights", "stored", "--batch", 1]):
        got = loss_json(HAND_PATH, REAL_PATH, "--cutoff", 128, "--no-train-on-inputs", *extra)
        same(got, base, " ".join(map(str, extra)))
        compare(got, want, "alpaca", 128, False, "alpaca cutoff 128 response only " + " ".join(map(str, extra)))


def case_real_file():
    items = []
    with open(GSM8K) as f:
        items = json.load(f)[:3]
    for template, train in (("alpaca", True), ("llm-adapters", False)):
        args = [GSM8K, "--limit", 3, "--template", template] + ([] if train else ["--no-train-on-inputs"])
        got = loss_json(*args)
        compare(got, expected(items, template, 256, train), template, 256, train, "gsm8k --limit 3 " + template)


# ---- --adapter ----

def write_peft(name, plan, rng, hyplora=None):
    d = suite.path(name)
    return d, peft.write(d, WEIGHTS[0], plan, rng, hyplora, MODEL)


def case_adapter():
    rng = np.random.default_rng(8)
    plan = [(0, "q_proj", "lora"), (0, "v_proj", "lora"), (1, "k_proj", "hyplora"), (1, "up_proj", "hyplora"),
            (1, "down_proj", "hyplora")]
    for form in ("consistent", "released"):
        d, adapt_for = write_peft("adapter-" + form, plan, rng, {"form": form, "alpha_hyperbolic": 32})
        got = loss_json(HAND_PATH, REAL_PATH, "--adapter", d)
        compare(got, expected(ITEMS, adapt_for=adapt_for), "alpaca", 256, True, "adapter, HypLoRA " + form)
        plain = loss_json(HAND_PATH, REAL_PATH)
        assert abs(plain["mean_loss"] - got["mean_loss"]) > 1e-3, "the adapter changed nothing"
    # plain LoRA as PEFT writes it (no hyplora object), on every module of layer 0
    d, adapt_for = write_peft("adapter-lora", [(0, m, "lora") for m in MODULES], rng)
    compare(loss_json(HAND_PATH, "--adapter", d), expected(HAND, adapt_for=adapt_for), "alpaca", 256, True,
            "adapter, PEFT LoRA on every module")


def case_adapter_errors():
    rng = np.random.default_rng(9)
    d, _ = write_peft("bad-layer", [(5, "q_proj", "lora")], rng)
    r = suite.run("loss", MODEL, HAND_PATH, "--adapter", d)
    assert r.code == 1 and "layer 5" in r.err and "another model" in r.err, r.err
    d, _ = write_peft("bad-shape", [(0, "q_proj", "lora")], rng)
    st = os.path.join(d, "adapter_model.safetensors")
    A = np.zeros((4, 32), np.float32)
    B = np.zeros((64, 4), np.float32)
    pre = "base_model.model.model.layers.0.self_attn.q_proj."
    st_writer.write(st, [(pre + "lora_A.weight", "F32", A.shape, A.tobytes()),
                         (pre + "lora_B.weight", "F32", B.shape, B.tobytes())])
    r = suite.run("loss", MODEL, HAND_PATH, "--adapter", d)
    assert r.code == 1 and "another model shape" in r.err and "q_proj" in r.err, r.err
    st_writer.write(st, [(pre + "lora_A.weight", "F32", A.shape, A.tobytes())])
    r = suite.run("loss", MODEL, HAND_PATH, "--adapter", d)
    assert r.code == 1 and "lora_B.weight is missing" in r.err, r.err
    st_writer.write(st, [("model.layers.0.q_proj.weight", "F32", A.shape, A.tobytes())])
    r = suite.run("loss", MODEL, HAND_PATH, "--adapter", d)
    assert r.code == 1 and "model.layers.0.q_proj.weight" in r.err and "PEFT" in r.err, r.err
    r = suite.run("loss", MODEL, HAND_PATH, "--adapter", suite.path("no-such-adapter"))
    assert r.code == 1 and "no-such-adapter" in r.err, r.err


def case_errors():
    def bad(name, text):
        path = suite.path(name)
        with open(path, "w") as f:
            f.write(text)
        return path
    p = write_json("no-output.json", [HAND[0], {"instruction": "x", "input": "y"}])
    r = harness.expect_error(suite, ["loss", MODEL, p], "no-output.json")
    assert '"output"' in r.err, r.err
    p = write_jsonl("no-output.jsonl", [HAND[0], HAND[1], {"instruction": "x"}])
    r = harness.expect_error(suite, ["loss", MODEL, p], "no-output.jsonl")
    assert '"output"' in r.err and "line 3" in r.err, r.err
    p = write_json("input-number.json", [{"instruction": "x", "input": 5, "output": "y"}])
    r = harness.expect_error(suite, ["loss", MODEL, p], "input-number.json")
    assert '"input"' in r.err, r.err
    p = write_json("output-number.json", [{"instruction": "x", "output": 7}])
    r = harness.expect_error(suite, ["loss", MODEL, p], "output-number.json")
    assert '"output"' in r.err, r.err
    p = bad("malformed.jsonl", json.dumps(HAND[0]) + "\n" + json.dumps(HAND[1]) + "\n{\"instruction\": \"x\", \n")
    r = harness.expect_error(suite, ["loss", MODEL, p], "malformed.jsonl")
    assert "line 3" in r.err, "the line is not named: " + r.err
    p = bad("malformed.json", '[{"instruction": "a", "output": "b"},\n {"instruction": "c" "output": "d"}]\n')
    r = harness.expect_error(suite, ["loss", MODEL, p], "malformed.json")
    assert "line 2" in r.err, "the line is not named: " + r.err
    r = harness.expect_error(suite, ["loss", MODEL, suite.path("missing.json")], "missing.json")
    assert r.out == "", r.out
    # A good file before a bad one: still an error, no result printed.
    r = harness.expect_error(suite, ["loss", MODEL, HAND_PATH, p, "--json"], "malformed.json")
    assert r.out == "", r.out


suite.check("--adapter: LoRA and HypLoRA (both forms) written as PEFT directories, against the reference",
            case_adapter)
suite.check("--adapter: another model's layers or shapes, a missing tensor, a foreign name: clear errors",
            case_adapter_errors)
suite.check("alpaca: prompt and response tokens, and response only", case_template("alpaca"))
suite.check("llm-adapters: prompt and response tokens, and response only", case_template("llm-adapters"))
suite.check("a template file (alpaca-lora's format) against str.format; malformed ones", case_template_file)
suite.check("defaults are alpaca, cutoff 256", case_default_template)
suite.check("cutoff 64: cut items have no EOS, prompts without targets give null", case_cutoff)
suite.check("an item exactly cutoff long; an output ending in </s>", case_exact_cutoff)
suite.check("--batch 1/3 and --weights stored agree", case_batch_weights)
suite.check("the vendored gsm8k file with --limit 3", case_real_file)
suite.check("errors: missing or non-string field, malformed JSON/JSONL, missing file", case_errors)
suite.done()
