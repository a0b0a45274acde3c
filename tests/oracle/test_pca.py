"""Principal components (common/pca.c, through tests/unit/test_pca.c) against numpy in
float64 on the same float32 data: np.linalg.eigh of the covariance and np.linalg.svd of the
centred matrix. Eigenvalues to 1e-6 relative, components to 1e-5 in angle, projections to
1e-5 of the projection scale; the worst errors are printed. Same seed, same bits; 1 and 2
threads agree to 1e-10; bad input gives clear errors."""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SANITIZER_MARKS, Suite  # noqa: E402

s = Suite()
rng = np.random.default_rng(2024)
worst = {"eig": 0.0, "angle": 0.0, "proj": 0.0, "svd_vs_eigh": 0.0}


def planted(n, d, spectrum, noise=1.0, offset=0.0):
    """Rows with covariance close to diag(spectrum, noise^2...) in a random basis."""
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
    z = rng.standard_normal((n, d)) * noise
    z[:, : len(spectrum)] *= np.sqrt(spectrum) / noise
    x = z @ basis.T + offset * rng.standard_normal(d)
    return x.astype(np.float32)


def write(x, name):
    path = s.path(name + ".npy")
    np.save(path, x)
    return path


def run(path, *args):
    p = subprocess.run([s.exe, "fit", path, *map(str, args)], capture_output=True, text=True)
    for mark in SANITIZER_MARKS:
        assert mark not in p.stderr, p.stderr
    return p


def fit(x, k, *extra, project=True):
    p = run(write(x, "m"), "-k", k, *(["--project"] if project else []), *extra)
    assert p.returncode == 0, p.stderr
    out = {"component": [], "coords": []}
    for line in p.stdout.splitlines():
        key, *vals = line.split()
        v = [float(t) for t in vals]
        if key in ("component", "coords"):
            out[key].append(v)
        else:
            out[key] = v if len(v) != 1 else v[0]
    out["component"] = np.array(out["component"])
    out["coords"] = np.array(out["coords"])
    out["raw"] = p.stdout
    return out


def reference(x):
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=0)
    xc = x64 - mean
    n = len(x)
    evals, evecs = np.linalg.eigh(xc.T @ xc / (n - 1))
    evals, evecs = evals[::-1], evecs[:, ::-1]
    sv = np.linalg.svd(xc, compute_uv=False)
    sv_evals = sv**2 / (n - 1)
    m = min(len(sv_evals), len(evals))
    top = max(evals[0], 1e-300)
    worst["svd_vs_eigh"] = max(worst["svd_vs_eigh"], np.max(np.abs(sv_evals[:m] - evals[:m])) / top)
    return mean, xc, evals, evecs, np.trace(xc.T @ xc) / (n - 1)


def compare(x, k, tol_eig=1e-6, tol_angle=1e-5, tol_proj=1e-5, extra=()):
    r = fit(x, k, *extra)
    mean, xc, evals, evecs, total = reference(x)
    n, d = x.shape
    scale = np.abs(mean).max() + np.sqrt(evals[0])
    assert np.allclose(r["mean"], mean, rtol=0, atol=1e-12 * scale), np.abs(r["mean"] - mean).max()
    assert abs(r["total_variance"] - total) <= 1e-10 * total, (r["total_variance"], total)
    var = np.atleast_1d(r["variance"])
    rel = np.abs(var - evals[:k]) / evals[0]
    worst["eig"] = max(worst["eig"], rel.max())
    assert rel.max() < tol_eig, (var, evals[:k], rel)
    assert np.allclose(np.atleast_1d(r["explained_ratio"]), var / total, rtol=1e-12)
    comps = r["component"]
    assert comps.shape == (k, d)
    assert np.allclose(np.linalg.norm(comps, axis=1), 1, atol=1e-12)
    for c in range(k):
        big = np.argmax(np.abs(comps[c]))
        assert comps[c, big] > 0, "sign rule"
        gap = min([evals[c - 1] - evals[c]] if c else [np.inf]) if True else 0
        gap = min(gap, evals[c] - evals[c + 1]) if c + 1 < len(evals) else gap
        if gap < 1e-3 * evals[0]:  # no well-defined direction to compare
            continue
        ref = evecs[:, c] * np.sign(evecs[:, c] @ comps[c])
        angle = np.linalg.norm(comps[c] - ref)  # ~ the angle for small angles
        worst["angle"] = max(worst["angle"], angle)
        assert angle < tol_angle, (c, angle)
        proj_ref = xc @ ref
        err = np.abs(r["coords"][:, c] - proj_ref).max() / np.sqrt(evals[c])
        worst["proj"] = max(worst["proj"], err)
        assert err < tol_proj, (c, err)
    return r


def test_low_rank_plus_noise():
    x = planted(5000, 256, [400, 200, 100, 50, 25])
    for k in range(1, 6):
        r = compare(x, k)
        print("  5000 x 256, k %d: %d passes, angle bound %.1e" % (k, r["passes"], r["angle_bound"]))


def test_large_mean_offset():
    # a mean 100x the spread of the strongest direction (real embeddings have a sizeable mean)
    x = planted(5000, 256, [400, 200, 100, 50, 25], offset=2000.0)
    assert np.abs(x.mean(axis=0)).max() > 100 * np.sqrt(400)
    r = compare(x, 3)
    print("  mean offset %.0f: %d passes" % (np.linalg.norm(x.mean(axis=0)), r["passes"]))


def test_n_less_than_dim():
    x = planted(100, 300, [50, 20, 8, 3], noise=0.3)
    r = compare(x, 4)
    print("  100 x 300, k 4: %d passes" % r["passes"])


def test_tiny_n():
    x = (rng.standard_normal((3, 50)) * [1 + j for j in range(50)]).astype(np.float32)
    compare(x, 1)
    compare(x, 2)
    r = fit(x, 3)  # the third eigenvalue of three points is 0
    assert abs(np.atleast_1d(r["variance"])[2]) < 1e-6 * np.atleast_1d(r["variance"])[0]


def test_small_dim_exact():
    x = planted(1000, 6, [9, 4, 2, 1, 0.5, 0.25], noise=0.1)
    compare(x, 6, tol_eig=1e-7)


def test_flat_spectrum_converges():
    # gaps of 10% only (slow subspace iteration): more passes, same answer
    x = planted(4000, 128, [10, 9, 8.1, 7.3, 6.6], noise=1.0)
    r = compare(x, 2, extra=("--iterations", 60))
    print("  10%% gaps: %d passes, angle bound %.1e" % (r["passes"], r["angle_bound"]))


def test_fit_coords_and_tolerance():
    # coordinates from the fit's own passes (opt.project) against numpy, and a loose
    # tolerance: fewer passes, the bound met, eigenvalues and angles within it
    x = planted(5000, 256, [400, 200, 100, 50, 25], offset=2000.0)
    r = compare(x, 2, extra=("--fit-coords",))
    mean, xc, evals, evecs, total = reference(x)
    loose = fit(x, 2, "--tolerance", "1e-3", project=False)
    assert loose["angle_bound"] < 1e-3 and loose["passes"] <= r["passes"], (loose["passes"], r["passes"])
    for c in range(2):
        ref = evecs[:, c]
        angle = np.sqrt(max(0.0, 1 - (loose["component"][c] @ ref) ** 2))
        assert angle < 1e-3, (c, angle)
    print("  fit coordinates: %d passes; tolerance 1e-3: %d passes, bound %.1e"
          % (r["passes"], loose["passes"], loose["angle_bound"]))


def test_determinism_and_threads():
    x = planted(3000, 200, [100, 40, 15], offset=10.0)
    a = fit(x, 3, "--seed", 5, "--threads", 2)
    b = fit(x, 3, "--seed", 5, "--threads", 2)
    assert a["raw"] == b["raw"], "same seed, different output"
    c = fit(x, 3, "--seed", 5, "--threads", 1)
    f2 = fit(x, 3, "--seed", 5, "--threads", 2, "--fit-coords")
    f1 = fit(x, 3, "--seed", 5, "--threads", 1, "--fit-coords")
    assert f1["raw"] == f2["raw"], "coordinates from the fit: 1 and 2 threads differ"
    for key in ("variance", "mean", "total_variance"):
        assert np.allclose(np.atleast_1d(a[key]), np.atleast_1d(c[key]), rtol=1e-10, atol=0), key
    assert np.abs(a["component"] - c["component"]).max() < 1e-10
    assert np.abs(a["coords"] - c["coords"]).max() < 1e-10 * np.sqrt(np.atleast_1d(a["variance"])[0])
    print("  1 vs 2 threads: %s" % ("identical" if a["raw"] == c["raw"] else "within 1e-10"))


def test_bad_input():
    ok = planted(40, 8, [4, 2])
    cases = [
        (ok[:1], 1, "need at least 2"),
        (np.zeros((40, 0), np.float32), 1, "dimension 0"),
        (ok, 9, "need 1 to 8"),
        (ok[:3], 4, "need 1 to 3"),
    ]
    bad = ok.copy()
    bad[11, 5] = np.nan
    cases.append((bad, 2, "row 11 column 5 is NaN"))
    for x, k, words in cases:
        p = run(write(x, "bad"), "-k", k)
        assert p.returncode == 1, (x.shape, k, p.returncode, p.stderr)
        assert words in p.stderr, (words, p.stderr)


s.check("low rank plus noise, k 1..5, vs eigh and svd", test_low_rank_plus_noise)
s.check("large mean offset: the centring", test_large_mean_offset)
s.check("n < dim", test_n_less_than_dim)
s.check("n = 3", test_tiny_n)
s.check("dim <= panel: exact", test_small_dim_exact)
s.check("10% eigenvalue gaps", test_flat_spectrum_converges)
s.check("coordinates from the fit; a loose tolerance", test_fit_coords_and_tolerance)
s.check("same seed same bits; 1 and 2 threads", test_determinism_and_threads)
s.check("bad input", test_bad_input)
print("  worst: eigenvalue %.1e (of the top), angle %.1e, projection %.1e (of its scale); "
      "numpy svd vs eigh %.1e" % (worst["eig"], worst["angle"], worst["proj"], worst["svd_vs_eigh"]))
s.done()
