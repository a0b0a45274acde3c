"""Small random checkpoints for the oracle tests: `hyplora make-model`, rewriting its
safetensors file in place (tests/lib/st_writer.py), sharpening the weights so that the
model is far from uniform, and tokenizing texts with `hyplora tokenize`."""
import json
import os
import re
import subprocess

import numpy as np

import st_writer


def make_model(suite, hyplora, name, *args):
    """Runs `hyplora make-model -o suite.path(name) ARGS...` and returns that directory."""
    out = suite.path(name)
    p = subprocess.run([hyplora, "make-model", "-o", out, *map(str, args)], capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("make-model failed: " + p.stderr)
    return out


def edit_json(path, fn):
    """Loads the JSON file at path, lets fn change the object in place, writes it back."""
    with open(path) as f:
        cfg = json.load(f)
    fn(cfg)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)


def rewrite(model_dir, edit_tensors=None, edit_config=None):
    """Rewrites the checkpoint in place: edit_tensors(dict name -> float32 array) may change
    or add tensors (all kept in the file's dtype), edit_config(dict) the config.
    Returns the file's dtype."""
    st = os.path.join(model_dir, "model.safetensors")
    header, tensors, _ = st_writer.read(st)
    dtype = next(v["dtype"] for k, v in header.items() if k != "__metadata__")
    tensors = {k: np.array(v, dtype=np.float32) for k, v in tensors.items()}
    if edit_tensors:
        edit_tensors(tensors)
    st_writer.write(st, [(k, dtype, v.shape, st_writer.tensor_bytes(dtype, v)) for k, v in tensors.items()])
    if edit_config:
        edit_json(os.path.join(model_dir, "config.json"), edit_config)
    return dtype


def sharpen(tensors, rng, with_bias=False, qk_scale=8.0, vo_scale=1.0, out_scale=1.0, sort_names=False):
    """Edits tensors (name -> float32 array) in place: random norm weights (1 + 0.3 N(0, 1))
    and q/k weights times qk_scale, so that attention is far from uniform and a mistake in
    the mask or the rotation shows; v/o weights times vo_scale (the context, not only the
    last token's own embedding, decides the next token) and the final norm times out_scale
    (logits spread over several units); random q/k/v biases (0.5 N(0, 1)) when with_bias.
    Draws from rng in the file's tensor order, or in sorted name order with sort_names."""
    for name in (sorted(tensors) if sort_names else list(tensors)):
        a = tensors[name]
        if name.endswith("layernorm.weight"):
            tensors[name] = (1 + 0.3 * rng.standard_normal(a.shape)).astype(np.float32)
        elif name == "model.norm.weight":
            tensors[name] = (out_scale * (1 + 0.3 * rng.standard_normal(a.shape))).astype(np.float32)
        elif ".q_proj.weight" in name or ".k_proj.weight" in name:
            tensors[name] = (a * qk_scale).astype(np.float32)
        elif ".v_proj.weight" in name or ".o_proj.weight" in name:
            tensors[name] = (a * vo_scale).astype(np.float32)
        if with_bias and any(p in name for p in (".q_proj.weight", ".k_proj.weight", ".v_proj.weight")):
            tensors[name.replace(".weight", ".bias")] = (0.5 * rng.standard_normal(a.shape[0])).astype(np.float32)


def tokenize_texts(suite, tokenizer, texts):
    """`hyplora tokenize --tokenizer TOKENIZER --add-special` (run as suite.ok) of each text,
    passed as a JSON array of strings so that the texts may hold newlines; a list of id lists."""
    path = suite.path("texts.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=False)
    r = suite.ok("tokenize", "--tokenizer", tokenizer, "--add-special", path)
    lines = r.out.split("\n")
    assert lines[-1] == "" and len(lines) == len(texts) + 1, r.out
    return [[int(x) for x in line.split()] for line in lines[:-1]]


def unescape_decoded(line):
    """`tokenize --decode` writes a newline as \\n and a backslash as \\\\."""
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\"}[m.group(1)], line)


def decode_ids(suite, tokenizer, seqs):
    """`hyplora tokenize --decode --skip-special` of each id list: a list of texts."""
    path = suite.path("ids.txt")
    with open(path, "w") as f:
        for s in seqs:
            f.write(" ".join(map(str, s)) + "\n")
    p = subprocess.run([suite.exe, "tokenize", "--tokenizer", tokenizer, "--decode", "--skip-special", path],
                       capture_output=True)
    assert p.returncode == 0, p.stderr.decode("utf-8", "replace")
    lines = p.stdout.decode("utf-8").split("\n")
    assert lines[-1] == "" and len(lines) == len(seqs) + 1, p.stdout
    return [unescape_decoded(line) for line in lines[:-1]]
