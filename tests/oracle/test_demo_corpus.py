"""scripts/demo-corpus (the demo's pretraining corpus, docs/demo-corpus.md), run into a
temporary directory (it installs dict-gcide and wordnet-base when missing; scripts/setup test
installs them):

- gcide.txt and wordnet.txt exist, each over 100,000 lines, valid UTF-8, one document a line
  (no empty line, no tab, no leading, trailing or double space);
- gcide.txt: no markup left (no backslash, [, ], { or }), no header or 00-database-* entry,
  no entry under 20 characters, and known entries as documented (Abandon, Fiance with its
  accent, Aaronic with its second headword, 24/7);
- wordnet.txt: "words: gloss", underscores and adjective markers gone (known synsets);
- what it prints on stderr matches the files; a second run gives the same bytes and leaves
  no temporary file behind.
argv[1] (the hyplora binary, the suites' convention) is not used."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Suite  # noqa: E402

s = Suite()
ROOT = os.environ.get("HYPLORA_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "demo-corpus")
OUT = s.path("corpus")
runs = {}


def run(tag):
    t0 = time.time()
    p = subprocess.run(["bash", SCRIPT, OUT], capture_output=True, text=True)
    assert p.returncode == 0, "scripts/demo-corpus exited %d:\n%s" % (p.returncode, p.stderr)
    runs[tag] = {name: open(os.path.join(OUT, name), "rb").read() for name in ("gcide.txt", "wordnet.txt")}
    print("  %s run: %.1f s; %s" % (tag, time.time() - t0, p.stderr.strip().replace("\n", "; ")))
    return p


def lines_of(name):
    data = runs["first"][name]
    text = data.decode("utf-8")  # strict: invalid UTF-8 fails here
    assert text.endswith("\n"), name
    return text[:-1].split("\n")


def writes_both():
    p = run("first")
    for name, data in runs["first"].items():
        n = data.count(b"\n")
        assert "%s/%s: %d lines, %d bytes" % (OUT, name, n, len(data)) in p.stderr, (name, p.stderr)


def one_document_a_line():
    for name in ("gcide.txt", "wordnet.txt"):
        lines = lines_of(name)
        assert len(lines) > 100000, (name, len(lines))
        for i, line in enumerate(lines, 1):
            assert line and line == line.strip() and "  " not in line and "\t" not in line and "\r" not in line, \
                (name, i, line[:120])
        print("  %s: %d lines, %.1f MB" % (name, len(lines), len(runs["first"][name]) / 1e6))


def gcide_clean():
    lines = lines_of("gcide.txt")
    for i, line in enumerate(lines, 1):
        bad = [c for c in "\\[]{}" if c in line]
        assert not bad, ("markup %r left on line %d" % (bad, i), line[:200])
        assert len(line) >= 20, (i, line)
        assert not line.startswith("00-database"), line
    assert lines[0].startswith("0 adj. 1. indicating the absence of any or all units"), lines[0][:100]
    text = "\n".join(lines)
    assert "Collaborative International Dictionary of English v.0.48" not in text


def gcide_entries():
    lines = lines_of("gcide.txt")
    heads = {}
    for line in lines:
        heads.setdefault(line.split(",")[0].split(" ")[0], []).append(line)
    want = [
        ("Abandon", "Abandon, v. t. 1. To cast or drive out; to banish; to expel; to reject. That he might . . . "
                    "abandon them from him. --Udall."),
        ("Abandon", "Abandon, n. Abandonment; relinquishment."),
        ("Fiancé", "Fiancé, n. A betrothed man; the man to whom one is betrothed."),
        ("Aaronic", "Aaronic, Aaronical, a. Pertaining to Aaron, the first high priest of the Jews."),
        ("24/7", "24/7 adj. & adv. Without interruption; non-stop; continuous;"),
        ("Zythum", "Zythum, n. A kind of ancient malt beverage; a liquor made from malt and wheat."),
        ("Bickford", "Bickford fuse or Bickford fuze, or Bickford match A fuse used in blasting"),
    ]
    for head, start in want:
        assert any(line.startswith(start) for line in heads.get(head, [])), (start, heads.get(head, [])[:3])


def wordnet_synsets():
    lines = set(lines_of("wordnet.txt"))
    for line in ("entity: that which is perceived or known or inferred to have its own distinct existence "
                 "(living or nonliving)",
                 "physical entity: an entity that has physical existence",
                 'abounding, galore: existing in abundance; "abounding confidence"; "whiskey galore"',
                 'handy, ready to hand: easy to reach; "found a handy spot for the can opener"'):
        assert line in lines, line
    for line in lines:
        words, sep, gloss = line.partition(": ")
        assert sep and gloss and "_" not in line, line
        assert not any(words.endswith(m) or (m + ",") in words for m in ("(a)", "(p)", "(ip)")), line


def idempotent():
    stray = os.path.join(OUT, "stray.txt")
    open(stray, "w").write("kept\n")
    run("second")
    assert runs["second"] == runs["first"], "a second run wrote other bytes"
    assert sorted(os.listdir(OUT)) == ["gcide.txt", "stray.txt", "wordnet.txt"], os.listdir(OUT)


def usage():
    p = subprocess.run(["bash", SCRIPT], capture_output=True, text=True)
    assert p.returncode == 2 and "usage: scripts/demo-corpus OUTDIR" in p.stderr, (p.returncode, p.stderr)


s.check("scripts/demo-corpus writes gcide.txt and wordnet.txt and reports them", writes_both)
if runs:
    s.check("one document a line, over 100,000 lines each, valid UTF-8", one_document_a_line)
    s.check("gcide.txt: no markup, no header, no tiny entry", gcide_clean)
    s.check("gcide.txt: known entries as documented", gcide_entries)
    s.check("wordnet.txt: words: gloss, known synsets", wordnet_synsets)
    s.check("a second run gives the same bytes and no temporary files", idempotent)
s.check("usage error without OUTDIR", usage)
s.done()
