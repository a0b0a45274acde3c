#!/usr/bin/python3
"""Forward-pass oracle: the library's Llama-family forward (tests/unit/forward_dump) against
an independent PyTorch implementation of the same architecture written here (no
transformers), in float64, on small random checkpoints from `hyplora make-model`.

    test_forward.py FORWARD_DUMP_EXE HYPLORA_EXE

Checkpoints cover BF16 and F32, tied and untied heads, GQA and MHA, q/k/v biases and a
llama3 rope_scaling config (the last two written here into make-model's output), and two
GGUF files from tests/oracle/gguf_writer.py (Llama with permuted q/k rows, tied Qwen2). The
reference reads the same safetensors file through tests/lib/st_writer.py. Checks: logits
within 1e-4 of the logits' scale (max |ref|), each layer's input hidden states likewise,
a padded batch equal to each sequence run alone, and clear errors for a missing tensor, a
wrong shape and a token id out of range.
"""
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import numpy as np  # noqa: E402
try:
    import torch  # noqa: E402
except ImportError:  # a clear failure, not a skip: this is the forward pass's only oracle
    sys.exit("test_forward.py: PyTorch is missing: apt-get install python3-torch (Debian's, for /usr/bin/python3)")

import harness  # noqa: E402
import st_writer  # noqa: E402

TOL = 1e-4
suite = harness.Suite()
HYPLORA = sys.argv[2]
rng = np.random.default_rng(6)


def make_model(name, *args):
    out = suite.path(name)
    p = subprocess.run([HYPLORA, "make-model", "-o", out, "--no-tokenizer", "--vocab", "300", *map(str, args)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("make-model failed: " + p.stderr)
    return out


def stored_dtypes(path):
    header, _, _ = st_writer.read(path)
    return {k: v["dtype"] for k, v in header.items() if k != "__metadata__"}


def rewrite(model_dir, edit_tensors=None, edit_config=None):
    """Rewrites the checkpoint in place: edit_tensors(dict name -> float32 array) may change
    or add tensors (kept in the file's dtype), edit_config(dict) the config."""
    st = os.path.join(model_dir, "model.safetensors")
    dtypes = stored_dtypes(st)
    _, tensors, _ = st_writer.read(st)
    tensors = {k: np.array(v, dtype=np.float32) for k, v in tensors.items()}
    if edit_tensors:
        edit_tensors(tensors)
    dtype = next(iter(dtypes.values()))
    st_writer.write(st, [(k, dtype, v.shape, st_writer.tensor_bytes(dtype, v)) for k, v in tensors.items()])
    if edit_config:
        cp = os.path.join(model_dir, "config.json")
        with open(cp) as f:
            cfg = json.load(f)
        edit_config(cfg)
        with open(cp, "w") as f:
            json.dump(cfg, f, indent=1)


def sharpen(tensors, with_bias=False, qk_scale=8.0):
    """Random norm weights and larger q/k weights, so that attention is far from uniform
    and a mistake in the mask or the rotation shows; q/k/v biases when asked."""
    for name in list(tensors):
        a = tensors[name]
        if name.endswith("layernorm.weight") or name == "model.norm.weight":
            tensors[name] = (1 + 0.3 * rng.standard_normal(a.shape)).astype(np.float32)
        if ".q_proj.weight" in name or ".k_proj.weight" in name:
            tensors[name] = (a * qk_scale).astype(np.float32)
        if with_bias and any(p in name for p in (".q_proj.weight", ".k_proj.weight", ".v_proj.weight")):
            tensors[name.replace(".weight", ".bias")] = (0.5 * rng.standard_normal(a.shape[0])).astype(np.float32)


# ---- the reference ----

def rope_inv_freq(cfg, hd):
    theta = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    rs = cfg.get("rope_scaling")
    if not rs:
        return inv
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "linear":
        return inv / rs["factor"]
    assert kind == "llama3", kind
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    ctx = rs["original_max_position_embeddings"]
    out = []
    for f in inv.tolist():
        wavelen = 2 * math.pi / f
        if wavelen < ctx / hi:
            out.append(f)
        elif wavelen > ctx / lo:
            out.append(f / factor)
        else:
            s = (ctx / wavelen - lo) / (hi - lo)
            out.append((1 - s) * f / factor + s * f)
    return torch.tensor(out, dtype=torch.float64)


def rotate(x, cos, sin):
    """x [heads, T, hd]; rotate-half: the first and second halves form the pairs."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def rmsnorm(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def load_safetensors_dir(model_dir):
    """(Hugging Face config, {name: float64 tensor}) of a make-model directory."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    _, raw, _ = st_writer.read(os.path.join(model_dir, "model.safetensors"))
    return cfg, {k: torch.tensor(np.array(v, dtype=np.float64)) for k, v in raw.items()}


def load_gguf_expected(outdir):
    """The same for a gguf_writer.py model: its expected values (dequantised, in Hugging Face
    row order) and its config in Hugging Face field names."""
    with open(os.path.join(outdir, "expected.json")) as f:
        meta = json.load(f)
    c = meta["config"]
    cfg = {"num_attention_heads": c["n_heads"], "num_key_value_heads": c["n_kv_heads"],
           "hidden_size": c["hidden_size"], "head_dim": c["head_dim"], "rms_norm_eps": c["rms_norm_eps"],
           "rope_theta": c["rope_theta"], "num_hidden_layers": c["n_layers"]}
    W = {name: torch.tensor(np.load(os.path.join(outdir, "expected", name + ".npy")).astype(np.float64))
         for name in meta["tensors"]}
    return cfg, W


def reference(model_dir, ids, loader=load_safetensors_dir):
    """Logits [T, V] and hidden states [L+1, T, D] of one sequence, in float64."""
    cfg, W = loader(model_dir)
    H, KV, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["hidden_size"]
    hd = cfg.get("head_dim", D // H)
    eps = cfg["rms_norm_eps"]
    T = len(ids)
    pos = torch.arange(T, dtype=torch.float64)[:, None]
    ang = pos * rope_inv_freq(cfg, hd)[None, :]
    cos, sin = torch.cos(ang), torch.sin(ang)
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    x = W["model.embed_tokens.weight"][torch.tensor(ids)]
    hidden = []
    for layer in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % layer
        hidden.append(x)

        def proj(name, inp):
            y = inp @ W[p + name + ".weight"].T
            b = W.get(p + name + ".bias")
            return y + b if b is not None else y

        h = rmsnorm(x, W[p + "input_layernorm.weight"], eps)
        q = proj("self_attn.q_proj", h).view(T, H, hd).transpose(0, 1)
        k = proj("self_attn.k_proj", h).view(T, KV, hd).transpose(0, 1)
        v = proj("self_attn.v_proj", h).view(T, KV, hd).transpose(0, 1)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        k = k.repeat_interleave(H // KV, dim=0)
        v = v.repeat_interleave(H // KV, dim=0)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1) @ v
        x = x + att.transpose(0, 1).reshape(T, H * hd) @ W[p + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ W[p + "mlp.down_proj.weight"].T
    hidden.append(x)
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    logits = rmsnorm(x, W["model.norm.weight"], eps) @ head.T
    return logits.numpy(), torch.stack(hidden).numpy()


# ---- running the C side ----

def dump(model_dir, seqs, tag, hidden=True):
    lp, hp = suite.path(tag + "-logits.npy"), suite.path(tag + "-hidden.npy")
    args = [model_dir, "--logits", lp] + (["--hidden", hp] if hidden else [])
    args += [",".join(map(str, s)) for s in seqs]
    suite.ok(*args)
    return np.load(lp), (np.load(hp) if hidden else None)


def rel_err(got, want):
    scale = max(float(np.abs(want).max()), 1e-30)
    return float(np.abs(got.astype(np.float64) - want).max()) / scale


def random_seqs(lengths):
    return [rng.integers(0, 300, n).tolist() for n in lengths]


def compare(model_dir, tag, lengths=(37, 12, 1, 24), loader=load_safetensors_dir, run_path=None, vocab=300):
    seqs = [rng.integers(0, vocab, n).tolist() for n in lengths]
    logits, hidden = dump(run_path or model_dir, seqs, tag)
    T = max(lengths)
    assert logits.shape[:2] == (len(seqs), T), logits.shape
    worst = 0.0
    for b, s in enumerate(seqs):
        n = len(s)
        ref_l, ref_h = reference(model_dir, s, loader)
        e = rel_err(logits[b, :n], ref_l)
        worst = max(worst, e)
        assert e < TOL, "%s seq %d (len %d): logits differ by %.3g of their scale" % (tag, b, n, e)
        for layer in range(ref_h.shape[0]):
            e = rel_err(hidden[layer, b, :n], ref_h[layer])
            worst = max(worst, e)
            assert e < TOL, "%s seq %d hidden %d: %.3g of scale" % (tag, b, layer, e)
        assert not logits[b, n:].any() and not hidden[:, b, n:].any(), "padded positions not zero"
    # A logit scale far from zero: the comparison is not one of tiny numbers.
    assert np.abs(logits).max() > 1e-3, np.abs(logits).max()
    print("     %s: worst relative difference %.2g (logit scale %.3g)" % (tag, worst, np.abs(logits).max()))


def padded_equals_single(model_dir, tag):
    seqs = random_seqs((29, 7, 16))
    batch, _ = dump(model_dir, seqs, tag + "-batch", hidden=False)
    for b, s in enumerate(seqs):
        one, _ = dump(model_dir, [s], "%s-one%d" % (tag, b), hidden=False)
        e = rel_err(batch[b, :len(s)], one[0].astype(np.float64))
        assert e < 1e-5, "sequence %d in a padded batch differs from alone by %.3g" % (b, e)


# ---- the checkpoints ----

def case_bf16_gqa_untied():
    d = make_model("bf16-gqa", "--dtype", "bf16", "--heads", 4, "--kv-heads", 2, "--layers", 3, "--seed", 1)
    rewrite(d, lambda t: sharpen(t))
    compare(d, "bf16-gqa")
    padded_equals_single(d, "bf16-gqa")


def case_f32_mha_tied():
    d = make_model("f32-mha", "--dtype", "f32", "--heads", 4, "--kv-heads", 4, "--tie", "--seed", 2)
    rewrite(d, lambda t: sharpen(t))
    assert "lm_head.weight" not in stored_dtypes(os.path.join(d, "model.safetensors"))
    compare(d, "f32-mha")


def case_f32_bias_llama3():
    d = make_model("f32-bias", "--dtype", "f32", "--heads", 8, "--kv-heads", 2, "--hidden", 128, "--seed", 3)

    def cfg(c):
        c["attention_bias"] = True
        c["rope_theta"] = 500000.0
        # head_dim 16, theta 5e5 and an original context of 64 put the wavelengths 6.3,
        # 32.4, 167, ... in all three bands (kept < 16, blended 16..64, slowed > 64), and the
        # sequences reach past that context.
        c["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    rewrite(d, lambda t: sharpen(t, with_bias=True), cfg)
    compare(d, "f32-bias", lengths=(70, 33, 5))
    padded_equals_single(d, "f32-bias")


def case_bf16_plain():
    """make-model's output as it is: norms 1, std-0.02 weights, default rope."""
    d = make_model("bf16-plain", "--seed", 4)
    compare(d, "bf16-plain", lengths=(20, 9))


def case_gguf(arch):
    """gguf_writer.py's tiny models: Llama with llama.cpp's permuted q/k rows (and biases),
    Qwen2 with a tied head; F32/F16/BF16/Q8_0/Q4_0 weights, compared with the dequantised
    values the writer saved."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import gguf_writer
    outdir = suite.path("gguf-" + arch)
    path = gguf_writer.write_model(outdir, arch, seed=7)
    compare(outdir, "gguf-" + arch, lengths=(40, 17), loader=load_gguf_expected, run_path=path,
            vocab=gguf_writer.VOCAB)


def case_errors():
    d = make_model("broken", "--dtype", "f32", "--seed", 5)
    harness.expect_error(suite, [d, "--logits", suite.path("x.npy"), "1,2,300"], "token id 300")

    def drop(t):
        del t["model.layers.1.mlp.up_proj.weight"]
    rewrite(d, drop)
    harness.expect_error(suite, [d, "--logits", suite.path("x.npy"), "1,2"], "model.layers.1.mlp.up_proj.weight")
    d2 = make_model("broken2", "--dtype", "f32", "--seed", 5)

    def reshape(t):
        t["model.layers.0.self_attn.k_proj.weight"] = t["model.layers.0.self_attn.k_proj.weight"][:16]
    rewrite(d2, reshape)
    harness.expect_error(suite, [d2, "--logits", suite.path("x.npy"), "1,2"],
                         "\"model.layers.0.self_attn.k_proj.weight\" has shape [16, 64], expected [32, 64]")


suite.check("bf16, GQA 4/2, untied, 3 layers: logits, hidden states, padded batch", case_bf16_gqa_untied)
suite.check("f32, MHA, tied head", case_f32_mha_tied)
suite.check("f32, q/k/v bias, llama3 rope scaling, GQA 8/2: logits, hidden, padded batch",
            case_f32_bias_llama3)
suite.check("bf16 make-model output unchanged", case_bf16_plain)
suite.check("GGUF llama: permuted q/k rows, biases, quantised weights", lambda: case_gguf("llama"))
suite.check("GGUF qwen2: tied head, biases", lambda: case_gguf("qwen2"))
suite.check("errors: token out of range, missing tensor, wrong shape", case_errors)
suite.done()
