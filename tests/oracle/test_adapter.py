#!/usr/bin/python3
"""One adapted module (common/hyplora/adapter.h: LoRA, and HypLoRA in both forms) forward and
backward against PyTorch autograd in float64 on the formulas of docs/hyplora.md, written
here:

    test_adapter.py ADAPTER_DUMP_EXE

h = h0 + scaling * delta(x) with delta = B A dropout(x) (LoRA) or
log_o(B A exp_o(dropout(x) / s)) with K = softplus(k) + 1e-6 (HypLoRA); the loss
L = sum(h * dh) for a random dh. With random non-zero A and B (at B = 0 the gradients of A,
k and s vanish and the check would be empty): h, dA, dB, dk, ds and dx within 1e-4 relative
(the C side is float32 with the per-token maps in double); the backward pass run twice
gives twice the gradients (they accumulate); a dropout mask (p = 0.05) applied the same way; tokens whose
|v| / sqrt(K) passes the sinh clamp; K below and above 1, and the authors' hyplora-1.0
(k = 1, K = 1.3133).
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import torch  # noqa: E402
except ImportError:
    sys.exit("test_adapter.py: PyTorch is missing: apt-get install python3-torch (for /usr/bin/python3)")
import numpy as np  # noqa: E402

from harness import Suite  # noqa: E402
from torch_hyplora import expmap, logmap  # noqa: E402

torch.set_default_dtype(torch.float64)
s = Suite()
TOL = 1e-4


def reference(method, form, x, A, B, h0, dh, k, sc, scaling, keep, p):
    t = {name: torch.tensor(v, requires_grad=True) for name, v in
         (("x", x), ("A", A), ("B", B), ("k", k), ("s", sc))}
    xd = t["x"] if keep is None else t["x"] * torch.tensor(keep, dtype=torch.float64) / (1 - p)
    if method == "lora":
        delta = xd @ t["A"].T @ t["B"].T
    else:
        K = torch.nn.functional.softplus(t["k"]) + 1e-6
        u = expmap(form, xd / t["s"], K)
        delta = logmap(form, u @ t["A"].T @ t["B"].T, K)
    h = torch.tensor(h0) + scaling * delta  # (torch_hyplora.delta, opened up to reach u)
    L = (h * torch.tensor(dh)).sum()
    k_scale = 0.0
    if method == "hyplora":
        # dk is the sum of a part through exp_o and a part through log_o; past the sinh clamp
        # they nearly cancel, so dk is judged against the size of its parts
        gu, gk = torch.autograd.grad(L, [u, t["k"]], retain_graph=True)
        exp_part, = torch.autograd.grad((u * gu).sum(), [t["k"]], retain_graph=True)
        k_scale = abs(float(exp_part)) + abs(float(gk - exp_part))
    L.backward()
    g = lambda name: t[name].grad.numpy() if t[name].grad is not None else np.zeros_like(t[name].detach().numpy())  # noqa: E731
    return h.detach().numpy(), g("A"), g("B"), float(g("k")), float(g("s")), g("x"), k_scale


def write(d, name, arr, dtype):
    np.ascontiguousarray(arr, dtype=dtype).tofile(os.path.join(d, name))


def read(d, name, dtype, shape):
    return np.fromfile(os.path.join(d, name), dtype=dtype).reshape(shape)


def close(what, got, want, scale=0.0):
    got, want = np.asarray(got, float), np.asarray(want, float)
    scale = max(float(np.max(np.abs(want))), scale, 1e-30)
    err = float(np.max(np.abs(got - want))) / scale
    assert err <= TOL, "%s: worst difference %.3g of the largest value %.3g" % (what, err, scale)
    return err


def case(method, form, N, n_in, n_out, r, k=1.0, s_val=None, p=0.0, seed=0, x_scale=1.0, b_scale=0.3,
         check_dk=True):
    rng = np.random.default_rng(seed)
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731 (both sides see the same float32 values)
    x = f32(rng.standard_normal((N, n_in)) * np.reshape(x_scale, (-1, 1)))
    bound = 1 / np.sqrt(n_in)
    A = f32(rng.uniform(-bound, bound, (r, n_in)))
    B = f32(rng.standard_normal((n_out, r)) * b_scale)
    h0 = f32(rng.standard_normal((N, n_out)))
    dh = f32(rng.standard_normal((N, n_out)))
    k = float(np.float32(k))
    sc = float(np.float32(s_val if s_val is not None else np.sqrt(n_in)))
    scaling = float(np.float32(2.0 * (4 if method == "hyplora" else 2)))
    keep = (rng.uniform(size=(N, n_in)) >= p).astype(np.uint8) if p > 0 else None
    with tempfile.TemporaryDirectory() as d:
        for name, arr in (("x.f32", x), ("A.f32", A), ("B.f32", B), ("h0.f32", h0), ("dh.f32", dh)):
            write(d, name, arr, "<f4")
        write(d, "ks.f64", [k, sc], "<f8")
        if keep is not None:
            write(d, "keep.u8", keep, "u1")
        s.ok(d, method, form, N, n_in, n_out, r, repr(scaling), repr(p))
        got = (read(d, "h.f32", "<f4", (N, n_out)), read(d, "dA.f32", "<f4", (r, n_in)) / 2,
               read(d, "dB.f32", "<f4", (n_out, r)) / 2, read(d, "dks.f64", "<f8", (2,)) / 2,
               read(d, "dx.f32", "<f4", (N, n_in)) / 2)
    h, dA, dB, dk, ds, dx, k_scale = reference(method, form, x.astype(float), A.astype(float), B.astype(float),
                                      h0.astype(float), dh.astype(float), k, sc, scaling, keep, p)
    tag = "%s %s N=%d in=%d out=%d r=%d k=%g s=%g p=%g" % (method, form, N, n_in, n_out, r, k, sc, p)
    try:
        errs = [close("h", got[0], h), close("dA", got[1], dA), close("dB", got[2], dB), close("dx", got[4], dx)]
        if method == "hyplora":
            if check_dk:
                errs.append(close("dk", got[3][0], dk, k_scale))
                assert abs(dk) > 1e-8, "an empty check: dk %g" % dk
            errs.append(close("ds", got[3][1], ds))
            assert abs(ds) > 1e-8, "an empty check: ds %g" % ds
        else:
            assert got[3][0] == 0 and got[3][1] == 0, "LoRA touched dk or ds: %s" % got[3]
    except AssertionError as e:
        raise AssertionError("%s: %s" % (tag, e))
    return max(errs)


def case_lora():
    w = max(case("lora", "consistent", 7, 24, 20, 4, seed=1),
            case("lora", "consistent", 33, 64, 96, 8, seed=2),
            case("lora", "consistent", 9, 16, 12, 4, p=0.05, seed=3))
    print("     worst relative difference %.2g" % w)


def case_hyplora_consistent():
    w = 0
    for i, (k, s_val, x_scale) in enumerate(((1.0, None, 1.0), (-2.0, None, 1.0), (3.0, None, 1.0),
                                              # tokens 2 and 4 past the sinh clamp (where u
                                              # no longer depends on |v|, so neither on s)
                                              (1.0, None, [1, 1, 40, 1, 80, 1, 1]))):
        w = max(w, case("hyplora", "consistent", 7, 24, 20, 4, k=k, s_val=s_val, seed=10 + i, x_scale=x_scale))
    # near 0 (the series): dk is a 1e-9 effect there, below what float32 activations carry
    # (test_lorentz.py checks the maps' dK at such norms in double)
    w = max(w, case("hyplora", "consistent", 7, 24, 20, 4, seed=15, x_scale=1e-4, check_dk=False))
    w = max(w, case("hyplora", "consistent", 33, 64, 96, 8, seed=20))
    w = max(w, case("hyplora", "consistent", 9, 16, 12, 4, p=0.05, seed=21))
    print("     worst relative difference %.2g" % w)


def case_hyplora_released():
    # |y| large enough that theta = sqrt(|y|^2 / K + 1 / K^2) >= 1: below, for K > 1, the
    # output is c sqrt(2e-6) y / |y|, which depends on neither k nor s (the dead zone of
    # docs/hyplora.md), and the check of dk and ds would be empty
    w = 0
    for i, (k, s_val, b_scale) in enumerate(((1.0, None, 3.0), (-2.0, None, 0.3), (3.0, 0.5, 3.0),
                                             (0.5413, None, 3.0))):
        w = max(w, case("hyplora", "released", 7, 24, 20, 4, k=k, s_val=s_val, seed=30 + i, b_scale=b_scale))
    w = max(w, case("hyplora", "released", 9, 16, 12, 4, p=0.05, seed=40, b_scale=3.0))
    print("     worst relative difference %.2g" % w)


s.check("LoRA: h and dA, dB, dx against autograd (with and without dropout)", case_lora)
s.check("HypLoRA, consistent form: h, dA, dB, dk, ds, dx against autograd", case_hyplora_consistent)
s.check("HypLoRA, released form: h, dA, dB, dk, ds, dx against autograd", case_hyplora_released)
s.done()
