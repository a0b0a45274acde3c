#!/usr/bin/python3
"""The backward pass of one decoder layer (common/hyplora/backward.h) against PyTorch
autograd on the float64 decoder of tests/lib/torch_llama.py:

    test_backward.py HYPLORA_EXE BACKWARD_DUMP_EXE

Layers: for small random make-model checkpoints (float32 weights, sharpened so that attention is
far from uniform): a padded batch of sequences of unequal length, a random gradient at the
output of layer l (zero at padded positions), and from the C side the gradient at the
layer's input and the gradient of every weight of the layer (norms, q/k/v/o, gate/up/down,
q/k/v biases when the model has them). The reference runs each sequence alone through
torch_llama.layer with autograd, from the same input hidden states (torch_llama.reference),
and sums the weight gradients over the sequences. Within 1e-4 of the largest value of each
array (the C side is float32). GQA and MHA, with and without biases, llama3 rope scaling;
every layer of a 3-layer model; the rows of padded positions stay exactly zero.

The whole model (hp_bwd_loss): the mean cross-entropy over the positions with a target (the
next token; masked prompt positions and padding excluded) and the gradient of every weight
at or above the lowest layer asked for (the embedding when that is 0, and always as a tied
head), against autograd of the same loss; tied and untied heads.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import torch  # noqa: E402
except ImportError:
    sys.exit("test_backward.py: PyTorch is missing: apt-get install python3-torch (for /usr/bin/python3)")
import numpy as np  # noqa: E402

from checkpoints import make_model, rewrite, sharpen  # noqa: E402
from harness import Suite  # noqa: E402
from torch_hyplora import MODULES, delta, module_shape  # noqa: E402
from torch_train import random_batch, torch_loss  # noqa: E402
from torch_llama import layer, load_safetensors_dir, reference, rope_tables  # noqa: E402

torch.set_default_dtype(torch.float64)
suite = Suite()
HYPLORA, DUMP = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(20261127)
TOL = 1e-4
NAMES = ["input_layernorm.weight", "post_attention_layernorm.weight", "self_attn.q_proj.weight",
         "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight", "mlp.gate_proj.weight",
         "mlp.up_proj.weight", "mlp.down_proj.weight"]
BIASES = ["self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"]


def run_dump(model_dir, index, lengths, T, tokens, dx_out):
    with tempfile.TemporaryDirectory() as d:
        np.ascontiguousarray(dx_out, dtype="<f4").tofile(os.path.join(d, "dx_out.f32"))
        r = subprocess.run([DUMP, model_dir, "layer", str(index), str(T), ",".join(map(str, lengths)),
                            ",".join(str(int(t)) for t in tokens.ravel()), d], capture_output=True, text=True)
        assert r.returncode == 0 and "runtime error" not in r.stderr, \
            "backward_dump exited %d: %s" % (r.returncode, r.stderr)
        out = {"dx_in": np.fromfile(os.path.join(d, "dx_in.f32"), dtype="<f4")}
        for f in os.listdir(d):
            if f.startswith("model.layers."):
                out[f[:-4]] = np.fromfile(os.path.join(d, f), dtype="<f4")
    return out


def expected(model_dir, index, lengths, T, tokens, dx_out):
    cfg, W = load_safetensors_dir(model_dir)
    D = cfg["hidden_size"]
    p = "model.layers.%d." % index
    params = {k: v.clone().requires_grad_(True) for k, v in W.items() if k.startswith(p)}
    Wg = dict(W)
    Wg.update(params)
    dx_in = np.zeros((len(lengths), T, D))
    for b, n in enumerate(lengths):
        ids = [int(t) for t in tokens[b, :n]]
        _, hidden = reference(model_dir, ids, weights=(cfg, W))
        x = torch.tensor(hidden[index], requires_grad=True)
        cos, sin = rope_tables(cfg, n)
        out = layer(cfg, Wg, index, x, cos, sin)
        (out * torch.tensor(dx_out[b, :n].astype(np.float64))).sum().backward()
        dx_in[b, :n] = x.grad.numpy()
    grads = {k: v.grad.numpy() for k, v in params.items()}
    return dx_in, grads


def close(what, got, want):
    got, want = np.asarray(got, float).ravel(), np.asarray(want, float).ravel()
    assert got.shape == want.shape, (what, got.shape, want.shape)
    scale = max(float(np.abs(want).max()), 1e-30)
    err = float(np.abs(got - want).max()) / scale
    assert err <= TOL, "%s: worst difference %.3g of the largest value %.3g" % (what, err, scale)
    return err


def check(model_dir, lengths, layers, seed):
    cfg, _ = load_safetensors_dir(model_dir)
    D, V = cfg["hidden_size"], cfg["vocab_size"]
    T, B = max(lengths), len(lengths)
    r = np.random.default_rng(seed)
    tokens = r.integers(0, V, (B, T))
    worst = 0.0
    for index in layers:
        dx_out = r.standard_normal((B, T, D)).astype(np.float32)
        for b, n in enumerate(lengths):
            dx_out[b, n:] = 0
        got = run_dump(model_dir, index, lengths, T, tokens, dx_out)
        want_dx, want_g = expected(model_dir, index, lengths, T, tokens, dx_out)
        gdx = got["dx_in"].reshape(B, T, D)
        for b, n in enumerate(lengths):
            assert not gdx[b, n:].any(), "layer %d: padded rows of sequence %d are not zero" % (index, b)
        try:
            worst = max(worst, close("dx_in", gdx, want_dx))
            for name, g in want_g.items():
                assert name in got, "no gradient of %s" % name
                worst = max(worst, close(name, got[name], g))
            extra = set(k for k in got if k != "dx_in") - set(want_g)
            assert not extra, extra
        except AssertionError as e:
            raise AssertionError("layer %d, lengths %s: %s" % (index, lengths, e))
    return worst


def case_gqa():
    d = make_model(suite, HYPLORA, "gqa", "--hidden", 64, "--heads", 4, "--kv-heads", 2, "--layers", 3,
                   "--intermediate", 96, "--vocab", 300, "--no-tokenizer", "--dtype", "f32", "--seed", 4)
    rewrite(d, lambda t: sharpen(t, rng))
    w = check(d, [9, 6, 1], [0, 1, 2], 1)
    print("     GQA 4/2 heads, 3 layers, lengths 9 6 1: worst %.2g" % w)


def case_mha_bias_llama3():
    d = make_model(suite, HYPLORA, "bias", "--hidden", 64, "--heads", 4, "--kv-heads", 4, "--layers", 2,
                   "--intermediate", 80, "--vocab", 300, "--no-tokenizer", "--dtype", "f32", "--seed", 5)

    def cfg(c):
        c["attention_bias"] = True
        c["rope_theta"] = 500000.0
        c["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 8}
    rewrite(d, lambda t: sharpen(t, rng, with_bias=True), cfg)
    w = check(d, [12, 12, 4], [1], 2)
    print("     MHA with q/k/v biases and llama3 rope scaling, lengths 12 12 4: worst %.2g" % w)


def case_requires_f32():
    d = make_model(suite, HYPLORA, "bf16", "--hidden", 32, "--heads", 2, "--kv-heads", 1, "--layers", 1,
                   "--intermediate", 48, "--vocab", 50, "--no-tokenizer", "--seed", 6)
    # BF16 on disk, widened to float32 at load: the backward pass runs
    check(d, [5], [0], 3)


# ---- the loss and the whole model ----

def run_loss(model_dir, lowest, lengths, tokens, targets, prepare=None):
    """backward_dump's loss mode: (loss, number of targets, {file stem: float32 array}).
    prepare(dir) writes extra inputs (the adapters) first."""
    with tempfile.TemporaryDirectory() as d:
        if prepare:
            prepare(d)
        r = subprocess.run([DUMP, model_dir, "loss", str(lowest), str(tokens.shape[1]), ",".join(map(str, lengths)),
                            ",".join(str(int(t)) for t in tokens.ravel()),
                            ",".join(str(int(t)) for t in targets.ravel()), d], capture_output=True, text=True)
        assert r.returncode == 0 and "runtime error" not in r.stderr, \
            "backward_dump exited %d: %s" % (r.returncode, r.stderr)
        words = r.stdout.split()
        out = {f[:-4]: np.fromfile(os.path.join(d, f), dtype="<f4") for f in os.listdir(d) if f.endswith(".f32")}
    return float(words[1]), int(words[3]), out


def expected_loss(model_dir, lowest, lengths, tokens, targets):
    """Mean cross-entropy over the targets and the gradient of every weight at or above
    layer `lowest` (the embedding only when lowest is 0, or as the tied head)."""
    cfg, W = load_safetensors_dir(model_dir)
    L = cfg["num_hidden_layers"]
    tied = "lm_head.weight" not in W
    trainable = {"model.norm.weight"} | ({"model.embed_tokens.weight"} if lowest == 0 or tied else set())
    trainable |= {"lm_head.weight"} if not tied else set()
    trainable |= {k for k in W if any(k.startswith("model.layers.%d." % l) for l in range(lowest, L))}
    Wg = {k: (v.clone().requires_grad_(True) if k in trainable else v) for k, v in W.items()}
    loss, count = torch_loss(cfg, Wg, lengths, tokens, targets, lowest)
    loss.backward()
    return float(loss), count, {k: Wg[k].grad.numpy() for k in trainable}


def check_loss(model_dir, lengths, lowest, seed):
    cfg, _ = load_safetensors_dir(model_dir)
    tokens, targets = random_batch(cfg, lengths, seed, masked=2)
    got_loss, got_n, got = run_loss(model_dir, lowest, lengths, tokens, targets)
    want_loss, want_n, want = expected_loss(model_dir, lowest, lengths, tokens, targets)
    assert got_n == want_n, (got_n, want_n)
    assert abs(got_loss - want_loss) <= 1e-5 * want_loss, (got_loss, want_loss)
    assert set(got) == set(want), (sorted(set(got) ^ set(want)))
    worst = 0.0
    for name, g in want.items():
        worst = max(worst, close(name, got[name], g))
    return got_loss, worst, len(want)


def case_loss_untied():
    d = make_model(suite, HYPLORA, "loss-untied", "--hidden", 48, "--heads", 4, "--kv-heads", 2, "--layers", 3,
                   "--intermediate", 64, "--vocab", 200, "--no-tokenizer", "--dtype", "f32", "--seed", 7)
    rewrite(d, lambda t: sharpen(t, rng, out_scale=3.0))
    loss, w, n = check_loss(d, [10, 7, 3], 0, 11)
    print("     untied, down to the embedding: loss %.4f, %d gradients, worst %.2g" % (loss, n, w))
    loss, w, n = check_loss(d, [10, 7, 3], 2, 12)
    print("     untied, down to layer 2 only: %d gradients, worst %.2g" % (n, w))


def case_loss_tied():
    d = make_model(suite, HYPLORA, "loss-tied", "--hidden", 48, "--heads", 4, "--kv-heads", 4, "--layers", 2,
                   "--intermediate", 64, "--vocab", 200, "--no-tokenizer", "--dtype", "f32", "--tie", "--seed", 8)
    rewrite(d, lambda t: sharpen(t, rng, out_scale=3.0))
    loss, w, n = check_loss(d, [9, 9], 0, 13)
    print("     tied head (the embedding's gradient from both ends): loss %.4f, worst %.2g" % (loss, w))
    loss, w, n = check_loss(d, [9, 4], 1, 14)
    print("     tied, down to layer 1: the embedding from the head only, worst %.2g" % w)


# ---- adapters ----



def make_plan(cfg, plan, seed):
    """plan: {(layer, module): (method, form)}; random non-zero A, B, k, s for each."""
    r = np.random.default_rng(seed)
    out = {}
    for (l, m), (method, form) in sorted(plan.items()):
        n_in, n_out = module_shape(cfg, m)
        rank = 4
        out[(l, m)] = dict(method=method, form=form, rank=rank,
                           scaling=float(np.float32((128 if method == "hyplora" else 64) / 32)),
                           A=r.uniform(-1, 1, (rank, n_in)).astype(np.float32) / np.sqrt(n_in),
                           B=(r.standard_normal((n_out, rank)) * 0.5).astype(np.float32),
                           # the released form with K > 1 has a dead zone near y = 0 where neither k
                           # nor s moves the output (docs/hyplora.md): K < 1 keeps it away
                           k=float(np.float32(r.uniform(-2, 0.3) if form == "released" else r.uniform(-1, 2))),
                           s=float(np.float32(np.sqrt(n_in) * r.uniform(0.3, 1))))
    return out


def write_adapters(d, adapters):
    with open(os.path.join(d, "adapters.txt"), "w") as f:
        for (l, m), a in adapters.items():
            mi = MODULES.index(m)
            f.write("%d %d %s %s %d %r %r %r\n" % (l, mi, a["method"], a["form"], a["rank"], a["scaling"], a["k"], a["s"]))
            a["A"].tofile(os.path.join(d, "%d.%d.A.f32" % (l, mi)))
            a["B"].tofile(os.path.join(d, "%d.%d.B.f32" % (l, mi)))


def expected_adapters(model_dir, lengths, tokens, targets, adapters):
    cfg, W = load_safetensors_dir(model_dir)
    params = {key: {n: torch.tensor(np.float64(a[n[0]]) if n[0] in "ks" else a[n].astype(np.float64),
                                    requires_grad=True) for n in ("A", "B", "k", "k_log", "s")}
              for key, a in adapters.items()}

    def adapt_for(index):
        def adapt(module, inp):
            key = (index, module)
            if key not in adapters:
                return None
            a, p = adapters[key], params[key]
            return delta(a["method"], a["form"], inp, p["A"], p["B"], p["k"], p["s"], a["scaling"], p["k_log"])
        return adapt
    loss, _ = torch_loss(cfg, W, lengths, tokens, targets, adapt_for=adapt_for)
    loss.backward()
    grad = lambda t: t.grad.numpy() if t.grad is not None else np.zeros(t.shape)  # noqa: E731 (LoRA: no k, s)
    out = {}
    for key, p in params.items():
        g = {n: grad(p[n]) for n in ("A", "B", "s")}
        # dk is the sum of its parts through exp_o and log_o, which can nearly cancel: it is
        # judged against the size of the parts
        g["k"], g["k_scale"] = grad(p["k"]) + grad(p["k_log"]), abs(grad(p["k"])) + abs(grad(p["k_log"]))
        out[key] = g
    return float(loss), out


def check_adapters(model_dir, plan, lengths, seed):
    cfg, _ = load_safetensors_dir(model_dir)
    tokens, targets = random_batch(cfg, lengths, seed)
    adapters = make_plan(cfg, plan, seed)
    lowest = min(l for l, _ in plan)
    got_loss, _, files = run_loss(model_dir, lowest, lengths, tokens, targets, lambda d: write_adapters(d, adapters))
    want_loss, want = expected_adapters(model_dir, lengths, tokens, targets, adapters)
    weights = [f for f in files if f.startswith("model.")]
    assert not weights, "frozen weights got gradients: %s" % weights[:3]
    got = {(l, m): tuple(files["%d.%d.%s" % (l, MODULES.index(m), n)] for n in ("dA", "dB", "dks"))
           for (l, m) in adapters}
    assert abs(got_loss - want_loss) <= 1e-5 * want_loss, (got_loss, want_loss)
    worst = 0.0
    for key, a in adapters.items():
        dA, dB, dks = got[key]
        try:
            worst = max(worst, close("dA", dA, want[key]["A"]), close("dB", dB, want[key]["B"]))
            if a["method"] == "hyplora":
                for i, n in enumerate(("k", "s")):
                    g, w_ = float(dks[i]), float(want[key][n])
                    # (in the released form's dead zone neither k nor s moves the output: a
                    # gradient a millionth of the adapter's A gradient counts as zero)
                    floor = 1e-6 * float(np.abs(want[key]["A"]).max())
                    scale = max(abs(w_), float(want[key].get(n + "_scale", 0)), floor)
                    assert abs(g - w_) <= TOL * scale, "d%s: got %.9g, want %.9g (scale %.3g)" % (n, g, w_, scale)
                    worst = max(worst, abs(g - w_) / scale)
            else:
                assert not dks.any(), "LoRA got dk, ds: %s" % dks
        except AssertionError as e:
            raise AssertionError("adapter %s (%s %s): %s" % (key, a["method"], a["form"], e))
    return got_loss, worst


def case_adapters():
    d = make_model(suite, HYPLORA, "adapters", "--hidden", 48, "--heads", 4, "--kv-heads", 2, "--layers", 3,
                   "--intermediate", 64, "--vocab", 200, "--no-tokenizer", "--dtype", "f32", "--seed", 9)
    rewrite(d, lambda t: sharpen(t, rng))
    every = [(l, m) for l in range(3) for m in MODULES]
    paper = [(l, m) for l in range(3) for m in ("q_proj", "k_proj", "v_proj", "up_proj", "down_proj")]
    for name, plan in (("LoRA on every module", {k: ("lora", "consistent") for k in every}),
                       ("HypLoRA (consistent) on q, k, v, up, down", {k: ("hyplora", "consistent") for k in paper}),
                       ("HypLoRA (released) on every module", {k: ("hyplora", "released") for k in every}),
                       ("mixed: HypLoRA on layer 2, LoRA on layer 1, none on 0",
                        {**{(2, m): ("hyplora", "consistent") for m in MODULES},
                         **{(1, m): ("lora", "consistent") for m in ("q_proj", "v_proj", "down_proj")}})):
        loss, w = check_adapters(d, plan, [11, 8, 5], len(plan))
        print("     %s: loss %.4f, worst %.2g" % (name, loss, w))


suite.check("GQA, every layer, padded batch: dx_in and every weight gradient", case_gqa)
suite.check("MHA with biases and llama3 rope scaling", case_mha_bias_llama3)
suite.check("BF16 checkpoint widened to float32 at load", case_requires_f32)
suite.check("cross-entropy and every weight's gradient, untied head, down to the embedding or to layer 2",
            case_loss_untied)
suite.check("cross-entropy and every weight's gradient, tied head", case_loss_tied)
suite.check("adapters (LoRA, HypLoRA both forms, a mixed plan): loss and dA, dB, dk, ds; frozen weights untouched",
            case_adapters)
suite.done()
