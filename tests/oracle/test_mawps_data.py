"""The vendored MAWPS training files (notebooks-data/datasets/mawps/train.json and
train-text.jsonl) against their source and the test sets:

- scripts/mawps-instruct, run again into a temporary directory, writes both files byte for
  byte as vendored;
- every item's answer is the value of its trainset.json equation (evaluated here with the
  ast module, numbers and + - * / only) within 1e-4 relative, and the expression shown in
  the output has that value too;
- no training instruction is an instruction of a vendored test set: not equal after
  whitespace normalisation (mawps/test.json, testset.json, AddSub, MultiArith, SingleEq: the
  parts of MAWPS), nor a light edit of one (same numbers, similarity >= 0.85, over every
  */test.json);
- every line of train-text.jsonl is tests/lib/instruct.py's alpaca fill of its item.
argv[1] (the hyplora binary, the suites' convention) is not used."""
import ast
import difflib
import json
import operator
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Suite  # noqa: E402
import instruct  # noqa: E402

s = Suite()
ROOT = os.environ.get("HYPLORA_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "notebooks-data", "datasets")
MAWPS = os.path.join(DATA, "mawps")
SCRIPT = os.path.join(ROOT, "scripts", "mawps-instruct")

train = json.load(open(os.path.join(MAWPS, "train.json"), encoding="utf-8"))
texts = [json.loads(line) for line in open(os.path.join(MAWPS, "train-text.jsonl"), encoding="utf-8")]
raw = json.load(open(os.path.join(MAWPS, "trainset.json"), encoding="utf-8"))


OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def arith(text):
    """The value of arithmetic text: numbers, + - * /, unary minus and parentheses only."""
    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and type(n.value) in (int, float):
            return float(n.value)
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
            return -ev(n.operand) if isinstance(n.op, ast.USub) else ev(n.operand)
        if isinstance(n, ast.BinOp) and type(n.op) in OPS:
            return OPS[type(n.op)](ev(n.left), ev(n.right))
        raise ValueError("not arithmetic: %s" % ast.dump(n))
    return ev(ast.parse(text, mode="eval"))


def close(a, b, rel=1e-4):
    return abs(a - b) <= rel * max(abs(a), abs(b))


def norm_ws(t):
    return " ".join(t.split())


def regenerates():
    out = s.path("regen")
    p = subprocess.run([sys.executable, SCRIPT, "--out-dir", out], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    print("  " + p.stdout.strip().replace("\n", "\n  "))
    for name in ("train.json", "train-text.jsonl"):
        a = open(os.path.join(out, name), "rb").read()
        b = open(os.path.join(MAWPS, name), "rb").read()
        assert a == b, "%s differs from a fresh scripts/mawps-instruct run" % name


def shape():
    assert len(train) >= 500 and len(train) == len(texts), (len(train), len(texts))
    for it in train:
        assert set(it) == {"instruction", "input", "output", "answer"} and it["input"] == "", it
        assert it["output"].endswith("\nThe answer is %s." % it["answer"]), it
        assert re.fullmatch(r"-?\d+(\.\d{1,4})?", it["answer"]) and not re.search(r"\.\d*0$", it["answer"]), it
        assert norm_ws(it["instruction"]) == it["instruction"], it
    assert len({it["instruction"] for it in train}) == len(train), "repeated instructions"


def answers_are_values():
    # each item back to its source problem: the instruction is original_text with spaces moved
    by_text = {}
    for r in raw:
        by_text.setdefault(re.sub(r"\s", "", r["original_text"]), r)
    worst = 0.0
    for it in train:
        r = by_text.get(re.sub(r"\s", "", it["instruction"]))
        assert r is not None, "no trainset.json problem for %r" % it["instruction"]
        lhs, rhs = r["equation"].split("=")
        assert re.fullmatch(r"\s*[A-Za-z_]\w*\s*", lhs), r["equation"]
        value = arith(rhs)
        assert close(value, float(it["answer"])), (it, r["equation"], value)
        shown = it["output"].split("\n")[0]
        expr, _, ans = shown.rpartition(" = ")
        assert ans == it["answer"], shown
        assert abs(arith(expr) - value) <= 1e-9 * max(1.0, abs(value)), (shown, r["equation"])
        worst = max(worst, abs(value - float(it["answer"])) / max(abs(value), 1e-300))
    print("  %d answers equal their equation's value (largest relative difference %.2g: answers the source "
          "rounded)" % (len(train), worst))


def no_test_problems():
    mawps_parts = ["mawps/test.json", "mawps/testset.json", "AddSub/test.json", "MultiArith/test.json",
                   "SingleEq/test.json"]
    test_items = {}
    for rel in sorted(set(mawps_parts) | {os.path.relpath(os.path.join(d, "test.json"), DATA)
                                          for d in (os.path.join(DATA, n) for n in os.listdir(DATA))
                                          if os.path.exists(os.path.join(d, "test.json"))}):
        items = json.load(open(os.path.join(DATA, rel), encoding="utf-8"))
        test_items[rel] = [it.get("instruction", it.get("original_text")) for it in items]
    # exact, whitespace normalised, against the parts of MAWPS
    ws = {norm_ws(t): rel for rel in mawps_parts for t in test_items[rel]}
    exact = [it["instruction"] for it in train if norm_ws(it["instruction"]) in ws]
    # spaces removed altogether (the test files keep the tokenizer's spacing, as " ." and " ,")
    nospace = {re.sub(r"\s", "", t): rel for rel in mawps_parts for t in test_items[rel]}
    squeezed = [it["instruction"] for it in train if re.sub(r"\s", "", it["instruction"]) in nospace]

    # light edits: the same numbers and a similarity of at least 0.85, over every test set
    def letters(t):
        return re.sub(r"[^0-9a-z]", "", t.lower())

    def numbers(t):
        return tuple(sorted(re.findall(r"\d+(?:\.\d+)?", re.sub(r"(?<=\d),(?=\d{3}\b)", "", t))))
    by_numbers = {}
    for rel, ts in test_items.items():
        for t in ts:
            if isinstance(t, str):
                by_numbers.setdefault(numbers(t), []).append(letters(t))
    edits = [it["instruction"] for it in train
             if any(difflib.SequenceMatcher(None, letters(it["instruction"]), o, autojunk=False).ratio() >= 0.85
                    for o in by_numbers.get(numbers(it["instruction"]), ()))]
    print("  overlap with the MAWPS test sets: %d equal after whitespace normalisation, %d with spaces removed, "
          "%d near copies in any test set (of %d training items)" % (len(exact), len(squeezed), len(edits), len(train)))
    assert not exact and not squeezed and not edits, (exact + squeezed + edits)[:5]


def texts_are_alpaca_fills():
    for it, t in zip(train, texts):
        assert list(t) == ["text"], t
        assert t["text"] == instruct.fill("alpaca", it, it["output"]), (t, it)
    raw_bytes = open(os.path.join(MAWPS, "train-text.jsonl"), "rb").read()
    raw_bytes.decode("utf-8")
    assert raw_bytes.endswith(b"\n") and raw_bytes.count(b"\n") == len(texts)


s.check("scripts/mawps-instruct regenerates train.json and train-text.jsonl byte for byte", regenerates)
s.check("the items' shape: fields, answer format, no repeats", shape)
s.check("every answer is the value of its equation (1e-4 relative), as is the shown expression", answers_are_values)
s.check("no training instruction is a test instruction", no_test_problems)
s.check("train-text.jsonl is the alpaca fill of each item and its output", texts_are_alpaca_fills)
s.done()
