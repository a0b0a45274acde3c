#!/usr/bin/python3
"""The recommendation (/recommend) and the runs it drives: `hyplora analyze`, `analyze
--recommend-only` and `train --report`.

    test_recommend.py HYPLORA_EXE

The rule of docs/recommend.md is written again here from its two sentences and applied to
reports made here with h5py (/delta only), under every option; analyze on a small random
checkpoint writes /freq, /norms, /delta and /recommend, measures two data files as their
concatenation, and its recommendation is reproduced from the report alone; train --report
takes the plan (HypLoRA layers and K, in adapter_config.json and the training log) and every
plan option given beside it overrides its part. Bad input: a report without /delta, one
missing a layer, a report without /recommend, one made for another number of layers.
"""
import json
import math
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import h5py  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
import st_writer  # noqa: E402
from checkpoints import make_model  # noqa: E402

suite = harness.Suite()
HYPLORA = suite.exe
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "notebooks-data", "datasets")
MODULES = ["q_proj", "k_proj", "v_proj", "up_proj", "down_proj"]  # the default targets


def rule(emb, layers, fraction=0.5, curvature=None, k_min=0.1, k_max=10.0, other="lora"):
    """docs/recommend.md: K = 1/c, c = (0.144/δ_rel)^2 of the embeddings, clamped (or given);
    HypLoRA on round(fraction * L) (at least 1) layers of lowest δ_rel, ties to the lower layer."""
    K = curvature if curvature else min(max((emb / 0.144) ** 2, k_min), k_max)
    L = len(layers)
    n = max(1, int(math.floor(fraction * L + 0.5)))
    chosen = sorted(range(L), key=lambda i: (layers[i], i))[:n]
    methods = ["hyplora" if i in chosen else other for i in range(L)]
    return K, methods


def fake_report(path, emb, layers, drop_layer=None):
    """A report holding what the rule reads: /delta/embeddings and /delta/layers (inputs of
    layers 0 .. L-1 and the last layer's output, as hyplora delta writes)."""
    with h5py.File(path, "w") as f:
        e = f.create_group("delta/embeddings")
        e.attrs["delta_rel_mean"] = emb
        g = f.create_group("delta/layers")
        g.attrs["n_layers"] = len(layers)
        idx = [i for i in range(len(layers) + 1) if i != drop_layer]
        vals = list(layers) + [0.01]  # the output after the last layer: never a candidate
        g["layer"] = np.array(idx, dtype=np.int64)
        g["delta_rel_mean"] = np.array([vals[i] for i in idx])


def read_recommend(path):
    with h5py.File(path, "r") as f:
        g = f["recommend"]
        return (float(g.attrs["curvature_k"]), [m.decode() for m in g["method"][:]], list(g["layer"][:]),
                list(g["initial_curvature"][:]), list(g["delta_rel"][:]), dict(g.attrs))


def case_rule_from_report():
    layers = [0.30, 0.21, 0.25, 0.21, 0.40, 0.18, 0.33]  # a tie between layers 1 and 3
    cases = [
        ([], {}),
        (["--fraction", "0.3"], {"fraction": 0.3}),
        (["--fraction", "1"], {"fraction": 1.0}),
        (["--fraction", "0.01"], {"fraction": 0.01}),  # still one layer
        (["--curvature", "0.7"], {"curvature": 0.7}),
        (["--other", "none"], {"other": "none"}),
        (["--k-range", "0.5,2"], {"k_min": 0.5, "k_max": 2.0}),
    ]
    for emb in (0.2345, 0.001, 0.9):  # unclamped, clamped below, clamped above
        for args, kw in cases:
            path = suite.path("r.h5")
            fake_report(path, emb, layers)
            r = suite.ok("analyze", "--recommend-only", "-o", path, *args)
            K, methods, layer, init, rel, attrs = read_recommend(path)
            want_K, want_methods = rule(emb, layers, **kw)
            assert abs(K - want_K) <= 1e-12 * want_K, (emb, args, K, want_K)
            assert methods == want_methods, (emb, args, methods, want_methods)
            assert layer == list(range(len(layers))) and rel == layers, (layer, rel)
            assert init == [K if m == "hyplora" else 0.0 for m in methods], init
            assert attrs["rule"] and attrs["inputs"] and attrs["n_hyperbolic"] == methods.count("hyplora")
            assert "HypLoRA on layers" in r.out, r.out
    # the same report gives the same recommendation
    a = read_recommend(path)
    suite.ok("analyze", "--recommend-only", "-o", path, "--k-range", "0.5,2")
    b = read_recommend(path)
    assert a[:5] == b[:5]


def case_bad_reports():
    path = suite.path("nodelta.h5")
    with h5py.File(path, "w") as f:
        f.create_group("freq").attrs["x"] = 1
    harness.expect_error(suite, ["analyze", "--recommend-only", "-o", path], "has no /delta/embeddings")
    path = suite.path("gap.h5")
    fake_report(path, 0.2, [0.3, 0.2, 0.1], drop_layer=1)
    harness.expect_error(suite, ["analyze", "--recommend-only", "-o", path], "/delta/layers has no δ for layer 1")
    path = suite.path("text.h5")
    with open(path, "w") as f:
        f.write("not HDF5\n")
    harness.expect_error(suite, ["analyze", "--recommend-only", "-o", path], "text.h5")
    harness.expect_error(suite, ["analyze", "--recommend-only", "-o", path, "--fraction", "0"], "--fraction", status=2)
    harness.expect_error(suite, ["analyze", "--recommend-only", "-o", path, "--k-range", "2,1"], "--k-range", status=2)
    harness.expect_error(suite, ["analyze", "-o", path], "MODEL is required", status=2)
    harness.expect_error(suite, ["analyze", "m", "-o", path], "--data FILE", status=2)


state = {}


def case_analyze():
    d = make_model(suite, HYPLORA, "m", "--seed", 3, "--dtype", "f32", "--hidden", 64, "--layers", 4)
    a, b = os.path.join(DATA, "mawps", "train.json"), os.path.join(DATA, "SVAMP", "test.json")
    # the first 30 items of each file, as two files and as one
    parts = []
    for i, src in enumerate((a, b)):
        with open(src) as f:
            items = json.load(f)[:30]
        p = suite.path("part%d.json" % i)
        with open(p, "w") as f:
            json.dump(items, f)
        parts.append((p, items))
    both = suite.path("both.json")
    with open(both, "w") as f:
        json.dump(parts[0][1] + parts[1][1], f)
    report = suite.path("analysis.h5")
    r = suite.ok("analyze", d, "--data", parts[0][0], "--data", parts[1][0], "--p-value", 0, "-o", report)
    for stage in ("== tokenize ==", "== freq ==", "== norms ==", "== delta ==", "== recommend =="):
        assert stage in r.out, r.out
    with h5py.File(report, "r") as f:
        assert {"freq", "norms", "delta", "recommend"} <= set(f), list(f)
        emb = f["delta/embeddings/delta_rel"][:]
        items = f["delta/embeddings/item"][:]
        emb_mean = float(f["delta/embeddings"].attrs["delta_rel_mean"])
        layer_rel = f["delta/layers/delta_rel_mean"][:4]
        assert int(f["delta/layers"].attrs["n_layers"]) == 4
    one = suite.path("one.h5")
    suite.ok("delta", d, "--data", both, "--layers", "all", "-o", one)
    with h5py.File(one, "r") as f:
        assert np.array_equal(f["delta/embeddings/delta_rel"][:], emb), "two files differ from their concatenation"
        assert np.array_equal(f["delta/embeddings/item"][:], items)
        assert np.array_equal(f["delta/layers/delta_rel_mean"][:4], layer_rel)
    # one tokenization shared by the stages gives what the three commands give on their own
    sep = suite.path("separate.h5")
    files = [parts[0][0], parts[1][0]]
    suite.ok("freq", "--tokenizer", d, "--field", "instruction", "--p-value", 0, *files, "-o", sep)
    suite.ok("norms", d, "-o", sep)
    suite.ok("delta", d, "--data", files[0], "--data", files[1], "--layers", "all", "-o", sep)
    with h5py.File(report, "r") as f, h5py.File(sep, "r") as g:
        for name in ("freq/counts", "norms/norm", "norms/centered_norm", "norms/count", "delta/embeddings/delta_rel",
                     "delta/embeddings/rows", "delta/layers/delta_rel", "delta/layers/delta_rel_mean"):
            assert np.array_equal(f[name][()], g[name][()]), "analyze and the command differ in " + name
        for group, attr in (("freq", "n_tokens"), ("freq", "n_texts"), ("freq", "sources"), ("norms", "spearman_rho"),
                            ("delta/embeddings", "delta_rel_mean"), ("delta/embeddings", "n_read"),
                            ("delta/embeddings", "bos_added"), ("delta/embeddings", "data")):
            if attr in g[group].attrs:
                assert f[group].attrs[attr] == g[group].attrs[attr], (group, attr, f[group].attrs[attr],
                                                                      g[group].attrs[attr])
    assert "tokenized once for every stage" in r.out, r.out
    K, methods, _, _, _, _ = read_recommend(report)
    want_K, want_methods = rule(emb_mean, list(layer_rel))
    assert abs(K - want_K) <= 1e-12 * want_K and methods == want_methods, (K, methods, want_K, want_methods)
    # reproducible from the report alone
    copy = suite.path("copy.h5")
    shutil.copy(report, copy)
    suite.ok("analyze", "--recommend-only", "-o", copy)
    assert read_recommend(copy)[:5] == read_recommend(report)[:5]
    state.update(model=d, report=report, K=K, methods=methods, data=parts[0][0])
    # bad data: the file and the item named, no report written
    bad = suite.path("bad.json")
    with open(bad, "w") as f:
        json.dump([{"instruction": "one two three four"}, {"output": "no instruction"}], f)
    harness.expect_error(suite, ["analyze", d, "--data", bad, "-o", suite.path("bad.h5")], "bad.json")
    harness.expect_error(suite, ["analyze", suite.path("no-model"), "--data", bad, "-o", suite.path("bad.h5")],
                         "no-model")
    assert not os.path.exists(suite.path("bad.h5"))
    print("     K %.4g, methods %s" % (K, methods))


def train_plan(out, *args):
    suite.ok("train", state["model"], state["data"], "--steps", 0, "--rank", 2, "--batch", 2, "--micro-batch", 2,
             "-o", suite.path(out), *args)
    with open(suite.path(out, "adapter_config.json")) as f:
        cfg = json.load(f)
    h = cfg.get("hyplora", {})
    hyp = sorted({int(m.split(".")[2]) for m in h.get("hyperbolic_modules", [])})
    with h5py.File(suite.path(out, "train_log.h5"), "r") as f:
        attrs = dict(f["train"].attrs)
    return cfg, h, hyp, attrs


def case_train_report():
    report, K, methods = state["report"], state["K"], state["methods"]
    want = [i for i, m in enumerate(methods) if m == "hyplora"]
    cfg, h, hyp, attrs = train_plan("plan", "--report", report)
    assert hyp == want, (hyp, want)
    assert all(abs(v - K) <= 1e-6 * K for v in h["initial_curvature"].values()), h["initial_curvature"]
    assert h["plan_source"] == "report %s (/recommend)" % report, h["plan_source"]
    assert attrs["plan_source"] == h["plan_source"] and "Khrulkov" in attrs["plan_rule"], attrs
    # every override
    _, h, hyp, attrs = train_plan("curv", "--report", report, "--curvature", 2.5)
    assert hyp == want and all(abs(v - 2.5) < 1e-9 for v in h["initial_curvature"].values())
    assert h["plan_source"].endswith("overridden: --curvature"), h["plan_source"]
    other = [i for i in range(4) if i not in want][:1]
    _, h, hyp, _ = train_plan("hyp", "--report", report, "--hyperbolic-layers", ",".join(map(str, other)))
    assert hyp == other and "--hyperbolic-layers" in h["plan_source"], (hyp, h["plan_source"])
    cfg, h, hyp, attrs = train_plan("lora", "--report", report, "--method", "lora")
    assert hyp == [] and "hyplora" not in cfg and attrs["plan_source"].endswith("overridden: --method"), attrs
    _, h, hyp, _ = train_plan("released", "--report", report, "--method", "hyplora-released")
    assert hyp == want and h["form"] == "released", (hyp, h["form"])
    _, h, hyp, _ = train_plan("layers", "--report", report, "--layers", want[0])
    assert hyp == [want[0]] and adapted_layers("layers") == [want[0]], (hyp, adapted_layers("layers"))
    _, h, hyp, _ = train_plan("other", "--report", report, "--other", "none")
    assert hyp == want and adapted_layers("other") == want, (hyp, adapted_layers("other"))  # the rest: none


def adapted_layers(out):
    """The layers with any tensor in the adapter file."""
    _, tensors, _ = st_writer.read(suite.path(out, "adapter_model.safetensors"))
    return sorted({int(k.split(".")[4]) for k in tensors})


def case_plot():
    """hyplora plot draws /recommend: its data file holds the report's numbers; a malformed
    /recommend is an error that names it."""
    if not shutil.which("gnuplot"):
        raise AssertionError("gnuplot is missing: apt-get install gnuplot-nox")
    out = suite.path("charts")
    suite.ok("plot", state["report"], "-o", out, "--group", "recommend", "--format", "png")
    K, methods, layer, _, rel, _ = read_recommend(state["report"])
    with open(os.path.join(out, "recommend_layers.tsv")) as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    assert [(int(a), float(b), int(c), d) for a, b, c, d in rows] == \
        [(l, v, int(m == "hyplora"), m) for l, v, m in zip(layer, rel, methods)], rows
    assert os.path.getsize(os.path.join(out, "recommend_layers.png")) > 1000
    bad = suite.path("badrec.h5")
    with h5py.File(bad, "w") as f:
        g = f.create_group("recommend")
        g.attrs["curvature_k"] = 1.0
        g["layer"] = np.arange(3, dtype=np.int64)
        g["delta_rel"] = np.ones(2)
        g["method"] = np.array([b"hyplora", b"lora", b"lora"], dtype=h5py.string_dtype())
    harness.expect_error(suite, ["plot", bad, "-o", suite.path("badcharts")], "/recommend: layer, delta_rel and method")


def case_train_report_bad():
    norec = suite.path("norec.h5")
    fake_report(norec, 0.2, [0.1, 0.2, 0.3, 0.4])
    harness.expect_error(suite, ["train", state["model"], state["data"], "--report", norec, "-o", suite.path("x")],
                         "has no /recommend")
    wrong = suite.path("wrong.h5")
    fake_report(wrong, 0.2, [0.1, 0.2, 0.3])
    suite.ok("analyze", "--recommend-only", "-o", wrong)
    harness.expect_error(suite, ["train", state["model"], state["data"], "--report", wrong, "-o", suite.path("x")],
                         "/recommend plans 3 layers but the model has 4")
    assert not os.path.exists(suite.path("x", "adapter_config.json"))


suite.check("the rule from a report alone, every option, clamps and ties", case_rule_from_report)
suite.check("bad reports and options", case_bad_reports)
suite.check("analyze: freq, norms, delta, recommend; two files as one", case_analyze)
if state:
    suite.check("train --report and every override", case_train_report)
    suite.check("train --report: bad reports", case_train_report_bad)
    suite.check("plot /recommend", case_plot)
suite.done()
