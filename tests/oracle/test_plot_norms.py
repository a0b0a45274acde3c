"""`hyplora plot` on group /norms, checked independently:

- a /norms report of a planted model (make-model, freq, an embedding whose frequent rows are
  shorter, as tests/oracle/test_norms.py plants it, then `hyplora norms`): the files of the
  five charts norms_vs_frequency, norms_centered_vs_frequency, norms_output_vs_frequency
  (untied head), norms_groups and norms_pca; PNG headers; SVGs that parse and show the
  titles (with Spearman rho and the shortened input), legends, group labels and PCA axes;
- every .tsv against numpy on the report read with h5py: the scatter follows the sampling
  rule of docs/plot.md, the binned medians and quartiles equal numpy's over the rows of each
  bin (the output head's bins too, which the report does not hold), the group bars equal
  the report's means and the means of their members, the PCA points are pca/coords in the
  documented order, the origin is -mean_embedding projected on pca/components;
- determinism: a second run gives byte-identical files;
- a report holding only /norms (hand-written with h5py: about 24000 seen rows, so the scatter is
  thinned to 10000 points; a group without any row), one with only the charts' minimum (no
  groups, PCA or head), one holding only /freq; a /norms without bins is refused."""
import filecmp
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Suite  # noqa: E402
from chart_files import png_size, svg_text  # noqa: E402
from planted import plant_embedding  # noqa: E402

s = Suite()
ROOT = os.environ.get("HYPLORA_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
GSM8K = os.path.join(ROOT, "notebooks-data", "datasets", "gsm8k", "test.json")
LLAMA2 = os.path.join(ROOT, "notebooks-data", "tokenizers", "llama2", "tokenizer.json")
MAX_POINTS = 10000  # docs/plot.md: at most this many scatter points
FREQ_CHARTS = ("vs_frequency", "centered_vs_frequency", "output_vs_frequency")

if not shutil.which("gnuplot"):
    print("gnuplot is not installed (scripts/setup installs gnuplot-nox): skipped")
    sys.exit(77)
if s.run("norms", "--help").code != 0:
    print("hyplora norms is not built: skipped")
    sys.exit(77)


# ---- reading what was written ----

def read_tsv(path):
    """Header and columns; numbers as floats, other fields (names) as strings."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    header = lines[0].split("\t")
    rows = [ln.split("\t") for ln in lines[1:]]
    for r in rows:
        assert len(r) == len(header), (path, r)
    cols = {}
    for i, h in enumerate(header):
        vals = [r[i] for r in rows]
        try:
            cols[h] = np.array([float(v) for v in vals])
        except ValueError:
            cols[h] = vals
    return header, cols


def close(got, want, what, rel=1e-12):
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan), (what, "nan positions differ")
    g, w = got[~nan], want[~nan]
    bad = np.abs(g - w) > rel * np.maximum(np.abs(w), 1e-300)
    assert not bad.any(), (what, g[bad][:5], w[bad][:5])


def check_png(path):
    assert png_size(path) == (1000, 700), path


def files_of(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def chart_files(kinds):
    want = set()
    for k in kinds:
        want |= {"norms_%s.%s" % (k, e) for e in ("png", "svg", "tsv", "gp")}
        if k in FREQ_CHARTS:
            want.add("norms_%s_bins.tsv" % k)
        if k == "pca":
            want.add("norms_pca_marks.tsv")
    return want


# ---- what the charts should show, from the report alone ----

def load(report):
    with h5py.File(report, "r") as f:
        g = f["norms"]
        r = {"attrs": dict(g.attrs)}
        for k in ("norm", "centered_norm", "count", "output_norm", "mean_embedding"):
            if k in g:
                r[k] = g[k][()]
        r["bins"] = {k: g["bins"][k][()] for k in g["bins"]}
        r["groups"] = {k: g["groups"][k][()] for k in g["groups"]} if "groups" in g else None
        if r["groups"] is not None:
            r["groups"]["name"] = list(g["groups/name"].asstr()[()])
        r["pca"] = {k: g["pca"][k][()] for k in g["pca"]} if "pca" in g else None
    return r


def sample_positions(n):
    """docs/plot.md: all n when n <= 10000, else positions floor(j n / 10000)."""
    if n <= MAX_POINTS:
        return np.arange(n)
    return (np.arange(MAX_POINTS, dtype=np.int64) * n) // MAX_POINTS


def short(path):
    return "/".join(path.rstrip("/").split("/")[-2:])


def check_bins(t, count, y, what):
    """Each bin [lo, hi): its rows and their median and quartiles, as numpy has them."""
    lo, hi = t["bin_lo"], t["bin_hi"]
    close(t["center"], np.sqrt(np.ceil(lo) * (np.ceil(hi) - 1)), what + " centre")
    c = count.astype(float)
    total = 0
    for i in range(len(lo)):
        inside = y[(c >= lo[i]) & (c < hi[i])]
        assert len(inside) == t["rows"][i] > 0, (what, i, len(inside), t["rows"][i])
        total += len(inside)
        close(t["median"][i], np.median(inside), what + " median")
        close(t["q25"][i], np.quantile(inside, 0.25), what + " q25")
        close(t["q75"][i], np.quantile(inside, 0.75), what + " q75")
    assert total == len(y), (what, "bins miss rows", total, len(y))
    assert np.all(hi[:-1] <= lo[1:]) and np.all(lo < hi), what


def check_vs_frequency(out, rep, kind, column, prefix):
    y_all = rep[column]
    count = rep["count"][:len(y_all)]
    seen = np.flatnonzero(count > 0)
    header, t = read_tsv(os.path.join(out, "norms_%s.tsv" % kind))
    assert header == ["row", "count", column], header
    rows = seen[sample_positions(len(seen))]
    close(t["row"], rows, kind + " rows")
    close(t["count"], count[rows], kind + " counts")
    close(t[column], y_all[rows], kind + " values", rel=0)
    header, b = read_tsv(os.path.join(out, "norms_%s_bins.tsv" % kind))
    assert header == ["bin_lo", "bin_hi", "center", "rows", "median", "q25", "q75"], header
    check_bins(b, count[seen], y_all[seen], kind)
    if prefix != "output_":  # the report's own bins, empty ones left out
        rb = rep["bins"]
        keep = rb["n_rows"] > 0
        close(b["bin_lo"], rb["count_low"][keep], kind + " report edges", rel=0)
        close(b["median"], rb[prefix + "median"][keep], kind + " report medians", rel=0)
        close(b["q25"], rb[prefix + "q25"][keep], kind + " report q25", rel=0)
        close(b["q75"], rb[prefix + "q75"][keep], kind + " report q75", rel=0)
    else:  # the same edges as the norm's bins: the same counts
        _, nb = read_tsv(os.path.join(out, "norms_vs_frequency_bins.tsv"))
        close(b["bin_lo"], nb["bin_lo"], "output edges", rel=0)
    return len(seen)


def check_groups(out, rep):
    g = rep["groups"]
    header, t = read_tsv(os.path.join(out, "norms_groups.tsv"))
    assert header == ["index", "group", "n_words", "n_used", "mean_norm", "mean_centered_norm",
                      "mean_count"], header
    assert t["group"] == g["name"], (t["group"], g["name"])
    close(t["index"], np.arange(len(g["name"])), "group index")
    for k in ("n_words", "n_used", "mean_norm", "mean_centered_norm", "mean_count"):
        close(t[k], g[k], "group " + k, rel=0)
    # and the bars are the means of the groups' words that have a row
    for i in range(len(g["name"])):
        has = (g["member_group"] == i) & (g["member_row"] >= 0)
        assert has.sum() == t["n_used"][i]
        if has.any():
            close(t["mean_norm"][i], rep["norm"][g["member_row"][has]].mean(), "bar", rel=1e-12)
            close(t["mean_centered_norm"][i], rep["centered_norm"][g["member_row"][has]].mean(),
                  "centred bar", rel=1e-12)
        else:
            assert np.isnan(t["mean_norm"][i])


def check_pca(out, rep):
    p, count = rep["pca"], rep["count"]
    header, t = read_tsv(os.path.join(out, "norms_pca.tsv"))
    assert header == ["row", "count", "log10_count", "pc1", "pc2"], header
    pos = sample_positions(len(p["row"]))
    rows, coords = p["row"][pos], p["coords"][pos]
    order = np.lexsort((rows, count[rows]))  # by count, then row: frequent ones drawn last
    rows, coords = rows[order], coords[order]
    close(t["row"], rows, "pca rows")
    close(t["count"], count[rows], "pca counts")
    close(t["log10_count"], np.log10(count[rows]), "pca colour")
    close(t["pc1"], coords[:, 0], "pc1", rel=0)
    close(t["pc2"], coords[:, 1], "pc2", rel=0)
    header, m = read_tsv(os.path.join(out, "norms_pca_marks.tsv"))
    assert header == ["point", "pc1", "pc2"] and m["point"] == ["origin", "mean"], (header, m)
    close(m["pc1"], [p["origin"][0], 0], "origin, mean pc1", rel=0)
    close(m["pc2"], [p["origin"][1], 0], "origin, mean pc2", rel=0)
    if "mean_embedding" in rep:  # where the zero vector lies: -mean projected
        want = -rep["mean_embedding"] @ p["components"].T
        assert np.allclose(m["pc1"][0], want[0], atol=1e-9) and np.allclose(m["pc2"][0], want[1],
                                                                             atol=1e-9)
    return len(p["row"])


def check_svgs(out, rep, kinds, source):
    a = rep["attrs"]
    for k in kinds:
        check_png(os.path.join(out, "norms_%s.png" % k))
        text = svg_text(os.path.join(out, "norms_%s.svg" % k))
        lines = text.splitlines()
        title = [ln for ln in lines if ln.startswith("/norms: ")]
        # the title's second line names the source
        assert title and source in lines[lines.index(title[0]) + 1], (k, source, title, text[:300])
        prefix = {"vs_frequency": "", "centered_vs_frequency": "centered_",
                  "output_vs_frequency": "output_"}.get(k)
        if prefix is not None:
            p = a[prefix + "spearman_p_value"]
            rho = "Spearman ρ = %.3f (%s)" % (a[prefix + "spearman_rho"],
                                              "p < 1e-300" if p == 0 else "p = %.2g" % p)
            assert rho in title[0], (k, rho, title[0])
            for bit in ("median per count bin", "quartiles (25%-75%) per count bin",
                        "count (occurrences in the corpus)", "embedding units"):
                assert bit in text, (k, bit)
        if k == "groups":
            g = rep["groups"]
            for i, name in enumerate(g["name"]):
                assert name in text and "%d/%d words" % (g["n_used"][i], g["n_words"][i]) in text
            assert "mean L2 norm of the group's rows" in text
            assert "mean distance from the mean row" in text
        if k == "pca":
            r = rep["pca"]["explained_variance_ratio"]
            for i in (0, 1):
                assert "PC%d (%.1f%% of variance)" % (i + 1, 100 * r[i]) in text, (i, text[:800])
            for bit in ("origin (the zero vector)", "mean row (0, 0)", "log10(count)"):
                assert bit in text, bit


def check_report(report, kinds, source, extra_files=()):
    out = s.path("charts-" + os.path.basename(report))
    s.ok("plot", report, "-o", out)
    assert set(files_of(out)) == chart_files(kinds) | set(extra_files), \
        sorted(set(files_of(out)) ^ (chart_files(kinds) | set(extra_files)))
    rep = load(report)
    n_seen = check_vs_frequency(out, rep, "vs_frequency", "norm", "")
    check_vs_frequency(out, rep, "centered_vs_frequency", "centered_norm", "centered_")
    if "output_vs_frequency" in kinds:
        check_vs_frequency(out, rep, "output_vs_frequency", "output_norm", "output_")
    if "groups" in kinds:
        check_groups(out, rep)
    if "pca" in kinds:
        check_pca(out, rep)
    check_svgs(out, rep, kinds, source)
    again = s.path("again-" + os.path.basename(report))
    s.ok("plot", "--quiet", report, "-o", again)
    assert files_of(out) == files_of(again)
    for name in files_of(out):
        assert filecmp.cmp(os.path.join(out, name), os.path.join(again, name), shallow=False), name
    return out, n_seen


# ---- reports ----

def planted_report():
    """make-model + freq + a planted embedding (as test_norms.py) + norms."""
    d = s.path("planted")
    s.ok("make-model", "-o", d, "--hidden", "48", "--layers", "1", "--intermediate", "64",
         "--dtype", "f32")
    rep = os.path.join(d, "r.h5")
    s.ok("freq", "--p-value", "0", "--tokenizer", LLAMA2, "--field", "instruction", GSM8K, "-o", rep)
    with h5py.File(rep, "r") as f:
        count = f["freq/counts"][()]
    plant_embedding(d, count)
    s.ok("norms", d, "-o", rep)
    return d, rep


def log_bins(count, y, per_decade):
    """Bins 10^(k/b) <= count < 10^((k+1)/b) over the seen rows, as the report holds them."""
    k = np.floor(np.log10(count) * per_decade + 1e-9).astype(int)
    ks = np.arange(k.min(), k.max() + 1)
    out = {"count_low": 10.0 ** (ks / per_decade), "count_high": 10.0 ** ((ks + 1) / per_decade),
           "n_rows": np.array([(k == j).sum() for j in ks])}
    for pre, v in (("", y[0]), ("centered_", y[1])):
        for name, fn in (("median", np.median), ("q25", lambda a: np.quantile(a, 0.25)),
                         ("q75", lambda a: np.quantile(a, 0.75)), ("mean", np.mean),
                         ("min", np.min), ("max", np.max)):
            out[pre + name] = np.array([fn(v[k == j]) if (k == j).any() else np.nan for j in ks])
    return out


def synthetic_report(path, n=40000, with_extras=True):
    """A report holding only /norms, written by h5py: n rows, about 24000 seen."""
    rng = np.random.default_rng(3)
    count = np.floor(rng.pareto(1.1, size=n) * 3).astype(np.int64)
    count[rng.random(n) < 0.17] = 0
    norm = 1.0 + 0.3 * rng.random(n) - 0.05 * np.log1p(count)
    cen = 0.5 * norm + 0.1 * rng.random(n)
    seen = np.flatnonzero(count > 0)
    with h5py.File(path, "w") as f:
        g = f.create_group("norms")
        g["norm"], g["centered_norm"], g["count"] = norm, cen, count
        g.attrs.update({"input": "/data/models/some-vectors/vec.txt", "matrix": "glove",
                        "bins_per_decade": 4, "spearman_rho": -0.25, "spearman_p_value": 1e-30,
                        "centered_spearman_rho": -0.125, "centered_spearman_p_value": 3e-9,
                        "mean_norm_seen": norm[seen].mean(),
                        "centered_mean_norm_seen": cen[seen].mean()})
        for k, v in log_bins(count[seen], (norm[seen], cen[seen]), 4).items():
            g["bins/" + k] = v
        if with_extras:
            gr = g.create_group("groups")
            gr["name"] = np.array(["tiny", 'odd "name"', "none"], dtype=h5py.string_dtype())
            gr["n_words"], gr["n_used"] = np.array([2, 1, 2]), np.array([2, 1, 0])
            rows = np.array([seen[0], seen[1], seen[2], -1, -1])
            member_group = np.array([0, 0, 1, 2, 2])
            gr["member_group"], gr["member_row"] = member_group, rows
            means = [norm[rows[(member_group == i) & (rows >= 0)]].mean() if i < 2 else np.nan
                     for i in range(3)]
            cmeans = [cen[rows[(member_group == i) & (rows >= 0)]].mean() if i < 2 else np.nan
                      for i in range(3)]
            gr["mean_norm"], gr["mean_centered_norm"] = np.array(means), np.array(cmeans)
            gr["mean_count"] = np.array([2.0, 5.0, np.nan])
            p = g.create_group("pca")
            p["row"] = seen
            p["coords"] = rng.normal(size=(len(seen), 2)) * [2.0, 1.0]
            p["origin"] = np.array([-3.5, 0.75])
            p["explained_variance_ratio"] = np.array([0.4321, 0.1234])
            p["components"] = np.eye(2, 5)
    return len(seen)


D, REPORT = planted_report()


def test_planted():
    kinds = FREQ_CHARTS + ("groups", "pca")
    freq_files = [n for n in files_of(s.path("freq-ref"))]
    out, n_seen = check_report(REPORT, kinds, short(D), extra_files=freq_files)
    assert n_seen < MAX_POINTS  # every seen row drawn
    text = svg_text(os.path.join(out, "norms_vs_frequency.svg"))
    assert "seen rows (all %d;" % n_seen in text, text[:600]
    assert "(model.embed_tokens.weight)" in text and "(lm_head.weight)" in svg_text(
        os.path.join(out, "norms_output_vs_frequency.svg"))
    rho = load(REPORT)["attrs"]["centered_spearman_rho"]
    assert rho < -0.1, rho  # the planted structure is there to be drawn
    print("  %d seen rows, centred rho %.3f" % (n_seen, rho))


def test_only_norms():
    rep = s.path("only-norms.h5")
    n_seen = synthetic_report(rep)
    assert n_seen > 1.5 * MAX_POINTS, n_seen
    out, _ = check_report(rep, ("vs_frequency", "centered_vs_frequency", "groups", "pca"),
                          "some-vectors/vec.txt (glove)")
    _, t = read_tsv(os.path.join(out, "norms_vs_frequency.tsv"))
    assert len(t["row"]) == MAX_POINTS
    text = svg_text(os.path.join(out, "norms_vs_frequency.svg"))
    assert "seen rows (%d of %d drawn" % (MAX_POINTS, n_seen) in text, text[:600]
    assert os.path.getsize(os.path.join(out, "norms_vs_frequency.svg")) < 3_000_000
    text = svg_text(os.path.join(out, "norms_groups.svg"))
    assert 'odd "name"' in text and "0/2 words" in text


def test_minimal_norms():
    rep = s.path("minimal.h5")
    synthetic_report(rep, n=500, with_extras=False)
    check_report(rep, ("vs_frequency", "centered_vs_frequency"), "some-vectors/vec.txt (glove)")


def test_group_option_and_only_freq():
    out = s.path("group-norms")
    s.ok("plot", REPORT, "-o", out, "--group", "norms")
    assert set(files_of(out)) == chart_files(FREQ_CHARTS + ("groups", "pca"))
    only_freq = s.path("only-freq.h5")
    shutil.copy(REPORT, only_freq)
    with h5py.File(only_freq, "r+") as f:
        del f["norms"]
    out = s.path("only-freq")
    s.ok("plot", only_freq, "-o", out)
    assert files_of(out) and all(n.startswith("freq_") for n in files_of(out)), files_of(out)


def test_without_bins():
    rep = s.path("no-bins.h5")
    synthetic_report(rep, n=200, with_extras=False)
    with h5py.File(rep, "r+") as f:
        del f["norms/bins"]
    out = s.path("no-bins")
    r = s.run("plot", rep, "-o", out)
    assert r.code == 1 and "/norms: no count bins /norms/bins" in r.err, r.err
    assert files_of(out) == []


# the /freq charts of the planted report on their own, to know which files they add
s.ok("plot", REPORT, "-o", s.path("freq-ref"), "--group", "freq")
s.check("planted /norms: five charts, .tsv against numpy, SVG text, byte-identical reruns",
        test_planted)
s.check("a report with only /norms, 10000 of its seen rows drawn", test_only_norms)
s.check("/norms without groups, PCA or output head", test_minimal_norms)
s.check("--group norms; a report with only /freq", test_group_option_and_only_freq)
s.check("/norms without bins: nothing to plot", test_without_bins)
s.done()
