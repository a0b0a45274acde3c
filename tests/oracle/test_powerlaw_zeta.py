"""Our Hurwitz zeta (common/zeta.c) against scipy.special.zeta: 1e-12 relative over the
range the power-law fits use, s in (1, 6], q in [1, 1e7] (whole and fractional q); its
first derivative in s against a central difference of scipy's values."""
import os
import subprocess
import sys

import numpy as np
import scipy.special as sp

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Suite  # noqa: E402

s = Suite()
rng = np.random.default_rng(42)


def ours(svals, qvals):
    inp = "".join("%.17g %.17g\n" % (a, b) for a, b in zip(svals, qvals))
    p = subprocess.run([s.exe], input=inp, capture_output=True, text=True, check=True)
    v = np.array([[float(t) for t in line.split()] for line in p.stdout.splitlines()])
    assert v.shape == (len(svals), 4), v.shape
    return v


def test_values():
    n = 4000
    sv = np.concatenate([1 + 10 ** rng.uniform(-6, 0, n), rng.uniform(1, 6, n), [6.0, 1.5, 2, 1 + 1e-9]])
    qv = np.concatenate([np.floor(10 ** rng.uniform(0, 7, n)), 10 ** rng.uniform(0, 7, n), [1, 1, 1e7, 1e7]])
    v = ours(sv, qv)
    ref = sp.zeta(sv, qv)
    rel = np.abs(v[:, 0] - ref) / ref
    print("  max relative error vs scipy: %.2e (s %.9g, q %.9g)" % (rel.max(), sv[rel.argmax()], qv[rel.argmax()]))
    assert rel.max() < 1e-12, rel.max()
    assert np.allclose(v[:, 0], v[:, 1], rtol=1e-14, atol=0), "zeta and zeta_d disagree"


def test_derivative():
    sv = rng.uniform(1.05, 6, 2000)
    qv = np.floor(10 ** rng.uniform(0, 6, 2000))
    v = ours(sv, qv)
    h = 1e-5
    d1 = (sp.zeta(sv + h, qv) - sp.zeta(sv - h, qv)) / (2 * h)
    rel = np.abs(v[:, 2] - d1) / np.abs(d1)
    print("  derivative: max relative difference from the central difference %.2e" % rel.max())
    assert rel.max() < 1e-7, rel.max()
    d2 = (sp.zeta(sv + h, qv) - 2 * sp.zeta(sv, qv) + sp.zeta(sv - h, qv)) / (h * h)
    rel2 = np.abs(v[:, 3] - d2) / np.abs(d2)
    assert np.median(rel2) < 1e-3, np.median(rel2)


def test_domain():
    v = ours([1.0, 0.5, 2.0], [1.0, 1.0, 0.0])
    assert np.isnan(v).all(), v


s.check("zeta values vs scipy.special.zeta", test_values)
s.check("zeta derivatives", test_derivative)
s.check("outside the domain: NaN", test_domain)
s.done()
