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
a padded batch equal to each sequence run alone, the same with the weights kept in their
stored dtype, with every layer's activations kept, and with KV-cache decoding (prefill then
one token per step), and clear errors for a missing tensor, a wrong shape and a token id out
of range.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import numpy as np  # noqa: E402
try:
    import torch  # noqa: E402
except ImportError:  # a clear failure, not a skip: this is the forward pass's only oracle
    sys.exit("test_forward.py: PyTorch is missing: apt-get install python3-torch (Debian's, for /usr/bin/python3)")

import harness  # noqa: E402
import st_writer  # noqa: E402
from checkpoints import make_model, rewrite, sharpen  # noqa: E402
from torch_llama import load_gguf_expected, load_safetensors_dir, reference  # noqa: E402

TOL = 1e-4
suite = harness.Suite()
HYPLORA = sys.argv[2]
rng = np.random.default_rng(6)
SMALL = ("--no-tokenizer", "--vocab", 300)  # make-model options of every checkpoint here


def stored_dtypes(path):
    header, _, _ = st_writer.read(path)
    return {k: v["dtype"] for k, v in header.items() if k != "__metadata__"}


# ---- running the C side ----

def dump(model_dir, seqs, tag, hidden=True, extra=()):
    lp, hp = suite.path(tag + "-logits.npy"), suite.path(tag + "-hidden.npy")
    args = [model_dir, "--logits", lp] + (["--hidden", hp] if hidden else []) + list(extra)
    args += [",".join(map(str, s)) for s in seqs]
    suite.ok(*args)
    return np.load(lp), (np.load(hp) if hidden else None)


def rel_err(got, want):
    scale = max(float(np.abs(want).max()), 1e-30)
    return float(np.abs(got.astype(np.float64) - want).max()) / scale


def random_seqs(lengths):
    return [rng.integers(0, 300, n).tolist() for n in lengths]


def compare(model_dir, tag, lengths=(37, 12, 1, 24), loader=load_safetensors_dir, run_path=None, vocab=300,
            modes=()):
    """The dump against the reference; then each mode (forward_dump options) against the
    reference too, and against the default dump within 1e-5 of scale."""
    seqs = [rng.integers(0, vocab, n).tolist() for n in lengths]
    weights = loader(model_dir)
    refs = [reference(model_dir, s, weights=weights) for s in seqs]
    logits, hidden = dump(run_path or model_dir, seqs, tag)
    T = max(lengths)
    assert logits.shape[:2] == (len(seqs), T), logits.shape
    worst = 0.0
    for b, s in enumerate(seqs):
        n = len(s)
        ref_l, ref_h = refs[b]
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
    for mode in modes:
        incremental = "--incremental" in mode
        got, got_h = dump(run_path or model_dir, seqs, tag + "-" + "-".join(m.strip("-") for m in mode),
                          hidden=not incremental, extra=mode)
        for b, s in enumerate(seqs):
            n = len(s)
            e = rel_err(got[b, :n], refs[b][0])
            assert e < TOL, "%s %s seq %d: logits differ from the reference by %.3g" % (tag, mode, b, e)
            e = rel_err(got[b, :n], logits[b, :n].astype(np.float64))
            assert e < 1e-5, "%s %s seq %d: logits differ from the full pass by %.3g" % (tag, mode, b, e)
            if not incremental:
                e = rel_err(got_h[:, b, :n], hidden[:, b, :n].astype(np.float64))
                assert e < 1e-5, "%s %s seq %d: hidden states differ by %.3g" % (tag, mode, b, e)
        print("     %s %s: equal to the reference and to the full pass" % (tag, " ".join(mode)))


def padded_equals_single(model_dir, tag):
    seqs = random_seqs((29, 7, 16))
    batch, _ = dump(model_dir, seqs, tag + "-batch", hidden=False)
    for b, s in enumerate(seqs):
        one, _ = dump(model_dir, [s], "%s-one%d" % (tag, b), hidden=False)
        e = rel_err(batch[b, :len(s)], one[0].astype(np.float64))
        assert e < 1e-5, "sequence %d in a padded batch differs from alone by %.3g" % (b, e)


# ---- the checkpoints ----

# Weights kept in their stored dtype and widened as used; every layer's activations kept
# (the training layout); the KV cache: a prefill of 1, 2, ... tokens (and of 5, 6, ...),
# then one decoding step at a time, each sequence at its own position.
STORED_CACHE_MODES = (("--weights", "stored"), ("--keep-all",), ("--incremental", "1"),
                      ("--incremental", "5", "--weights", "stored"))

def case_bf16_gqa_untied():
    d = make_model(suite, HYPLORA, "bf16-gqa", *SMALL, "--dtype", "bf16", "--heads", 4, "--kv-heads", 2,
                   "--layers", 3, "--seed", 1)
    rewrite(d, lambda t: sharpen(t, rng))
    compare(d, "bf16-gqa", modes=STORED_CACHE_MODES)
    padded_equals_single(d, "bf16-gqa")


def case_f32_mha_tied():
    d = make_model(suite, HYPLORA, "f32-mha", *SMALL, "--dtype", "f32", "--heads", 4, "--kv-heads", 4, "--tie",
                   "--seed", 2)
    rewrite(d, lambda t: sharpen(t, rng))
    assert "lm_head.weight" not in stored_dtypes(os.path.join(d, "model.safetensors"))
    compare(d, "f32-mha")


def case_f32_bias_llama3():
    d = make_model(suite, HYPLORA, "f32-bias", *SMALL, "--dtype", "f32", "--heads", 8, "--kv-heads", 2,
                   "--hidden", 128, "--seed", 3)

    def cfg(c):
        c["attention_bias"] = True
        c["rope_theta"] = 500000.0
        # head_dim 16, theta 5e5 and an original context of 64 put the wavelengths 6.3,
        # 32.4, 167, ... in all three bands (kept < 16, blended 16..64, slowed > 64), and the
        # sequences reach past that context.
        c["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    rewrite(d, lambda t: sharpen(t, rng, with_bias=True), cfg)
    compare(d, "f32-bias", lengths=(70, 33, 5), modes=STORED_CACHE_MODES)
    padded_equals_single(d, "f32-bias")


def case_bf16_plain():
    """make-model's output as it is: norms 1, std-0.02 weights, default rope."""
    d = make_model(suite, HYPLORA, "bf16-plain", *SMALL, "--seed", 4)
    compare(d, "bf16-plain", lengths=(20, 9))


def case_odd_widths():
    """Widths that are no multiple of the kernels' 8 lanes (hidden 72, head_dim 18, MLP 180),
    with sequences of 5 to 32 rows: the mid-row kernel's tails."""
    d = make_model(suite, HYPLORA, "odd", *SMALL, "--dtype", "f32", "--hidden", 72, "--intermediate", 180,
                   "--heads", 4, "--kv-heads", 2, "--seed", 6)
    rewrite(d, lambda t: sharpen(t, rng))
    compare(d, "odd", lengths=(13, 7), modes=STORED_CACHE_MODES)


def case_gguf(arch):
    """gguf_writer.py's tiny models: Llama with llama.cpp's permuted q/k rows (and biases),
    Qwen2 with a tied head; F32/F16/BF16/Q8_0/Q4_0 weights, compared with the dequantised
    values the writer saved."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import gguf_writer
    outdir = suite.path("gguf-" + arch)
    path = gguf_writer.write_model(outdir, arch, seed=7)
    compare(outdir, "gguf-" + arch, lengths=(40, 17), loader=load_gguf_expected, run_path=path,
            vocab=gguf_writer.VOCAB, modes=STORED_CACHE_MODES)


def case_errors():
    d = make_model(suite, HYPLORA, "broken", *SMALL, "--dtype", "f32", "--seed", 5)
    harness.expect_error(suite, [d, "--logits", suite.path("x.npy"), "1,2,300"], "token id 300")

    def drop(t):
        del t["model.layers.1.mlp.up_proj.weight"]
    rewrite(d, drop)
    harness.expect_error(suite, [d, "--logits", suite.path("x.npy"), "1,2"], "model.layers.1.mlp.up_proj.weight")
    d2 = make_model(suite, HYPLORA, "broken2", *SMALL, "--dtype", "f32", "--seed", 5)

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
suite.check("widths no multiple of 8, 5 to 32 rows", case_odd_widths)
suite.check("GGUF llama: permuted q/k rows, biases, quantised weights", lambda: case_gguf("llama"))
suite.check("GGUF qwen2: tied head, biases", lambda: case_gguf("qwen2"))
suite.check("errors: token out of range, missing tensor, wrong shape", case_errors)
suite.done()
