"""hyplora's safetensors reader and writer against the independent Python writer/reader in
tests/lib/st_writer.py: values bit for bit, shapes, dtypes, sharded indexes, and the model
make-model writes."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import st_writer  # noqa: E402
from harness import Suite  # noqa: E402

s = Suite()
rng = np.random.default_rng(1234)


def same_bits(a, b):
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.array_equal(a.view(np.uint32), b.view(np.uint32)), "values differ"


def info(path):
    return json.loads(s.ok("info", "--json", path).out)


def export(path, name, *extra):
    out = s.path("t.npy")
    s.ok("tensor", path, name, "-o", out, *extra)
    return np.load(out)


def test_every_half_value():
    # all 65536 bit patterns of F16 and BF16, through the real read path
    bits = np.arange(65536, dtype=np.uint16)
    path = s.path("halves.safetensors")
    st_writer.write(path, [("f16", "F16", [256, 256], bits.astype("<u2").tobytes()),
                           ("bf16", "BF16", [65536], bits.astype("<u2").tobytes())])
    same_bits(export(path, "f16"), bits.view(np.float16).astype(np.float32).reshape(256, 256))
    same_bits(export(path, "bf16"), st_writer.bf16_bits_to_f32(bits))


def test_f32_and_shapes():
    a = rng.standard_normal((7, 5, 3)).astype(np.float32)
    a[0, 0, 0] = np.inf
    a[0, 0, 1] = -0.0
    a[0, 0, 2] = 1e-42  # subnormal
    scalar = np.array(3.5, dtype=np.float32)
    path = s.path("f32.safetensors")
    st_writer.write(path, [("a", "F32", a.shape, a.tobytes()), ("s", "F32", [], scalar.tobytes()),
                           ("empty", "F32", [0, 4], b"")], metadata={"format": "pt"})
    j = info(path)
    assert j["format"] == "safetensors" and j["config"] is None
    shapes = {t["name"]: (t["dtype"], t["shape"], t["bytes"]) for t in j["tensors"]}
    assert shapes == {"a": ("F32", [7, 5, 3], 420), "s": ("F32", [], 4), "empty": ("F32", [0, 4], 0)}, shapes
    assert j["n_parameters"] == 7 * 5 * 3 + 1
    same_bits(export(path, "a"), a)
    same_bits(export(path, "a", "--rows", "2:5"), a[2:5])
    same_bits(export(path, "s"), scalar)


def make_hf_dir(name, shards, dtype):
    d = s.path(name)
    os.makedirs(d)
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
           "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
           "num_key_value_heads": 2, "vocab_size": 50, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
           "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
           "tie_word_embeddings": True, "bos_token_id": 1, "eos_token_id": [2, 3]}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    arrays = {"model.embed_tokens.weight": rng.standard_normal((50, 32)).astype(np.float32)}
    for layer in range(2):
        p = "model.layers.%d." % layer
        arrays[p + "self_attn.q_proj.weight"] = rng.standard_normal((32, 32)).astype(np.float32)
        arrays[p + "self_attn.k_proj.weight"] = rng.standard_normal((16, 32)).astype(np.float32)
        arrays[p + "mlp.down_proj.weight"] = rng.standard_normal((32, 48)).astype(np.float32)
        arrays[p + "input_layernorm.weight"] = np.ones(32, np.float32)
    names = list(arrays)
    weight_map = {}
    for k in range(shards):
        part = names[k::shards]
        fname = "model-%05d-of-%05d.safetensors" % (k + 1, shards) if shards > 1 else "model.safetensors"
        st_writer.write(os.path.join(d, fname),
                        [(n, dtype, arrays[n].shape, st_writer.tensor_bytes(dtype, arrays[n])) for n in part])
        weight_map.update({n: fname for n in part})
    if shards > 1:
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
    return d, arrays


def expected(dtype, a):
    if dtype == "BF16":
        return st_writer.bf16_bits_to_f32(st_writer.f32_to_bf16_bits(a)).reshape(a.shape)
    if dtype == "F16":
        return a.astype(np.float16).astype(np.float32)
    return a


def check_hf(shards, dtype):
    d, arrays = make_hf_dir("hf-%d-%s" % (shards, dtype), shards, dtype)
    j = info(d)
    c = j["config"]
    assert j["format"] == "huggingface" and j["n_files"] == shards
    assert (c["hidden_size"], c["num_key_value_heads"], c["head_dim"], c["vocab_size"]) == (32, 2, 8, 50)
    assert c["rope_scaling"] == "llama3" and c["rope_scaling_factor"] == 8.0
    assert c["tie_word_embeddings"] is True and c["eos_token_id"] == 2 and c["forward_supported"]
    assert sorted(t["name"] for t in j["tensors"]) == sorted(arrays)
    assert j["n_parameters"] == sum(a.size for a in arrays.values())
    for name, a in arrays.items():
        same_bits(export(d, name), expected(dtype, a))


def test_make_model_read_by_python():
    # hyplora's writer, read by the independent reader: layout, dtypes and the values
    d = s.path("made")
    s.ok("make-model", "-o", d, "--hidden", "32", "--intermediate", "40", "--layers", "2",
         "--heads", "4", "--kv-heads", "2", "--vocab", "300", "--dtype", "f32", "--seed", "7",
         "--no-tokenizer")
    header, tensors, data_start = st_writer.read(os.path.join(d, "model.safetensors"))
    assert data_start % 8 == 0, "header not padded to 8 bytes"
    assert header["__metadata__"] == {"format": "pt"}
    assert tensors["model.embed_tokens.weight"].shape == (300, 32)
    assert tensors["model.layers.1.self_attn.k_proj.weight"].shape == (16, 32)
    assert tensors["model.layers.0.mlp.down_proj.weight"].shape == (32, 40)
    assert tensors["lm_head.weight"].shape == (300, 32)
    assert np.all(tensors["model.norm.weight"] == 1)
    emb = tensors["model.embed_tokens.weight"]
    assert abs(emb.std() - 0.02) < 0.001 and abs(emb.mean()) < 0.001, (emb.mean(), emb.std())
    cfg = json.load(open(os.path.join(d, "config.json")))
    assert cfg["model_type"] == "llama" and cfg["num_key_value_heads"] == 2
    # the same seed in BF16 and F16 must be the round-to-nearest-even of the F32 values
    for dt, conv in (("bf16", lambda a: expected("BF16", a)), ("f16", lambda a: expected("F16", a))):
        d2 = s.path("made-" + dt)
        s.ok("make-model", "-o", d2, "--hidden", "32", "--intermediate", "40", "--layers", "2",
             "--heads", "4", "--kv-heads", "2", "--vocab", "300", "--dtype", dt, "--seed", "7",
             "--no-tokenizer")
        h2, t2, _ = st_writer.read(os.path.join(d2, "model.safetensors"))
        for name, a in tensors.items():
            assert h2[name]["dtype"] == dt.upper()
            same_bits(t2[name], conv(a))


def test_make_model_sharded_and_deterministic():
    d1, d2 = s.path("sh1"), s.path("sh2")
    for d in (d1, d2):
        s.ok("make-model", "-o", d, "--hidden", "32", "--intermediate", "40", "--layers", "3",
             "--vocab", "100", "--shards", "3", "--seed", "3", "--tie", "--no-tokenizer")
    index = json.load(open(os.path.join(d1, "model.safetensors.index.json")))
    files = sorted(set(index["weight_map"].values()))
    assert files == ["model-0000%d-of-00003.safetensors" % k for k in (1, 2, 3)], files
    total = 0
    for f in files:
        h, t, _ = st_writer.read(os.path.join(d1, f))
        for name, a in t.items():
            assert index["weight_map"][name] == f
            total += a.size * 2  # BF16
        assert open(os.path.join(d1, f), "rb").read() == open(os.path.join(d2, f), "rb").read()
    assert "lm_head.weight" not in index["weight_map"]
    j = info(d1)
    assert j["n_files"] == 3 and j["config"]["tie_word_embeddings"] is True
    assert j["n_bytes"] == index["metadata"]["total_size"] == total


def test_default_model_with_tokenizer():
    d = s.path("default")
    s.ok("make-model", "-o", d)
    j = info(d)
    assert j["tokenizer"] == "BPE" and j["config"]["vocab_size"] == 32000
    vendored = os.path.join(os.path.dirname(__file__), "..", "..", "notebooks-data", "tokenizers", "llama2")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert open(os.path.join(d, name), "rb").read() == open(os.path.join(vendored, name), "rb").read(), name
    t = s.ok("info", d).out
    assert "LlamaForCausalLM" in t and "model.embed_tokens.weight" in t and "BF16" in t


for shards in (1, 3):
    for dtype in ("F32", "F16", "BF16"):
        s.check("hf dir, %d shard(s), %s" % (shards, dtype), lambda: check_hf(shards, dtype))
s.check("every F16 and BF16 value", test_every_half_value)
s.check("F32 values, scalars, empty tensors, --rows", test_f32_and_shapes)
s.check("make-model read by the independent reader", test_make_model_read_by_python)
s.check("make-model sharded, deterministic", test_make_model_sharded_and_deterministic)
s.check("default model with the LLaMA-2 tokenizer", test_default_model_with_tokenizer)
s.done()
