#!/usr/bin/python3
"""`hyplora eval` end to end against decoding computed here with the independent float64
PyTorch model of tests/lib/torch_llama.py, on a small random checkpoint with the LLaMA-2
tokenizer.

    test_eval.py HYPLORA_EXE

The checkpoint is sharpened (tests/lib/checkpoints.py) and the rows of its output head for
EOS and for the token greedy decoding makes most often are swapped, so that some items stop
at EOS and others run to --max-new: the greedy batch then frees and refills its slots at
different steps. Checks: every item's output equal to the reference's greedy text at
--batch 1, 3 and 8 and with an adapter; beam search equal to a beam search written here from
docs/eval.md (items whose candidates come within 1e-3 of each other are not compared, and
at least two are); an interrupted run (SIGINT) goes on where it stopped, dropping a torn last
line, and gives the uninterrupted run's results; a partial file of other settings and a
prompt longer than the context are clear errors.
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import numpy as np  # noqa: E402
try:
    import torch  # noqa: E402, F401
except ImportError:  # a clear failure, not a skip: this is eval's only oracle
    sys.exit("test_eval.py: PyTorch is missing: apt-get install python3-torch (Debian's, for /usr/bin/python3)")

import harness  # noqa: E402
import instruct  # noqa: E402
import peft  # noqa: E402
from checkpoints import decode_ids, make_model, rewrite, sharpen, tokenize_texts  # noqa: E402
from torch_llama import greedy, load_safetensors_dir, reference  # noqa: E402

suite = harness.Suite()
HYPLORA = suite.exe
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "notebooks-data", "datasets", "mawps",
                    "test.json")
N_ITEMS = 7
MAX_NEW = 10
MIN_GAP = 1e-3
EOS = instruct.EOS
state = {}


def prompts_of(d):
    with open(DATA) as f:
        items = json.load(f)[:N_ITEMS]
    texts = [instruct.fill("alpaca", it, "") for it in items]
    return tokenize_texts(suite, os.path.join(d, "tokenizer.json"), texts)


def swap_eos(d, token):
    """Swaps the output head's rows of EOS and token: the model now ends where it made token."""
    def edit(t):
        head = t["lm_head.weight"]
        head[[EOS, token]] = head[[token, EOS]]
    rewrite(d, edit)


def case_setup():
    """The first seed whose greedy references have every top-two gap above MIN_GAP, with
    some items stopping at EOS and some running to MAX_NEW."""
    for seed in range(1, 9):
        d = make_model(suite, HYPLORA, "m-%d" % seed, "--seed", seed, "--dtype", "f32", "--hidden", 64)
        rng = np.random.default_rng(seed)
        rewrite(d, lambda t: sharpen(t, rng, vo_scale=8.0, out_scale=20.0, sort_names=True))
        prompts = prompts_of(d)
        weights = load_safetensors_dir(d)
        first = [greedy(d, p, MAX_NEW, weights=weights)[0] for p in prompts]
        counts = np.bincount([t for ids in first for t in ids[2:]], minlength=32000)
        swap_eos(d, int(np.argmax(counts)))
        weights = load_safetensors_dir(d)
        refs = [greedy(d, p, MAX_NEW, weights=weights, eos=EOS) for p in prompts]
        gap = min(g for _, g in refs)
        stopped = sum(len(ids) < MAX_NEW for ids, _ in refs)
        print("     seed %d: smallest gap %.3g, %d of %d items stop at EOS" % (seed, gap, stopped, N_ITEMS))
        if gap > MIN_GAP and 2 <= stopped <= N_ITEMS - 2:
            texts = decode_ids(suite, os.path.join(d, "tokenizer.json"), [ids for ids, _ in refs])
            state.update(model=d, prompts=prompts, weights=weights, texts=texts)
            return
    raise AssertionError("no seed gives greedy references with gaps > %g and early and late stops" % MIN_GAP)


def run_eval(out, *args):
    suite.ok("eval", state["model"], DATA, "--limit", N_ITEMS, "--max-new", MAX_NEW, "-o", out, *args)
    with open(out) as f:
        return json.load(f)


def outputs(res):
    assert [it["index"] for it in res["items"]] == list(range(N_ITEMS))
    return [it["output"] for it in res["items"]]


def case_greedy_batches():
    want = state["texts"]
    for batch in (1, 3, 8):
        got = outputs(run_eval(suite.path("greedy-%d.json" % batch), "--batch", batch))
        assert got == want, "--batch %d:\n  hyplora   %r\n  reference %r" % (batch, got, want)
    assert not os.path.exists(suite.path("greedy-1.json.partial")), "the partial file was left behind"
    for beams in (1, 3):  # nothing to generate: empty outputs, no answers
        res = run_eval(suite.path("none-%d.json" % beams), "--max-new", 0, "--beams", beams)
        assert outputs(res) == [""] * N_ITEMS and res["datasets"][0]["no_answer"] == N_ITEMS, res["items"][:2]


def case_adapter():
    """LoRA on q and HypLoRA on up and down of layer 1: the decoding step with adapters."""
    d = state["model"]
    cfg = state["weights"][0]
    ad = suite.path("adapter")
    adapt_for = peft.write(ad, cfg, [(1, "q_proj", "lora"), (1, "up_proj", "hyplora"), (1, "down_proj", "hyplora")],
                           np.random.default_rng(5), {"form": "consistent", "alpha_hyperbolic": 64}, d)
    refs = [greedy(d, p, MAX_NEW, weights=state["weights"], adapt_for=adapt_for, eos=EOS) for p in state["prompts"]]
    assert min(g for _, g in refs) > MIN_GAP, "the adapter's reference has too small a top-two gap to compare"
    want = decode_ids(suite, os.path.join(d, "tokenizer.json"), [ids for ids, _ in refs])
    assert want != state["texts"], "the adapter changed no output"
    got = outputs(run_eval(suite.path("adapter.json"), "--batch", 3, "--adapter", ad))
    assert got == want, "\n  hyplora   %r\n  reference %r" % (got, want)


def log_softmax(x):
    m = x.max()
    return x - (m + np.log(np.exp(x - m).sum()))


def beam_reference(prompt, beams):
    """Beam search as docs/eval.md states it; returns (ids, smallest margin between two
    values whose order decides the result)."""
    d, weights = state["model"], state["weights"]
    live, done, margin = [([], 0.0)], [], float("inf")

    def score(h):
        return h[1] / max(len(h[0]), 1)

    def keep(h):
        if len(done) < beams:
            done.append(h)
            return
        worst = min(range(beams), key=lambda j: score(done[j]))
        if score(h) > score(done[worst]):
            done[worst] = h

    for step in range(MAX_NEW):
        cands = []
        for b, (toks, lp) in enumerate(live):
            ls = log_softmax(reference(d, prompt + toks, weights=weights)[0][-1])
            for v in np.argsort(-ls)[:2 * beams + 1]:
                cands.append((lp + float(ls[v]), b, int(v)))
        cands.sort(key=lambda c: (-c[0], c[1], c[2]))
        top = cands[:2 * beams + 1]
        margin = min([margin] + [top[i][0] - top[i + 1][0] for i in range(len(top) - 1)])
        nxt = []
        for r, (lp, b, v) in enumerate(cands[:2 * beams]):
            if len(nxt) == beams:
                break
            h = (live[b][0] + [v], lp)
            if v == EOS:
                if r < beams:
                    keep(h)
                continue
            nxt.append(h)
        live = nxt
        if not live:
            break
        if len(done) >= beams:
            worst, best_live = min(map(score, done)), max(map(score, live))
            margin = min(margin, abs(worst - best_live))
            if worst >= best_live:
                break
    for h in live:
        keep(h)
    ranked = sorted(map(score, done), reverse=True)
    if len(ranked) > 1:
        margin = min(margin, ranked[0] - ranked[1])
    best = max(done, key=score)[0]
    return (best[:-1] if best and best[-1] == EOS else best), margin


def case_beams():
    beams = 3
    res = run_eval(suite.path("beams.json"), "--beams", beams)
    got = outputs(res)
    compared = 0
    for i, p in enumerate(state["prompts"]):
        ids, margin = beam_reference(p, beams)
        if margin <= MIN_GAP:
            print("     item %d: margin %.3g, not compared" % (i, margin))
            continue
        want = decode_ids(suite, os.path.join(state["model"], "tokenizer.json"), [ids])[0]
        assert got[i] == want, "item %d:\n  hyplora   %r\n  reference %r" % (i, got[i], want)
        compared += 1
    print("     %d of %d items equal to the reference beam search" % (compared, N_ITEMS))
    assert compared >= 2, "too few items with clear margins to compare"
    assert got != state["texts"], "beam search gave the greedy outputs for every item"


def case_resume():
    """SIGINT once two outputs are in the partial file; a torn line appended; the rerun
    continues and equals an uninterrupted run."""
    out = suite.path("resume.json")
    partial = out + ".partial"
    # more items and tokens than the other runs, one at a time, so the run is still going
    args = [HYPLORA, "eval", state["model"], DATA, "--limit", 40, "--max-new", 64, "--batch", 1, "-o", out]
    p = subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        if os.path.exists(partial):
            with open(partial) as f:
                if f.read().count("\n") >= 3:  # the settings and two outputs
                    break
        time.sleep(0.002)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate()
    assert p.returncode == 130, "exit %d (expected 130 after SIGINT):\n%s" % (p.returncode, err)
    assert "run the same command again" in err, err
    assert not os.path.exists(out), "an interrupted run wrote the results file"
    with open(partial) as f:
        lines = f.read().split("\n")
    header, n_done = lines[0], len(lines) - 2
    assert 2 <= n_done < 40, n_done
    with open(partial, "a") as f:
        f.write('{"dataset": "mawps", "index": 39, "outp')  # killed while writing
    r = suite.ok(*args[1:])
    assert "resuming from" in r.err and "%d of 40 items done" % n_done in r.err, r.err
    assert not os.path.exists(partial)
    whole = suite.path("whole.json")
    suite.ok(*args[1:-1], whole)
    with open(out) as f, open(whole) as g:
        a, b = json.load(f), json.load(g)
    assert a["items"] == b["items"] and a["datasets"] == b["datasets"], "the resumed run differs"
    # stopped after the last output but before the results file: the rerun decodes nothing
    done = suite.path("done.json")
    with open(done + ".partial", "w") as f:
        f.write(header + "\n")
        for it in b["items"]:
            f.write(json.dumps({"dataset": it["dataset"], "index": it["index"], "output": it["output"]}) + "\n")
    r = suite.ok(*args[1:-1], done)
    assert "40 of 40 items done" in r.err, r.err
    with open(done) as f:
        assert json.load(f)["items"] == b["items"]
    print("     interrupted after %d of 40 items, resumed to the uninterrupted results" % n_done)


def case_bad_input():
    out = suite.path("other.json")
    with open(out + ".partial", "w") as f:
        f.write('{"model": "another"}\n')
    harness.expect_error(suite, ["eval", state["model"], DATA, "--limit", 2, "-o", out],
                         "was left by an evaluation with other settings")
    os.unlink(out + ".partial")
    d = state["model"]
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    cfg["max_position_embeddings"] = 32
    short = suite.path("short-context")
    os.makedirs(short)
    for name in ("model.safetensors", "tokenizer.json"):
        os.symlink(os.path.join(d, name), os.path.join(short, name))
    with open(os.path.join(short, "config.json"), "w") as f:
        json.dump(cfg, f)
    harness.expect_error(suite, ["eval", short, DATA, "--limit", 2, "-o", out],
                         "test.json, item 0: the prompt has")
    harness.expect_error(suite, ["eval", d, DATA, "-o", out, "--beams", 0], "--beams", status=2)
    harness.expect_error(suite, ["eval", d, "-o", out], "MODEL and at least one DATA file", status=2)
    harness.expect_error(suite, ["eval", d, DATA, "--adapter", suite.path("none"), "-o", out], "none")
    harness.expect_error(suite, ["eval", suite.path("no-model"), DATA, "-o", out], "no-model")
    assert not os.path.exists(out)


suite.check("a checkpoint with clear greedy choices and early EOS", case_setup)
if state:
    suite.check("greedy outputs equal to the reference at --batch 1, 3, 8", case_greedy_batches)
    suite.check("with a LoRA and HypLoRA adapter", case_adapter)
    suite.check("beam search equal to the reference's", case_beams)
    suite.check("interrupted, then resumed", case_resume)
    suite.check("bad input", case_bad_input)
suite.done()
