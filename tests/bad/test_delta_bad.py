#!/usr/bin/python3
"""`hyplora delta` on bad input: usage errors exit 2, bad files exit 1, each with a message
that names the file (or option) and the problem, no sanitizer report; and a failing run
never leaves a report behind, nor changes an existing one, nor leaves a temporary file.

    test_delta_bad.py HYPLORA_EXE
"""
import hashlib
import io
import os
import struct
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Suite  # noqa: E402

s = Suite()


def write(name, data):
    p = s.path(name)
    with open(p, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return p


def npy_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def npy_raw(header, data=b"", version=(1, 0)):
    """A .npy file with a header dict given as text (padded as numpy pads it)."""
    h = header.encode("latin1")
    pre = 10 if version[0] == 1 else 12
    pad = (64 - (pre + len(h) + 1) % 64) % 64
    h = h + b" " * pad + b"\n"
    size = struct.pack("<H", len(h)) if version[0] == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes(version) + size + h + data


def grid_distances(n=5):
    x = np.arange(n, dtype=np.float64)
    return np.abs(x[:, None] - x[None, :])


GOOD_D = grid_distances()
GOOD_NPY = write("good.npy", npy_bytes(GOOD_D))
GOOD_GRAPH = write("good.txt", "0 1\n1 2\n2 3\n3 4\n")
VEC = np.random.default_rng(3).standard_normal((12, 4)).astype(np.float32)
GOOD_VEC = write("vec.txt", "".join("w%d %s\n" % (i, " ".join(repr(float(v)) for v in r)) for i, r in enumerate(VEC)))


def bad_matrix(name, D):
    return write(name, npy_bytes(D))


def asym():
    D = GOOD_D.copy()
    D[1, 3] += 0.5
    return D


def neg():
    D = GOOD_D.copy()
    D[0, 2] = D[2, 0] = -1
    return D


def nan():
    D = GOOD_D.copy()
    D[3, 4] = D[4, 3] = np.nan
    return D


def nonzero_diag():
    D = GOOD_D.copy()
    D[2, 2] = 1
    return D


def nan_vectors_npy():
    X = VEC.copy()
    X[2, 1] = np.nan
    return write("nanvec.npy", npy_bytes(X)), write("nanvec.vocab", "".join("w%d\n" % i for i in range(12)))


def zero_vectors():
    X = VEC.copy()
    X[5] = 0
    return write("zerovec.txt", "".join("w%d %s\n" % (i, " ".join(repr(float(v)) for v in r)) for i, r in enumerate(X)))


def big_vectors():
    X = np.zeros((4001, 2), dtype=np.float32) + np.arange(4001, dtype=np.float32)[:, None]
    return write("big.npy", npy_bytes(X)), write("big.vocab", "".join("w%d\n" % i for i in range(4001)))


NPV, NPV_VOCAB = nan_vectors_npy()
BIG, BIG_VOCAB = big_vectors()
MODEL = s.path("model")
s.ok("make-model", "-o", MODEL, "--hidden", 16, "--layers", 1, "--no-tokenizer", "--vocab", 40,
     "--intermediate", 32)

H5_DIST = s.path("dist.h5")
with h5py.File(H5_DIST, "w") as f:
    f["rect"] = np.zeros((3, 5))
    f["names"] = np.array([b"a", b"b"])
    bad = grid_distances()
    bad[1, 2] = bad[2, 1] = np.nan
    f["nan"] = bad
NO_FREQ = s.path("nofreq.h5")
s.ok("delta", "--graph", GOOD_GRAPH, "-o", NO_FREQ)
TOKEN_FREQ = s.path("tokfreq.h5")
s.ok("freq", "--tokenizer", os.path.join(os.environ.get("HYPLORA_SOURCE_ROOT", "."),
                                         "notebooks-data/tokenizers/llama2/tokenizer.json"),
     write("words.txt", "w1 w2 w3\n"), "-o", TOKEN_FREQ)
SHORT_TEXT = write("short.txt", "w1 w2\nw3 nothing known\n")
NO_FIELD_JSON = write("nofield.json", '[{"instruction": "w1 w2 w3 w4"}, {"question": "w1"}]')

# (label, arguments before -o, exit status, texts the message must hold)
CASES = [
    # usage
    ("no input", [], 2, ["give one input"]),
    ("two inputs", ["--graph", GOOD_GRAPH, "--distances", GOOD_NPY], 2, ["give one input"]),
    ("model without --sample", [MODEL], 2, ["--sample N", "--data FILE"]),
    ("--sample 3", ["--vectors", GOOD_VEC, "--sample", 3], 2, ["--sample expects an integer from 4"]),
    ("--sample x", ["--vectors", GOOD_VEC, "--sample", "x"], 2, ["--sample expects an integer"]),
    ("--tries 0", ["--vectors", GOOD_VEC, "--sample", 4, "--tries", 0], 2, ["--tries expects an integer from 1"]),
    ("--tries without --sample", ["--vectors", GOOD_VEC, "--tries", 3], 2, ["go with --sample"]),
    ("--with-replacement without --sample", ["--graph", GOOD_GRAPH, "--with-replacement"], 2, ["go with --sample"]),
    ("--seed alone", ["--graph", GOOD_GRAPH, "--seed", 3], 2, ["--seed goes with"]),
    ("--exact and --base", ["--graph", GOOD_GRAPH, "--exact", "--base", 1], 2, ["not both"]),
    ("--base bogus", ["--graph", GOOD_GRAPH, "--base", "last"], 2, ["--base expects first, random or a row index"]),
    ("--base negative", ["--graph", GOOD_GRAPH, "--base", "-1"], 2, ["--base expects"]),
    ("--distance manhattan", ["--vectors", GOOD_VEC, "--distance", "manhattan"], 2, ["--distance expects"]),
    ("--distance with a graph", ["--graph", GOOD_GRAPH, "--distance", "cosine"], 2, ["--distance is for points"]),
    ("--vocab without --vectors", ["--graph", GOOD_GRAPH, "--vocab", GOOD_VEC], 2, ["--vocab goes with --vectors"]),
    ("--name not snake_case", ["--graph", GOOD_GRAPH, "--name", "My-Graph"], 2, ["--name expects", "My-Graph"]),
    ("unknown option", ["--graph", GOOD_GRAPH, "--bogus"], 2, ["invalid option"]),
    ("--data with a graph", ["--graph", GOOD_GRAPH, "--data", GOOD_VEC], 2, ["--data needs points"]),
    ("--data and --sample", [MODEL, "--data", GOOD_VEC, "--sample", 5], 2, ["not both"]),
    ("--field without --data", ["--vectors", GOOD_VEC, "--field", "x"], 2, ["go with --data FILE"]),
    ("--layers without --data", [MODEL, "--sample", 5, "--layers", "all"], 2, ["go with --data FILE"]),
    ("--layers on vectors", ["--vectors", GOOD_VEC, "--data", GOOD_VEC, "--layers", "all"], 2,
     ["--layers runs a model"]),
    ("--batch without --layers", [MODEL, "--data", GOOD_VEC, "--batch", 2], 2, ["go with --layers"]),
    ("--weights bogus", [MODEL, "--data", GOOD_VEC, "--layers", "all", "--weights", "f64"], 2,
     ["--weights expects"]),
    ("--base INDEX per prompt", [MODEL, "--data", GOOD_VEC, "--base", 3], 2, ["--base INDEX"]),
    ("--cutoff 3", [MODEL, "--data", GOOD_VEC, "--cutoff", 3], 2, ["--cutoff expects an integer from 4"]),
    ("--limit 0", [MODEL, "--data", GOOD_VEC, "--limit", 0], 2, ["--limit expects"]),
    ("--seen without --sample", ["--vectors", GOOD_VEC, "--seen", GOOD_VEC], 2, ["go with --sample"]),
    ("--tokenizer without --data", [MODEL, "--sample", 5, "--tokenizer", GOOD_VEC], 2,
     ["--tokenizer goes with MODEL --data"]),
    ("--seen: not a report", ["--vectors", GOOD_VEC, "--sample", 5, "--seen", GOOD_VEC], 1, ["vec.txt"]),
    ("--seen: a report without /freq", ["--vectors", GOOD_VEC, "--sample", 5, "--seen", NO_FREQ], 1,
     ["has no /freq/counts", "--seen"]),
    ("--seen: token counts for vectors", ["--vectors", GOOD_VEC, "--sample", 5, "--seen", TOKEN_FREQ], 1,
     ["counts token ids", "needs word counts"]),
    ("--data on a model without a tokenizer", [MODEL, "--data", GOOD_VEC], 1, ["has no tokenizer", "--tokenizer"]),
    ("--data absent", ["--vectors", GOOD_VEC, "--data", s.path("absent.json")], 1, ["absent.json"]),
    ("--data: no item has 4 words", ["--vectors", GOOD_VEC, "--data", SHORT_TEXT], 1,
     ["short.txt", "none of the 2 items", "4 points"]),
    ("--data: a missing field", ["--vectors", GOOD_VEC, "--data", NO_FIELD_JSON], 1,
     ["nofield.json", "instruction"]),
    ("--dataset without --distances", ["--graph", GOOD_GRAPH, "--dataset", "d"], 2, ["--dataset goes with"]),
    ("--dataset on a .npy file", ["--distances", GOOD_NPY, "--dataset", "d"], 1, ["not one"]),
    ("HDF5 without the dataset", ["--distances", H5_DIST], 1, ["dist.h5", "no dataset distances", "--dataset"]),
    ("HDF5 dataset not square", ["--distances", H5_DIST, "--dataset", "rect"], 1, ["rect", "3 x 5", "square"]),
    ("HDF5 dataset of strings", ["--distances", H5_DIST, "--dataset", "names"], 1, ["names"]),
    ("HDF5 distances with a NaN", ["--distances", H5_DIST, "--dataset", "nan"], 1,
     ["dist.h5", "dataset nan", "not finite"]),
    # sampling against the input
    ("--sample more than the rows", ["--vectors", GOOD_VEC, "--sample", 13], 1,
     ["--sample 13 is more than the 12 rows", "vec.txt", "--with-replacement"]),
    ("--sample more than the model's rows", [MODEL, "--sample", 41], 1, ["--sample 41 is more than the 40 rows"]),
    ("--base past the rows", ["--vectors", GOOD_VEC, "--base", 12], 1, ["--base 12 is out of range", "vec.txt", "12 rows"]),
    ("--base past a sampled model", [MODEL, "--sample", 5, "--base", 40], 1, ["--base 40 is out of range"]),
    ("too many vectors without --sample", ["--vectors", BIG, "--vocab", BIG_VOCAB], 1,
     ["big.npy", "4001 vectors are too many", "--sample N"]),
    ("NaN in .npy vectors", ["--vectors", NPV, "--vocab", NPV_VOCAB], 1, ["nanvec.npy", "row 2, coordinate 1 is not finite"]),
    ("NaN in sampled .npy vectors", ["--vectors", NPV, "--vocab", NPV_VOCAB, "--sample", 12, "--tries", 3], 1,
     ["try 1 of 3", "nanvec.npy", "row 2, coordinate 1 is not finite"]),
    ("zero vector under cosine", ["--vectors", zero_vectors(), "--distance", "cosine"], 1,
     ["zerovec.txt", "row 5 is the zero vector", "cosine"]),
    ("fewer than 4 vectors", ["--vectors", write("three.txt", "a 1 2\nb 3 4\nc 5 7\n")], 1, ["three.txt", "at least 4 points"]),
    # edge lists
    ("edge list: not an integer", ["--graph", write("word.txt", "0 1\n1 two\n")], 1,
     ["word.txt", "line 2", "'two' is not a node id"]),
    ("edge list: a fraction", ["--graph", write("frac.txt", "0 1\n1 2.5\n")], 1, ["frac.txt", "line 2", "'2.5'"]),
    ("edge list: negative id", ["--graph", write("negid.txt", "# c\n0 1\n-1 2\n")], 1, ["negid.txt", "line 3", "'-1'"]),
    ("edge list: one column", ["--graph", write("one.txt", "0 1\n\n2\n")], 1,
     ["one.txt", "line 3: 1 field; expected two node ids"]),
    ("edge list: three columns", ["--graph", write("three_col.txt", "0 1 0.5\n")], 1,
     ["three_col.txt", "line 1: 3 fields", "weighted edge lists are not supported"]),
    ("edge list: no edges", ["--graph", write("empty.txt", "# nothing\n\n")], 1, ["empty.txt", "no edges"]),
    ("edge list: huge id", ["--graph", write("huge.txt", "0 1\n1 99999999999999999999999\n")], 1,
     ["huge.txt", "line 2", "past the limit of 30000 nodes"]),
    ("edge list: NUL byte", ["--graph", write("nul.txt", b"0 1\n1\x002\n")], 1, ["nul.txt", "line 2", "NUL"]),
    ("edge list: binary file", ["--graph", GOOD_NPY], 1, ["good.npy", "line 1"]),
    ("disconnected graph", ["--graph", write("disc.txt", "0 1\n1 2\n3 4\n4 5\n")], 1,
     ["disc.txt", "not connected", "node 3 cannot be reached from node 0"]),
    ("isolated node", ["--graph", write("iso.txt", "0 1\n1 2\n2 3\n0 5\n")], 1,
     ["iso.txt", "node 4 cannot be reached from node 0"]),
    ("graph of 3 nodes", ["--graph", write("small.txt", "0 1\n1 2\n")], 1, ["small.txt", "at least 4 nodes"]),
    ("missing edge list", ["--graph", s.path("nope.txt")], 1, ["nope.txt", "cannot open"]),
    # distance matrices
    ("asymmetric matrix", ["--distances", bad_matrix("asym.npy", asym())], 1, ["asym.npy", "not symmetric", "[1, 3]"]),
    ("negative distance", ["--distances", bad_matrix("neg.npy", neg())], 1, ["neg.npy", "[0, 2] is negative"]),
    ("NaN distance", ["--distances", bad_matrix("nan.npy", nan())], 1, ["nan.npy", "[3, 4] is not finite"]),
    ("nonzero diagonal", ["--distances", bad_matrix("diag.npy", nonzero_diag())], 1, ["diag.npy", "diagonal"]),
    ("non-square matrix", ["--distances", bad_matrix("rect.npy", np.zeros((4, 5)))], 1,
     ["rect.npy", "shape (4, 5) is not square"]),
    ("1-D array", ["--distances", bad_matrix("vec1.npy", np.zeros(16))], 1, ["vec1.npy", "1 dimension"]),
    ("3-D array", ["--distances", bad_matrix("cube.npy", np.zeros((4, 4, 4)))], 1, ["cube.npy", "3 dimensions"]),
    ("matrix of 3 points", ["--distances", bad_matrix("three.npy", grid_distances(3))], 1, ["three.npy", "at least 4 points"]),
    ("truncated .npy", ["--distances", write("trunc.npy", npy_bytes(GOOD_D)[:-9])], 1,
     ["trunc.npy", "truncated: shape (5, 5) of float64 needs 200 data bytes but the file has 191"]),
    ("truncated header", ["--distances", write("trunch.npy", npy_bytes(GOOD_D)[:40])], 1, ["trunch.npy", "truncated"]),
    ("bytes after the data", ["--distances", write("extra.npy", npy_bytes(GOOD_D) + b"\0" * 8)], 1,
     ["extra.npy", "8 bytes follow the 200 data bytes"]),
    ("int64 .npy", ["--distances", bad_matrix("int.npy", GOOD_D.astype(np.int64))], 1,
     ["int.npy", "unsupported dtype '<i8'", "float32 or float64"]),
    ("big-endian .npy", ["--distances", bad_matrix("be.npy", GOOD_D.astype(">f8"))], 1, ["be.npy", "unsupported dtype '>f8'"]),
    ("float16 .npy", ["--distances", bad_matrix("f16.npy", GOOD_D.astype(np.float16))], 1, ["f16.npy", "unsupported dtype '<f2'"]),
    ("Fortran-order .npy", ["--distances", write("fort.npy", npy_bytes(np.asfortranarray(asym())))], 1,
     ["fort.npy", "fortran_order is True"]),
    ("not a .npy file", ["--distances", GOOD_GRAPH], 1, ["good.txt", "not a .npy file"]),
    ("empty .npy file", ["--distances", write("zero.npy", b"")], 1, ["zero.npy"]),
    ("npy version 9", ["--distances", write("v9.npy", npy_raw("{'descr': '<f8', 'fortran_order': False, 'shape': (4, 4), }",
                                                                 bytes(128), (9, 0)))], 1, ["v9.npy", "version 9.0"]),
    ("npy extra key", ["--distances", write("key.npy", npy_raw("{'descr': '<f8', 'fortran_order': False, 'shape': (4, 4), 'x': 1}",
                                                                  bytes(128)))], 1, ["key.npy", "unexpected key 'x'"]),
    ("npy missing shape", ["--distances", write("noshape.npy", npy_raw("{'descr': '<f8', 'fortran_order': False}", bytes(128)))],
     1, ["noshape.npy", "lacks 'shape'"]),
    ("npy header not a dict", ["--distances", write("nodict.npy", npy_raw("[1, 2]", bytes(128)))], 1, ["nodict.npy", "not a dict"]),
    ("npy bad shape", ["--distances", write("badshape.npy", npy_raw("{'descr': '<f8', 'fortran_order': False, 'shape': (4, x), }",
                                                                       bytes(128)))], 1, ["badshape.npy", "'shape'"]),
    ("npy duplicate key", ["--distances", write("dup.npy", npy_raw(
        "{'descr': '<f8', 'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), }", bytes(128)))], 1,
     ["dup.npy", "unexpected key 'descr'"]),
    ("missing model", [s.path("no-model"), "--sample", 4], 1, ["no-model"]),
]


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def temp_files():
    return [f for f in os.listdir(s.dir) if ".tmp-" in f]


EXISTING = s.path("existing.h5")
s.ok("delta", "--graph", GOOD_GRAPH, "-o", EXISTING)
EXISTING_SHA = sha(EXISTING)


def run_case(args, status, texts):
    def fn():
        for rep in (s.path("fresh-report.h5"), EXISTING):
            r = s.run("delta", *args, "-o", rep)
            if r.code != status:
                raise AssertionError("expected exit %d, got %d; stderr:\n%s" % (status, r.code, r.err))
            for t in texts:
                if t not in r.err:
                    raise AssertionError("expected %r in stderr, got:\n%s" % (t, r.err))
            assert r.out == "", "output on failure: %r" % r.out
            assert not os.path.exists(s.path("fresh-report.h5")), "a report was left behind"
            assert sha(EXISTING) == EXISTING_SHA, "the existing report changed"
            assert not temp_files(), temp_files()
        print("     %s" % r.err.strip().splitlines()[0])
    return fn


def case_missing_output():
    r = s.run("delta", "--graph", GOOD_GRAPH)
    assert r.code == 2 and "-o REPORT is required" in r.err, (r.code, r.err)


def case_report_not_hdf5():
    p = write("notreport.h5", "not an HDF5 file\n")
    r = s.run("delta", "--graph", GOOD_GRAPH, "-o", p)
    assert r.code == 1 and "notreport.h5" in r.err, (r.code, r.err)
    with open(p) as f:
        assert f.read() == "not an HDF5 file\n"
    assert not temp_files(), temp_files()


s.check("missing -o: usage error", case_missing_output)
s.check("a report that is not HDF5 is refused and left as it was", case_report_not_hdf5)
for label, args, status, texts in CASES:
    s.check("%s: exit %d" % (label, status), run_case(args, status, texts))
s.done()
