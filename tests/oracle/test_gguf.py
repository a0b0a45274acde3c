#!/usr/bin/python3
"""GGUF oracle test: tiny Llama and Qwen2 files from the independent writer
(gguf_writer.py) must read back as the writer meant them.

    test_gguf.py TEST_GGUF_EXE [HYPLORA_EXE]

TEST_GGUF_EXE is tests/unit/test_gguf (its `info` and `tensor` modes print what the
library's reader saw); HYPLORA_EXE, when given, is also checked through
`hyplora info --json` and `hyplora tensor -o out.npy` (the model handle's path, including
tensor.c's row un-permutation). Values must match exactly: F32/F16/BF16 widen exactly, and
Q8_0/Q4_0 dequantise to f16(d) * q in float32 on both sides.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import gguf_writer as gw  # noqa: E402

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, encoding="utf-8", errors="replace", timeout=120)
    for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        check(bad not in p.stderr, "%s: sanitizer report: %s" % (cmd, p.stderr[-2000:]))
    return p


def same_bits(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and \
        np.array_equal(a.view(np.uint32), b.view(np.uint32))


def same(a, b):
    """Equality, but floats to 14 digits: cJSON prints doubles with 15 significant
    digits when they read back within its own tolerance."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            math.isclose(a, b, rel_tol=1e-14, abs_tol=0)
    return a == b and type(a) is type(b)


def check_driver(exe, path, meta, tmp):
    p = run([exe, "info", path])
    check(p.returncode == 0, "info %s exited %d: %s" % (path, p.returncode, p.stderr))
    if p.returncode != 0:
        return
    info = json.loads(p.stdout)
    check(info["version"] == 3, "version %r" % info["version"])
    check(info["alignment"] == meta["alignment"], "alignment %r" % info["alignment"])
    check(info["data_start"] % meta["alignment"] == 0, "data_start not aligned")
    check(info["architecture"] == meta["architecture"], "architecture %r" % info["architecture"])

    # every KV, by value and type, as the writer wrote it
    want = {k: (t, v) for k, t, v in gw.model_kvs(meta["architecture"])}
    if meta["alignment"] != 32:
        want["general.alignment"] = (gw.U32, meta["alignment"])
    names = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string",
             "array", "uint64", "int64", "float64"]

    def plain(t, v):
        if t == gw.ARR:
            et, items = v
            return [plain(et, x) for x in items]
        if t == gw.F32:
            return float(np.float32(v))
        if t in (gw.U64, gw.I64) and abs(v) > 2 ** 53:
            return str(v)
        return v

    check(set(info["kvs"]) == set(want), "KV keys differ: %s" % (set(info["kvs"]) ^ set(want)))
    for k, (t, v) in want.items():
        got = info["kvs"].get(k)
        check(info["kv_types"].get(k) == names[t], "KV %s type %r" % (k, info["kv_types"].get(k)))
        check(same(got, plain(t, v)), "KV %s = %r, expected %r" % (k, got, plain(t, v)))

    # tensors: names mapped, shapes outermost-first, offsets aligned, permutation marked
    tensors = {t["name"]: t for t in info["tensors"]}
    check(set(tensors) == set(meta["tensors"]),
          "tensor names differ: %s" % (set(tensors) ^ set(meta["tensors"])))
    for name, e in meta["tensors"].items():
        t = tensors.get(name)
        if not t:
            continue
        check(t["gguf_name"] == e["gguf_name"], "%s gguf name %r" % (name, t["gguf_name"]))
        check(t["dtype"] == e["dtype"], "%s dtype %r" % (name, t["dtype"]))
        check(t["shape"] == e["shape"], "%s shape %r" % (name, t["shape"]))
        check(t["offset"] % meta["alignment"] == 0, "%s offset %d unaligned" % (name, t["offset"]))
        check(t["permute_heads"] == e["permute_heads"], "%s permute_heads %r" % (name, t["permute_heads"]))
        out = os.path.join(tmp, "t.f32")
        p = run([exe, "tensor", path, name, out])
        check(p.returncode == 0, "tensor %s: %s" % (name, p.stderr))
        if p.returncode == 0:
            got = np.fromfile(out, dtype="<f4").reshape(e["shape"])
            exp = np.load(os.path.join(os.path.dirname(path), "expected", name + ".npy"))
            check(same_bits(got, exp), "%s (%s) values differ: max |d| %g" %
                  (name, e["dtype"], float(np.abs(got - exp).max())))

    # config
    for k, v in meta["config"].items():
        got = info["config"].get(k)
        ok = math.isclose(got, v, rel_tol=1e-12) if isinstance(v, float) else got == v
        check(ok, "config %s = %r, expected %r" % (k, got, v))
    check(info["config"]["forward_supported"] is True, "forward_supported")


HF_CONFIG_NAMES = {"n_layers": "num_hidden_layers", "n_heads": "num_attention_heads",
                   "n_kv_heads": "num_key_value_heads"}


def check_cli(exe, path, meta, tmp):
    p = run([exe, "info", "--json", path])
    check(p.returncode == 0, "hyplora info %s exited %d: %s" % (path, p.returncode, p.stderr))
    if p.returncode == 0:
        info = json.loads(p.stdout)
        check(info.get("format") == "gguf", "format %r" % info.get("format"))
        cfg = info.get("config") or {}
        for k, v in meta["config"].items():
            got = cfg.get(HF_CONFIG_NAMES.get(k, k))
            ok = got is not None and (math.isclose(got, v, rel_tol=1e-12) if isinstance(v, float)
                                      else got == v)
            check(ok, "hyplora info config %s = %r, expected %r" % (k, got, v))
        tensors = {t["name"]: t for t in info.get("tensors", [])}
        check(set(tensors) == set(meta["tensors"]), "hyplora info tensor names differ: %s" %
              (set(tensors) ^ set(meta["tensors"])))
        for name, e in meta["tensors"].items():
            t = tensors.get(name, {})
            check(t.get("shape") == e["shape"] and t.get("dtype") == e["dtype"],
                  "hyplora info %s: %r" % (name, t))
    for name, e in meta["tensors"].items():
        out = os.path.join(tmp, "t.npy")
        if os.path.exists(out):
            os.unlink(out)
        p = run([exe, "tensor", path, name, "-o", out])
        check(p.returncode == 0, "hyplora tensor %s: %s" % (name, p.stderr))
        if p.returncode != 0:
            continue
        got = np.load(out)
        exp = np.load(os.path.join(os.path.dirname(path), "expected", name + ".npy"))
        check(same_bits(got.astype(np.float32).reshape(exp.shape), exp) and got.shape == exp.shape,
              "hyplora tensor %s (%s): values differ (shape %s)" % (name, e["dtype"], got.shape))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    driver = sys.argv[1]
    cli = sys.argv[2] if len(sys.argv) > 2 else None
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ("llama", "qwen2"):
            d = os.path.join(tmp, arch)
            path = gw.write_model(d, arch, seed=1 if arch == "llama" else 2)
            with open(os.path.join(d, "expected.json")) as f:
                meta = json.load(f)
            n = len(FAILS)
            check_driver(driver, path, meta, tmp)
            if cli:
                check_cli(cli, path, meta, tmp)
            print("%s: %d tensors, %s" % (arch, len(meta["tensors"]),
                                          "ok" if len(FAILS) == n else "FAILED"))
    print("%d passed, %d failed" % (0 if FAILS else 1, 1 if FAILS else 0))
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
