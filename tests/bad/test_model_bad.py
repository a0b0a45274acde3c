"""Malformed safetensors files, configs, shard indexes and command lines: each must give
its own clear message and exit status (1 for bad input, 2 for usage), never a crash or a
sanitizer report."""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import st_writer  # noqa: E402
from harness import Suite, expect_error  # noqa: E402

s = Suite()
GOOD = [("w", "F32", [2, 3], bytes(24))]


def st_file(name, raw=None, tensors=GOOD, **kw):
    path = s.path(name + ".safetensors")
    if raw is not None:
        with open(path, "wb") as f:
            f.write(raw)
    else:
        st_writer.write(path, tensors, **kw)
    return path


def header_only(name, header, data=b""):
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return st_file(name, raw=struct.pack("<Q", len(text)) + text + data)


CASES = [
    ("empty file", lambda: st_file("empty", raw=b""), "truncated: 0 bytes"),
    ("truncated length", lambda: st_file("short", raw=b"\x10\x00\x00"), "truncated: 3 bytes"),
    ("header past EOF", lambda: st_file("past", raw=struct.pack("<Q", 1000) + b"{}"),
     "header length 1000 runs past the end of the file"),
    ("huge header length", lambda: st_file("huge", raw=struct.pack("<Q", 1 << 40) + b"{}"),
     "over the 100 MB limit"),
    ("invalid JSON", lambda: header_only("badjson", b'{"w": {"dtype": "F32",'), "header is not valid JSON"),
    ("header an array", lambda: header_only("array", b"[1, 2]"), "header must be a JSON object"),
    ("garbage after JSON", lambda: header_only("garbage", b'{} xyz'), "unexpected bytes after the header"),
    ("entry not an object", lambda: header_only("entry", {"w": 5}), 'header entry "w": expected an object'),
    ("missing dtype", lambda: header_only("nodtype", {"w": {"shape": [1], "data_offsets": [0, 4]}}, bytes(4)),
     'field "dtype" missing'),
    ("unknown dtype", lambda: header_only("unk", {"w": {"dtype": "F12", "shape": [1], "data_offsets": [0, 4]}}, bytes(4)),
     'unknown dtype "F12"'),
    ("negative dim", lambda: header_only("neg", {"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4)),
     "shape[0] is not a non-negative integer"),
    ("fractional dim", lambda: header_only("frac", {"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}, bytes(4)),
     "shape[0] is not a non-negative integer"),
    ("offsets one number", lambda: header_only("off1", {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, bytes(4)),
     "data_offsets\" must be an array [begin, end]"),
    ("offsets out of range", lambda: header_only("oor", {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(8)),
     "data_offsets [0, 16] outside the 8 data bytes"),
    ("offsets reversed", lambda: header_only("rev", {"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, bytes(8)),
     "data_offsets [4, 0] outside"),
    ("shape x dtype mismatch", lambda: header_only("mism", {"w": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 8]}}, bytes(8)),
     "8 bytes in data_offsets but dtype BF16 x shape needs 6"),
    ("overlap", lambda: header_only("ovl", {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                             "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)),
     "overlap in the data section"),
    ("overlap behind an empty tensor", lambda: header_only("ovl0", {
        "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
        "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}, bytes(16)),
     'tensors "a" and "b" overlap'),
    ("duplicate name", lambda: header_only("dup", b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},'
                                                 b' "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', bytes(8)),
     'tensor "a" appears twice'),
    ("non-UTF-8 name", lambda: header_only("utf", b'{"\xff\xfe": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', bytes(4)),
     "header is not valid UTF-8 (byte 2 of the header)"),
    ("overlong UTF-8", lambda: header_only("overlong", b'{"\xc0\xaf": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', bytes(4)),
     "not valid UTF-8"),
    ("metadata not strings", lambda: st_file("meta", metadata={"format": 1}), '"__metadata__"."format" must be a string'),
    ("data truncated", lambda: header_only("trunc", {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(10)),
     "outside the 10 data bytes"),
    ("huge shape", lambda: header_only("hshape", {"w": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 4]}}, bytes(4)),
     'tensor "w": shape overflows'),
    ("too many dims", lambda: header_only("dims", {"w": {"dtype": "F32", "shape": [1] * 9, "data_offsets": [0, 4]}}, bytes(4)),
     "9 dimensions, at most 8"),
]


def hf_dir(name, config=None, index=None, files=()):
    d = s.path(name)
    os.makedirs(d)
    if config is not None:
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(config if isinstance(config, str) else json.dumps(config))
    if index is not None:
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump(index, f)
    for fname in files:
        st_writer.write(os.path.join(d, fname), GOOD)
    return d


CFG = {"model_type": "llama", "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
       "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 10}


def plain_file(name, data):
    with open(s.path(name), "wb") as f:
        f.write(data)
    return s.path(name)


def two_shards(name):
    d = hf_dir(name, CFG, {"weight_map": {"w": "a.safetensors", "y": "b.safetensors"}}, files=["a.safetensors"])
    st_writer.write(os.path.join(d, "b.safetensors"), GOOD + [("y", "F32", [1], bytes(4))])
    return d


def without(key):
    c = dict(CFG)
    del c[key]
    return c


DIR_CASES = [
    ("config missing hidden_size", lambda: hf_dir("c1", without("hidden_size"), files=["model.safetensors"]),
     'config.json: field "hidden_size" is missing'),
    ("config missing vocab_size", lambda: hf_dir("c2", without("vocab_size"), files=["model.safetensors"]),
     'field "vocab_size" is missing'),
    ("config invalid JSON", lambda: hf_dir("c3", '{"model_type": ', files=["model.safetensors"]),
     "config.json: not valid JSON"),
    ("config wrong type", lambda: hf_dir("c4", dict(CFG, num_hidden_layers="two"), files=["model.safetensors"]),
     'field "num_hidden_layers" must be a non-negative integer'),
    ("config heads not grouped", lambda: hf_dir("c5", dict(CFG, num_key_value_heads=3), files=["model.safetensors"]),
     "num_attention_heads (2) is not a multiple of num_key_value_heads (3)"),
    ("config odd head_dim", lambda: hf_dir("c6", dict(CFG, head_dim=3), files=["model.safetensors"]),
     "head_dim 3 is odd"),
    ("config unknown rope scaling", lambda: hf_dir("c7", dict(CFG, rope_scaling={"rope_type": "yarn", "factor": 4.0}),
                                                   files=["model.safetensors"]),
     'rope_scaling type "yarn" is not supported'),
    ("config llama3 scaling incomplete", lambda: hf_dir("c8", dict(CFG, rope_scaling={"rope_type": "llama3", "factor": 8.0}),
                                                        files=["model.safetensors"]),
     'field "low_freq_factor" is missing'),
    ("no weights", lambda: hf_dir("c9", CFG), "no model.safetensors or model.safetensors.index.json"),
    ("index names a missing shard", lambda: hf_dir("i1", CFG, {"weight_map": {"w": "model-00002-of-00002.safetensors"}}),
     "model-00002-of-00002.safetensors: cannot open"),
    ("index tensor not in shard", lambda: hf_dir("i2", CFG, {"weight_map": {"w": "a.safetensors", "v": "a.safetensors"}},
                                                 files=["a.safetensors"]),
     'weight_map puts tensor "v" in a.safetensors, which does not hold it'),
    ("index path traversal", lambda: hf_dir("i3", CFG, {"weight_map": {"w": "../a.safetensors"}}),
     'weight_map entry "w" must name a file in the same directory'),
    ("index without weight_map", lambda: hf_dir("i4", CFG, {"metadata": {}}), 'field "weight_map" missing'),
    ("tensor in two shards", lambda: two_shards("i5"), 'tensor "w" is in both'),
    ("no such path", lambda: s.path("nothing"), "no such file or directory"),
    ("not a model", lambda: plain_file("x.bin", b"hello"), "neither a model (Hugging Face directory, .safetensors, GGUF) nor word vectors"),
]


def case(make, message):
    def run():
        expect_error(s, ["info", make()], message)
    return run


for name, make, message in CASES + DIR_CASES:
    s.check(name, case(make, message))


def usage_cases():
    r = s.run()
    assert r.code == 2 and "Commands:" in r.out, (r.code, r.out)
    expect_error(s, ["frobnicate"], "'frobnicate' is not a command", status=2)
    expect_error(s, ["info"], "expected exactly one PATH", status=2)
    expect_error(s, ["--threads", "0", "info", "x"], "--threads expects an integer from 1", status=2)
    expect_error(s, ["tensor", "x", "y"], "-o OUT.npy is required", status=2)
    expect_error(s, ["make-model"], "-o DIR is required", status=2)
    expect_error(s, ["make-model", "-o", s.path("m"), "--dtype", "q4"], "--dtype expects bf16, f16 or f32", status=2)
    expect_error(s, ["make-model", "-o", s.path("m"), "--hidden", "30", "--heads", "4"], "--heads must divide", status=2)
    top = s.ok("--help").out
    assert "Commands:" in top
    # Every command the top-level help lists has its own help with an example.
    commands = [line.split()[0] for line in top.split("Commands:")[1].split("\n\n")[0].splitlines() if line.strip()]
    assert {"info", "tensor", "make-model", "generate", "loss"} <= set(commands), commands
    for cmd in commands:
        r = s.ok(cmd, "--help")
        assert "Example" in r.out and "usage: hyplora " + cmd in r.out, (cmd, r.out)
    assert s.ok("--version").out.startswith("hyplora ")


def tensor_errors():
    path = st_file("good")
    expect_error(s, ["tensor", path, "nope", "-o", s.path("o.npy")], 'no tensor named "nope"')
    expect_error(s, ["tensor", path, "w", "-o", s.path("o.npy"), "--rows", "1:9"], "--rows expects A:B", status=2)
    expect_error(s, ["tensor", path, "w", "-o", s.path("no-such-dir", "o.npy")], "cannot create a temporary file")
    i8 = st_file("i8", tensors=[("w", "I8", [4], bytes(4))])
    expect_error(s, ["tensor", i8, "w", "-o", s.path("o.npy")], "has type I8, which cannot be converted")
    assert not [f for f in os.listdir(s.dir) if ".tmp-" in f], "temporary file left behind"


s.check("usage errors exit 2, --help has examples", usage_cases)
s.check("tensor command errors", tensor_errors)
s.done()
