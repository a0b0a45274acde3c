"""An independent PyTorch (float64) implementation of the Llama-family decoder the library
runs, written for the tests (no transformers): RMSNorm, rotate-half RoPE with llama3/linear
scaling, grouped-query causal attention, SwiGLU, optional q/k/v biases, tied or untied head.
Used by the forward, generate and loss oracles."""
import json
import math
import os

import numpy as np
import torch

import st_writer

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


def rope_tables(cfg, T):
    """cos, sin [T, hd/2] of the rotary angles of positions 0..T-1."""
    H, D = cfg["num_attention_heads"], cfg["hidden_size"]
    hd = cfg.get("head_dim", D // H)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * rope_inv_freq(cfg, hd)[None, :]
    return torch.cos(ang), torch.sin(ang)


def layer(cfg, W, index, x, cos, sin, adapt=None):
    """Decoder layer `index` on one sequence x [T, D] (causal): the layer's output. W maps
    Hugging Face names to tensors (which may require grad). adapt(module, input), when given,
    returns the update an adapter adds to module's output ("q_proj", ..., "down_proj"), or
    None."""
    H, KV, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["hidden_size"]
    hd = cfg.get("head_dim", D // H)
    eps = cfg["rms_norm_eps"]
    T = x.shape[0]
    p = "model.layers.%d." % index
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)

    def proj(name, inp):
        y = inp @ W[p + name + ".weight"].T
        b = W.get(p + name + ".bias")
        y = y + b if b is not None else y
        extra = adapt(name.split(".")[-1], inp) if adapt else None
        return y + extra if extra is not None else y

    h = rmsnorm(x, W[p + "input_layernorm.weight"], eps)
    q = proj("self_attn.q_proj", h).view(T, H, hd).transpose(0, 1)
    k = proj("self_attn.k_proj", h).view(T, KV, hd).transpose(0, 1)
    v = proj("self_attn.v_proj", h).view(T, KV, hd).transpose(0, 1)
    q, k = rotate(q, cos, sin), rotate(k, cos, sin)
    k = k.repeat_interleave(H // KV, dim=0)
    v = v.repeat_interleave(H // KV, dim=0)
    att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1) @ v
    x = x + proj("self_attn.o_proj", att.transpose(0, 1).reshape(T, H * hd))
    h = rmsnorm(x, W[p + "post_attention_layernorm.weight"], eps)
    g = proj("mlp.gate_proj", h)
    u = proj("mlp.up_proj", h)
    return x + proj("mlp.down_proj", torch.nn.functional.silu(g) * u)


def reference(model_dir, ids, loader=load_safetensors_dir, weights=None, adapt_for=None):
    """Logits [T, V] and hidden states [L+1, T, D] of one sequence, in float64. weights:
    the (config, tensors) pair of loader(model_dir), when already loaded; adapt_for(index):
    the adapt function of layer index (see layer), for a model with adapters."""
    cfg, W = weights or loader(model_dir)
    cos, sin = rope_tables(cfg, len(ids))
    x = W["model.embed_tokens.weight"][torch.tensor(ids)]
    hidden = []
    for index in range(cfg["num_hidden_layers"]):
        hidden.append(x)
        x = layer(cfg, W, index, x, cos, sin, adapt_for(index) if adapt_for else None)
    hidden.append(x)
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    logits = rmsnorm(x, W["model.norm.weight"], cfg["rms_norm_eps"]) @ head.T
    return logits.detach().numpy(), torch.stack(hidden).detach().numpy()


def greedy(model_dir, prompt, n, weights=None, adapt_for=None, eos=None):
    """Greedy continuation in float64, the whole sequence recomputed at every step (with
    adapters: adapt_for, see layer), up to n tokens or until eos (not included); returns
    (ids, smallest top-two logit gap over the steps)."""
    weights = weights or load_safetensors_dir(model_dir)
    seq, out, gap = list(prompt), [], float("inf")
    for _ in range(n):
        logits, _ = reference(model_dir, seq, weights=weights, adapt_for=adapt_for)
        last = logits[-1]
        top2 = np.sort(last)[-2:]
        gap = min(gap, float(top2[1] - top2[0]))
        t = int(np.argmax(last))
        if t == eos:
            break
        out.append(t)
        seq.append(t)
    return out, gap
