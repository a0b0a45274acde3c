"""Word-vector readers against an independent Python writer.

Usage: test_vectors.py TEST_VECTORS_DUMP

Writes GloVe text, word2vec text, .npy (numpy.save, format 1.0/2.0/3.0, float32/64/16)
with a vocabulary, and wink-embeddings JSON (members in two orders, ASCII-escaped and
raw UTF-8 words), loads each with the C library through test_vectors_dump, and checks
the words and every float bit for bit: text values against the float32 nearest to the
decimal (exact rational arithmetic), .npy values against numpy's astype(float32).
"""
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vectors_oracle_lib import f32_nearest, load_dump, same_bits, fail  # noqa: E402

EXE = sys.argv[1]
RNG = np.random.default_rng(20240531)

WORDS = ["the", ",", ".", "\"", "'s", "café", "naïve", "日本", "München", "\\", "a/b",
         "emoji😀", "x\u00a0y", "ʻokina", "end"]

# Decimals chosen to exercise the conversion: exact halves, long mantissas that need the
# slow path, a value just above a float midpoint (double rounding would give 1.0),
# subnormals, the largest float, integers, exponents in both cases.
SPECIAL = ["0", "-0.0", "1.0000000596046447753906250001", "1e-40", "3.4028234e38",
           "123456789012345678901234567890", "-2.5E+2", "0.1", "1E-7", "7",
           "0.30000000000000004", "-1.17549435e-38", "2.95153011", "16777217", "0.000001234"]


def text_forms(v, k):
    """Several spellings of float v, picked by k."""
    forms = [f"{v:.6f}", repr(float(v)), f"{v:.9g}", f"{v:.3e}", f"{v:.17g}", f"{v:.20f}",
             f"{v:.5E}"]
    return forms[k % len(forms)]


def make_table(n_words, dim, special=True):
    """Words and the decimal text of each value (n_words x dim)."""
    texts = []
    k = 0
    for i in range(n_words):
        row = []
        for j in range(dim):
            if special and (i * dim + j) < len(SPECIAL) * 3 and (i * dim + j) % 3 == 0:
                row.append(SPECIAL[(i * dim + j) // 3])
            else:
                row.append(text_forms(RNG.normal() * 10.0 ** RNG.integers(-4, 3), k))
            k += 1
        texts.append(row)
    return texts


def expected(texts):
    return np.array([[f32_nearest(t) for t in row] for row in texts], dtype=np.float32)


def check(name, path, want_format, words, want, vocab=None, tmp=None):
    summary, got_words, got = load_dump(EXE, path, vocab, os.path.join(tmp, name))
    if summary["format"] != want_format:
        fail(f"{name}: format {summary['format']}, expected {want_format}")
    if summary["n_words"] != len(words) or summary["dim"] != want.shape[1]:
        fail(f"{name}: {summary} but wrote {len(words)} x {want.shape[1]}")
    if got_words != words:
        fail(f"{name}: words differ: {got_words[:5]} vs {words[:5]}")
    if not same_bits(got, want):
        bad = np.argwhere(got.view(np.uint32) != want.view(np.uint32))
        i, j = bad[0]
        fail(f"{name}: {len(bad)} values differ, first [{i},{j}]: {got[i, j]!r} vs {want[i, j]!r}")
    print(f"ok {name}: {summary}")


def test_glove(tmp):
    texts = make_table(len(WORDS), 7)
    path = os.path.join(tmp, "vec.glove.txt")
    with open(path, "w", encoding="utf-8", newline="") as f:
        for i, (w, row) in enumerate(zip(WORDS, texts)):
            sep = "\t" if i == 3 else " "
            end = "\r\n" if i % 4 == 1 else (" \n" if i % 4 == 2 else "\n")
            f.write(w + sep + " ".join(row) + end)
        f.write("\n")  # a blank last line is harmless
    check("glove", path, "glove", WORDS, expected(texts), tmp=tmp)

    # Spellings strtof takes that JSON does not.
    loose = [["+1.5", ".5", "5.", "-.25", "1e+2"], ["0", "1", "2", "3", "4"]]
    path = os.path.join(tmp, "loose.txt")
    with open(path, "w") as f:
        f.write("a " + " ".join(loose[0]) + "\nb " + " ".join(loose[1]) + "\n")
    check("glove_loose", path, "glove", ["a", "b"], expected(loose), tmp=tmp)


def test_word2vec(tmp):
    texts = make_table(len(WORDS), 5)
    path = os.path.join(tmp, "vec.w2v.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{len(WORDS)} 5\n")
        for w, row in zip(WORDS, texts):
            f.write(w + " " + " ".join(row) + " \n")  # word2vec's C tool leaves a blank
    check("word2vec", path, "word2vec", WORDS, expected(texts), tmp=tmp)

    # One column: a GloVe line "word value" is not mistaken for a header.
    path = os.path.join(tmp, "one.txt")
    with open(path, "w") as f:
        f.write("x 0.5\ny -2\n")
    check("glove_one_column", path, "glove", ["x", "y"], np.array([[0.5], [-2]], np.float32), tmp=tmp)


def test_npy(tmp):
    vocab = WORDS + ["new york", "über alles"]
    vpath = os.path.join(tmp, "vocab.txt")
    with open(vpath, "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    n = len(vocab)
    base = RNG.normal(size=(n, 9)) * 3
    base[0, 0] = -0.0
    base[1, 1] = 1e-42
    cases = [("npy_f32_v1", np.float32, None), ("npy_f64_v2", np.float64, (2, 0)),
             ("npy_f16_v3", np.float16, (3, 0)), ("npy_f64_v1", np.float64, (1, 0))]
    for name, dtype, version in cases:
        arr = base.astype(dtype)
        path = os.path.join(tmp, name + ".npy")
        if version is None:
            np.save(path, arr)
        else:
            with open(path, "wb") as f:
                np.lib.format.write_array(f, arr, version=version)
        check(name, path, "npy", vocab, arr.astype(np.float32), vocab=vpath, tmp=tmp)
    # A .npy name is not needed: the magic is enough. A vocabulary with CRLF ends.
    path = os.path.join(tmp, "matrix.bin")
    np.save(open(path, "wb"), base[:2].astype(np.float32))
    with open(vpath + "2", "w", newline="") as f:
        f.write("one\r\ntwo\r\n")
    check("npy_noext", path, "npy", ["one", "two"], base[:2].astype(np.float32), vocab=vpath + "2",
          tmp=tmp)


def wink_json(words, texts, order, ensure_ascii):
    """The wink-embeddings layout, with members in the given order."""
    dim = len(texts[0])
    vecs = []
    perm = list(range(len(words)))
    RNG.shuffle(perm)  # the vectors object need not follow the words order
    for i in perm:
        # The norm is not checked by the reader; any number will do.
        vecs.append(json.dumps(words[i], ensure_ascii=ensure_ascii) + ":[" + ",".join(texts[i]) +
                    f",1.23456789,{i}]")
    parts = {
        "precision": '"precision":8',
        "l2NormIndex": f'"l2NormIndex":{dim}',
        "wordIndex": f'"wordIndex":{dim + 1}',
        "size": f'"size":{len(words)}',
        "dimensions": f'"dimensions":{dim}',
        "words": '"words":' + json.dumps(words, ensure_ascii=ensure_ascii),
        "vectors": '"vectors":{' + ",".join(vecs) + "}",
        "unkVector": '"unkVector":[' + ",".join(["0"] * dim) + ",-1]",
        "extra": '"extra":{"nested":[1,{"a":[2,3]}],"s":"x"}',
    }
    return "{" + ",".join(parts[k] for k in order) + "}"


def test_wink(tmp):
    texts = make_table(len(WORDS), 6)
    want = expected(texts)
    orders = [
        ["precision", "l2NormIndex", "wordIndex", "size", "dimensions", "words", "vectors",
         "unkVector"],
        ["extra", "vectors", "unkVector", "words", "dimensions", "size", "wordIndex"],
        ["vectors", "words"],
    ]
    for k, order in enumerate(orders):
        for ensure_ascii in (True, False):
            name = f"wink_{k}_{'ascii' if ensure_ascii else 'utf8'}"
            path = os.path.join(tmp, name + ".json")
            with open(path, "w", encoding="utf-8") as f:
                f.write(wink_json(WORDS, texts, order, ensure_ascii))
            check(name, path, "wink", WORDS, want, tmp=tmp)
    # Pretty-printed over many lines (the real file is one line).
    path = os.path.join(tmp, "wink_pretty.json")
    doc = json.loads(wink_json(WORDS, texts, orders[0], True))
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    _, _, got = load_dump(EXE, path, out=os.path.join(tmp, "pretty"))
    # json.dump wrote each value as the repr of a double: that text is the reference.
    ref = np.array([[f32_nearest(repr(x)) for x in doc["vectors"][w][:6]] for w in WORDS],
                   dtype=np.float32)
    if not same_bits(got, ref):
        fail("wink_pretty: values differ")
    print("ok wink_pretty")


def test_large_glove(tmp):
    """Many rows, so that the matrix grows several times while reading."""
    n, dim = 20000, 13
    vals = RNG.normal(size=(n, dim)).astype(np.float32)
    words = [f"w{i}" for i in range(n)]
    path = os.path.join(tmp, "large.txt")
    with open(path, "w") as f:
        for w, row in zip(words, vals):
            f.write(w + " " + " ".join(repr(float(x)) for x in row) + "\n")
    check("glove_large", path, "glove", words, vals, tmp=tmp)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_glove(tmp)
        test_word2vec(tmp)
        test_npy(tmp)
        test_wink(tmp)
        test_large_glove(tmp)
    print("all vector oracle checks passed")


if __name__ == "__main__":
    main()
