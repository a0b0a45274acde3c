#!/usr/bin/python3
"""scripts/recipe end to end on a small random checkpoint, and its table against scipy.

    test_recipe.py HYPLORA_EXE

A short recipe (2 seeds, 2 steps, 6 test items) runs for real: an analysis report, six
trainings and six evaluations are written, the fixed run's K is --curvature, the guided
run's plan comes from the report. A random model answers nothing right, so the evaluation
files are then replaced by ones with known right and wrong items: the recipe, run again,
reuses every run (it trains nothing) and its table must equal the means, standard deviations,
paired counts and exact sign-test p-values (scipy.stats.binomtest) computed here.
"""
import glob
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import numpy as np  # noqa: E402
from scipy.stats import binomtest  # noqa: E402

import harness  # noqa: E402
from checkpoints import make_model  # noqa: E402

suite = harness.Suite()
RECIPE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "recipe")
SEEDS = (1, 2)
METHODS = ("lora", "fixed", "guided")
state = {}


def recipe(*args):
    p = subprocess.run([sys.executable, RECIPE, *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, "scripts/recipe exited %d:\n%s\n%s" % (p.returncode, p.stdout, p.stderr)
    return p.stdout


def case_runs():
    d = make_model(suite, suite.exe, "m", "--seed", 4, "--dtype", "f32", "--hidden", 64, "--layers", 2)
    out = suite.path("recipe")
    args = [d, "--hyplora", suite.exe, "--steps", 2, "--batch", 2, "--micro-batch", 2, "--rank", 2, "--limit", 6,
            "--max-new", 4, "--seeds", ",".join(map(str, SEEDS)), "--curvature", 0.75, "-o", out]
    text = recipe(*args)
    assert text.count("training ") == 6 and text.count("evaluating ") == 6, text
    assert os.path.exists(os.path.join(out, "analysis.h5"))
    for s in SEEDS:
        with open(os.path.join(out, "runs", "fixed-seed%d" % s, "adapter_config.json")) as f:
            h = json.load(f)["hyplora"]
        assert all(abs(k - 0.75) < 1e-9 for k in h["initial_curvature"].values()), h["initial_curvature"]
        with open(os.path.join(out, "runs", "guided-seed%d" % s, "adapter_config.json")) as f:
            assert json.load(f)["hyplora"]["plan_source"].startswith("report "), "guided without the report"
        with open(os.path.join(out, "runs", "lora-seed%d" % s, "adapter_config.json")) as f:
            assert "hyplora" not in json.load(f)
    state.update(out=out, args=args)


def case_table():
    """Known outcomes per item: the table must follow them."""
    out = state["out"]
    rng = np.random.default_rng(9)
    right = {}
    for path in sorted(glob.glob(os.path.join(out, "evals", "*.json"))):
        name = os.path.basename(path)[:-5]
        with open(path) as f:
            res = json.load(f)
        p = {"lora": 0.3, "fixed": 0.5, "guided": 0.7}[name.split("-")[0]]
        flags = [bool(x) for x in rng.random(len(res["items"])) < p]
        for it, c in zip(res["items"], flags):
            it["correct"] = c
        res["average"]["accuracy"] = sum(flags) / len(flags)
        with open(path, "w") as f:
            json.dump(res, f)
        right[name] = flags
    text = recipe(*state["args"])
    assert "training " not in text and "evaluating " not in text, "the second run redid work:\n" + text
    with open(os.path.join(out, "table.json")) as f:
        table = json.load(f)
    acc = {m: [sum(right["%s-seed%d" % (m, s)]) / len(right["%s-seed%d" % (m, s)]) for s in SEEDS] for m in METHODS}
    for m in METHODS:
        got = table["methods"][m]
        assert np.allclose(got["accuracy"], acc[m]) and abs(got["mean"] - statistics.mean(acc[m])) < 1e-12
        assert abs(got["std"] - np.std(acc[m], ddof=1)) < 1e-12, (got, acc[m])
    for c in table["comparisons"]:
        x, y = c["first"], c["second"]
        b = sum(p and not q for s in SEEDS for p, q in zip(right["%s-seed%d" % (x, s)], right["%s-seed%d" % (y, s)]))
        k = sum(q and not p for s in SEEDS for p, q in zip(right["%s-seed%d" % (x, s)], right["%s-seed%d" % (y, s)]))
        assert (c["only_first"], c["only_second"]) == (b, k), (c, b, k)
        want = binomtest(b, b + k, 0.5).pvalue if b + k else 1.0
        assert abs(c["p"] - want) < 1e-12, (c["p"], want)
        d = [acc[x][i] - acc[y][i] for i in range(len(SEEDS))]
        assert abs(c["mean"] - statistics.mean(d)) < 1e-12 and abs(c["std"] - np.std(d, ddof=1)) < 1e-12
    with open(os.path.join(out, "table.md")) as f:
        md = f.read()
    assert "| guided | %.2f | %.2f |" % (100 * acc["guided"][0], 100 * acc["guided"][1]) in md, md
    print("     " + md.splitlines()[-1])


def case_bad_model():
    p = subprocess.run([sys.executable, RECIPE, suite.path("nothing"), "--hyplora", suite.exe, "-o", suite.path("x")],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "is not a model" in p.stderr, (p.returncode, p.stderr)


suite.check("the recipe's runs: six trainings and evaluations (two seeds), fixed K, guided plan", case_runs)
if state:
    suite.check("its table against scipy, reusing every run", case_table)
suite.check("a path that is no model: a clear error", case_bad_model)
suite.done()
