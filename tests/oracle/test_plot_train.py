"""`hyplora plot` on group /train (the training log, docs/training.md), checked independently:

- two real logs of `hyplora train` (a tiny random model from make-model, an instruction
  file written here, 12 steps, 4 validation items measured every 4 steps): a LoRA run
  (train_loss, train_lr, train_grad_norm; no train_curvature) and a HypLoRA run (also
  train_curvature, a line per module); PNG headers, SVGs that parse and show the titles
  (the run's method, the report's path), axis labels and keys;
- every .tsv against numpy on the log read with h5py: the per-step datasets as they are, the
  moving average recomputed by the rule of docs/plot.md (window 2 floor(n/40) + 1, centred,
  cut at the ends), the validation losses, K per module (columns named by
  curvature_modules), and for more than 12 modules the minimum, quartiles, median and
  maximum across the modules (numpy.quantile);
- determinism: a second run gives byte-identical files;
- hand-made logs (h5py): 500 steps of a pretrain-like log with 40 modules (the band chart,
  the window of 25 steps, the clipping line), 12 and 13 modules (the switch from lines to
  the band), a log without validation (empty val_step and val_loss, or none at all), a
  single step, a log without learning_rate and grad_norm;
- an empty log is "nothing to plot" with the reason; malformed logs (loss missing, loss or
  val_loss or curvature of the wrong length, a NaN loss, steps not increasing, val_step
  without val_loss, curvature_modules of the wrong length): exit 1, a message naming the
  dataset, and no chart of /train written."""
import filecmp
import json
import os
import re
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Suite  # noqa: E402
from chart_files import png_size, read_tsv, svg_text  # noqa: E402

s = Suite()
EXTS = ("png", "svg", "tsv", "gp")
XLABEL, LOSS_LABEL = "optimiser step", "loss (nats per token)"

if not shutil.which("gnuplot"):
    print("gnuplot is not installed (scripts/setup installs gnuplot-nox): skipped")
    sys.exit(77)


# ---- reading what was written ----

def files_of(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def train_files(d):
    return sorted(n for n in files_of(d) if n.startswith("train_") or n.startswith("."))


def chart_names(*kinds):
    names = ["train_%s.%s" % (k, e) for k in kinds for e in EXTS]
    if "loss" in kinds:
        names.append("train_loss_val.tsv")
    return sorted(names)


def header_of(path):
    with open(path, encoding="utf-8") as f:
        return f.readline().rstrip("\n").split("\t")


def check_svg(out, kind, *bits):
    assert png_size(os.path.join(out, "train_%s.png" % kind)) == (1000, 700)
    text = svg_text(os.path.join(out, "train_%s.svg" % kind))
    for b in bits:
        assert b in text, (kind, b, text[:1200])
    return text


def gp_of(out, kind):
    with open(os.path.join(out, "train_%s.gp" % kind), encoding="utf-8") as f:
        return f.read()


# ---- the rules of docs/plot.md, from the log alone ----

def window(n):
    """About 5% of the steps, odd: 2 floor(n/40) + 1."""
    return 2 * (n // 40) + 1


def moving_average(y, w):
    """Centred mean over w values, the window cut at the ends (pandas' rolling(w,
    center=True, min_periods=1)), written out directly."""
    h = w // 2
    return np.array([np.mean(y[max(0, i - h):min(len(y), i + h + 1)]) for i in range(len(y))])


def close(got, want, what, rel=1e-12):
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert np.allclose(got, want, rtol=rel, atol=0), (what, got[:5], want[:5])


def check_series(out, kind, column, g, dataset, smoothed):
    header, t = read_tsv(os.path.join(out, "train_%s.tsv" % kind))
    want_header = ["step", column] + (["moving_average"] if smoothed else [])
    assert header == want_header, (kind, header)
    y = g[dataset][()]
    assert np.array_equal(t[:, 0], g["step"][()]) and np.array_equal(t[:, 1], y), kind
    if smoothed:
        close(t[:, 2], moving_average(y, window(len(y))), kind + " moving average")


def check_loss(out, g):
    check_series(out, "loss", "loss", g, "loss", True)
    header, v = read_tsv(os.path.join(out, "train_loss_val.tsv"))
    assert header == ["val_step", "val_loss"], header
    assert np.array_equal(v[:, 0], g["val_step"][()]) and np.array_equal(v[:, 1], g["val_loss"][()])
    gp = gp_of(out, "loss")
    w = window(len(g["step"]))
    assert ("moving average over %d steps" % w in gp) == (w > 1), (w, gp)
    assert "logscale" not in gp


def check_lines(out, g):
    names = [n.decode() if isinstance(n, bytes) else n for n in g["curvature_modules"][()]]
    assert header_of(os.path.join(out, "train_curvature.tsv")) == ["step"] + names
    _, t = read_tsv(os.path.join(out, "train_curvature.tsv"))
    assert np.array_equal(t[:, 0], g["step"][()])
    assert np.array_equal(t[:, 1:], g["curvature"][()])
    return names


def check_band(out, g):
    header, t = read_tsv(os.path.join(out, "train_curvature.tsv"))
    assert header == ["step", "min", "q25", "median", "q75", "max"], header
    K = g["curvature"][()]
    assert np.array_equal(t[:, 0], g["step"][()])
    assert np.array_equal(t[:, 1], K.min(axis=1)) and np.array_equal(t[:, 5], K.max(axis=1))
    for col, q in ((2, 0.25), (3, 0.5), (4, 0.75)):
        close(t[:, col], np.quantile(K, q, axis=1), "quantile %g" % q)


# ---- real logs of hyplora train ----

def write_items(path, n):
    """Instruction items: sums of two numbers, half of them with an input field."""
    rng = np.random.default_rng(5)
    items = []
    for i in range(n):
        a, b = (int(x) for x in rng.integers(1, 100, 2))
        items.append({"instruction": "What is %d plus %d?" % (a, b),
                      "input": "" if i % 2 else "Answer with a number.",
                      "output": "%d + %d = %d" % (a, b, a + b)})
    with open(path, "w", encoding="utf-8") as f:
        json.dump(items, f)


MODEL, DATA = s.path("model"), s.path("items.json")
s.ok("make-model", "-o", MODEL, "--hidden", 32, "--layers", 2, "--heads", 4, "--kv-heads", 2,
     "--intermediate", 48)
write_items(DATA, 24)
RUNS = {}
for method in ("lora", "hyplora"):
    out = s.path("run-" + method)
    s.ok("train", MODEL, DATA, "--steps", 12, "--batch", 4, "--micro-batch", 2, "--rank", 4,
         "--val-size", 4, "--eval-every", 4, "--method", method, "-o", out)
    RUNS[method] = os.path.join(out, "train_log.h5")


def test_real_runs():
    for method, log in RUNS.items():
        out = s.path("charts-" + method)
        s.ok("plot", log, "-o", out)
        kinds = ("loss", "lr", "grad_norm") + (("curvature",) if method == "hyplora" else ())
        assert files_of(out) == chart_names(*kinds), files_of(out)
        with h5py.File(log, "r") as f:
            g = f["train"]
            assert len(g["step"]) == 12 and list(g["val_step"][()]) == [4, 8, 12]
            check_loss(out, g)
            check_series(out, "lr", "learning_rate", g, "learning_rate", False)
            check_series(out, "grad_norm", "grad_norm", g, "grad_norm", True)
            run = "/train (hyplora train, method %s)" % method
            source = "run-%s/train_log.h5, %s/items.json" % (method, os.path.basename(s.dir))
            check_svg(out, "loss", run + ": loss over 12 optimiser steps", source, XLABEL,
                      LOSS_LABEL, "training loss of each step",
                      "validation loss (4 held-out items)")
            check_svg(out, "lr", run + ": learning rate of each optimiser step", "learning rate")
            check_svg(out, "grad_norm", run + ": gradient norm of each optimiser step",
                      "gradient L2 norm (before clipping)")
            if method == "hyplora":
                assert g["curvature"].shape == (12, 10), g["curvature"].shape
                names = check_lines(out, g)
                text = check_svg(out, "curvature",
                                 run + ": curvature K of each HypLoRA module after each step",
                                 "curvature K")
                for n in names:  # the key: the names without "model."
                    assert n.startswith("model.") and n[6:] in text, (n, text[:600])
            else:
                assert "curvature" not in g
        again = s.path("again-" + method)
        s.ok("plot", log, "-o", again)
        assert files_of(out) == files_of(again)
        for name in files_of(out):
            assert filecmp.cmp(os.path.join(out, name), os.path.join(again, name),
                               shallow=False), name


# ---- hand-made logs ----

def write_log(path, n=500, m=40, val=True, command="pretrain", method=None, extra=True, seed=3):
    """A log in the layout of train_log_write: a decaying noisy loss, a warmup-then-linear
    learning rate, noisy gradient norms, K random walks of m modules (m = 0: none)."""
    rng = np.random.default_rng(seed)
    step = np.arange(1, n + 1, dtype=float)
    with h5py.File(path, "w") as f:
        g = f.create_group("train")
        g["step"] = step
        g["loss"] = 2.5 * np.exp(-step / 150) + 1.2 + rng.normal(0, 0.15, n)
        if extra:
            g["learning_rate"] = np.minimum(step / 50, 1) * 3e-4 * (1 - step / (n + 1))
            g["grad_norm"] = np.abs(rng.normal(0.8, 0.3, n))
        g["tokens"], g["tokens_per_s"] = np.full(n, 1000.0), np.full(n, 5000.0)
        if val is not None:
            vs = np.arange(50, n + 1, 50, dtype=float) if val else np.zeros(0)
            g["val_step"], g["val_loss"] = vs, 2.5 * np.exp(-vs / 150) + 1.35
            g["val_items"] = np.arange(20 if val else 0)
        if m:
            walk = np.cumsum(rng.normal(0, 0.01, (n, m)), axis=0)
            g["curvature"] = 1 + walk * np.linspace(0.2, 2, m)
            names = ["model.layers.%d.mlp.down_proj" % i for i in range(m)]
            g["curvature_modules"] = np.array(names, dtype=h5py.string_dtype())
        if command:
            g.attrs["command"] = command
        if method:
            g.attrs["method"] = method
        g.attrs["clip"] = "1"
    return path


LONG = write_log(s.path("long.h5"))


def test_long_band():
    out = s.path("long")
    s.ok("plot", LONG, "-o", out)
    assert files_of(out) == chart_names("loss", "lr", "grad_norm", "curvature"), files_of(out)
    with h5py.File(LONG, "r") as f:
        g = f["train"]
        check_loss(out, g)
        check_series(out, "grad_norm", "grad_norm", g, "grad_norm", True)
        check_band(out, g)
    assert window(500) == 25
    check_svg(out, "loss", "/train (hyplora pretrain): loss over 500 optimiser steps", "long.h5",
              "moving average over 25 steps (centred)", "validation loss (20 held-out items)")
    check_svg(out, "curvature", "/train (hyplora pretrain): curvature K across the 40 HypLoRA "
              "modules after each step (median, quartiles, range)", "median K of the 40 modules",
              "quartiles: 25% to 75% of the modules", "range: smallest to largest K")
    check_svg(out, "grad_norm", "clipping threshold (clip = 1)")
    gp = gp_of(out, "grad_norm")
    assert re.search(r"^     1 with lines dashtype 2 .*'clipping threshold \(clip = 1\)'", gp, re.M), gp


def test_lines_or_band():
    """12 modules: a line each; 13: the band."""
    for m, band in ((12, False), (13, True)):
        log = write_log(s.path("m%d.h5" % m), n=40, m=m, command=None, method="hyplora")
        out = s.path("m%d" % m)
        s.ok("plot", log, "-o", out, "--group", "train", "--format", "svg")
        with h5py.File(log, "r") as f:
            g = f["train"]
            check_loss(out, g)  # 40 steps: a window of 3
            (check_band if band else check_lines)(out, g)
        text = svg_text(os.path.join(out, "train_curvature.svg"))
        assert ("across the %d HypLoRA modules" % m in text) == band, (m, text[:300])
        assert "/train (hyplora train, method hyplora)" in text
        assert not os.path.exists(os.path.join(out, "train_curvature.png"))


def test_without_validation():
    for name, val in (("val-empty", False), ("val-absent", None)):
        log = write_log(s.path(name + ".h5"), n=30, m=0, val=val, command=None)
        out = s.path(name)
        s.ok("plot", log, "-o", out)
        assert files_of(out) == chart_names("loss", "lr", "grad_norm"), files_of(out)
        header, v = read_tsv(os.path.join(out, "train_loss_val.tsv"))
        assert header == ["val_step", "val_loss"] and v.shape == (0, 2)
        with h5py.File(log, "r") as f:
            check_series(out, "loss", "loss", f["train"], "loss", True)
        text = check_svg(out, "loss", "/train: loss over 30 optimiser steps")
        assert "validation" not in text and "moving average" not in text, text


def test_single_step_minimal():
    """One step, no learning_rate or grad_norm: the loss chart alone (and K), drawn as points."""
    log = write_log(s.path("one.h5"), n=1, m=20, val=True, extra=False)
    out = s.path("one")
    s.ok("plot", log, "-o", out)
    assert files_of(out) == chart_names("loss", "curvature"), files_of(out)
    with h5py.File(log, "r") as f:
        check_loss(out, f["train"])
        check_band(out, f["train"])
    check_svg(out, "loss", "loss over 1 optimiser step")


def test_no_steps():
    log = s.path("empty.h5")
    with h5py.File(log, "w") as f:
        g = f.create_group("train")
        for k in ("step", "loss", "learning_rate", "grad_norm", "val_step", "val_loss"):
            g[k] = np.zeros(0)
        g.attrs["method"] = "lora"
    for extra in ((), ("--group", "train")):
        out = s.path("empty-out")
        r = s.run("plot", log, "-o", out, *extra)
        assert r.code == 1 and "nothing to plot: the report has /train (/train: no optimiser " \
                               "step in the log" in r.err, r.err
        assert files_of(out) == []


def expect_refused(name, change, message):
    log = write_log(s.path(name + ".h5"), n=120, m=16)
    with h5py.File(log, "r+") as f:
        change(f["train"])
    out = s.path(name)
    r = s.run("plot", log, "-o", out)
    assert r.code == 1 and r.err.startswith("hyplora: error: "), (name, r.code, r.err)
    assert message in r.err and log in r.err, (name, message, r.err)
    assert train_files(out) == [], (name, files_of(out))


def replace(g, name, value):
    del g[name]
    g[name] = value


def test_malformed():
    expect_refused("no-loss", lambda g: g.__delitem__("loss"), "/train/loss is not in the report")
    expect_refused("short-loss", lambda g: replace(g, "loss", g["loss"][:119]),
                   "/train/loss has 119 values, expected 120 (one per entry of step)")
    expect_refused("short-grad", lambda g: replace(g, "grad_norm", g["grad_norm"][:7]),
                   "/train/grad_norm has 7 values, expected 120")
    expect_refused("short-val", lambda g: replace(g, "val_loss", g["val_loss"][:1]),
                   "/train/val_loss has 1 values, expected 2 (one per entry of val_step)")
    expect_refused("no-val-loss", lambda g: g.__delitem__("val_loss"),
                   "/train/val_loss is not in the report, but /train/val_step is")
    expect_refused("short-K", lambda g: replace(g, "curvature", g["curvature"][:50]),
                   "/train/curvature has 50 rows, expected 120 (one per entry of step)")
    expect_refused("K-names", lambda g: replace(g, "curvature_modules",
                                                g["curvature_modules"][:3]),
                   "/train/curvature_modules has 3 names, expected 16 (one per column of "
                   "curvature)")
    expect_refused("nan", lambda g: g["loss"].write_direct(np.array([np.nan]), np.s_[0:1],
                                                           np.s_[5:6]),
                   "/train/loss[5] is nan: expected a finite number")
    expect_refused("order", lambda g: g["step"].write_direct(np.array([3.0]), np.s_[0:1],
                                                             np.s_[9:10]),
                   "/train/step[9] is 3 after 9: expected increasing steps")


s.check("real logs of hyplora train (lora, hyplora): charts, .tsv against numpy, SVG text, "
        "byte-identical reruns", test_real_runs)
s.check("500 steps, 40 modules: moving average, band of K across the modules, clipping line",
        test_long_band)
s.check("12 modules a line each, 13 the band", test_lines_or_band)
s.check("logs without validation losses", test_without_validation)
s.check("a single step without learning_rate and grad_norm", test_single_step_minimal)
s.check("an empty log: nothing to plot", test_no_steps)
s.check("malformed logs: a clear error and no /train chart", test_malformed)
s.done()
