"""`hyplora plot` on real reports, checked independently:

- the files: PNG signature and IHDR dimensions, SVG that parses as XML and shows the title
  and the "power law, γ = ..., xmin = ..." legend, one .gp script per chart;
- the plotted numbers: every .tsv equal (1e-9 relative) to what numpy computes from the
  report read with h5py: fractions, log-binned densities, the CCDF, ranks, the fitted law
  (scipy.special.zeta for the Hurwitz zeta), the Zipf line (whose intercept is also
  recomputed by least squares) and the xmin scan;
- determinism: a second run gives byte-identical files;
- options: --format, --group;
- bad input (missing report, non-HDF5 file, nothing plottable, unwritable -o, gnuplot
  missing or failing): exit 1, a clear message, no partial files.
Reports: /powerlaw from `hyplora powerlaw` on Moby Dick, and /freq from `hyplora freq`
(LLaMA-2 on GSM8K) when that command exists."""
import filecmp
import os
import shutil
import sys

import h5py
import numpy as np
from scipy.special import zeta

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Suite  # noqa: E402
from chart_files import png_size, read_tsv, svg_text  # noqa: E402

s = Suite()
ROOT = os.environ.get("HYPLORA_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
MOBY = os.path.join(ROOT, "notebooks-data", "datasets", "powerlaw", "mobydick_words.txt")
GSM8K = os.path.join(ROOT, "notebooks-data", "datasets", "gsm8k", "test.json")
LLAMA2 = os.path.join(ROOT, "notebooks-data", "tokenizers", "llama2", "tokenizer.json")
CHARTS = ("count_distribution", "ccdf", "rank_frequency", "xmin_scan")

if not shutil.which("gnuplot"):
    print("gnuplot is not installed (scripts/setup installs gnuplot-nox): skipped")
    sys.exit(77)


# ---- reading what was written ----

def close(got, want, what):
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan), (what, "nan positions differ")
    g, w = got[~nan], want[~nan]
    bad = np.abs(g - w) > 1e-9 * np.maximum(np.abs(w), 1e-300)
    assert not bad.any(), (what, g[bad][:5], w[bad][:5])


def check_png(path):
    w, h = png_size(path)
    assert 300 <= w <= 4000 and 200 <= h <= 4000, (path, w, h)


# ---- what the charts should show, from the report alone ----

class Sample:
    """A power-law group of a report: data (distinct values, multiplicities), fit, Zipf, scan."""

    def __init__(self, report, group):
        with h5py.File(report, "r") as f:
            g = f[group]
            if group == "freq":
                c = g["counts"][()]
                self.x, self.m = np.unique(c[c > 0], return_counts=True)
                self.x = self.x.astype(float)
                fit = g["powerlaw"]
                scan = g["powerlaw/xmin_scan"] if "powerlaw/xmin_scan" in g else None
            else:
                self.x, self.m = g["fit/distinct_values"][()], g["fit/value_counts"][()]
                fit = g["fit"]
                scan = g["fit/xmin_scan"] if "fit/xmin_scan" in g else g.get("xmin_scan")
            self.fit = {k: fit.attrs[k] for k in ("alpha", "xmin", "n", "n_tail", "kind")}
            self.zipf = {k: g["zipf"].attrs[k] for k in ("exponent", "intercept", "n_ranks")} \
                if "zipf" in g else None
            self.scan = {k: scan[k][()] for k in ("xmin", "alpha", "ks_distance", "n_tail")} \
                if scan is not None else None
            self.source = {k: g.attrs[k] for k in ("tokenizer", "sources") if k in g.attrs}
        self.n = int(self.m.sum())
        assert self.n == int(self.fit["n"]), (self.n, self.fit["n"])
        assert self.fit["kind"] == "discrete"

    def pdf(self, x):
        a, xm, w = self.fit["alpha"], self.fit["xmin"], self.fit["n_tail"] / self.n
        return np.where(x >= xm, w * x ** -a / zeta(a, xm), np.nan)

    def ccdf_fit(self, x):
        a, xm, w = self.fit["alpha"], self.fit["xmin"], self.fit["n_tail"] / self.n
        return np.where(x >= xm, w * zeta(a, x) / zeta(a, xm), np.nan)

    def log_bins(self):
        """Whole-number bins [lo, lo + max(1, lo // 4)) from the smallest value (docs/plot.md)."""
        vals = np.repeat(self.x.astype(np.int64), self.m)
        rows, lo = [], int(self.x[0])
        while lo <= vals.max():
            hi = lo + max(1, lo // 4)
            k = int(((vals >= lo) & (vals < hi)).sum())
            if k:
                rows.append((lo, hi, np.sqrt(lo * (hi - 1)), k / (self.n * (hi - lo))))
            lo = hi
        return np.array(rows, dtype=float)


def check_distribution(out, g, smp):
    header, t = read_tsv(os.path.join(out, g + "_count_distribution.tsv"))
    assert header[2:] == ["fraction", "power_law_fit"], header
    close(t[:, 0], smp.x, "values")
    close(t[:, 1], smp.m, "multiplicities")
    close(t[:, 2], smp.m / smp.n, "fractions")
    close(t[:, 3], smp.pdf(smp.x), "fitted power law")
    header, b = read_tsv(os.path.join(out, g + "_count_distribution_log_bins.tsv"))
    assert header == ["bin_lo", "bin_hi", "center", "density"], header
    close(b, smp.log_bins(), "log bins")
    # the binned densities hold every value once
    assert abs((b[:, 3] * (b[:, 1] - b[:, 0])).sum() - 1) < 1e-12


def check_ccdf(out, g, smp):
    header, t = read_tsv(os.path.join(out, g + "_ccdf.tsv"))
    assert header[1:] == ["ccdf", "power_law_fit"], header
    vals = np.repeat(smp.x, smp.m)
    close(t[:, 0], smp.x, "values")
    close(t[:, 1], [(vals >= x).mean() for x in smp.x], "CCDF")
    close(t[:, 2], smp.ccdf_fit(smp.x), "fitted tail")


def check_rank_frequency(out, g, smp):
    header, t = read_tsv(os.path.join(out, g + "_rank_frequency.tsv"))
    assert header[0] == "rank" and header[2] == "zipf_fit", header
    desc = np.sort(np.repeat(smp.x, smp.m))[::-1]
    ranks = np.arange(1, len(desc) + 1)
    # the first and last rank of every run of equal values
    first = np.r_[True, desc[1:] != desc[:-1]]
    last = np.r_[desc[1:] != desc[:-1], True]
    want = ranks[first | last]
    close(t[:, 0], want, "ranks")
    close(t[:, 1], desc[want - 1], "values by rank")
    z = smp.zipf
    close(t[:, 2], np.where(want <= z["n_ranks"], np.exp(z["intercept"]) * want ** -z["exponent"],
                            np.nan), "Zipf line")
    # the line is the least-squares fit of ln value on ln rank over ranks 1..n_ranks
    R = int(z["n_ranks"])
    slope, icpt = np.polyfit(np.log(ranks[:R]), np.log(desc[:R]), 1)
    assert abs(-slope - z["exponent"]) < 1e-9 and abs(icpt - z["intercept"]) < 1e-9, (slope, icpt, z)


def check_scan(out, g, smp):
    header, t = read_tsv(os.path.join(out, g + "_xmin_scan.tsv"))
    assert header == ["xmin", "alpha", "ks_distance", "n_tail"], header
    for i, k in enumerate(header):
        close(t[:, i], smp.scan[k], "scan " + k)


def check_images(out, g, smp, title_bits):
    legend = "power law, γ = %.2f, xmin = %g" % (smp.fit["alpha"], smp.fit["xmin"])
    for c in CHARTS:
        check_png(os.path.join(out, "%s_%s.png" % (g, c)))
        text = svg_text(os.path.join(out, "%s_%s.svg" % (g, c)))
        title = [ln for ln in text.splitlines() if ln.startswith("/%s: " % g)]
        assert title, (c, text[:400])
        for bit in title_bits:
            assert bit in title[0], (c, bit, title[0])
        if c in ("count_distribution", "ccdf"):
            assert legend in text, (c, legend)
        if c == "rank_frequency":
            assert "Zipf fit, s = %.3f" % smp.zipf["exponent"] in text, c
        assert os.path.getsize(os.path.join(out, "%s_%s.gp" % (g, c))) > 0


def files_of(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def check_group_charts(report, g, title_bits, expect_groups):
    out = s.path("charts-" + g)
    s.ok("plot", report, "-o", out)
    smp = Sample(report, g)
    want = set()
    for pre in expect_groups:
        for c in CHARTS:
            want |= {"%s_%s.%s" % (pre, c, e) for e in ("png", "svg", "tsv", "gp")}
        want.add(pre + "_count_distribution_log_bins.tsv")
    assert set(files_of(out)) == want, sorted(set(files_of(out)) ^ want)
    check_images(out, g, smp, title_bits)
    check_distribution(out, g, smp)
    check_ccdf(out, g, smp)
    check_rank_frequency(out, g, smp)
    check_scan(out, g, smp)
    # determinism: another directory, and the same one again
    again = s.path("charts-%s-again" % g)
    s.ok("plot", report, "-o", again)
    s.ok("plot", "--quiet", report, "-o", out)
    for name in files_of(out):
        assert filecmp.cmp(os.path.join(out, name), os.path.join(again, name), shallow=False), name
    assert files_of(out) == files_of(again)


# ---- the /powerlaw report ----

REPORT = s.path("R.h5")
s.ok("powerlaw", MOBY, "--compare", "-o", REPORT)


def test_powerlaw_charts():
    check_group_charts(REPORT, "powerlaw", ["/powerlaw", "powerlaw/mobydick_words.txt"], ["powerlaw"])
    with h5py.File(REPORT, "r") as f:
        assert abs(f["powerlaw/fit"].attrs["alpha"] - 1.95273) < 5e-6  # the legend says γ = 1.95
    text = svg_text(s.path("charts-powerlaw", "powerlaw_ccdf.svg"))
    assert "power law, γ = 1.95, xmin = 7" in text


def test_stdout_lists_images():
    out = s.path("listed")
    r = s.ok("plot", REPORT, "-o", out)
    assert r.out.split() == [os.path.join(out, "powerlaw_%s.%s" % (c, e)) for c in CHARTS
                             for e in ("png", "svg")], r.out


def test_format_and_group():
    out = s.path("svg-only")
    s.ok("plot", REPORT, "-o", out, "--format", "svg", "--group", "powerlaw")
    names = files_of(out)
    assert not [n for n in names if n.endswith(".png")] and "powerlaw_ccdf.svg" in names, names
    out = s.path("png-only", "nested")  # parents are created too
    s.ok("plot", REPORT, "-o", out, "--format", "png")
    names = files_of(out)
    assert not [n for n in names if n.endswith(".svg")] and "powerlaw_ccdf.png" in names, names
    with open(os.path.join(out, "powerlaw_ccdf.gp"), encoding="utf-8") as f:
        assert "svg" not in f.read()
    r = s.run("plot", REPORT, "-o", s.path("bad-format"), "--format", "pdf")
    assert r.code == 2 and "png, svg or both" in r.err, r.err
    assert s.run("plot", REPORT).code == 2  # -o is required
    assert "Example" in s.ok("plot", "--help").out


def test_old_scan_location():
    """Older /powerlaw reports keep the scan at /powerlaw/xmin_scan."""
    old = s.path("old.h5")
    shutil.copy(REPORT, old)
    with h5py.File(old, "r+") as f:
        if "powerlaw/fit/xmin_scan" in f:
            f.move("powerlaw/fit/xmin_scan", "powerlaw/xmin_scan")
    out = s.path("charts-old")
    s.ok("plot", old, "-o", out)
    check_scan(out, "powerlaw", Sample(old, "powerlaw"))


# ---- bad input: exit 1, a clear message, nothing written ----

def expect_nothing_written(args, message, out, env=None):
    r = s.run(*args, env=env)
    assert r.code == 1, (args, r.code, r.err)
    assert message in r.err, (message, r.err)
    assert r.err.startswith("hyplora: error: "), r.err
    if os.path.isdir(out):
        assert files_of(out) == [], files_of(out)


def test_bad_input():
    out = s.path("bad-out")
    expect_nothing_written(["plot", s.path("missing.h5"), "-o", out], "missing.h5: cannot read", out)
    assert not os.path.exists(out)
    text = s.path("notes.h5")
    with open(text, "w") as f:
        f.write("not a report\n")
    expect_nothing_written(["plot", text, "-o", out], "not an HDF5 file", out)
    other = s.path("other.h5")
    with h5py.File(other, "w") as f:
        f.create_group("model").attrs["format"] = "gguf"
        f.create_group("freq_old")
    expect_nothing_written(["plot", other, "-o", out], "nothing to plot: the report has /freq_old, /model", out)
    assert not os.path.exists(out)
    empty = s.path("empty.h5")
    h5py.File(empty, "w").close()
    expect_nothing_written(["plot", empty, "-o", out], "nothing to plot: the report has no groups", out)
    expect_nothing_written(["plot", REPORT, "-o", out, "--group", "norms"],
                           "no group /norms (it has /powerlaw)", out)
    # the output path under a regular file, or a regular file itself
    expect_nothing_written(["plot", REPORT, "-o", os.path.join(text, "sub")],
                           "cannot create the output directory", out)
    expect_nothing_written(["plot", REPORT, "-o", text], "not a directory", out)
    with open(text) as f:
        assert f.read() == "not a report\n"


def test_gnuplot_missing_or_failing():
    out = s.path("no-gnuplot")
    empty_bin = s.path("empty-bin")
    os.makedirs(empty_bin, exist_ok=True)
    expect_nothing_written(["plot", REPORT, "-o", out], "gnuplot-nox", out, env={"PATH": empty_bin})
    # a gnuplot that fails: nothing under a final name, no temporary directory left behind
    fake = s.path("fake-bin")
    os.makedirs(fake, exist_ok=True)
    with open(os.path.join(fake, "gnuplot"), "w") as f:
        f.write("#!/bin/sh\necho 'line 3: simulated failure' >&2\nexit 3\n")
    os.chmod(os.path.join(fake, "gnuplot"), 0o755)
    expect_nothing_written(["plot", REPORT, "-o", out], "simulated failure", out, env={"PATH": fake})
    assert files_of(out) == [], files_of(out)


# ---- /freq, when `hyplora freq` exists ----

HAVE_FREQ = s.run("freq", "--help").code == 0


def test_freq_charts():
    rep = s.path("F.h5")
    s.ok("freq", "--tokenizer", LLAMA2, "--field", "instruction", GSM8K, "--p-value", "10", "-o", rep)
    check_group_charts(rep, "freq", ["/freq", "llama2/tokenizer.json", "gsm8k/test.json"], ["freq"])
    text = svg_text(s.path("charts-freq", "freq_count_distribution.svg"))
    assert "fraction of token ids" in text and "count (occurrences in the corpus)" in text
    # both groups in one report: both drawn
    s.ok("powerlaw", MOBY, "-o", rep)
    out = s.path("both")
    s.ok("plot", rep, "-o", out)
    names = files_of(out)
    assert "freq_ccdf.png" in names and "powerlaw_ccdf.png" in names, names
    out = s.path("only-freq")
    s.ok("plot", rep, "-o", out, "--group", "/freq")
    assert not [n for n in files_of(out) if n.startswith("powerlaw_")]


s.check("powerlaw: files, SVG text, .tsv against numpy, byte-identical reruns", test_powerlaw_charts)
s.check("stdout lists the images", test_stdout_lists_images)
s.check("--format and --group", test_format_and_group)
s.check("scan at the older /powerlaw/xmin_scan", test_old_scan_location)
s.check("bad input: exit 1, clear message, no files", test_bad_input)
s.check("gnuplot missing or failing", test_gnuplot_missing_or_failing)
if HAVE_FREQ:
    s.check("freq: files, SVG text, .tsv against numpy, byte-identical reruns", test_freq_charts)
else:
    print("hyplora freq is not built: the /freq charts were not checked")
s.done()
