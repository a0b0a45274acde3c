#!/usr/bin/python3
"""The per-token maps of HypLoRA (common/hyplora/lorentz.h) against PyTorch autograd in
float64 on formulas written here from the design (docs/hyplora.md), and the hand-written
backward against central finite differences in double (computed by the driver):

    test_lorentz.py LORENTZ_DUMP_EXE

The references: consistent form u = c sinh(min(|v|/c, 12)) v/|v|, o = c asinh(|y|/c) y/|y|
(checked here to equal c arccosh(sqrt(|y|^2 + K)/c) y/|y|), c = sqrt(K); released form with
|v|, |y| clamped below at 1e-7, t = sqrt(|y|^2 + 1/K), theta = t/c and arccosh(theta) replaced
by sqrt(2 max(theta - 1, 1e-6)) when theta < 1.01. The output, the gradient with respect to
the input and the gradient with respect to K of L = dout . map(in), for norms from 1e-9 to
beyond the sinh clamp, K from 0.3 to 4, and (released) both sides of the theta switch and the
1e-7 clamp.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import torch  # noqa: E402
except ImportError:
    sys.exit("test_lorentz.py: PyTorch is missing: apt-get install python3-torch (for /usr/bin/python3)")
import numpy as np  # noqa: E402

from harness import Suite  # noqa: E402

torch.set_default_dtype(torch.float64)
s = Suite()
rng = np.random.default_rng(20261127)
EPS, THETA, CLAMP = 1e-7, 1.01, 12.0


# ---- references ----

def ref_exp(form, v, K):
    c = torch.sqrt(K)
    n = torch.linalg.norm(v)
    if form == "released":
        n = torch.clamp(n, min=EPS)
    return c * torch.sinh(torch.clamp(n / c, max=CLAMP)) * v / n


def ref_log(form, y, K):
    c = torch.sqrt(K)
    m = torch.linalg.norm(y)
    if form == "consistent":
        return c * torch.asinh(m / c) * y / m
    t = torch.sqrt(m * m + 1 / K)
    theta = t / c
    if theta < THETA:
        arc = torch.sqrt(2 * torch.clamp(theta - 1, min=1e-6))
    else:
        arc = torch.acosh(theta)
    return c * arc * y / torch.clamp(m, min=EPS)


def reference(form, kind, x, K, dout):
    xt = torch.tensor(x, requires_grad=True)
    Kt = torch.tensor(K, requires_grad=True)
    out = (ref_exp if kind == "exp" else ref_log)(form, xt, Kt)
    (torch.tensor(dout) * out).sum().backward()
    return out.detach().numpy(), xt.grad.numpy(), float(Kt.grad)


def run(form, kind, x, K, dout):
    fmt = lambda v: ",".join(repr(float(a)) for a in v)  # noqa: E731
    r = s.ok(form, kind, repr(K), fmt(x), fmt(dout))
    return json.loads(r.out)


def direction(n, seed):
    d = np.random.default_rng(seed).standard_normal(n)
    return d / np.linalg.norm(d)


worst = {}


def near(what, got, want, scale, tol):
    got, want = np.asarray(got, float), np.asarray(want, float)
    err = float(np.max(np.abs(got - want)) / scale) if scale > 0 else float(np.max(np.abs(got - want)))
    worst[what] = max(worst.get(what, 0.0), err)
    assert err <= tol, "%s: got %s, want %s (%.3g of the scale %.3g)" % (what, got[:4], want[:4], err, scale)


def check(form, kind, norm, K, n=6, seed=0, fd_tol=1e-6):
    x = norm * direction(n, seed)
    dout = direction(n, seed + 1) * (0.5 + seed % 3)
    got = run(form, kind, x, K, dout)
    out, din, dK = reference(form, kind, x, K, dout)
    tag = "%s %s |in| %.3g K %g" % (form, kind, norm, K)
    try:
        # scales: the output's norm; |dout| times the largest factor of din; dK's own size
        # or |in| |dout| (its natural unit), whichever is larger
        near("out", got["out"], out, max(np.linalg.norm(out), 1e-300), 1e-12)
        dscale = max(np.max(np.abs(din)), np.linalg.norm(dout) * 1e-3)
        near("din vs torch", got["din"], din, dscale, 1e-9)
        kscale = max(abs(dK), np.linalg.norm(x) * np.linalg.norm(dout) * 1e-6, 1e-300)
        near("dK vs torch", [got["dK"]], [dK], kscale, 1e-7)
        near("din vs finite differences", got["din"], got["fd_din"], dscale, fd_tol)
        # the difference quotient in K rounds by about eps |L| / h, h = 1e-6 K: a floor
        fd_kscale = max(kscale, 1e-3 * np.linalg.norm(x) * np.linalg.norm(dout) / K)
        near("dK vs finite differences", [got["dK"]], [got["fd_dK"]], fd_kscale, fd_tol)
    except AssertionError as e:
        raise AssertionError("%s: %s" % (tag, e))


NORMS = [1e-9, 1e-5, 0.03, 0.049, 0.051, 0.5, 3.0]


def case_references():
    y = torch.tensor(direction(5, 9) * 2.5)
    for K in (0.3, 1.0, 4.0):
        Kt = torch.tensor(K)
        m = torch.linalg.norm(y)
        via_acosh = torch.sqrt(Kt) * torch.acosh(torch.sqrt(m * m + Kt) / torch.sqrt(Kt)) * y / m
        assert torch.allclose(ref_log("consistent", y, Kt), via_acosh, rtol=1e-12), K
        # both maps are the identity to first order at 0 (consistent form)
        v = torch.tensor(direction(5, 3) * 1e-6)
        assert torch.allclose(ref_exp("consistent", v, Kt), v, rtol=1e-10)
        assert torch.allclose(ref_log("consistent", v, Kt), v, rtol=1e-10)


def case_consistent():
    for kind in ("exp", "log"):
        for K in (0.3, 1.0, 1.3132616875182228, 4.0):
            c = K ** 0.5
            norms = NORMS + [c * 11.9, c * 12.1, c * 40.0] if kind == "exp" else NORMS + [c * 40.0]
            for i, norm in enumerate(norms):
                check("consistent", kind, norm, K, seed=i)
    print("     worst: " + ", ".join("%s %.2g" % kv for kv in sorted(worst.items())))


def case_released():
    worst.clear()
    for K in (0.5, 1.0, 1.3132616875182228, 2.0):
        c = K ** 0.5
        for i, norm in enumerate([5e-8] + NORMS[1:] + [c * 12.5]):
            check("released", "exp", norm, K, seed=10 + i)
    # log: theta = sqrt(m^2/K + 1/K^2); at K = 1 the switch theta = 1.01 is at m = 0.1418
    # (not within ~1e-5 of theta = 1, the kink of max(theta - 1, 1e-6), where a difference
    # quotient straddles two slopes: at K = 1 that excludes |y| below ~0.01)
    for K, norms in ((1.0, [0.02, 0.1, 0.14, 0.145, 0.2, 3.0]),
                     (2.0, [5e-8, 0.01, 0.5, 1.2, 1.3, 3.0]),     # theta < 1: the 1e-6 floor
                     (0.5, [5e-8, 0.01, 0.5, 3.0]),               # theta >= 2: arccosh only
                     (1.3132616875182228, [1e-3, 0.3, 0.5, 2.0])):
        for i, norm in enumerate(norms):
            # sqrt(2 (theta - 1)) is steep near theta = 1: the difference quotient's own
            # truncation error reaches ~3e-6 there
            check("released", "log", norm, K, seed=30 + i, fd_tol=2e-5)
    print("     worst: " + ", ".join("%s %.2g" % kv for kv in sorted(worst.items())))


def case_dimensions():
    for n in (1, 2, 64, 576):
        check("consistent", "exp", 1.7, 1.3, n=n, seed=n)
        check("released", "log", 0.9, 1.3, n=n, seed=n + 1)


def case_usage():
    r = s.run("consistent", "exp", "1", "1,2", "1")
    assert r.code == 2 and "same length" in r.err, (r.code, r.err)
    r = s.run("bogus", "exp", "1", "1", "1")
    assert r.code == 2, r.code


s.check("references: asinh = arccosh form, identity to first order at 0", case_references)
s.check("consistent form: out, d in, dK against torch and finite differences", case_consistent)
s.check("released form: both sides of theta = 1.01 and of the 1e-7 clamp", case_released)
s.check("vector lengths 1 to 576", case_dimensions)
s.check("usage errors", case_usage)
s.done()
