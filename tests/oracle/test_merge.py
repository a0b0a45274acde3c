#!/usr/bin/python3
"""Merge oracle: `hyplora merge MODEL ADAPTER -o DIR` against W + scaling * B @ A computed
here with numpy in float64 from the adapter's own files (tests/lib/peft.py writes them with
random non-zero A and B), rounded once to the stored dtype by code written in this file.

    test_merge.py HYPLORA_EXE

Checks: an F32 model (make-model, hidden 64, 2 layers, the LLaMA-2 tokenizer, sharpened as
test_loss.py does) with LoRA on every module of one layer and five of the other: merged
tensors within 1e-6 relative, every other tensor bit-identical, the side files copied, and
`hyplora loss` of the merged model equal to `hyplora loss MODEL --adapter` within 1e-5
(mean and every item); BF16 (two shards and an index) and F16 models: merged tensors equal
to the correctly rounded reference bit for bit, dtypes and names kept; use_rslora scales by
alpha / sqrt(r); refusals (HypLoRA modules, another model's shape, DIR the model's own
directory or not empty, a missing adapter, GGUF input, -o missing) exit non-zero and leave
no DIR behind.
"""
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import numpy as np  # noqa: E402
try:
    import torch  # noqa: E402,F401  (tests/lib/peft.py needs it)
except ImportError:  # a clear failure, not a skip: this is the merge's only oracle
    sys.exit("test_merge.py: PyTorch is missing: apt-get install python3-torch (Debian's, for /usr/bin/python3)")

import harness  # noqa: E402
from checkpoints import edit_json, make_model, rewrite, sharpen  # noqa: E402
import peft  # noqa: E402
import st_writer  # noqa: E402
from torch_hyplora import MODULES  # noqa: E402

suite = harness.Suite()
HYPLORA = suite.exe
SMALL = ("--hidden", 64, "--layers", 2)
SIDE = ("config.json", "tokenizer.json", "tokenizer_config.json")
PLAN = ([(0, m, "lora") for m in MODULES]
        + [(1, m, "lora") for m in ("q_proj", "k_proj", "v_proj", "up_proj", "down_proj")])
ITEMS = [
    {"instruction": "Add 3 and 4.", "output": "3 + 4 = 7."},
    {"instruction": "Translate to French.", "input": "The cat sleeps.", "output": "Le chat dort."},
    {"instruction": "Répondez : combien font 2×3 ?", "output": "2×3 = 6 ✓"},
    {"instruction": "Count to twenty.", "output": " ".join(str(i) for i in range(1, 21))},
]


def model(name, *args, sharp=True):
    d = make_model(suite, HYPLORA, name, *SMALL, *args)
    if sharp:  # far from uniform, so the losses depend on every weight
        rng = np.random.default_rng(3)
        rewrite(d, lambda t: sharpen(t, rng, qk_scale=8.0, vo_scale=6.0, out_scale=12.0, sort_names=True))
    return d


def config(d):
    with open(os.path.join(d, "config.json")) as f:
        return json.load(f)


def adapter(name, model_dir, plan, seed, hyplora=None, rslora=False):
    d = suite.path(name)
    peft.write(d, config(model_dir), plan, np.random.default_rng(seed), hyplora, model_dir)
    if rslora:
        edit_json(os.path.join(d, "adapter_config.json"), lambda c: c.update(use_rslora=True))
    return d


def read_dir(d):
    """{name: (dtype, shape, raw bytes, float64 values)} over every shard of d."""
    out = {}
    for path in sorted(glob.glob(os.path.join(d, "*.safetensors"))):
        header, values, start = st_writer.read(path)
        with open(path, "rb") as f:
            blob = f.read()
        for name, e in header.items():
            if name != "__metadata__":
                b, end = e["data_offsets"]
                out[name] = (e["dtype"], tuple(e["shape"]), blob[start + b:start + end],
                             np.asarray(values[name], dtype=np.float64))
    return out


def reference(d, plan, scaling):
    """name -> W + scaling * B @ A in float64, A and B read back from the adapter d."""
    _, t, _ = st_writer.read(os.path.join(d, "adapter_model.safetensors"))
    ref = {}
    for layer, m, _ in plan:
        part = "self_attn" if m in MODULES[:4] else "mlp"
        pre = "base_model.model.model.layers.%d.%s.%s." % (layer, part, m)
        ref["model.layers.%d.%s.%s.weight" % (layer, part, m)] = scaling * (
            t[pre + "lora_B.weight"].astype(np.float64) @ t[pre + "lora_A.weight"].astype(np.float64))
    return ref


def round_bits(x, dtype):
    """float64 -> the stored bits of dtype, rounded to nearest even straight from float64
    (no float32 step, which would round twice)."""
    if dtype == "F32":
        return x.astype("<f4").tobytes()
    if dtype == "F16":
        return x.astype("<f2").tobytes()  # numpy converts float64 to half directly
    assert dtype == "BF16"
    u = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
    drop = 52 - 7  # float64's mantissa bits beyond bfloat16's
    u = ((u + np.uint64((1 << (drop - 1)) - 1) + ((u >> np.uint64(drop)) & np.uint64(1)))
         >> np.uint64(drop)) << np.uint64(drop)
    f = u.view(np.float64).astype(np.float32)  # exact: 8 significant bits, normal range
    bits = f.view(np.uint32)
    assert not (bits & 0xFFFF).any()
    return (bits >> 16).astype("<u2").tobytes()


def merge(model_dir, adapter_dir, name):
    out = suite.path(name)
    suite.ok("merge", model_dir, adapter_dir, "-o", out)
    return out


def check_merged(model_dir, out, ref, exact):
    """Merged tensors against ref (bit-exact, or within 1e-6 relative for F32), every other
    tensor bit-identical, the same names, dtypes and files. Returns the worst relative error."""
    before, after = read_dir(model_dir), read_dir(out)
    assert sorted(before) == sorted(after), set(before) ^ set(after)
    assert sorted(map(os.path.basename, glob.glob(os.path.join(model_dir, "*.safetensors")))) == \
        sorted(map(os.path.basename, glob.glob(os.path.join(out, "*.safetensors"))))
    worst = 0.0
    for name, (dtype, shape, raw, w) in before.items():
        dt, sh, got_raw, got = after[name]
        assert (dt, sh) == (dtype, shape), (name, dt, sh, dtype, shape)
        if name not in ref:
            assert got_raw == raw, "%s changed" % name
            continue
        want = w + ref[name]
        if exact:
            bits = round_bits(want, dtype)
            a = np.frombuffer(got_raw, np.uint16)
            b = np.frombuffer(bits, np.uint16)
            assert got_raw == bits, "%s: %d of %d elements differ from the reference" % (
                name, int((a != b).sum()), a.size)
        err = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
        assert dtype != "F32" or err < 1e-6, "%s: relative error %.3g" % (name, err)
        assert got_raw != raw, "%s did not change" % name
        worst = max(worst, err)
    return worst


def loss(model_dir, *args):
    path = suite.path("items.json")
    if not os.path.exists(path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(ITEMS, f, ensure_ascii=False)
    r = suite.ok("loss", model_dir, path, "--json", *args)
    return json.loads(r.out)


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def case_f32():
    m = model("f32", "--dtype", "f32", "--seed", 11)
    a = adapter("f32-lora", m, PLAN, 1)
    out = merge(m, a, "f32-merged")
    worst = check_merged(m, out, reference(a, PLAN, 16 / 4), exact=False)
    for f in SIDE:
        with open(os.path.join(m, f), "rb") as x, open(os.path.join(out, f), "rb") as y:
            assert x.read() == y.read(), f
    assert not glob.glob(suite.path("f32-merged.tmp-*")), "staging directory left behind"
    got, want, base = loss(out), loss(m, "--adapter", a), loss(m)
    assert rel(got["mean_loss"], want["mean_loss"]) < 1e-5, (got["mean_loss"], want["mean_loss"])
    assert abs(base["mean_loss"] - want["mean_loss"]) > 1e-3, "the adapter changed nothing"
    items = 0.0
    for g, w in zip(got["items"], want["items"]):
        assert g["n_tokens"] == w["n_tokens"] and rel(g["loss"], w["loss"]) < 1e-5, (g, w)
        items = max(items, rel(g["loss"], w["loss"]))
    print("     F32: worst tensor relative error %.2g; loss %.6f merged, %.6f with --adapter (worst item rel %.2g), "
          "%.6f without" % (worst, got["mean_loss"], want["mean_loss"], items, base["mean_loss"]))


def case_rounded(dtype, shards):
    def fn():
        m = model(dtype.lower(), "--dtype", dtype.lower(), "--shards", shards, "--seed", 12, sharp=False)
        a = adapter(dtype + "-lora", m, PLAN, 2)
        out = merge(m, a, dtype + "-merged")
        worst = check_merged(m, out, reference(a, PLAN, 16 / 4), exact=True)
        if shards > 1:
            with open(os.path.join(m, "model.safetensors.index.json")) as x, \
                    open(os.path.join(out, "model.safetensors.index.json")) as y:
                assert json.load(x) == json.load(y)
        # the merged model opens and runs
        assert np.isfinite(loss(out)["mean_loss"])
        print("     %s, %d shard(s): bit-exact; largest relative difference to float64 %.2g" % (dtype, shards, worst))
    return fn


def case_round_once(dtype, half_ulp):
    """W = 1 and an update just above, at, and just below half a stored ulp: rounding through
    float32 first would land on the midpoint and tie to 1; rounding once must not."""
    def fn():
        name = "q_proj"
        wname = "model.layers.0.self_attn.q_proj.weight"
        m = model("once-" + dtype, "--dtype", dtype.lower(), "--seed", 15, sharp=False)
        rewrite(m, lambda t: t[wname].__setitem__((slice(None), 0), 1.0))
        a = adapter("once-" + dtype + "-lora", m, [(0, name, "lora")], 7)
        st = os.path.join(a, "adapter_model.safetensors")
        _, t, _ = st_writer.read(st)
        pre = "base_model.model.model.layers.0.self_attn.q_proj."
        A = np.zeros_like(t[pre + "lora_A.weight"])
        A[0, 0] = 1  # B A is B's first column in W's first column, zero elsewhere
        B = np.array(t[pre + "lora_B.weight"])
        tiny = 2.0 ** -30  # far below half a float32 ulp of 1 (2^-24)
        steps = np.array([tiny, 0, -tiny])[np.arange(B.shape[0]) % 3]
        B[:, 0] = ((half_ulp + steps) / 4).astype(np.float32)  # scaling 16 / 4
        assert np.all(B[:, 0].astype(np.float64) * 4 == half_ulp + steps)  # exact in float32
        st_writer.write(st, [(pre + "lora_A.weight", "F32", A.shape, A.tobytes()),
                             (pre + "lora_B.weight", "F32", B.shape, B.tobytes())])
        out = merge(m, a, "once-" + dtype + "-merged")
        check_merged(m, out, reference(a, [(0, name, "lora")], 16 / 4), exact=True)
        got = read_dir(out)[wname][3][:, 0]
        want = np.where(steps > 0, 1 + 2 * half_ulp, 1.0)
        assert np.array_equal(got, want), (got[:6], want[:6])
        twice = np.float32(1 + half_ulp + tiny)  # what a float32 step gives: the midpoint
        assert twice == np.float32(1 + half_ulp)
    return fn


def case_rslora():
    m = model("rs", "--dtype", "f32", "--seed", 13, sharp=False)
    a = adapter("rs-lora", m, PLAN[:3], 3, rslora=True)
    out = merge(m, a, "rs-merged")
    check_merged(m, out, reference(a, PLAN[:3], 16 / np.sqrt(4)), exact=False)
    # and not alpha / r: the difference from that is far above the tolerance
    try:
        check_merged(m, out, reference(a, PLAN[:3], 16 / 4), exact=False)
    except AssertionError:
        return
    raise AssertionError("the merge matches alpha / r too")


def no_output(out):
    assert not os.path.exists(out), out + " was created"
    assert not glob.glob(out + ".tmp-*"), "staging directory left behind"


def case_refusals():
    m = model("refuse", "--dtype", "f32", "--seed", 14, sharp=False)
    hyp = adapter("hyp", m, [(0, "q_proj", "lora"), (1, "v_proj", "hyplora")], 4,
                  hyplora={"form": "consistent", "alpha_hyperbolic": 32})
    out = suite.path("hyp-merged")
    r = harness.expect_error(suite, ["merge", m, hyp, "-o", out], "nonlinear")
    assert "HypLoRA" in r.err and "--adapter" in r.err and "v_proj" in r.err, r.err
    no_output(out)

    other = model("other", "--hidden", 128, "--dtype", "f32", sharp=False)
    wrong = adapter("wrong", other, [(0, "q_proj", "lora")], 5)
    out = suite.path("wrong-merged")
    harness.expect_error(suite, ["merge", m, wrong, "-o", out],
                         "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
    no_output(out)

    good = adapter("good", m, PLAN[:2], 6)
    with open(os.path.join(m, "model.safetensors"), "rb") as f:
        weights = f.read()
    for same in (m, m + "/", m + "/."):
        harness.expect_error(suite, ["merge", m, good, "-o", same], "input model's directory")
    with open(os.path.join(m, "model.safetensors"), "rb") as f:
        assert f.read() == weights
    assert not glob.glob(m + "*.tmp-*") and not glob.glob(os.path.join(m, "*.tmp-*"))

    full = suite.path("full")
    os.makedirs(full)
    open(os.path.join(full, "keep.txt"), "w").close()
    harness.expect_error(suite, ["merge", m, good, "-o", full], "not empty")
    assert os.listdir(full) == ["keep.txt"]

    out = suite.path("missing-merged")
    harness.expect_error(suite, ["merge", m, suite.path("no-such-adapter"), "-o", out], "no-such-adapter")
    no_output(out)
    harness.expect_error(suite, ["merge", m, good], "-o DIR is required", status=2)
    harness.expect_error(suite, ["merge", m, "-o", out], "required", status=2)

    import gguf_writer
    gguf = gguf_writer.write_model(suite.path("gguf"), "llama", seed=7)
    harness.expect_error(suite, ["merge", gguf, good, "-o", out], "GGUF")
    no_output(out)

    # an empty existing DIR is fine, and --help works
    empty = suite.path("empty")
    os.makedirs(empty)
    suite.ok("merge", m, good, "-o", empty)
    assert os.path.exists(os.path.join(empty, "model.safetensors"))
    assert "Example" in suite.ok("merge", "--help").out


suite.check("F32: W + (alpha/r) B A within 1e-6, the rest bit-identical, loss equal to --adapter's", case_f32)
suite.check("BF16, two shards and an index: correctly rounded, bit for bit", case_rounded("BF16", 2))
suite.check("F16: correctly rounded, bit for bit", case_rounded("F16", 1))
suite.check("BF16: rounded once (a float32 step would tie to even)", case_round_once("BF16", 2.0 ** -8))
suite.check("F16: rounded once (a float32 step would tie to even)", case_round_once("F16", 2.0 ** -11))
suite.check("use_rslora: alpha / sqrt(r)", case_rslora)
suite.check("refusals: HypLoRA, another shape, DIR = model, DIR not empty, no adapter, GGUF, no -o",
            case_refusals)
suite.done()
