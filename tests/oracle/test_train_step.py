#!/usr/bin/python3
"""Training steps of adapters (common/hyplora/adapter_set.h, train_step.h) against a
PyTorch training loop on the float64 decoder of tests/lib/torch_llama.py:

    test_train_step.py HYPLORA_EXE TRAIN_DUMP_EXE

The C side initialises the adapters of a plan (PEFT's kaiming-uniform A, B = 0, s = sqrt(in),
raw k from the initial K) and writes them; the reference starts from those values and both
run the same steps: per step two micro-batches (padded, with masked prompt positions), the
gradients of each micro-batch's mean token loss averaged over the micro-batches (Hugging
Face's gradient accumulation), the released form's clip of dk, clipping by the global norm
(torch.nn.utils.clip_grad_norm_), then torch.optim.AdamW or SGD with the linear schedule and
warmup. After five steps the adapters agree within 1e-4 of their values' size, and the
PEFT directory written from them holds them under PEFT's names with the config's fields; the first
step's loss within 1e-5; the initial values are checked too (A within +-1/sqrt(in), B zero,
s = sqrt(in), K = softplus(k) + 1e-6). Plans: LoRA on q, k, v, up, down; HypLoRA
(consistent) on the same; released with the authors' 0.01 clip of dk; a mixed plan with
SGD.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import torch  # noqa: E402
except ImportError:
    sys.exit("test_train_step.py: PyTorch is missing: apt-get install python3-torch (for /usr/bin/python3)")
import numpy as np  # noqa: E402

import st_writer  # noqa: E402
from checkpoints import make_model, rewrite, sharpen  # noqa: E402
from harness import Suite  # noqa: E402
from torch_hyplora import MODULES, delta, module_shape  # noqa: E402
from torch_llama import load_safetensors_dir  # noqa: E402
from torch_train import random_batch, torch_loss  # noqa: E402

torch.set_default_dtype(torch.float64)
suite = Suite()
HYPLORA, DUMP = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(20261127)
PAPER = ["q_proj", "k_proj", "v_proj", "up_proj", "down_proj"]


def split(cfg, plan, block):
    """The adapters' values in the block's layout: A, B and (HypLoRA) k, s per adapter."""
    out, at = [], 0
    for (layer, m, method, form, rank, alpha, K) in plan:
        n_in, n_out = module_shape(cfg, m)
        A = block[at:at + rank * n_in].reshape(rank, n_in)
        at += rank * n_in
        B = block[at:at + n_out * rank].reshape(n_out, rank)
        at += n_out * rank
        k = s = None
        if method == "hyplora":
            k, s = float(block[at]), float(block[at + 1])
            at += 2
        out.append(dict(A=A, B=B, k=k, s=s))
    assert at == len(block), (at, len(block))
    return out


def run(model_dir, plan, batches, steps, micro, B, T, opt, lr, warmup, total, clip, kclip, wd, seed):
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "plan.txt"), "w") as f:
            for (layer, m, method, form, rank, alpha, K) in plan:
                f.write("%d %d %s %s %d %r %r 0\n" % (layer, MODULES.index(m), method, form, rank, alpha, K))
        np.ascontiguousarray([b[0] for b in batches], dtype="<i4").tofile(os.path.join(d, "tokens.i32"))
        np.ascontiguousarray([b[1] for b in batches], dtype="<i4").tofile(os.path.join(d, "targets.i32"))
        np.ascontiguousarray([b[2] for b in batches], dtype="<i4").tofile(os.path.join(d, "lengths.i32"))
        r = subprocess.run([DUMP, model_dir, d, str(steps), str(micro), str(B), str(T), opt, repr(lr), str(warmup),
                            str(total), repr(clip), repr(kclip), repr(wd), str(seed)], capture_output=True, text=True)
        assert r.returncode == 0 and "runtime error" not in r.stderr, "train_dump exited %d: %s" % (r.returncode,
                                                                                                    r.stderr)
        p0 = np.fromfile(os.path.join(d, "params0.f32"), dtype="<f4")
        p1 = np.fromfile(os.path.join(d, "params1.f32"), dtype="<f4")
        with open(os.path.join(d, "adapter", "adapter_config.json")) as f:
            config = json.load(f)
        _, tensors, _ = st_writer.read(os.path.join(d, "adapter", "adapter_model.safetensors"))
    log = [dict(zip(line.split()[0::2], map(float, line.split()[1::2]))) for line in r.stdout.splitlines()]
    return p0, p1, log, config, {k: np.asarray(v) for k, v in tensors.items()}


def check_peft(cfg, plan, end, config, tensors, kclip):
    """The PEFT directory: one tensor per value with PEFT's names and shapes, equal to the
    trained values; adapter_config.json's fields and, for HypLoRA, its hyplora object."""
    want = {}
    for (layer, m, method, form, rank, alpha, K), v in zip(plan, end):
        part = "self_attn" if m in MODULES[:4] else "mlp"
        prefix = "base_model.model.model.layers.%d.%s.%s." % (layer, part, m)
        want[prefix + "lora_A.weight"] = v["A"]
        want[prefix + "lora_B.weight"] = v["B"]
        if method == "hyplora":
            want[prefix + "lora_k"] = np.float32(v["k"])
            want[prefix + "lora_norm_scale"] = np.float32(v["s"])
    assert set(tensors) == set(want), sorted(set(tensors) ^ set(want))[:4]
    for k, v in want.items():
        assert tensors[k].shape == np.shape(v) and np.array_equal(tensors[k], v), k
    assert config["peft_type"] == "LORA" and config["task_type"] == "CAUSAL_LM", config
    assert config["r"] == plan[0][4] and sorted(config["target_modules"]) == sorted({p[1] for p in plan}), config
    hyp = [p for p in plan if p[2] == "hyplora"]
    if not hyp:
        assert "hyplora" not in config and config["lora_alpha"] == plan[0][5], config
        return
    h = config["hyplora"]
    assert h["form"] == hyp[0][3] and h["alpha_hyperbolic"] == hyp[0][5], h
    assert h["k_grad_clip"] == (kclip if kclip > 0 else None) and h["plan_source"] == "options", h
    names = ["model.layers.%d.%s.%s" % (p[0], "self_attn" if p[1] in MODULES[:4] else "mlp", p[1]) for p in hyp]
    assert sorted(h["hyperbolic_modules"]) == sorted(names), h
    for name, p in zip(names, hyp):
        assert abs(h["initial_curvature"][name] - p[6]) <= 1e-12, (name, h["initial_curvature"][name])


def reference(model_dir, plan, start, batches, steps, micro, opt, lr, warmup, total, clip, kclip, wd):
    cfg, W = load_safetensors_dir(model_dir)
    params = []
    for (layer, m, method, form, rank, alpha, K), v in zip(plan, start):
        p = {"A": torch.tensor(v["A"].astype(np.float64), requires_grad=True),
             "B": torch.tensor(v["B"].astype(np.float64), requires_grad=True)}
        if method == "hyplora":
            p["k"] = torch.tensor(v["k"], requires_grad=True)
            p["s"] = torch.tensor(v["s"], requires_grad=True)
        params.append(p)
    by_key = {(pl[0], pl[1]): (pl, p) for pl, p in zip(plan, params)}

    def adapt_for(index):
        def adapt(module, inp):
            if (index, module) not in by_key:
                return None
            (layer, m, method, form, rank, alpha, K), p = by_key[(index, module)]
            return delta(method, form, inp, p["A"], p["B"], p.get("k"), p.get("s"), alpha / rank)
        return adapt
    decay = [p[n] for p in params for n in ("A", "B")]
    rest = [p[n] for p in params for n in ("k", "s") if n in p]
    groups = [{"params": decay, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}]
    optim = torch.optim.AdamW(groups, lr=lr) if opt == "adamw" else torch.optim.SGD(groups, lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: s / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    losses = []
    for step in range(steps):
        optim.zero_grad()
        mean = 0.0
        for i in range(micro):
            tokens, targets, lengths = batches[step * micro + i]
            loss, _ = torch_loss(cfg, W, list(lengths), tokens, targets, adapt_for=adapt_for)
            (loss / micro).backward()
            mean += float(loss) / micro
        losses.append(mean)
        if kclip > 0:
            for p in params:
                if "k" in p:
                    p["k"].grad.clamp_(-kclip, kclip)
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(decay + rest, clip)
        optim.step()
        sched.step()
    end = [{n: t.detach().numpy() for n, t in p.items()} for p in params]
    return end, losses


def check(model_dir, plan, opt="adamw", lr=3e-3, clip=1.0, kclip=0.0, wd=0.0, steps=5, micro=2, seed=1):
    cfg, _ = load_safetensors_dir(model_dir)
    lengths_all = [[9, 6], [7, 9], [9, 3], [5, 9], [9, 9]]
    B, T = 2, 9
    batches = []
    for i in range(steps * micro):
        lengths = lengths_all[i % len(lengths_all)]
        tokens, targets = random_batch(cfg, lengths, 100 + i, masked=2)
        batches.append((tokens, targets, np.array(lengths)))
    p0, p1, log, config, tensors = run(model_dir, plan, batches, steps, micro, B, T, opt, lr, 1, steps + 2, clip,
                                       kclip, wd, seed)
    start, end = split(cfg, plan, p0), split(cfg, plan, p1)
    check_peft(cfg, plan, end, config, tensors, kclip)
    for (layer, m, method, form, rank, alpha, K), v in zip(plan, start):
        n_in, _ = module_shape(cfg, m)
        assert np.abs(v["A"]).max() <= 1 / math.sqrt(n_in) and np.abs(v["A"]).max() > 0.5 / math.sqrt(n_in)
        assert not v["B"].any(), "B does not start at zero"
        if method == "hyplora":
            assert abs(v["s"] - math.sqrt(n_in)) <= 1e-6 * math.sqrt(n_in), v["s"]
            K_got = math.log1p(math.exp(v["k"])) + 1e-6
            assert abs(K_got - K) <= 1e-6 * K, (K_got, K)
    # B = 0 at the start: after the first step B moves, and from the second A and k do too
    want, losses = reference(model_dir, plan, start, batches, steps, micro, opt, lr, 1, steps + 2, clip, kclip, wd)
    assert abs(log[0]["loss"] - losses[0]) <= 1e-5 * losses[0], (log[0]["loss"], losses[0])
    worst = 0.0
    for i, (g, w, s0) in enumerate(zip(end, want, start)):
        for n in w:
            gv, wv, sv = np.asarray(g[n], float), np.asarray(w[n], float), np.asarray(s0[n], float)
            moved = np.abs(wv - sv).max()
            scale = max(np.abs(wv).max(), 1e-12)
            err = np.abs(gv - wv).max() / scale
            # (the released form at the authors' K = 1.31 starts in its dead zone, where the
            # output is c sqrt(2e-6) y / |y|: s does not move it, and gets no gradient)
            assert moved > 0 or (plan[i][3] == "released" and n == "s"), "%s of adapter %d did not move" % (n, i)
            assert err <= 1e-4, "%s of adapter %d (%s): differs by %.3g of its size %.3g (it moved %.3g)" % (
                n, i, plan[i][:4], err, scale, moved)
            worst = max(worst, err)
    return losses, worst


def model(name, seed):
    d = make_model(suite, HYPLORA, name, "--hidden", 48, "--heads", 4, "--kv-heads", 2, "--layers", 2,
                   "--intermediate", 64, "--vocab", 200, "--no-tokenizer", "--dtype", "f32", "--seed", seed)
    rewrite(d, lambda t: sharpen(t, rng))
    return d


def plan_of(method, form, modules, layers=(0, 1), K=1.3132616875182228):
    alpha = 128.0 if method == "hyplora" else 64.0
    return [(l, m, method, form, 8, alpha, K) for l in layers for m in modules]


def case_lora():
    d = model("lora", 3)
    losses, w = check(d, plan_of("lora", "consistent", PAPER))
    print("     LoRA on q, k, v, up, down: losses %s, worst %.2g" % (" ".join("%.4f" % x for x in losses), w))


def case_hyplora():
    d = model("hyplora", 4)
    losses, w = check(d, plan_of("hyplora", "consistent", PAPER), wd=0.01)
    print("     HypLoRA (consistent), weight decay 0.01: losses %s, worst %.2g" % (
        " ".join("%.4f" % x for x in losses), w))
    losses, w = check(d, plan_of("hyplora", "released", PAPER), kclip=0.01)
    print("     HypLoRA (released), dk clipped to 0.01: worst %.2g" % w)


def case_mixed_sgd():
    d = model("mixed", 5)
    plan = plan_of("hyplora", "consistent", MODULES, layers=(1,), K=2.0) + plan_of("lora", "consistent",
                                                                                 ["q_proj", "v_proj"], layers=(0,))
    losses, w = check(d, plan, opt="sgd", lr=0.05, clip=0.5)
    print("     mixed plan with SGD: worst %.2g" % w)


suite.check("LoRA: five AdamW steps equal PyTorch's", case_lora)
suite.check("HypLoRA, both forms: five AdamW steps equal PyTorch's", case_hyplora)
suite.check("a mixed plan (HypLoRA on layer 1, LoRA on layer 0): five SGD steps", case_mixed_sgd)
suite.done()
