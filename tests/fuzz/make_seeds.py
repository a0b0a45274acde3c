#!/usr/bin/python3
"""Writes the fuzzers' seed corpora: tiny valid inputs (and a few near misses) for each
harness in tests/fuzz, built with the repository's independent writers
(tests/lib/st_writer.py, tests/oracle/gguf_writer.py) and numpy.

    make_seeds.py OUTDIR        writes OUTDIR/<target>/<name> for every target

Each seed is a few hundred bytes to a few KB: libFuzzer mutates small inputs far faster,
and every branch of the readers is reachable from files this size.
"""
import io
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
import gguf_writer as G  # noqa: E402
import st_writer  # noqa: E402

VOCAB_SEP = b"\n#VOCAB#\n"   # fuzz_vectors.c
FILE_SEP = b"\n@@FILE@@\n"   # fuzz_model_dir.c


def st_bytes(tensors, metadata=None, raw_header=None, align=8):
    """A safetensors file as bytes (st_writer writes to a path)."""
    path = os.path.join(OUT, ".tmp.safetensors")
    st_writer.write(path, tensors, metadata=metadata, raw_header=raw_header, align=align)
    with open(path, "rb") as f:
        data = f.read()
    os.remove(path)
    return data


def arr(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(np.float32)
    return (dtype, list(shape), st_writer.tensor_bytes(dtype, a))


def seeds_safetensors():
    s = {}
    s["one_f32"] = st_bytes([("w",) + arr("F32", (2, 3))])
    s["mixed"] = st_bytes([
        ("model.embed_tokens.weight",) + arr("BF16", (4, 8), 1),
        ("model.norm.weight",) + arr("F16", (8,), 2),
        ("lm_head.weight",) + arr("F32", (4, 8), 3),
        ("ids", "I32", [3], np.arange(3, dtype="<i4").tobytes()),
        ("flags", "U8", [2, 2], bytes([0, 1, 1, 0])),
        ("big", "I64", [1], np.array([1 << 40], dtype="<i8").tobytes()),
    ], metadata={"format": "pt", "note": "h\u00e9llo"})
    s["scalar_and_empty"] = st_bytes([
        ("scalar", "F32", [], np.float32(1.5).tobytes()),
        ("empty", "F32", [0, 4], b""),
        ("f64", "F64", [2], np.array([0.5, -2], dtype="<f8").tobytes()),
    ])
    # Types without an st_writer encoding are written by hand.
    hdr = {"e4m3": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]},
           "e5m2": {"dtype": "F8_E5M2", "shape": [2, 2], "data_offsets": [4, 8]},
           "b": {"dtype": "BOOL", "shape": [2], "data_offsets": [8, 10]},
           "u16": {"dtype": "U16", "shape": [1], "data_offsets": [10, 12]},
           "i16": {"dtype": "I16", "shape": [1], "data_offsets": [12, 14]},
           "u32": {"dtype": "U32", "shape": [1], "data_offsets": [14, 18]},
           "u64": {"dtype": "U64", "shape": [1], "data_offsets": [18, 26]},
           "i8": {"dtype": "I8", "shape": [2], "data_offsets": [26, 28]}}
    text = json.dumps(hdr).encode()
    text += b" " * (-len(text) % 8)
    s["rare_dtypes"] = struct.pack("<Q", len(text)) + text + bytes(range(28))
    s["empty_header"] = st_bytes([], raw_header="{}")
    s["meta_only"] = st_bytes([], metadata={"a": "b"})
    return s


def gguf_tiny_model(arch):
    """A one-layer model small enough to mutate quickly: hidden 32, 2 heads, vocab 8."""
    hidden, heads, kv_heads, ffn, vocab = 32, 2, 1, 32, 8
    hd = hidden // heads
    tokens = ["<unk>", "<s>", "</s>", "\u2581h\u00e9", "\u4e16", "\U0001f600", "a", "b"]
    a = arch
    kvs = [
        ("general.architecture", G.STR, arch),
        ("general.name", G.STR, "tiny"),
        ("general.file_type", G.U32, 1),
        (a + ".context_length", G.U32, 64),
        (a + ".embedding_length", G.U32, hidden),
        (a + ".block_count", G.U32, 1),
        (a + ".feed_forward_length", G.U32, ffn),
        (a + ".attention.head_count", G.U32, heads),
        (a + ".attention.head_count_kv", G.U32, kv_heads),
        (a + ".attention.layer_norm_rms_epsilon", G.F32, 1e-5),
        (a + ".rope.freq_base", G.F32, 10000.0),
        (a + ".rope.dimension_count", G.U32, hd),
        ("tokenizer.ggml.model", G.STR, "llama" if arch == "llama" else "gpt2"),
        ("tokenizer.ggml.tokens", G.ARR, (G.STR, tokens)),
        ("tokenizer.ggml.scores", G.ARR, (G.F32, [-0.5 * i for i in range(vocab)])),
        ("tokenizer.ggml.token_type", G.ARR, (G.I32, [1] * vocab)),
        ("tokenizer.ggml.bos_token_id", G.U32, 1),
        ("tokenizer.ggml.eos_token_id", G.U32, 2),
    ]
    rng = np.random.default_rng(7)
    spec = [("token_embd.weight", (vocab, hidden), "F16"),
            ("blk.0.attn_norm.weight", (hidden,), "F32"),
            ("blk.0.attn_q.weight", (hidden, hidden), "Q8_0"),
            ("blk.0.attn_k.weight", (kv_heads * hd, hidden), "Q4_0"),
            ("blk.0.attn_v.weight", (kv_heads * hd, hidden), "BF16"),
            ("blk.0.attn_output.weight", (hidden, hidden), "F16"),
            ("blk.0.ffn_norm.weight", (hidden,), "F32"),
            ("blk.0.ffn_gate.weight", (ffn, hidden), "Q4_0"),
            ("blk.0.ffn_up.weight", (ffn, hidden), "Q8_0"),
            ("blk.0.ffn_down.weight", (hidden, ffn), "F16"),
            ("output_norm.weight", (hidden,), "F32")]
    if arch == "qwen2":
        spec += [("blk.0.attn_q.bias", (hidden,), "F32"),
                 ("blk.0.attn_k.bias", (kv_heads * hd,), "F32")]
    else:
        spec += [("output.weight", (vocab, hidden), "Q8_0")]
    tensors = []
    for name, shape, dt in spec:
        raw, _ = G.store(rng.standard_normal(shape).astype(np.float32), dt)
        tensors.append({"name": name, "dims": list(reversed(shape)), "type": G.GGML[dt], "data": raw})
    align = 32 if arch == "llama" else 64
    if align != 32:
        kvs.append(("general.alignment", G.U32, align))
    return G.build(kvs, tensors, alignment=align)


def seeds_gguf():
    s = {}
    s["llama"] = gguf_tiny_model("llama")
    s["qwen2"] = gguf_tiny_model("qwen2")
    every = [
        ("test.u8", G.U8, 200), ("test.i8", G.I8, -100), ("test.u16", G.U16, 60000),
        ("test.i16", G.I16, -30000), ("test.u32", G.U32, 4000000000), ("test.i32", G.I32, -5),
        ("test.u64", G.U64, (1 << 63) + 3), ("test.i64", G.I64, -(1 << 40)),
        ("test.f32", G.F32, 0.25), ("test.f64", G.F64, 3.5),
        ("test.bool", G.BOOL, True), ("test.str", G.STR, "h\u00e9llo"), ("test.str_empty", G.STR, ""),
        ("test.nested", G.ARR, (G.ARR, [(G.I32, [1, 2]), (G.I32, []), (G.ARR, [(G.STR, ["a", "bc"])])])),
        ("test.bools", G.ARR, (G.BOOL, [True, False])),
        ("test.f64s", G.ARR, (G.F64, [0.5, -2.0])),
        ("test.u64s", G.ARR, (G.U64, [0, (1 << 63) + 5])),
        ("test.strs", G.ARR, (G.STR, ["x", "", "yz"])),
    ]
    s["every_type"] = G.build(every, [])
    s["every_type_v2"] = G.build(every[:6], [], version=2)
    s["other_arch"] = G.build([("general.architecture", G.STR, "gpt2"),
                               ("gpt2.embedding_length", G.U32, 4),
                               ("gpt2.block_count", G.ARR, (G.U32, [1, 2]))],
                              [{"name": "token_embd.weight", "dims": [4, 2], "type": 0,
                                "data": np.ones(8, np.float32).tobytes()},
                               {"name": "blk.0.ffn_up.weight", "dims": [256, 1], "type": 12,
                                "data": bytes(144)},
                               {"name": "extra", "dims": [3], "type": 26,
                                "data": np.arange(3, dtype="<i4").tobytes()}])
    s["no_tensors_no_kv"] = G.build([], [])
    return s


def seeds_config():
    llama = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
             "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 100, "max_position_embeddings": 256,
             "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": False,
             "bos_token_id": 1, "eos_token_id": [2, 3], "torch_dtype": "bfloat16",
             "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                              "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}
    qwen = dict(llama, architectures=["Qwen2ForCausalLM"], model_type="qwen2",
                tie_word_embeddings=True, rope_scaling=None, head_dim=16)
    mistral = dict(llama, architectures=["MistralForCausalLM"], model_type="mistral",
                   rope_scaling={"type": "linear", "factor": 2.0}, attention_bias=False)
    gemma = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
             "text_config": {"hidden_size": 32, "num_attention_heads": 2, "vocab_size": 10,
                             "rope_scaling": {"rope_type": "default"}}}
    return {"llama": json.dumps(llama).encode(), "qwen2": json.dumps(qwen).encode(),
            "mistral": json.dumps(mistral, indent=1).encode(), "gemma3": json.dumps(gemma).encode(),
            "unknown": b'{"model_type": "bert", "hidden_size": 8, "bos_token_id": null}'}


def seeds_json_stream():
    return {
        "array": b'[{"text": "a", "n": 1}, {"text": "b\\u00e9\\ud83d\\ude00", "n": -0.38194}, [1, [2, {}]], null, true, "STOP", 3]',
        "jsonl": b'{"text": "x"}\n\n  {"text": 5}\n[1e400, 1.5e-45, 0.1000000000000000055511151231257827]\n"FAIL"\n',
        "members": b'{"size": 3, "words": ["a", "b", "c"], "skip": {"deep": [[[]]]}, "vectors": {"a": [1, 2], "b": [0, 1]}, "data": {"k": "v"}}',
        "bom": b'\xef\xbb\xbf[{"text": "bom"}]',
        "numbers": b'[0, -0, 1E+2, 12345678901234567890, 3.4028235e38, 3.4028236e38, 1e-46, 16777217, 0.000001]',
    }


def npy_bytes(a, version=None):
    buf = io.BytesIO()
    if version is None:
        np.save(buf, a)
    else:
        np.lib.format.write_array(buf, a, version=version)
    return buf.getvalue()


def seeds_vectors():
    glove = b"the 0.1 -0.2 0.3\nof 1e-3 2.5 -7\n\xc3\xa9t\xc3\xa9 0 0 1\n"
    w2v = b"2 3\nthe 0.1 0.2 0.3\nand\t1 2 3\n"
    wink = json.dumps({"dimensions": 2, "size": 2, "words": ["a", "b"], "l2NormIndex": 2,
                       "wordIndex": 3, "vectors": {"a": [0.5, -1, 1.118, 0], "b": [1, 2, 2.236, 1]}}).encode()
    m = np.arange(6, dtype=np.float32).reshape(3, 2) / 7
    vocab = b"one\ntwo\nthree\n"
    return {
        "glove": b"\x00" + glove,
        "word2vec": b"\x00" + w2v,
        "wink": b"\x00" + wink,
        "npy_f4": b"\x01" + npy_bytes(m) + VOCAB_SEP + vocab,
        "npy_f8_v2": b"\x01" + npy_bytes(m.astype("<f8"), (2, 0)) + VOCAB_SEP + vocab,
        "npy_f2_v3": b"\x01" + npy_bytes(m.astype("<f2"), (3, 0)) + VOCAB_SEP + vocab,
        "npy_empty": b"\x01" + npy_bytes(np.zeros((0, 4), np.float32)) + VOCAB_SEP,
    }


def seeds_model_dir():
    cfg = json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                      "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
                      "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 4}).encode()
    a = st_bytes([("model.embed_tokens.weight",) + arr("BF16", (4, 8), 1),
                  ("model.norm.weight",) + arr("F32", (8,), 2)])
    b = st_bytes([("lm_head.weight",) + arr("F16", (4, 8), 3)])
    index = json.dumps({"metadata": {"total_size": 0},
                        "weight_map": {"model.embed_tokens.weight": "a.safetensors",
                                       "model.norm.weight": "a.safetensors",
                                       "lm_head.weight": "b.safetensors"}}).encode()
    tok = b'{"model": {"type": "BPE", "vocab": {}}}'
    single = st_bytes([("transformer.wte.weight",) + arr("F32", (3, 2), 4)])
    return {
        "sharded": FILE_SEP.join([cfg, index, b"", a, b, tok]),
        "single": FILE_SEP.join([cfg, b"", single, b"", b"", tok]),
        "no_config": FILE_SEP.join([b"", b"", single]),
    }


def seeds_tokenizer():
    sep = b"\n@@TEXT@@\n"
    text = "Hello  world! 123 caf\u00e9 \u4f60\u597d \U0001f600 <s> x\r\n".encode()
    chars = ["a", "b", "c", "d", " ", "\u0120", "\u2581", "!", "1", "2"]
    byte_level = {
        "added_tokens": [{"id": 12, "content": "<s>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}| ?\\p{L}+|\\s+(?!\\S)|\\s+"},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [12], "tokens": ["<s>"]}}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "fuse_unk": False,
                  "byte_fallback": False, "ignore_merges": False,
                  "vocab": {c: i for i, c in enumerate(chars)} | {"ab": 10, "\u0120a": 11},
                  "merges": ["a b", ["\u0120", "a"]]},
    }
    sp = {
        "added_tokens": [{"id": 0, "content": "<unk>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None, "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
            {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
                  "vocab": {"<unk>": 0, **{"<0x%02X>" % b: 1 + b for b in range(256)},
                            "\u2581": 257, "a": 258, "\u2581a": 259},
                  "merges": ["\u2581 a"]},
    }
    return {"byte_level": json.dumps(byte_level).encode() + sep + text,
            "sentencepiece": json.dumps(sp).encode() + sep + text}


def seeds_text_inputs():
    """First byte even: a word-group file; odd: a plain-text corpus."""
    groups = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                               "notebooks-data", "groups", "paper_word_groups.txt"), "rb").read()
    return {"groups": b"\0" + groups,
            "groups_bad": b"\0lonely\nx the\nx of\n",
            "corpus": b"\1one\r\ntwo\n\nthree\rx\nlast",
            "corpus_utf8": b"\1\xc3\xa9t\xc3\xa9\n\xff\xfe\n"}


TARGETS = {
    "safetensors": seeds_safetensors, "gguf": seeds_gguf, "config": seeds_config,
    "json_stream": seeds_json_stream, "vectors": seeds_vectors, "model_dir": seeds_model_dir,
    "tokenizer": seeds_tokenizer, "text_inputs": seeds_text_inputs,
}

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    OUT = sys.argv[1]
    os.makedirs(OUT, exist_ok=True)
    for target, make in TARGETS.items():
        d = os.path.join(OUT, target)
        os.makedirs(d, exist_ok=True)
        for name, data in make().items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
    print(OUT)
