#!/usr/bin/python3
"""An independent GGUF v3 writer for the tests (standard library + numpy only).

Written from the format description (DESIGN.md section 3 and the GGUF specification), not
from llama.cpp's gguf-py, so that the C reader is checked against a second reading of the
format rather than against itself:

    "GGUF" | u32 version | u64 tensor count | u64 KV count
    KV:     string key | u32 value type | value
            (array: u32 element type | u64 count | elements; arrays may hold arrays)
    tensor: string name | u32 n_dims | u64 dims[n_dims], innermost first | u32 ggml type
            | u64 offset from the start of the data section (a multiple of the alignment)
    zero padding to the alignment (general.alignment, default 32), then the data.
    string: u64 byte length | bytes (no terminator). Everything little-endian.

`build()` takes every count, offset and byte explicitly so the malformed-input tests can
bend one field at a time. `write_model()` writes a tiny Llama or Qwen2 model with weights
in F32, F16, BF16, Q8_0 and Q4_0, q/k rows permuted the way llama.cpp's converter does for
Llama, and saves the expected float32 values in Hugging Face order as .npy files.

    gguf_writer.py OUTDIR [llama|qwen2]
"""
import json
import os
import struct
import sys

import numpy as np

# KV value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
_SCALAR_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
               BOOL: "<B", U64: "<Q", I64: "<q", F64: "<d"}

# ggml tensor types (ids) and their blocks: (elements per block, bytes per block)
GGML = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 8, "Q4_K": 12, "Q6_K": 14,
        "I8": 24, "I32": 26, "BF16": 30}
BLOCK = {"F32": (1, 4), "F16": (1, 2), "BF16": (1, 2), "Q8_0": (32, 34), "Q4_0": (32, 18),
         "Q4_1": (32, 20), "Q4_K": (256, 144), "Q6_K": (256, 210), "I8": (1, 1), "I32": (1, 4)}


def enc_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def enc_value(t, v):
    """Encodes a value of type t. Arrays are given as (element type, [elements]); the
    elements of an array of arrays are themselves (element type, [elements])."""
    if t == STR:
        return enc_str(v)
    if t == ARR:
        et, items = v
        out = struct.pack("<IQ", et, len(items))
        return out + b"".join(enc_value(et, x) for x in items)
    if t == BOOL:
        return struct.pack("<B", 1 if v else 0)
    return struct.pack(_SCALAR_FMT[t], v)


def enc_kv(key, t, v):
    return enc_str(key) + struct.pack("<I", t) + enc_value(t, v)


def enc_tensor_info(name, dims, gtype, offset):
    """dims innermost first, as GGUF stores them."""
    return (enc_str(name) + struct.pack("<I", len(dims)) +
            b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", gtype, offset))


def align_up(n, a):
    return (n + a - 1) // a * a


def build(kvs, tensors, version=3, magic=b"GGUF", alignment=32, n_tensors=None, n_kv=None):
    """kvs: [(key, type, value)] or raw bytes entries; tensors: [dict(name, dims, type,
    data, offset=None)] with dims innermost first and type a ggml id. Offsets default to
    consecutive aligned placement. Returns the file's bytes."""
    head = magic + struct.pack("<I", version)
    head += struct.pack("<QQ", len(tensors) if n_tensors is None else n_tensors,
                        len(kvs) if n_kv is None else n_kv)
    for kv in kvs:
        head += kv if isinstance(kv, bytes) else enc_kv(*kv)
    off = 0
    placed = []
    for t in tensors:
        o = t.get("offset")
        if o is None:
            o = align_up(off, alignment)
        placed.append(o)
        off = max(off, o + len(t["data"]))
        head += enc_tensor_info(t["name"], t["dims"], t["type"], o)
    start = align_up(len(head), alignment)
    # Offsets past 16 MiB only come from the malformed-file tests: those tensors' bytes are
    # left out, the way a file cut short would lack them.
    inside = [(p, t) for p, t in zip(placed, tensors) if p + len(t["data"]) <= 1 << 24]
    data = bytearray(max([p + len(t["data"]) for p, t in inside], default=0))
    for p, t in inside:
        data[p:p + len(t["data"])] = t["data"]
    return head + b"\0" * (start - len(head)) + bytes(data)


# ---- stored types, each with the exact float32 values a reader must give back ----------

def to_f16(w):
    h = w.astype(np.float16)
    return h.tobytes(), h.astype(np.float32)


def to_bf16(w):
    bits = w.astype(np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest even
    b16 = bits.astype(np.uint16)
    back = (b16.astype(np.uint32) << 16).view(np.float32)
    return b16.tobytes(), back


def to_q8_0(w):
    """Blocks of 32 along each row: f16 scale d = max|x| / 127, then 32 int8 round(x / d)."""
    x = w.astype(np.float32).reshape(-1, 32)
    d = (np.abs(x).max(axis=1) / 127.0).astype(np.float32)
    d16 = d.astype(np.float16)
    inv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0).astype(np.float32)
    q = np.clip(np.round(x * inv[:, None]), -127, 127).astype(np.int8)
    blocks = np.zeros((x.shape[0], 34), np.uint8)
    blocks[:, 0:2] = d16.view(np.uint8).reshape(-1, 2)
    blocks[:, 2:] = q.view(np.uint8)
    back = d16.astype(np.float32)[:, None] * q.astype(np.float32)
    return blocks.tobytes(), back.astype(np.float32).reshape(w.shape)


def to_q4_0(w):
    """Blocks of 32: f16 scale d = (the value of largest magnitude, with its sign) / -8,
    q = clamp(round(x / d) + 8, 0, 15); byte j = q[j] | q[j + 16] << 4."""
    x = w.astype(np.float32).reshape(-1, 32)
    idx = np.abs(x).argmax(axis=1)
    mx = x[np.arange(x.shape[0]), idx]
    d = (mx / -8.0).astype(np.float32)
    d16 = d.astype(np.float16)
    inv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0).astype(np.float32)
    q = np.clip(np.round(x * inv[:, None]) + 8, 0, 15).astype(np.uint8)
    blocks = np.zeros((x.shape[0], 18), np.uint8)
    blocks[:, 0:2] = d16.view(np.uint8).reshape(-1, 2)
    blocks[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    back = d16.astype(np.float32)[:, None] * (q.astype(np.float32) - 8.0)
    return blocks.tobytes(), back.astype(np.float32).reshape(w.shape)


def store(w, dtype):
    if dtype == "F32":
        w = w.astype(np.float32)
        return w.tobytes(), w.copy()
    return {"F16": to_f16, "BF16": to_bf16, "Q8_0": to_q8_0, "Q4_0": to_q4_0}[dtype](w)


def permute_rows(w, heads):
    """llama.cpp's q/k reordering: Hugging Face row h*hd + s*(hd/2) + i goes to stored
    row h*hd + 2*i + s (s in {0, 1}, i < hd/2). Works on weights and biases alike."""
    hd = w.shape[0] // heads
    return w.reshape(heads, 2, hd // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


# ---- the tiny models -------------------------------------------------------------------

HIDDEN, LAYERS, HEADS, KV_HEADS, FFN, VOCAB = 64, 2, 4, 2, 128, 100
HEAD_DIM = HIDDEN // HEADS

# (GGUF suffix, Hugging Face suffix, shape, dtype per layer)
LAYER_TENSORS = [
    ("attn_norm.weight", "input_layernorm.weight", (HIDDEN,), ["F32", "F32"]),
    ("attn_q.weight", "self_attn.q_proj.weight", (HIDDEN, HIDDEN), ["Q8_0", "BF16"]),
    ("attn_k.weight", "self_attn.k_proj.weight", (KV_HEADS * HEAD_DIM, HIDDEN), ["Q4_0", "F16"]),
    ("attn_v.weight", "self_attn.v_proj.weight", (KV_HEADS * HEAD_DIM, HIDDEN), ["F16", "Q8_0"]),
    ("attn_output.weight", "self_attn.o_proj.weight", (HIDDEN, HIDDEN), ["BF16", "Q4_0"]),
    ("ffn_norm.weight", "post_attention_layernorm.weight", (HIDDEN,), ["F32", "F32"]),
    ("ffn_gate.weight", "mlp.gate_proj.weight", (FFN, HIDDEN), ["Q4_0", "F16"]),
    ("ffn_up.weight", "mlp.up_proj.weight", (FFN, HIDDEN), ["Q8_0", "BF16"]),
    ("ffn_down.weight", "mlp.down_proj.weight", (HIDDEN, FFN), ["F16", "Q8_0"]),
]
BIAS_TENSORS = [
    ("attn_q.bias", "self_attn.q_proj.bias", (HIDDEN,)),
    ("attn_k.bias", "self_attn.k_proj.bias", (KV_HEADS * HEAD_DIM,)),
    ("attn_v.bias", "self_attn.v_proj.bias", (KV_HEADS * HEAD_DIM,)),
]

TOKENS = ["<unk>", "<s>", "</s>"] + ["\u2581h\u00e9llo", "\u4e16\u754c", "\U0001f600"] + \
    ["tok%d" % i for i in range(6, VOCAB)]


def model_kvs(arch, tokens=TOKENS):
    a = arch
    kvs = [
        ("general.architecture", STR, arch),
        ("general.name", STR, "tiny-%s-test" % arch),
        ("general.file_type", U32, 7),
        (a + ".context_length", U32, 256),
        (a + ".embedding_length", U32, HIDDEN),
        (a + ".block_count", U32, LAYERS),
        (a + ".feed_forward_length", U32, FFN),
        (a + ".attention.head_count", U32, HEADS),
        (a + ".attention.head_count_kv", U32, KV_HEADS),
        (a + ".attention.layer_norm_rms_epsilon", F32, 1e-5),
        (a + ".rope.freq_base", F32, 500000.0 if arch == "llama" else 1000000.0),
        (a + ".rope.dimension_count", U32, HEAD_DIM),
        ("tokenizer.ggml.model", STR, "llama" if arch == "llama" else "gpt2"),
        ("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        ("tokenizer.ggml.scores", ARR, (F32, [float(-i) * 0.5 for i in range(len(tokens))])),
        ("tokenizer.ggml.token_type", ARR, (I32, [2 if i == 0 else 3 if i < 3 else 1
                                                  for i in range(len(tokens))])),
        ("tokenizer.ggml.bos_token_id", U32, 1),
        ("tokenizer.ggml.eos_token_id", U32, 2),
        # one of every other type, for the reader's own sake
        ("test.u8", U8, 200), ("test.i8", I8, -100), ("test.u16", U16, 60000),
        ("test.i16", I16, -30000), ("test.u32", U32, 4000000000), ("test.i32", I32, -123456789),
        ("test.u64", U64, (1 << 40) + 3), ("test.i64", I64, -(1 << 40)),
        ("test.f32", F32, 0.25), ("test.f64", F64, 3.141592653589793),
        ("test.bool", BOOL, True), ("test.bool_false", BOOL, False),
        ("test.str_empty", STR, ""),
        ("test.nested", ARR, (ARR, [(I32, [1, 2, 3]), (I32, []), (I32, [-4])])),
        ("test.nested_str", ARR, (ARR, [(ARR, [(STR, ["a", "bc"])]), (ARR, [])])),
        ("test.empty", ARR, (U8, [])),
        ("test.bools", ARR, (BOOL, [True, False, True])),
        ("test.f64s", ARR, (F64, [0.5, -2.0])),
        ("test.u64s", ARR, (U64, [0, (1 << 63) + 5])),
    ]
    return kvs


def make_tensors(arch, rng):
    """[(gguf name, hf name, dtype, hf-order float32 weight, heads-to-permute or 0)]"""
    out = []
    tied = arch == "qwen2"
    out.append(("token_embd.weight", "model.embed_tokens.weight", "F16",
                rng.standard_normal((VOCAB, HIDDEN)).astype(np.float32), 0))
    for layer in range(LAYERS):
        for g, h, shape, dts in LAYER_TENSORS:
            w = rng.standard_normal(shape).astype(np.float32) * 0.1
            if g.endswith("norm.weight"):
                w = 1.0 + w
            heads = 0
            if arch == "llama" and g == "attn_q.weight":
                heads = HEADS
            if arch == "llama" and g == "attn_k.weight":
                heads = KV_HEADS
            out.append(("blk.%d.%s" % (layer, g), "model.layers.%d.%s" % (layer, h), dts[layer], w, heads))
        # q/k/v biases (Qwen2 always; a Llama-architecture model may have them too, and
        # llama.cpp permutes the q/k ones like the weights)
        for g, h, shape in BIAS_TENSORS:
            heads = 0
            if arch == "llama" and g == "attn_q.bias":
                heads = HEADS
            if arch == "llama" and g == "attn_k.bias":
                heads = KV_HEADS
            out.append(("blk.%d.%s" % (layer, g), "model.layers.%d.%s" % (layer, h), "F32",
                        rng.standard_normal(shape).astype(np.float32), heads))
    out.append(("output_norm.weight", "model.norm.weight", "F32",
                1.0 + 0.1 * rng.standard_normal(HIDDEN).astype(np.float32), 0))
    if not tied:
        out.append(("output.weight", "lm_head.weight", "Q8_0",
                    rng.standard_normal((VOCAB, HIDDEN)).astype(np.float32), 0))
    # a tensor whose name has no Hugging Face counterpart keeps its own
    out.append(("extra.scale", "extra.scale", "F32", np.arange(8, dtype=np.float32), 0))
    return out


def write_model(outdir, arch="llama", seed=0):
    """Writes OUTDIR/model.gguf, OUTDIR/expected/<hf name>.npy and OUTDIR/expected.json.
    Returns the path of the GGUF file."""
    rng = np.random.default_rng(seed)
    alignment = 32 if arch == "llama" else 64
    kvs = model_kvs(arch)
    if alignment != 32:
        kvs.append(("general.alignment", U32, alignment))
    tensors, expected = [], {}
    for gname, hname, dtype, w, heads in make_tensors(arch, rng):
        stored = permute_rows(w, heads) if heads else w
        raw, back = store(stored, dtype)
        if heads:  # the values a reader must give: dequantised, then back in HF order
            hd = w.shape[0] // heads
            inv = back.reshape(heads, hd // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
            back = inv
        tensors.append({"name": gname, "dims": list(reversed(w.shape)), "type": GGML[dtype],
                        "data": raw})
        expected[hname] = {"gguf_name": gname, "dtype": dtype, "shape": list(w.shape),
                           "permute_heads": heads, "values": back}
    os.makedirs(os.path.join(outdir, "expected"), exist_ok=True)
    path = os.path.join(outdir, "model.gguf")
    with open(path, "wb") as f:
        f.write(build(kvs, tensors, alignment=alignment))
    for hname, e in expected.items():
        np.save(os.path.join(outdir, "expected", hname + ".npy"), e.pop("values"))
    meta = {
        "architecture": arch, "alignment": alignment, "tensors": expected,
        "config": {
            "architecture": "LlamaForCausalLM" if arch == "llama" else "Qwen2ForCausalLM",
            "model_type": arch, "hidden_size": HIDDEN, "intermediate_size": FFN,
            "n_layers": LAYERS, "n_heads": HEADS, "n_kv_heads": KV_HEADS, "head_dim": HEAD_DIM,
            "vocab_size": VOCAB, "max_position_embeddings": 256,
            "rms_norm_eps": float(np.float32(1e-5)),
            "rope_theta": 500000.0 if arch == "llama" else 1000000.0,
            "tie_word_embeddings": arch == "qwen2", "attention_bias": True,
            "bos_token_id": 1, "eos_token_id": 2,
        },
        "tokens": TOKENS,
    }
    with open(os.path.join(outdir, "expected.json"), "w") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
    return path


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(write_model(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "llama"))
