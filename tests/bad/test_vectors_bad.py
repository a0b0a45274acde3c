"""Malformed word-vector and JSON files: each must fail with exit status 1, a message
that names the file and says what is wrong, and no sanitizer report.

Usage: test_vectors_bad.py TEST_VECTORS_DUMP TEST_JSON_STREAM

Text and JSON cases are files in tests/bad/vectors/; the binary .npy cases are made
here from numpy.save output, so that each differs from a good file in one way.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

DUMP, JSON_STREAM = sys.argv[1], sys.argv[2]
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors")

# (file in tests/bad/vectors, vocabulary or None, program, text the message must hold)
FILE_CASES = [
    ("ragged.txt", None, "dump", "line 3 has 3 values, expected 4 (as on line 1)"),
    ("bad_float.txt", None, "dump", 'line 2, value 3: "0.7x" is not a number'),
    ("nan.txt", None, "dump", 'line 2, value 1: "nan" is not a finite float32'),
    ("non_utf8.txt", None, "dump", "line 2: the word is not valid UTF-8 (byte 4 of the word is 0xe9)"),
    ("w2v_count.txt", None, "dump", "the header says 5 words but the file has 3"),
    ("w2v_ragged.txt", None, "dump", "line 3 has 2 values, expected 3 (as the header says on line 1)"),
    ("prose.txt", None, "dump", "not a known word-vector format"),
    ("wink_dimensions.json", None, "dump",
     '"vectors", item 0 ("a"): 6 numbers, expected 5 (3 values, l2 norm, index) as "dimensions" says'),
    ("wink_missing.json", None, "dump", 'word "c" (index 2) has no vector; 1 of 3 words lack one'),
    ("wink_duplicate.json", None, "dump", 'a second vector for index 0 ("a")'),
    ("wink_mismatch.json", None, "dump", '"words"[1] is "b" but the vector with index 1 is keyed "x"'),
    ("wink_size.json", None, "dump", '"words" has 2 entries but "size" is 3'),
    ("wink_index.json", None, "dump", "the last number (the word's index) must be a whole number from 0 to 1"),
    ("wink_string_value.json", None, "dump", "value 2: expected a number, found a string"),
    ("wink_truncated.json", None, "dump", "line 1, column 92: invalid JSON: yajl says \"parse error: premature EOF\" (the text ends inside a value"),
    ("wink_not.json", None, "dump", 'no "words" and no "vectors": not the wink-embeddings format'),
    ("w2v_header_huge.txt", None, "dump",
     "line 1: the header says 3000000000 words of 300 values, more than the file's 23 bytes can hold"),
    ("wink_size_huge.json", None, "dump",
     'member "size": "size" is 99999999999, more words than a file of 81 bytes can hold'),
    ("ragged.txt", "ragged.txt", "dump", "a vocabulary file is only used with a .npy matrix"),
    ("bad_line.jsonl", None, "json", 'line 3, column 18: invalid JSON: yajl says "parse error: '),
    ("truncated_array.json", None, "json", "line 4, column 1: invalid JSON: yajl says \"parse error: premature EOF\""),
]


def npy_bytes(arr, version=None):
    import io
    buf = io.BytesIO()
    if version:
        np.lib.format.write_array(buf, arr, version=version)
    else:
        np.save(buf, arr)
    return buf.getvalue()


def make_npy_cases(tmp):
    """(path, vocabulary, text the message must hold) for broken .npy files."""
    m = np.arange(12, dtype=np.float32).reshape(4, 3)
    good = npy_bytes(m)
    vocab3 = os.path.join(tmp, "vocab3.txt")
    with open(vocab3, "w") as f:
        f.write("a\nb\nc\n")
    vocab4 = os.path.join(tmp, "vocab4.txt")
    with open(vocab4, "w") as f:
        f.write("a\nb\nc\nd\n")
    vocab_gap = os.path.join(tmp, "vocab_gap.txt")
    with open(vocab_gap, "w") as f:
        f.write("a\n\nc\nd\n")
    vocab_bad = os.path.join(tmp, "vocab_bad.txt")
    with open(vocab_bad, "wb") as f:
        f.write(b"a\nb\n\xc3\x28\nd\n")
    cases = {
        "bad_magic.npy": (b"\x93NUMPZ" + good[6:], vocab4, "bad magic: a .npy file starts with \\x93NUMPY"),
        "fortran.npy": (npy_bytes(np.asfortranarray(m)), vocab4, "fortran_order is True"),
        "int32.npy": (npy_bytes(m.astype(np.int32)), vocab4, "unsupported dtype '<i4'"),
        "bigendian.npy": (npy_bytes(m.astype(">f4")), vocab4, "unsupported dtype '>f4'"),
        "truncated.npy": (good[:-5], vocab4, "truncated: shape (4, 3) needs 48 data bytes but the file has 43"),
        "trailing.npy": (good + b"\0\0\0\0", vocab4, "4 bytes follow the 48 data bytes of shape (4, 3)"),
        "onedim.npy": (npy_bytes(m.reshape(12)), vocab4, "the array has 1 dimension, expected 2"),
        "version9.npy": (good[:6] + b"\x09\x00" + good[8:], vocab4, "format version 9.0, expected 1.0, 2.0 or 3.0"),
        "header_long.npy": (good[:8] + b"\xff\xff" + good[10:], vocab4, "the header claims 65535 bytes"),
        "vocab_short.npy": (good, vocab3, "the vocabulary has 3 words but the matrix in "),
        "vocab_gap.npy": (good, vocab_gap, "line 2 is empty: expected one word per line"),
        "vocab_utf8.npy": (good, vocab_bad, "line 3: the word is not valid UTF-8"),
        "no_vocab.npy": (good, None, "a .npy matrix needs a vocabulary file"),
        "tiny.npy": (b"\x93NUM", vocab4, "bad magic"),
    }
    out = []
    for name, (data, vocab, want) in cases.items():
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        out.append((path, vocab, "dump", want))
    # word2vec's binary format: a text header, then raw floats.
    path = os.path.join(tmp, "w2v.bin")
    with open(path, "wb") as f:
        f.write(b"2 3\nthe " + np.zeros(3, np.float32).tobytes() + b"\nof " +
                np.ones(3, np.float32).tobytes() + b"\n")
    out.append((path, None, "dump", "looks like word2vec's binary format"))
    path = os.path.join(tmp, "vec.txt.gz")
    with open(path, "wb") as f:
        f.write(b"\x1f\x8b\x08\x00rest")
    out.append((path, None, "dump", "gzip-compressed"))
    path = os.path.join(tmp, "empty.txt")
    open(path, "w").close()
    out.append((path, None, "dump", "empty file"))
    out.append((os.path.join(tmp, "absent.txt"), None, "dump", "cannot open"))
    subdir = os.path.join(tmp, "a_directory")
    os.mkdir(subdir)
    out.append((subdir, None, "dump", "cannot read: Is a directory"))
    out.append((subdir, None, "json", "cannot read: Is a directory"))
    return out


SANITIZER_MARKS = ("Sanitizer", "runtime error:", "LeakSanitizer", "AddressSanitizer")


def run_case(path, vocab, prog, want):
    if prog == "dump":
        cmd = [DUMP, path] + (["--vocab", vocab] if vocab else [])
    else:
        cmd = [JSON_STREAM, path]
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    name = os.path.basename(path)
    problems = []
    if p.returncode != 1:
        problems.append(f"exit status {p.returncode}, expected 1")
    if want not in p.stderr:
        problems.append(f"message lacks {want!r}")
    if path not in p.stderr and vocab not in (p.stderr if vocab else ""):
        problems.append("message does not name the file")
    if any(m in p.stderr for m in SANITIZER_MARKS):
        problems.append("sanitizer report")
    if problems:
        print(f"FAIL {name}: {'; '.join(problems)}\n  stderr: {p.stderr.strip()}")
        return False
    print(f"ok {name}: {p.stderr.strip()}")
    return True


def main():
    ok = True
    for fname, vocab, prog, want in FILE_CASES:
        path = os.path.join(HERE, fname)
        ok &= run_case(path, os.path.join(HERE, vocab) if vocab else None, prog, want)
    with tempfile.TemporaryDirectory() as tmp:
        for path, vocab, prog, want in make_npy_cases(tmp):
            ok &= run_case(path, vocab, prog, want)
    if not ok:
        sys.exit(1)
    print("all bad-input cases gave the expected errors")


if __name__ == "__main__":
    main()
