"""`hyplora info MODEL -o REPORT` as h5py and h5dump see it: group /model matches
`info --json`, input checksums match hashlib, other groups survive, and a run killed before
the rename leaves the previous report as it was."""
import hashlib
import json
import os
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Suite  # noqa: E402

s = Suite()
model = s.path("m")
s.ok("make-model", "-o", model, "--hidden", "32", "--heads", "4", "--kv-heads", "2", "--vocab", "500",
     "--shards", "2", "--no-tokenizer")
report = s.path("r.h5")


def text(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def model_group():
    j = json.loads(s.ok("info", "--json", model).out)
    s.ok("info", model, "-o", report)
    with h5py.File(report, "r") as f:
        g = f["model"]
        assert g.attrs["architecture"] == "LlamaForCausalLM" and g.attrs["n_parameters"] == j["n_parameters"]
        assert g.attrs["vocab_size"] == 500 and g.attrs["n_layers"] == 2
        assert [text(x) for x in g["tensor_names"][()]] == [t["name"] for t in j["tensors"]]
        assert [text(x) for x in g["tensor_shapes"][()]] == [str(t["shape"]) for t in j["tensors"]]
        assert np.array_equal(g["tensor_bytes"][()], [t["bytes"] for t in j["tensors"]])
        for name in ("tensor_names", "tensor_dtypes", "tensor_shapes", "tensor_bytes"):
            assert g[name].attrs["definition"], name
        assert g["tensor_bytes"].attrs["units"] == "bytes"
        files = [text(x) for x in f.attrs["input_files"]]
        sums = [text(x) for x in f.attrs["input_sha256"]]
        assert len(files) == 3, files  # two shards and config.json
        for path, digest in zip(files, sums):
            assert hashlib.sha256(open(path, "rb").read()).hexdigest() == digest, path
        assert "info" in text(f.attrs["command_line"])
    subprocess.run(["h5dump", "-H", report], check=True, capture_output=True)


def keeps_other_groups():
    with h5py.File(report, "a") as f:
        f.create_dataset("other/values", data=np.arange(5.0))
    s.ok("info", model, "-o", report)
    with h5py.File(report, "r") as f:
        assert np.array_equal(f["other/values"][()], np.arange(5.0))
        assert "model" in f


def interrupted_write_keeps_old():
    before = open(report, "rb").read()
    r = s.run("info", model, "-o", report, env={"HYPLORA_FAULT": "before-rename"})
    assert r.code == -9, r.code  # killed by SIGKILL where a crash would hurt most
    assert open(report, "rb").read() == before
    with h5py.File(report, "r") as f:
        assert "model" in f and "other" in f
    for name in os.listdir(s.dir):
        if ".tmp-" in name:
            os.unlink(s.path(name))


def report_errors():
    bad = s.path("not.h5")
    with open(bad, "w") as f:
        f.write("hello")
    r = s.run("info", model, "-o", bad)
    assert r.code == 1 and "not.h5" in r.err and "HDF5" in r.err, r.err
    assert open(bad).read() == "hello"


def vectors_info():
    path = s.path("v.txt")
    with open(path, "w") as f:
        f.write("the 0.1 0.2 0.3\nof -1 2 3.5\ncaf\u00e9 0 0 1\n")
    j = json.loads(s.ok("info", "--json", path).out)
    assert (j["format"], j["n_words"], j["dim"], j["first_words"]) == ("glove", 3, 3, ["the", "of", "caf\u00e9"]), j
    rep = s.path("v.h5")
    s.ok("info", path, "-o", rep)
    with h5py.File(rep, "r") as f:
        assert f["model"].attrs["n_words"] == 3 and f["model"].attrs["format"] == "glove"
    npy = s.path("v.npy")
    np.save(npy, np.eye(2, dtype=np.float32))
    with open(s.path("v.vocab"), "w") as f:
        f.write("a\nb\n")
    j = json.loads(s.ok("info", "--json", npy, "--vocab", s.path("v.vocab")).out)
    assert (j["format"], j["n_words"], j["dim"]) == ("npy", 2, 2), j


s.check("word vectors: info --json and -o", vectors_info)
s.check("/model matches info --json, checksums match hashlib", model_group)
s.check("updating /model keeps other groups", keeps_other_groups)
s.check("killed before rename: old report intact", interrupted_write_keeps_old)
s.check("a non-HDF5 report file is refused and untouched", report_errors)
s.done()
