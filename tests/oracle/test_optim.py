#!/usr/bin/python3
"""The optimisers of common/hyplora/optim.h against PyTorch's (torch.optim.AdamW and SGD),
with Hugging Face's learning-rate schedules rebuilt on torch's LambdaLR and
torch.nn.utils.clip_grad_norm_:

    test_optim.py OPTIM_DUMP_EXE

Random float32 parameters and five (or twenty) steps of random gradients, half of the
parameters in a group with weight decay and half without; the parameters after the last
step within one float32 unit in the last place per step, the learning rate of every step within 1e-12, the
global norm before clipping within 1e-9. AdamW with and without decay, other betas and eps;
SGD plain, with momentum and with decay; linear and cosine schedules with warmup, and a
constant one; clipping that bites and that does not.
"""
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import torch  # noqa: E402
except ImportError:
    sys.exit("test_optim.py: PyTorch is missing: apt-get install python3-torch (for /usr/bin/python3)")
import numpy as np  # noqa: E402

from harness import Suite  # noqa: E402

s = Suite()


def hf_lambda(kind, warmup, total):
    def f(step):
        if step < warmup:
            return step / max(1, warmup)
        if kind == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if kind == "linear":
            return max(0.0, (total - step) / max(1, total - warmup))
        return max(0.0, 0.5 * (1 + math.cos(math.pi * progress)))
    return f


def reference(kind, p0, grads, lr, wd, b1, b2, eps, momentum, clip, sched, warmup, total):
    n = len(p0)
    a = torch.tensor(p0[:n // 2].copy(), requires_grad=True)
    b = torch.tensor(p0[n // 2:].copy(), requires_grad=True)
    groups = [{"params": [a], "weight_decay": wd}, {"params": [b], "weight_decay": 0.0}]
    if kind == "adamw":
        opt = torch.optim.AdamW(groups, lr=lr, betas=(b1, b2), eps=eps)
    else:
        opt = torch.optim.SGD(groups, lr=lr, momentum=momentum)
    sch = torch.optim.lr_scheduler.LambdaLR(opt, hf_lambda(sched, warmup, total))
    lrs, norms = [], []
    for g in grads:
        a.grad = torch.tensor(g[:n // 2].copy())
        b.grad = torch.tensor(g[n // 2:].copy())
        lrs.append(opt.param_groups[0]["lr"])
        norms.append(float(torch.sqrt((a.grad.double() ** 2).sum() + (b.grad.double() ** 2).sum())))
        if clip > 0:
            torch.nn.utils.clip_grad_norm_([a, b], clip)
        opt.step()
        sch.step()
    return np.concatenate([a.detach().numpy(), b.detach().numpy()]), lrs, norms


def case(kind, steps=5, n=1000, lr=3e-4, wd=0.0, b1=0.9, b2=0.999, eps=1e-8, momentum=0.0, clip=0.0,
         sched="linear", warmup=2, total=10, seed=0, gscale=1.0):
    r = np.random.default_rng(seed)
    p0 = r.standard_normal(n).astype(np.float32)
    grads = (r.standard_normal((steps, n)) * gscale).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        p0.tofile(os.path.join(d, "params.f32"))
        grads.tofile(os.path.join(d, "grads.f32"))
        out = s.ok(d, kind, n, steps, repr(lr), repr(wd), repr(b1), repr(b2), repr(eps), repr(momentum), repr(clip),
                   sched, warmup, total)
        got = np.fromfile(os.path.join(d, "out.f32"), dtype="<f4")
    want, lrs, norms = reference(kind, p0, grads, lr, wd, b1, b2, eps, momentum, clip, sched, warmup, total)
    rows = [line.split() for line in out.out.splitlines()]
    tag = "%s %s wd %g momentum %g clip %g" % (kind, sched, wd, momentum, clip)
    for (_, t, _, glr, _, gnorm), wlr, wnorm in zip(rows, lrs, norms):
        assert abs(float(glr) - wlr) <= 1e-12 * max(wlr, 1e-300) + 1e-18, "%s step %s: lr %s, want %r" % (tag, t, glr, wlr)
        assert abs(float(gnorm) - wnorm) <= 1e-9 * wnorm, "%s step %s: norm %s, want %r" % (tag, t, gnorm, wnorm)
    # PyTorch rounds each float32 operation (the decay, the quotient, the update) and we
    # round once (and PyTorch takes lr as a float32 factor): the parameters may differ in their
    # last bits, by about one unit in the last place per step, of the largest value a
    # parameter passed through (bounded by |start| + the sum of lr (|g| + 1)), and no more
    moved = np.abs(want - p0).max()
    assert moved > 1e-5, "%s: nothing moved" % tag
    size = np.maximum(np.abs(want), np.abs(p0) + sum(l * (np.abs(g) + 1) for l, g in zip(lrs, grads)))
    unit = np.spacing(size.astype(np.float32)).astype(np.float64)
    ulps = np.abs(got.astype(np.float64) - want) / unit
    assert ulps.max() <= steps + 2, "%s: parameters differ by %.1f units in the last place (largest move %.3g)" % (
        tag, ulps.max(), moved)
    return float(ulps.max())


def case_adamw():
    w = max(case("adamw"), case("adamw", wd=0.01, seed=1), case("adamw", wd=0.1, b1=0.8, b2=0.95, eps=1e-6, seed=2),
            case("adamw", steps=20, wd=0.01, sched="cosine", warmup=5, total=20, seed=3))
    print("     worst difference %.1f units in the last place" % w)


def case_sgd():
    w = max(case("sgd", lr=0.1), case("sgd", lr=0.05, momentum=0.9, seed=4),
            case("sgd", lr=0.05, momentum=0.9, wd=0.01, sched="constant", warmup=0, seed=5))
    print("     worst difference %.1f units in the last place" % w)


def case_clip():
    # n = 1000 standard normal gradients have norm ~31.6: clipped to 1, and not at 100
    w = max(case("adamw", clip=1.0, seed=6), case("adamw", clip=100.0, seed=7),
            case("sgd", lr=0.1, clip=1.0, gscale=3.0, seed=8))
    print("     worst difference %.1f units in the last place" % w)


s.check("AdamW (decoupled decay on one group) against torch.optim.AdamW", case_adamw)
s.check("SGD (momentum, decay) against torch.optim.SGD", case_sgd)
s.check("clipping by the global norm against clip_grad_norm_", case_clip)
s.done()
