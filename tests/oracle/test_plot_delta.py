"""`hyplora plot` on group /delta, checked independently:

- a report written here with h5py in the layout of `hyplora delta` (docs/delta.md; the
  per-prompt and per-layer groups as that command's spec has them): a prompts group (120
  prompts, mode "prompts"), a sampled group of an older report (no mode, sampled = 1, 9
  tries), a single measurement (no mode, sampled = 0: mode "all") and a layers group
  (mode "layers"), beside /powerlaw from `hyplora powerlaw`;
- the files: delta_G_distribution for the prompts and sampled groups, delta_G for the
  layers, none for the "all" group; PNG headers, SVGs that parse and show the titles, axis
  label, key (n_items, distance, base point) and mean; the mean line at delta_rel_mean;
- every .tsv against numpy on the report read with h5py: the histogram's bins are the
  documented rule's count of equal bins from min to max, its counts are numpy.histogram's
  on those edges and sum to n_items; the layer rows are the report's datasets;
- determinism; --group delta alone; reports without `mode` (classified by `layer` and
  `sampled`);
- malformed groups (delta_rel missing, layer and delta_rel_mean of different lengths,
  n_items not the number of values, an unknown mode, a name unfit for a file): exit 1, a
  message naming the dataset, and no file written, not even the other groups' charts;
- a /delta with nothing to chart is "nothing to plot", as for the other families;
- end to end: `hyplora delta --graph` (a 4-cycle) --exact, then a sampled run beside it:
  the exact group (mode "all") gets no chart and is no error, the sampled one is drawn."""
import filecmp
import math
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
ROOT = os.environ.get("HYPLORA_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
MOBY = os.path.join(ROOT, "notebooks-data", "datasets", "powerlaw", "mobydick_words.txt")
EXTS = ("png", "svg", "tsv", "gp")
XLABEL = "δ_rel = 2δ/diam"

if not shutil.which("gnuplot"):
    print("gnuplot is not installed (scripts/setup installs gnuplot-nox): skipped")
    sys.exit(77)


# ---- reading what was written ----

def files_of(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def delta_files(d):
    return sorted(n for n in files_of(d) if n.startswith("delta_"))


def chart_names(*stems):
    return sorted("delta_%s.%s" % (st, e) for st in stems for e in EXTS)


# ---- the rule of docs/plot.md, from the report alone ----

def bin_count(x):
    """Freedman-Diaconis (width 2 IQR n^(-1/3)), sqrt(n) when the IQR is 0, within 5..50."""
    x = np.sort(x)
    iqr = np.quantile(x, 0.75) - np.quantile(x, 0.25)
    k = math.ceil((x[-1] - x[0]) / (2 * iqr / len(x) ** (1 / 3))) if iqr > 0 else math.ceil(
        math.sqrt(len(x)))
    return min(50, max(5, k))


def check_histogram(out, name, g):
    x = g["delta_rel"][()]
    header, t = read_tsv(os.path.join(out, "delta_%s_distribution.tsv" % name))
    assert header == ["bin_lo", "bin_hi", "center", "count"], header
    lo, hi, center, count = t.T
    k = bin_count(x)
    assert len(lo) == k, (name, len(lo), k)
    assert count.sum() == g.attrs["n_items"] == len(x), (name, count.sum(), len(x))
    assert np.array_equal(hi[:-1], lo[1:]) and np.all(lo < hi), name
    if x.max() > x.min():  # the bins span exactly min..max
        assert lo[0] == x.min() and hi[-1] == x.max(), (name, lo[0], hi[-1], x.min(), x.max())
        assert np.allclose(lo, np.linspace(x.min(), x.max(), k + 1)[:-1], rtol=0, atol=1e-15)
    else:  # all equal: a range 0.01 wide around the value
        assert np.isclose(lo[0], x[0] - 0.005) and np.isclose(hi[-1], x[0] + 0.005)
    edges = np.append(lo, hi[-1])
    assert np.array_equal(count, np.histogram(x, bins=edges)[0]), (name, count)
    assert np.allclose(center, (lo + hi) / 2, rtol=1e-15)
    return k


def check_mean_line(out, name, mean):
    with open(os.path.join(out, "delta_%s.gp" % name), encoding="utf-8") as f:
        gp = f.read()
    m = re.search(r"set arrow from ([^,]+), graph 0 to ([^,]+), graph 1", gp)
    assert m and float(m.group(1)) == mean == float(m.group(2)), (name, m and m.groups(), mean)


def check_svg(out, stem, *bits):
    assert png_size(os.path.join(out, "delta_%s.png" % stem)) == (1000, 700)
    text = svg_text(os.path.join(out, "delta_%s.svg" % stem))
    for b in bits:
        assert b in text, (stem, b, text[:800])


def check_layers(out, name, g):
    header, t = read_tsv(os.path.join(out, "delta_%s.tsv" % name))
    assert header == ["layer", "delta_rel_mean", "delta_rel_std"], header
    for i, k in enumerate(header):
        assert np.array_equal(t[:, i], g[k][()].astype(float)), (name, k)


# ---- reports ----

def provenance(g, **attrs):
    g.attrs.update({"command_line": "hyplora delta ...", "tool_version": "0.1.0",
                    "created_utc": "2026-11-28T00:00:00Z", "inputs": ""})
    g.attrs.update(attrs)


def definitions(g):
    for k in g:
        g[k].attrs["definition"] = "written by test_plot_delta.py"


def item_group(d, name, x, **attrs):
    """A group of per-item (or per-try) values, as `hyplora delta` lays them out."""
    g = d.create_group(name)
    diam = 2.0 + np.arange(len(x)) % 3
    g["delta_rel"], g["diameter"], g["delta"] = x, diam, x * diam / 2
    g["base"], g["used_double"] = np.zeros(len(x), np.int64), np.zeros(len(x), np.int64)
    provenance(g, delta_rel_mean=float(np.mean(x)), delta_rel_std=float(np.std(x)),
               delta_mean=float(np.mean(x * diam / 2)), diameter_mean=float(diam.mean()),
               n_items=len(x), exact=0, used_double=0, **attrs)
    return g


def write_delta(path, mode="a"):
    rng = np.random.default_rng(11)
    with h5py.File(path, mode) as f:
        d = f.require_group("delta")
        x = np.clip(rng.normal(0.24, 0.04, 120), 0, 1)
        x[7] = 0.51  # an outlier: Freedman-Diaconis keeps the bulk in several bins
        g = item_group(d, "embeddings", x, mode="prompts", base_point="first",
                       distance="euclidean", source="model", input="/models/it's/llama_2",
                       data="/data/sets/gsm8k/test.json", field="instruction", sampled=0,
                       n_points=120 * 40, n_skipped=3, cutoff=0)
        pts = 30 + np.arange(120) % 11
        g["item"], g["item_points"] = np.arange(120) + 2, pts
        g["rows"] = rng.integers(0, 32000, int(pts.sum()))
        item_group(d, "vectors", rng.uniform(0.18, 0.3, 9), sampled=1, base_point="random",
                   distance="cosine", source="vectors", input="/v/wink/vec.json", n_points=500,
                   seed=1, with_replacement=0)
        item_group(d, "graph", np.array([0.5]), sampled=0, base_point="all",
                   distance="shortest_path", source="graph", input="/g/cycle.txt", n_points=4)
        g = d.create_group("layers")
        layer = np.array([0, 1, 2, 3, 4, 6])
        m = np.array([0.31, 0.27, 0.22, 0.2, 0.19, 0.25])
        g["layer"], g["delta_rel_mean"], g["delta_rel_std"] = layer, m, 0.1 * m
        g["delta_mean"], g["diameter_mean"] = m * 3, np.full(6, 6.0)
        g["delta_rel"], g["item"] = np.outer(m, np.ones(120)), np.arange(120)
        provenance(g, mode="layers", n_items=120, n_layers=6, base_point="first",
                   distance="euclidean", data="/data/sets/gsm8k/test.json", field="instruction",
                   source="model", input="/models/it's/llama_2")
        for k in d:
            definitions(d[k])


REPORT = s.path("r.h5")
s.ok("powerlaw", MOBY, "-o", REPORT)
write_delta(REPORT)
CHARTS = ("embeddings_distribution", "layers", "vectors_distribution")


def test_charts():
    out = s.path("charts")
    s.ok("plot", REPORT, "-o", out)
    assert delta_files(out) == chart_names(*CHARTS), delta_files(out)
    assert any(n.startswith("powerlaw_") for n in files_of(out))
    with h5py.File(REPORT, "r") as f:
        d = f["delta"]
        k = check_histogram(out, "embeddings", d["embeddings"])
        assert 5 < k < 50, k  # the rule, not a clamp, chose it
        check_histogram(out, "vectors", d["vectors"])
        check_layers(out, "layers", d["layers"])
        for name in ("embeddings", "vectors"):
            a = d[name].attrs
            check_mean_line(out, name + "_distribution", a["delta_rel_mean"])
        a, v = d["embeddings"].attrs, d["vectors"].attrs
        check_svg(out, "embeddings_distribution", "/delta/embeddings: δ_rel of each prompt",
                  "gsm8k/test.json, it's/llama_2", XLABEL, "number of prompts",
                  "120 prompts, distance euclidean, base point first",
                  "mean δ_rel = %.4f (std %.4f)" % (a["delta_rel_mean"], a["delta_rel_std"]))
        check_svg(out, "vectors_distribution", "/delta/vectors: δ_rel of each try",
                  "wink/vec.json", XLABEL, "number of tries",
                  "9 tries, distance cosine, base point random",
                  "mean δ_rel = %.4f (std %.4f)" % (v["delta_rel_mean"], v["delta_rel_std"]))
        check_svg(out, "layers", "/delta/layers: δ_rel of the hidden states entering each layer",
                  "gsm8k/test.json, it's/llama_2, 120 prompts", XLABEL,
                  "layer (0 = the token embeddings, 6 = the output of the last layer)",
                  "mean δ_rel over the 120 prompts, ± std")
    again = s.path("again")
    s.ok("plot", REPORT, "-o", again)
    assert files_of(out) == files_of(again)
    for name in files_of(out):
        assert filecmp.cmp(os.path.join(out, name), os.path.join(again, name), shallow=False), name


def test_group_option():
    out = s.path("only-delta")
    s.ok("plot", REPORT, "-o", out, "--group", "delta")
    assert files_of(out) == chart_names(*CHARTS), files_of(out)


def test_without_mode():
    """Reports of `hyplora delta` before the mode attribute: layers by the `layer` dataset,
    sampled by sampled = 1, anything else one measurement (so the prompts group, once its
    mode is gone, is "all" and has no chart)."""
    rep = s.path("no-mode.h5")
    shutil.copy(REPORT, rep)
    with h5py.File(rep, "r+") as f:
        for g in f["delta"].values():
            if "mode" in g.attrs:
                del g.attrs["mode"]
    out = s.path("no-mode")
    s.ok("plot", rep, "-o", out, "--group", "delta")
    assert files_of(out) == chart_names("layers", "vectors_distribution"), files_of(out)


def expect_refused(name, change, message):
    rep = s.path(name + ".h5")
    shutil.copy(REPORT, rep)
    with h5py.File(rep, "r+") as f:
        change(f["delta"])
    out = s.path(name)
    r = s.run("plot", rep, "-o", out)
    assert r.code == 1 and r.err.startswith("hyplora: error: "), (name, r.code, r.err)
    assert message in r.err and rep in r.err, (name, message, r.err)
    # /delta is drawn after /powerlaw: its charts stay, but none of /delta, not even the
    # well-formed groups read before the bad one
    assert delta_files(out) == [] and not [n for n in files_of(out) if n.startswith(".")], \
        files_of(out)


def test_malformed():
    def no_delta_rel(d):
        del d["embeddings/delta_rel"]

    def short_mean(d):
        m = d["layers/delta_rel_mean"][()]
        del d["layers/delta_rel_mean"]
        d["layers/delta_rel_mean"] = m[:4]

    def more_items(d):
        d["vectors"].attrs["n_items"] = 10

    expect_refused("no-delta-rel", no_delta_rel, "/delta/embeddings/delta_rel is not in the report")
    expect_refused("short-mean", short_mean, "/delta/layers/delta_rel_mean has 4 values, expected "
                                             "6 (one per entry of layer)")
    expect_refused("n-items", more_items, "/delta/vectors/delta_rel has 9 values but n_items is 10")
    expect_refused("mode", lambda d: d["graph"].attrs.update({"mode": "tokens"}),
                   "/delta/graph has mode 'tokens'")
    expect_refused("name", lambda d: d.move("vectors", "it's"), "/delta/it's: the group's name "
                                                               "cannot name a chart file")
    expect_refused("layer-order", lambda d: d["layers/layer"].write_direct(
        np.array([2]), np.s_[0:1], np.s_[3:4]), "/delta/layers/layer[3] is 2: expected "
                                                   "increasing layer indices")
    expect_refused("nan", lambda d: d["layers/delta_rel_std"].write_direct(
        np.array([np.nan]), np.s_[0:1], np.s_[2:3]), "/delta/layers/delta_rel_std[2] is nan")


def test_nothing_to_chart():
    """One measurement, and a prompts group of a single prompt: nothing to draw, and a
    report holding only that is "nothing to plot", with or without --group."""
    rep = s.path("nothing.h5")
    with h5py.File(rep, "w") as f:
        d = f.create_group("delta")
        item_group(d, "graph", np.array([0.5]), sampled=0, base_point="all", distance="x")
        item_group(d, "one", np.array([0.2]), mode="prompts", base_point="first", distance="x")
    for extra in ((), ("--group", "delta")):
        out = s.path("nothing-out")
        r = s.run("plot", rep, "-o", out, *extra)
        assert r.code == 1 and "nothing to plot: the report has /delta (/delta: no group to " \
                               "chart: each is one measurement" in r.err, r.err
        assert files_of(out) == []


def test_end_to_end():
    g = s.path("cycle.txt")
    with open(g, "w") as f:
        f.write("0 1\n1 2\n2 3\n3 0\n")
    rep = s.path("cycle.h5")
    s.ok("delta", "--graph", g, "--exact", "-o", rep)
    out = s.path("cycle-exact")
    r = s.run("plot", rep, "-o", out)  # only a single measurement: nothing to plot
    assert r.code == 1 and "/delta: no group to chart" in r.err, r.err
    s.ok("delta", "--graph", g, "--sample", "4", "--tries", "6", "--name", "sampled", "-o", rep)
    out = s.path("cycle")
    s.ok("plot", rep, "-o", out)
    assert files_of(out) == chart_names("sampled_distribution"), files_of(out)
    with h5py.File(rep, "r") as f:
        assert "graph" in f["delta"] and f["delta/graph"].attrs["n_items"] == 1
        check_histogram(out, "sampled", f["delta/sampled"])  # every try's δ_rel is 1
        check_mean_line(out, "sampled_distribution", f["delta/sampled"].attrs["delta_rel_mean"])
    check_svg(out, "sampled_distribution", "6 tries, distance shortest_path, base point first")


s.check("/delta: a chart per prompts, sampled and layers group, .tsv against numpy, SVG text, "
        "byte-identical reruns", test_charts)
s.check("--group delta", test_group_option)
s.check("groups without the mode attribute", test_without_mode)
s.check("malformed groups: a clear error and no /delta chart", test_malformed)
s.check("a /delta with nothing to chart: nothing to plot", test_nothing_to_chart)
s.check("hyplora delta --graph, then plot", test_end_to_end)
s.done()
