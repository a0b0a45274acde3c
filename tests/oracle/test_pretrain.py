#!/usr/bin/python3
"""`hyplora pretrain` end to end, against PyTorch:

    test_pretrain.py HYPLORA_EXE

The corpus is real text: the questions of the vendored GSM8K test set, one document per line.

1. Steps against PyTorch: the initial model (`--steps 0`) is read by the float64 decoder of
   tests/lib/torch_llama.py; the corpus is packed here independently (the ids of each line as
   `hyplora tokenize --add-special` gives them, then EOS; sequences of T + 1 ids overlapping
   by one) and split by the validation sequences the log names. The log's validation loss at
   step 0 and the first step's training loss equal PyTorch's losses of the initial model;
   three optimiser steps with the whole training split as the batch (two micro-batches)
   equal torch.optim.AdamW within 1e-2 of how far each weight moved (weight decay 10 on the
   matrices only, large enough to show; betas 0.9/0.95), gradient
   clipping by torch.nn.utils.clip_grad_norm_ and the cosine schedule with warmup written
   here from its definition. Tied and untied heads, GQA.
2. A short run on the corpus lowers the validation loss by at least 2 nats from the initial
   (about 10.4, log 32000) and ends below the corpus's unigram entropy plus 1.5 nats.
3. The same seed and thread count give the same bytes; another seed other weights;
   `--dtype bf16` stores each weight as the float32 run's rounded to BF16.
4. Ctrl-C mid-run writes a checkpoint and exits 130; `--resume` ends bit-identical to an
   uninterrupted run; resuming with another option is refused naming it.
5. Bad input: clear errors, nothing half-written; a diverging run stops naming the step
   and the checkpoint it keeps.
"""
import json
import math
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import h5py  # noqa: E402
    import numpy as np  # noqa: E402
    import torch  # noqa: E402
except ImportError as e:
    sys.exit("test_pretrain.py: %s: apt-get install python3-torch python3-h5py (for /usr/bin/python3)" % e)

from harness import Suite, expect_error  # noqa: E402
from torch_llama import load_safetensors_dir  # noqa: E402
from torch_train import torch_loss  # noqa: E402

torch.set_default_dtype(torch.float64)
suite = Suite()
HYPLORA = suite.exe
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TOKENIZER = os.path.join(ROOT, "notebooks-data", "tokenizers", "llama2")
EOS = 2

with open(os.path.join(ROOT, "notebooks-data", "datasets", "gsm8k", "test.json")) as f:
    QUESTIONS = [" ".join(item["instruction"].split()) for item in json.load(f)]


def corpus(name, n):
    path = suite.path(name)
    with open(path, "w") as f:
        f.write("\n".join(QUESTIONS[:n]) + "\n")
    return path


def stream_of(path):
    """The corpus's ids as documented: each line's ids with special tokens, then EOS."""
    out = suite.ok("tokenize", "--tokenizer", TOKENIZER, "--add-special", path).out
    ids = []
    for line in out.splitlines():
        ids += [int(t) for t in line.split()] + [EOS]
    return ids


def log_of(out):
    with h5py.File(os.path.join(out, "train_log.h5"), "r") as f:
        g = f["train"]
        return {k: g[k][()] for k in g.keys()}, dict(g.attrs)


def read_weights(out):
    return load_safetensors_dir(out)[1]


def lr_at(step, total, warmup, peak):
    """Hugging Face's get_cosine_schedule_with_warmup, from its definition."""
    if step < warmup:
        return peak * step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return peak * max(0.0, 0.5 * (1 + math.cos(math.pi * progress)))


def case_steps(extra, label):
    T, n_val, steps, warmup, lr, WD = 16, 6, 3, 1, 2e-3, 10.0
    text = corpus("steps.txt", 40)
    ids = stream_of(text)
    n_seq = (len(ids) - 1) // T
    n_train = n_seq - n_val
    if n_train % 2:  # two equal micro-batches: their mean is the mean over the batch
        n_val += 1
        n_train -= 1
    shape = ["--hidden", 32, "--layers", 2, "--heads", 4, "--kv-heads", 2, "--intermediate", 48, "--context", T,
             *extra]
    # weight decay 10: its share of each step (lr wd w) is well above the tolerance, so
    # decaying a norm, or not decaying a matrix, fails the test
    common = ["pretrain", "--tokenizer", TOKENIZER, *shape, "--val-size", n_val, "--seed", 7, "--lr", lr,
              "--weight-decay", WD,
              "--warmup", warmup, "--batch", n_train, "--micro-batch", n_train // 2, "--eval-every", 0, text]
    init, run = suite.path("init" + label), suite.path("run" + label)
    suite.ok(*common, "--steps", 0, "-o", init)
    suite.ok(*common, "--steps", steps, "-o", run)
    log0, _ = log_of(init)
    log, attrs = log_of(run)
    val = [int(i) for i in log["val_items"]]
    assert len(val) == n_val and len(set(val)) == n_val, val
    train = [i for i in range(n_seq) if i not in set(val)]

    def batch(seqs):
        tokens = np.array([ids[i * T:i * T + T] for i in seqs])
        targets = np.array([ids[i * T + 1:i * T + T + 1] for i in seqs])
        return tokens, targets

    cfg, W = load_safetensors_dir(init)
    params = {k: v.clone().requires_grad_(True) for k, v in W.items()}
    vt, vg = batch(val)
    with torch.no_grad():
        v0, _ = torch_loss(cfg, params, [T] * n_val, vt, vg)
    assert abs(log0["val_loss"][0] - float(v0)) < 1e-5 * float(v0), (log0["val_loss"][0], float(v0))
    assert log0["val_step"][0] == 0
    decay = [p for k, p in params.items() if p.dim() == 2]
    plain = [p for k, p in params.items() if p.dim() == 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": plain, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), eps=1e-8)
    tt, tg = batch(train)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, warmup, lr)
        opt.zero_grad()
        loss, _ = torch_loss(cfg, params, [T] * n_train, tt, tg)
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0))
        assert abs(log["loss"][step] - float(loss)) < 1e-5 * float(loss), (step, log["loss"][step], float(loss))
        assert abs(log["grad_norm"][step] - norm) < 1e-4 * norm, (step, log["grad_norm"][step], norm)
        assert abs(log["learning_rate"][step] - lr_at(step, steps, warmup, lr)) < 1e-15
        opt.step()
    ours = read_weights(run)
    worst = 0
    for k, p in params.items():
        moved = (p.detach() - W[k]).abs().max().item()
        diff = (ours[k] - p.detach()).abs()
        err = diff.max().item()
        worst = max(worst, err / moved)
        at = int(diff.argmax())
        # Adam divides by each gradient's running magnitude, so the float32 rounding of a
        # small gradient entry (1e-3 of the largest) shows in its update at that level
        assert err <= 1e-2 * moved, "%s: differs from PyTorch by %g at %d (last gradient there %g, max %g), the " \
            "steps moved it by %g" % (k, err, at, p.grad.flatten()[at], p.grad.abs().max(), moved)
    assert attrs["command"] == b"pretrain" or attrs["command"] == "pretrain", attrs["command"]
    print("     %s: losses and norms within 1e-5/1e-4; after %d AdamW steps every weight within %.1e of "
          "how far it moved" % (label, steps, worst))


def short_run(out, *extra):
    text = corpus("short.txt", 400)
    return suite.ok("pretrain", "--tokenizer", TOKENIZER, "--hidden", 64, "--layers", 2, "--heads", 4,
                    "--context", 32, "--batch", 16, "--micro-batch", 8, "--steps", 40, "--warmup", 5, "--lr", 3e-3,
                    "--val-size", 16, "--eval-every", 20, "--checkpoint-every", 10, *extra, text, "-o", out)


def case_learns():
    out = suite.path("learns")
    r = short_run(out)
    log, _ = log_of(out)
    first, last = log["val_loss"][0], log["val_loss"][-1]
    unigram = float(r.out.split("unigram entropy ")[1].split()[0])
    assert list(log["val_step"]) == [0, 20, 40], log["val_step"]
    assert last < first - 2, (first, last)
    assert last < unigram + 1.5, (last, unigram)
    print("     validation loss %.3f -> %.3f in 40 steps (unigram entropy %.3f)" % (first, last, unigram))


def case_deterministic():
    a, b, c, h = suite.path("det-a"), suite.path("det-b"), suite.path("det-c"), suite.path("det-bf16")
    short_run(a)
    short_run(b)
    short_run(c, "--seed", 43)
    short_run(h, "--dtype", "bf16")
    with open(os.path.join(a, "model.safetensors"), "rb") as x, open(os.path.join(b, "model.safetensors"), "rb") as y:
        assert x.read() == y.read(), "two runs with the same seed differ"
    wa, wc = read_weights(a), read_weights(c)
    assert not torch.equal(wa["model.layers.0.self_attn.q_proj.weight"], wc["model.layers.0.self_attn.q_proj.weight"])
    wh = read_weights(h)
    with open(os.path.join(h, "config.json")) as f:
        assert json.load(f)["torch_dtype"] == "bfloat16"
    for k, v in wa.items():  # rounded to nearest even, as torch's .to(torch.bfloat16)
        assert torch.equal(wh[k], v.to(torch.float32).to(torch.bfloat16).to(torch.float64)), k
    print("     same seed: same bytes; seed 43: other weights; --dtype bf16: the same weights rounded")


def case_resume():
    whole, cut = suite.path("learns"), suite.path("cut")
    text = corpus("short.txt", 400)
    args = ["pretrain", "--tokenizer", TOKENIZER, "--hidden", 64, "--layers", 2, "--heads", 4, "--context", 32,
            "--batch", 16, "--micro-batch", 8, "--steps", 40, "--warmup", 5, "--lr", 3e-3, "--val-size", 16,
            "--eval-every", 20, "--checkpoint-every", 10, text, "-o", cut]
    p = subprocess.Popen([HYPLORA, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not os.path.exists(os.path.join(cut, "train_log.h5")) and time.time() - t0 < 120:
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate()
    assert p.returncode == 130, (p.returncode, err)
    stopped = int(err.split("interrupted after step ")[1].split()[0])
    assert 10 <= stopped < 40, stopped
    r = suite.run(*args)
    assert r.code == 1 and "already holds a training run" in r.err, r.err
    r = suite.run(*args, "--lr", 1e-3, "--resume")
    assert r.code == 1 and "lr 0.003" in r.err and "lr 0.001" in r.err, r.err
    r = suite.ok(*args, "--resume")
    assert "resuming after step %d" % stopped in r.out, r.out
    for name in ("model.safetensors", "config.json"):
        with open(os.path.join(whole, name), "rb") as a, open(os.path.join(cut, name), "rb") as b:
            assert a.read() == b.read(), "%s differs after resuming at step %d" % (name, stopped)
    lw, _ = log_of(whole)
    lc, _ = log_of(cut)
    for k in ("step", "loss", "learning_rate", "grad_norm", "val_loss", "val_step"):
        assert np.array_equal(lw[k], lc[k]), k
    print("     interrupted after step %d of 40, resumed: model and log identical" % stopped)


def case_bad_input():
    text = corpus("bad.txt", 40)
    base = ["pretrain", "--tokenizer", TOKENIZER, "--hidden", 32, "--layers", 1, "--heads", 4, "--context", 16]
    empty = suite.path("empty.txt")
    open(empty, "w").close()
    expect_error(suite, [*base, empty, "-o", suite.path("b1")], "no document")
    tiny = suite.path("tiny.txt")
    with open(tiny, "w") as f:
        f.write("hi\n")
    expect_error(suite, [*base, tiny, "-o", suite.path("b2")], "fewer than one sequence")
    expect_error(suite, [*base, "--val-size", 10000, text, "-o", suite.path("b3")], "leaves none for training")
    expect_error(suite, [*base, suite.path("missing.txt"), "-o", suite.path("b4")], "missing.txt")
    expect_error(suite, [*base[:1], "--tokenizer", suite.path("nowhere"), text, "-o", suite.path("b5")], "nowhere")
    expect_error(suite, [*base, "--resume", text, "-o", suite.path("b6")], "no run to continue")
    expect_error(suite, ["pretrain", "--tokenizer", TOKENIZER, "--hidden", 30, "--heads", 4, text, "-o",
                         suite.path("b7")], "--heads must divide", status=2)
    expect_error(suite, [*base, "--dtype", "f16", text, "-o", suite.path("b8")], "--dtype", status=2)
    expect_error(suite, ["pretrain", text, "-o", suite.path("b9")], "--tokenizer", status=2)
    bad_json = suite.path("bad.jsonl")
    with open(bad_json, "w") as f:
        f.write('{"text": "fine"}\n{"text": 3}\n')
    expect_error(suite, [*base, "--field", "text", bad_json, "-o", suite.path("b10")], "bad.jsonl")
    # a diverging run stops naming the step, and keeps the last checkpoint
    r = suite.run(*base, "--lr", 1e9, "--clip", 0, "--warmup", 0, "--steps", 30, "--checkpoint-every", 1,
                  "--val-size", 2, text, "-o", suite.path("b11"))
    assert r.code == 1 and "not finite" in r.err and "step " in r.err, (r.code, r.err)
    step = int(r.err.split("step ")[1].split(":")[0])
    assert step == 1 or "the checkpoint of step %d" % (step - 1) in r.err, r.err
    for d in ("b1", "b2", "b3", "b4", "b5", "b6", "b10"):
        assert not os.path.exists(os.path.join(suite.path(d), "model.safetensors")), d


suite.check("steps: tied head, against PyTorch AdamW", lambda: case_steps([], "tied"))
suite.check("steps: untied head, against PyTorch AdamW", lambda: case_steps(["--untie"], "untied"))
suite.check("a short run learns", case_learns)
suite.check("same seed, same weights; bf16 output", case_deterministic)
suite.check("Ctrl-C and --resume", case_resume)
suite.check("bad input", case_bad_input)
suite.done()
