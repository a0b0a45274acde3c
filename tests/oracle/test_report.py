"""Oracle test of the HDF5 report layer: reports written by the C library (through the
tests' report_writer program) are read back with h5py and h5dump, which share no code
with the writer beyond libhdf5 itself.

Checks: every dataset has a definition and the values round-trip; h5dump reads the
file; writing group B after A keeps A with its attributes and merges the root inputs;
a write killed just before the rename (HYPLORA_FAULT=before-rename) leaves the previous
report intact and at most a stray temporary file that does not disturb the next run; a
group rewritten 20 times does not make the file grow; a file that is not HDF5 is left
untouched.

Usage: /usr/bin/python3 test_report.py REPORT_WRITER
"""
import hashlib
import os
import signal
import subprocess
import sys
import tempfile

import h5py
import numpy as np

WRITER = os.path.abspath(sys.argv[1])
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, file=sys.stderr)


def run(args, env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([WRITER] + args, env=env, capture_output=True, text=True)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def strs(attr):
    """A string array attribute as a list of str (h5py gives an object array)."""
    return [s.decode() if isinstance(s, bytes) else s for s in np.atleast_1d(attr)]


def temp_files(d):
    return [n for n in os.listdir(d) if ".tmp-" in n]


def test_roundtrip(d, rep, inp1):
    p = run([rep, "freq", "--input", inp1, "f64:alpha_values=1.5,2.25,-3e300",
             "f32:weights=0.5,-1", "i64:counts=1,2,40000000000", "str:tokens=the,ünï,x",
             "attr:method=discrete mle"])
    check(p.returncode == 0, "writing /freq: " + p.stderr)
    with h5py.File(rep, "r") as f:
        g = f["freq"]
        names = []
        g.visit(names.append)
        for n in names:
            if isinstance(g[n], h5py.Dataset):
                check("definition" in g[n].attrs, "/freq/%s has no definition" % n)
                check(isinstance(g[n].attrs["definition"], str), "definition is not str")
        check(np.array_equal(g["alpha_values"][()], [1.5, 2.25, -3e300]), "f64 values")
        check(g["alpha_values"].dtype == np.float64, "f64 dtype")
        check(g["alpha_values"].attrs["units"] == "test_units", "units")
        check(np.array_equal(g["weights"][()], np.array([0.5, -1], np.float32)), "f32 values")
        check(g["weights"].dtype == np.float32, "f32 dtype")
        check(g["counts"].dtype == np.int64 and list(g["counts"][()]) == [1, 2, 40000000000],
              "i64 values")
        check(list(g["tokens"].asstr()[()]) == ["the", "ünï", "x"], "strings")
        check(h5py.check_string_dtype(g["tokens"].dtype).encoding == "utf-8", "UTF-8 strings")
        check(g.attrs["method"] == "discrete mle", "string attribute")
        for a in ("command_line", "tool_version", "created_utc"):
            check(isinstance(g.attrs[a], str), "/freq attribute %s" % a)
        check(g.attrs["tool_version"] == "0.0.0-test", "group tool_version")
        check(strs(g.attrs["input_files"]) == [os.path.realpath(inp1)], "group input_files")
        check(strs(g.attrs["input_sha256"]) == [sha256(inp1)], "group input_sha256")
        for a in ("tool_version", "created_utc", "updated_utc", "command_line"):
            check(isinstance(f.attrs[a], str), "root attribute %s" % a)
        check(f.attrs["created_utc"].endswith("Z") and "T" in f.attrs["created_utc"],
              "created_utc is ISO 8601 UTC")
        check(WRITER in f.attrs["command_line"] and "freq" in f.attrs["command_line"],
              "root command_line: " + f.attrs["command_line"])
    p = subprocess.run(["h5dump", rep], capture_output=True, text=True)
    check(p.returncode == 0, "h5dump: " + p.stderr)
    check("alpha_values" in p.stdout, "h5dump shows the datasets")


def test_second_group(d, rep, inp1, inp2):
    with h5py.File(rep, "r") as f:
        before = {k: v for k, v in f["freq"].attrs.items()}
        created = f.attrs["created_utc"]
    p = run([rep, "norms", "--input", inp2, "--input", inp1, "f64:norm=3,4"])
    check(p.returncode == 0, "writing /norms: " + p.stderr)
    with h5py.File(rep, "r") as f:
        check(set(f.keys()) == {"freq", "norms"}, "groups: %s" % list(f.keys()))
        after = {k: v for k, v in f["freq"].attrs.items()}
        check(before.keys() == after.keys(), "/freq attributes changed")
        for k in before:
            check(np.array_equal(np.atleast_1d(before[k]), np.atleast_1d(after[k])),
                  "/freq attribute %s changed" % k)
        check(np.array_equal(f["freq/alpha_values"][()], [1.5, 2.25, -3e300]), "/freq kept")
        check("norms" in f.attrs["command_line"], "root command_line is the latest")
        check(f.attrs["created_utc"] == created, "root created_utc kept")
        files = strs(f.attrs["input_files"])
        sums = strs(f.attrs["input_sha256"])
        want = [os.path.realpath(inp1), os.path.realpath(inp2)]
        check(sorted(files) == sorted(want), "root inputs merged: %s" % files)
        check(len(files) == len(sums), "input_files and input_sha256 lengths")
        for fn, s in zip(files, sums):
            check(s == sha256(fn), "root sha256 of %s" % fn)
    check(temp_files(d) == [], "temporary files left: %s" % temp_files(d))


def test_interrupted(d, rep):
    with open(rep, "rb") as f:
        old = f.read()
    p = run([rep, "freq", "f64:alpha_values=9"], {"HYPLORA_FAULT": "before-rename"})
    check(p.returncode == -signal.SIGKILL, "the faulted writer exit %d" % p.returncode)
    with open(rep, "rb") as f:
        check(f.read() == old, "the report changed after an interrupted write")
    with h5py.File(rep, "r") as f:
        check(np.array_equal(f["freq/alpha_values"][()], [1.5, 2.25, -3e300]),
              "old content after the interrupted write")
    check(len(temp_files(d)) <= 1, "temporary files after the kill: %s" % temp_files(d))
    stray = temp_files(d)
    p = run([rep, "freq", "f64:alpha_values=7,8"])
    check(p.returncode == 0, "the run after the interrupted one: " + p.stderr)
    with h5py.File(rep, "r") as f:
        check(list(f["freq/alpha_values"][()]) == [7, 8], "new content after recovery")
        check("norms" in f, "/norms kept after recovery")
    check(temp_files(d) == stray, "the next run changed the temporary files")
    for n in stray:
        os.unlink(os.path.join(d, n))


def test_no_growth(d, rep):
    big = ",".join(str(i) for i in range(2000))
    sizes = []
    for _ in range(20):
        p = run([rep, "delta", "f64:values=" + big, "str:labels=a,b,c", "attr:note=x"])
        check(p.returncode == 0, "rewrite of /delta: " + p.stderr)
        sizes.append(os.path.getsize(rep))
    check(max(sizes) - sizes[0] <= 4096, "the report grew: %s" % sizes)
    with h5py.File(rep, "r") as f:
        check(set(f.keys()) == {"freq", "norms", "delta"}, "groups after rewrites")


def test_not_hdf5(d):
    path = os.path.join(d, "notes.txt")
    with open(path, "w") as f:
        f.write("keep me\n")
    p = run([path, "freq", "f64:x=1"])
    check(p.returncode == 1, "a text file accepted as a report")
    check("not an HDF5 file" in p.stderr and path in p.stderr, "message: " + p.stderr)
    with open(path) as f:
        check(f.read() == "keep me\n", "the text file was changed")
    check(temp_files(d) == [], "temporary files after a refusal")


def main():
    with tempfile.TemporaryDirectory(prefix="hyplora-report-oracle-") as d:
        rep = os.path.join(d, "report.h5")
        inp1 = os.path.join(d, "corpus.txt")
        inp2 = os.path.join(d, "model.bin")
        with open(inp1, "w") as f:
            f.write("some corpus text\n")
        with open(inp2, "wb") as f:
            f.write(os.urandom(100000))
        test_roundtrip(d, rep, inp1)
        test_second_group(d, rep, inp1, inp2)
        test_interrupted(d, rep)
        test_no_growth(d, rep)
        test_not_hdf5(d)
    if failures:
        print("%d check(s) failed" % failures, file=sys.stderr)
        sys.exit(1)
    print("report oracle: all checks passed")


main()
