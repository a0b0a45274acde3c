#!/usr/bin/python3
"""Gromov δ-hyperbolicity oracle: the library's fixed-base and four-point δ
(tests/unit/delta_dump over common/hyplora/delta.h) against references written here in
float64 numpy:

    test_delta.py DELTA_DUMP_EXE

- fixed-base δ_w after Khrulkov et al.: G = ((x|y)_w), M = the (max, min) product of G with
  itself, δ_w = max(M - G);
- the four-point δ by brute force over every quadruple (n <= 30): with the three pair sums
  S1 >= S2 >= S3, δ = max (S1 - S2) / 2; checked here to equal max over w of δ_w, with
  δ_w <= δ <= 2 δ_w for every w;
- Euclidean, cosine and angular distances of float32 points, in float64.

Checks: random clouds (n 4..300, dim 2..64) fixed-base within 1e-5 relative (the bound the
header promises) and within 1e-9 with --double; exact δ against the brute force and against
max_w δ_w; graphs with known δ (path and tree 0, 3x3 grid 2, Petersen 1/2, 2x10 ladder 1,
cycles against the brute force); invariance under permutation and scaling; dense samples of
S^2 under the angular distance; the library's distances against numpy's; and clear errors
for bad input (too few points, NaN, Inf, asymmetric, negative, nonzero diagonal, zero
vector under cosine/angular, base out of range).
"""
import itertools
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import numpy as np  # noqa: E402

import harness  # noqa: E402

FLOAT_TOL = 1e-5   # the float32 kernel: within 1e-5 of δ (else it recomputes in double)
DOUBLE_TOL = 1e-9  # --double, and anything whose arithmetic is exact in both
DIST_TOL = 1e-6    # library distances, relative to the diameter

suite = harness.Suite()
rng = np.random.default_rng(20261127)
_counter = itertools.count()


# ---- references ----

def fixed_base_ref(D, w):
    """Khrulkov's fixed-base δ_w in float64: max over x, y of max_z min(G[x,z], G[z,y]) - G[x,y]."""
    D = np.asarray(D, dtype=np.float64)
    n = D.shape[0]
    G = (D[:, w][:, None] + D[w][None, :] - D) / 2
    best = -np.inf
    step = max(1, 2_000_000 // (n * n))
    for a in range(0, n, step):
        M = np.minimum(G[a:a + step, :, None], G[None, :, :]).max(axis=1)  # [b, n]
        best = max(best, float((M - G[a:a + step]).max()))
    return best


def all_bases_ref(D):
    return np.array([fixed_base_ref(D, w) for w in range(D.shape[0])])


def four_point_ref(D):
    """Brute force over every ordered quadruple: max (S1 - S2) / 2."""
    D = np.asarray(D, dtype=np.float64)
    n = D.shape[0]
    assert n <= 30, n
    best = -np.inf
    for x in range(n):
        dx = D[x]
        s1 = dx[:, None, None] + D[None, :, :]          # d(x,y) + d(z,w)   [y, z, w]
        s2 = dx[None, :, None] + D[:, None, :]          # d(x,z) + d(y,w)
        s3 = dx[None, None, :] + D[:, :, None]          # d(x,w) + d(y,z)
        s = np.sort(np.stack([s1, s2, s3]), axis=0)
        best = max(best, float((s[2] - s[1]).max()))
    return best / 2


def euclidean_ref(X):
    X = X.astype(np.float64)
    sq = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    return np.sqrt(sq)


def unit_rows(X):
    X = X.astype(np.float64)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def cosine_ref(X):
    U = unit_rows(X)
    D = 1 - np.clip(U @ U.T, -1, 1)
    np.fill_diagonal(D, 0)
    return D


def angular_ref(X):
    """arccos of the cosine, by the stable chord form 2 asin(|u - v| / 2)."""
    U = unit_rows(X)
    chord = np.sqrt(((U[:, None, :] - U[None, :, :]) ** 2).sum(-1))
    return 2 * np.arcsin(np.clip(chord / 2, 0, 1))


DIST_REF = {"euclidean": euclidean_ref, "cosine": cosine_ref, "angular": angular_ref}


# ---- graphs (shortest paths by BFS) ----

def bfs_distances(n, edges):
    adj = [[] for _ in range(n)]
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    D = np.full((n, n), -1.0)
    for s in range(n):
        D[s, s] = 0
        frontier = [s]
        while frontier:
            nxt = []
            for u in frontier:
                for v in adj[u]:
                    if D[s, v] < 0:
                        D[s, v] = D[s, u] + 1
                        nxt.append(v)
            frontier = nxt
    assert (D >= 0).all(), "graph not connected"
    return D


def path_graph(n):
    return bfs_distances(n, [(i, i + 1) for i in range(n - 1)])


def cycle_graph(n):
    return bfs_distances(n, [(i, (i + 1) % n) for i in range(n)])


def grid_graph(rows, cols):
    idx = lambda r, c: r * cols + c  # noqa: E731
    edges = [(idx(r, c), idx(r, c + 1)) for r in range(rows) for c in range(cols - 1)]
    edges += [(idx(r, c), idx(r + 1, c)) for r in range(rows - 1) for c in range(cols)]
    return bfs_distances(rows * cols, edges)


def petersen_graph():
    outer = [(i, (i + 1) % 5) for i in range(5)]
    spokes = [(i, i + 5) for i in range(5)]
    inner = [(5 + i, 5 + (i + 2) % 5) for i in range(5)]
    return bfs_distances(10, outer + spokes + inner)


def random_tree(n, seed):
    r = np.random.default_rng(seed)
    return bfs_distances(n, [(i, int(r.integers(0, i))) for i in range(1, n)])


# ---- running the C side ----

def write_f64(D):
    p = suite.path("d%d.f64" % next(_counter))
    np.ascontiguousarray(D, dtype="<f8").tofile(p)
    return p


def write_f32(X):
    p = suite.path("x%d.f32" % next(_counter))
    np.ascontiguousarray(X, dtype="<f4").tofile(p)
    return p


def parse(r):
    out = json.loads(r.out)
    assert set(out) == {"delta", "diameter", "delta_rel", "base", "exact", "used_double"}, out
    return out


def run_distances(D, *extra):
    n = D.shape[0]
    return parse(suite.ok("--distances", write_f64(D), n, *extra))


def run_points(X, kind="euclidean", *extra, dump=False):
    n, dim = X.shape
    args = ["--points", write_f32(X), n, dim, "--distance", kind] + list(extra)
    dp = None
    if dump:
        dp = suite.path("dump%d.f64" % next(_counter))
        args += ["--dump-distances", dp]
    out = parse(suite.ok(*args))
    if dump:
        Dl = np.fromfile(dp, dtype="<f8")
        assert Dl.size == n * n, (Dl.size, n)
        return out, Dl.reshape(n, n)
    return out


def close(got, want, rel, scale=None, what="δ"):
    """|got - want| <= rel * max(|want|, tiny share of scale)."""
    ref = max(abs(want), 1e-12 * (scale or 0.0))
    err = abs(got - want)
    assert err <= rel * ref or err == 0, "%s: got %.17g, expected %.17g (difference %.3g, %.3g relative)" % (
        what, got, want, err, err / ref if ref else float("inf"))


def check_result(out, D, delta_want, tol, base=None, exact=False):
    diam = float(D.max())
    close(out["delta"], delta_want, tol, diam)
    assert out["diameter"] == diam or abs(out["diameter"] - diam) <= 1e-12 * diam, (out["diameter"], diam)
    close(out["delta_rel"], 2 * out["delta"] / out["diameter"] if out["diameter"] else 0.0, 1e-12, 1.0,
          "delta_rel")
    assert out["exact"] is exact, out
    if base is not None:
        assert out["base"] == base, out


# ---- random clouds: fixed base ----

CLOUDS = [  # (n, dim, distance, base)
    (4, 2, "euclidean", 0), (5, 3, "euclidean", 4), (7, 2, "euclidean", 3), (8, 5, "cosine", 0),
    (9, 16, "euclidean", 8), (13, 64, "angular", 6), (16, 3, "euclidean", 15), (17, 8, "cosine", 11),
    (31, 2, "euclidean", 0), (33, 32, "euclidean", 20), (64, 10, "angular", 63), (100, 64, "euclidean", 37),
    (129, 4, "cosine", 128), (257, 12, "euclidean", 100), (300, 2, "euclidean", 0), (300, 50, "angular", 299),
]


def cloud(n, dim, seed, kind="gauss"):
    r = np.random.default_rng(seed)
    if kind == "gauss":
        return (r.standard_normal((n, dim)) * r.uniform(0.5, 3.0, dim)).astype(np.float32)
    return r.uniform(-1, 1, (n, dim)).astype(np.float32)


def case_clouds_fixed_base():
    worst_f = worst_d = 0.0
    float_path = 0
    for i, (n, dim, kind, base) in enumerate(CLOUDS):
        X = cloud(n, dim, 100 + i, "gauss" if i % 2 else "uniform")
        D = DIST_REF[kind](X)
        want = fixed_base_ref(D, base)
        tag = "n=%d dim=%d %s base %d" % (n, dim, kind, base)
        out = run_distances(D, "--base", base)
        try:
            check_result(out, D, want, FLOAT_TOL, base=base)
        except AssertionError as e:
            raise AssertionError("%s: %s" % (tag, e))
        # The float32 kernel really ran where δ is well above its rounding bound.
        if out["delta_rel"] > 0.01:
            assert out["used_double"] is False, "%s: recomputed in double with δ_rel %.3g" % (tag, out["delta_rel"])
            float_path += 1
        worst_f = max(worst_f, abs(out["delta"] - want) / max(want, 1e-300))
        outd = run_distances(D, "--base", base, "--double")
        try:
            check_result(outd, D, want, DOUBLE_TOL, base=base)
        except AssertionError as e:
            raise AssertionError("%s --double: %s" % (tag, e))
        worst_d = max(worst_d, abs(outd["delta"] - want) / max(want, 1e-300))
        # Through the library's own distances: δ of the matrix it computed.
        outp, Dl = run_points(X, kind, "--base", base, dump=True)
        try:
            check_result(outp, Dl, fixed_base_ref(Dl, base), FLOAT_TOL, base=base)
        except AssertionError as e:
            raise AssertionError("%s (points): %s" % (tag, e))
    assert float_path >= len(CLOUDS) // 2, float_path
    print("     %d clouds: worst relative difference %.2g float32, %.2g double; float32 kernel used on %d" % (
        len(CLOUDS), worst_f, worst_d, float_path))


def case_default_base():
    X = cloud(40, 6, 7)
    D = euclidean_ref(X)
    out = run_distances(D)
    check_result(out, D, fixed_base_ref(D, 0), FLOAT_TOL, base=0)


# ---- the four-point δ ----

def case_reference_identity():
    """The references agree with each other: δ = max_w δ_w and δ_w <= δ <= 2 δ_w."""
    for seed, (n, dim) in enumerate([(4, 2), (6, 3), (11, 2), (20, 8), (30, 5)]):
        D = euclidean_ref(cloud(n, dim, 300 + seed))
        bf = four_point_ref(D)
        per = all_bases_ref(D)
        assert abs(bf - per.max()) <= 1e-12 * D.max(), (n, bf, per.max())
        assert (per <= bf + 1e-12 * D.max()).all() and (bf <= 2 * per + 1e-12 * D.max()).all(), (n, bf, per)
    for D in (petersen_graph(), grid_graph(3, 3), cycle_graph(9), random_tree(15, 4)):
        bf, per = four_point_ref(D), all_bases_ref(D)
        assert bf == per.max(), (bf, per.max())


def case_exact_small():
    worst = 0.0
    cases = [(4, 2, "euclidean"), (5, 2, "euclidean"), (6, 3, "cosine"), (9, 4, "euclidean"),
             (12, 2, "angular"), (17, 10, "euclidean"), (24, 3, "euclidean"), (30, 6, "euclidean"),
             (30, 64, "cosine")]
    for i, (n, dim, kind) in enumerate(cases):
        X = cloud(n, dim, 500 + i, "uniform" if i % 2 else "gauss")
        D = DIST_REF[kind](X)
        want = four_point_ref(D)
        per = all_bases_ref(D)
        tag = "n=%d dim=%d %s" % (n, dim, kind)
        for extra, tol in (((), FLOAT_TOL), (("--double",), DOUBLE_TOL)):
            out = run_distances(D, "--exact", *extra)
            try:
                check_result(out, D, want, tol, exact=True)
                assert 0 <= out["base"] < n, out
                close(per[out["base"]], want, tol, D.max(), "δ_w at the reported base %d" % out["base"])
            except AssertionError as e:
                raise AssertionError("%s %s: %s" % (tag, " ".join(extra), e))
            worst = max(worst, abs(out["delta"] - want) / want)
    print("     %d clouds n <= 30: worst relative difference from the brute force %.2g" % (len(cases), worst))


def case_exact_60():
    for i, (n, dim, kind) in enumerate([(60, 8, "euclidean"), (61, 3, "angular"), (57, 20, "cosine")]):
        X = cloud(n, dim, 700 + i)
        D = DIST_REF[kind](X)
        per = all_bases_ref(D)
        want = float(per.max())
        out = run_distances(D, "--exact")
        tag = "n=%d dim=%d %s" % (n, dim, kind)
        try:
            check_result(out, D, want, FLOAT_TOL, exact=True)
            close(per[out["base"]], want, FLOAT_TOL, D.max(), "δ_w at the reported base %d" % out["base"])
        except AssertionError as e:
            raise AssertionError("%s: %s" % (tag, e))
        outd = run_distances(D, "--exact", "--double")
        check_result(outd, D, want, DOUBLE_TOL, exact=True)


def case_small_delta():
    """δ small against the Gromov products (a tree metric with tiny noise; a metric with a
    large constant added off the diagonal): the float32 bound 2^-23 max (x|y)_w is above
    1e-5 δ, so the library recomputes in double, and the answer still meets 1e-5 of δ."""
    cases = []
    T = random_tree(60, 11)
    noise = np.random.default_rng(12).uniform(0, 1e-3, T.shape)
    noise = np.triu(noise, 1) + np.triu(noise, 1).T
    cases.append(("tree + 1e-3 noise", T + noise))
    E = euclidean_ref(cloud(40, 3, 13))
    offset = E + 1e4 * (1 - np.eye(40))
    cases.append(("Euclidean + 1e4 off the diagonal", offset))
    E2 = euclidean_ref(cloud(40, 3, 14))
    cases.append(("Euclidean + 30 off the diagonal", E2 + 30 * (1 - np.eye(40))))
    forced = 0
    for name, D in cases:
        for w in (0, 17):
            want = fixed_base_ref(D, w)
            G = (D[:, w][:, None] + D[w][None, :] - D) / 2
            bound = 2.0 ** -23 * float(np.abs(G).max())
            out = run_distances(D, "--base", w)
            try:
                check_result(out, D, want, FLOAT_TOL, base=w)
                if bound > 2e-5 * want:
                    assert out["used_double"] is True, "bound %.3g vs δ %.3g but not recomputed" % (bound, want)
                    forced += 1
                elif bound < 0.5e-5 * want:
                    assert out["used_double"] is False, "bound %.3g vs δ %.3g, recomputed anyway" % (bound, want)
            except AssertionError as e:
                raise AssertionError("%s, base %d: %s" % (name, w, e))
        per = all_bases_ref(D)
        out = run_distances(D, "--exact")
        try:
            check_result(out, D, float(per.max()), FLOAT_TOL, exact=True)
            close(per[out["base"]], float(per.max()), FLOAT_TOL, D.max(), "δ_w at the reported base")
        except AssertionError as e:
            raise AssertionError("%s, exact: %s" % (name, e))
        print("     %s: δ %.6g, δ_rel %.3g, used_double %s" % (name, out["delta"], out["delta_rel"],
                                                               out["used_double"]))
    assert forced >= 2, forced


# ---- graphs with known δ ----

def graph_case(name, D, known=None):
    bf = four_point_ref(D) if D.shape[0] <= 30 else None
    if known is not None and bf is not None:
        assert bf == known, "%s: the brute force gives %g, the known value is %g" % (name, bf, known)
    want = known if known is not None else bf
    for extra in ((), ("--double",)):
        out = run_distances(D, "--exact", *extra)
        # Integer distances: every product is a half-integer, exact in float32 and double.
        assert out["delta"] == want, "%s %s: δ = %.17g, expected %g" % (name, " ".join(extra), out["delta"], want)
        assert out["diameter"] == D.max() and out["exact"] is True, out
        close(out["delta_rel"], 2 * want / D.max(), 1e-12, 1.0, "delta_rel")
    return out


def case_trees():
    for name, D in (("path P4", path_graph(4)), ("path P25", path_graph(25)), ("path P100", path_graph(100)),
                    ("random tree 30", random_tree(30, 1)), ("random tree 200", random_tree(200, 2)),
                    ("star 40", bfs_distances(40, [(0, i) for i in range(1, 40)]))):
        graph_case(name, D, 0.0)
        # Integer distances: every product is a float32 value, so the float kernel's δ is
        # exact and is not recomputed in double even at δ = 0 (a rounding bound of 0).
        fb = run_distances(D, "--base", D.shape[0] // 2)
        assert fb["delta"] == 0 and fb["used_double"] is False, (name, fb)
        # the same tree with distances that do round (x 0.1): δ ~ 0 is then recomputed
        # (0 up to the round-off of D * 0.1 itself)
        fb = run_distances(D * 0.1, "--base", D.shape[0] // 2)
        assert fb["delta"] <= 1e-12 * fb["diameter"] and fb["used_double"] is True, (name, "x 0.1", fb)


def case_known_graphs():
    graph_case("3x3 grid", grid_graph(3, 3), 2.0)
    graph_case("Petersen", petersen_graph(), 0.5)
    graph_case("2x10 ladder", grid_graph(2, 10), 1.0)
    got = {}
    for n in range(4, 31):
        got[n] = graph_case("cycle C%d" % n, cycle_graph(n))["delta"]
    print("     cycles: " + ", ".join("C%d %g" % (n, d) for n, d in got.items()))
    # Larger than the brute force reaches: a 6x6 grid against max_w δ_w.
    D = grid_graph(6, 6)
    graph_case("6x6 grid", D, float(all_bases_ref(D).max()))


def case_graph_fixed_base():
    for name, D in (("Petersen", petersen_graph()), ("4x5 grid", grid_graph(4, 5)), ("C17", cycle_graph(17))):
        for w in (0, D.shape[0] - 1, D.shape[0] // 2):
            out = run_distances(D, "--base", w)
            assert out["delta"] == fixed_base_ref(D, w), (name, w, out, fixed_base_ref(D, w))


def case_graphs_large():
    """n >= 256, where the 16-bit pass runs: integer distances put every product on the
    half-integer grid, the pass alone is exact, and the results are exact too."""
    for name, D in (("20x20 grid", grid_graph(20, 20)), ("random tree 300", random_tree(300, 5))):
        for w in (0, 137, D.shape[0] - 1):
            out = run_distances(D, "--base", w)
            assert out["delta"] == fixed_base_ref(D, w) and out["used_double"] is False, (name, w, out)
    for name, D, known in (("C300", cycle_graph(300), 75.0), ("random tree 300", random_tree(300, 6), 0.0)):
        out = run_distances(D, "--exact")
        assert out["delta"] == known and out["used_double"] is False, (name, out)
    print("     20x20 grid and a 300-node tree against numpy; C300 exact δ 75, a tree 0")


# ---- invariances ----

def case_permutation():
    for i, (n, dim) in enumerate([(30, 4), (90, 16)]):
        D = euclidean_ref(cloud(n, dim, 900 + i))
        base = run_distances(D, "--exact")
        for k in range(3):
            p = np.random.default_rng(950 + 10 * i + k).permutation(n)
            out = run_distances(D[np.ix_(p, p)], "--exact")
            close(out["delta"], base["delta"], DOUBLE_TOL, D.max(), "δ after permuting n=%d" % n)
            assert out["diameter"] == base["diameter"], (out, base)
            # The base point is the same point, or another one attaining the same δ.
            assert p[out["base"]] == base["base"] or abs(out["delta"] - base["delta"]) <= 1e-9 * base["delta"]


def case_scaling():
    D = euclidean_ref(cloud(50, 5, 1000))
    ref = run_distances(D, "--exact")
    for c in (4.0, 0.125, 3.7, 1e-3, 1e4):
        out = run_distances(D * c, "--exact")
        tol = 0.0 if c in (4.0, 0.125) else FLOAT_TOL  # powers of two scale exactly
        assert abs(out["delta"] - c * ref["delta"]) <= tol * c * ref["delta"], (c, out, ref)
        assert abs(out["diameter"] - c * ref["diameter"]) <= 1e-15 * c * ref["diameter"], (c, out, ref)
        close(out["delta_rel"], ref["delta_rel"], max(tol, 1e-12) * 2, 1.0, "delta_rel at scale %g" % c)


def case_sphere():
    for i, (n, exact) in enumerate([(150, True), (300, False)]):
        X = np.random.default_rng(1100 + i).standard_normal((n, 3)).astype(np.float32)
        D = angular_ref(X)
        if exact:
            want = float(all_bases_ref(D).max())
            out, Dl = run_points(X, "angular", "--exact", dump=True)
        else:
            want = fixed_base_ref(D, 0)
            out, Dl = run_points(X, "angular", dump=True)
        assert np.abs(Dl - D).max() <= DIST_TOL * D.max(), np.abs(Dl - D).max()
        # δ of the library's matrix against the reference's: they differ by the distances' round-off.
        close(out["delta"], want, FLOAT_TOL + 4 * DIST_TOL, D.max(), "sphere δ (n=%d)" % n)
        close(out["delta_rel"], 2 * want / D.max(), FLOAT_TOL + 4 * DIST_TOL, 1.0, "sphere δ_rel")
        print("     S^2, %d uniform points, angular, %s: δ %.6g, diameter %.6g, δ_rel %.6g" % (
            n, "exact" if exact else "base 0", out["delta"], out["diameter"], out["delta_rel"]))


# ---- distances ----

def case_distances():
    worst = {}
    shapes = [(4, 2), (9, 3), (33, 17), (100, 64), (257, 5), (64, 300)]
    for kind in ("euclidean", "cosine", "angular"):
        for i, (n, dim) in enumerate(shapes):
            X = cloud(n, dim, 1200 + i, "gauss" if i % 2 else "uniform")
            if i == 3:  # far from the origin: the Gram form's cancellation at its worst here
                X = (X + np.float32(50)).astype(np.float32)
            if i == 4:  # exact duplicates and a point and its multiple
                X[7] = X[3]
                X[8] = X[3] * np.float32(4)
            _, Dl = run_points(X, kind, dump=True)
            D = DIST_REF[kind](X)
            tag = "%s n=%d dim=%d" % (kind, n, dim)
            diam = float(D.max())
            err = float(np.abs(Dl - D).max())
            assert err <= DIST_TOL * diam, "%s: differs from numpy by %.3g (diameter %.3g)" % (tag, err, diam)
            assert (np.diag(Dl) == 0).all(), "%s: diagonal not exactly 0: %s" % (tag, np.diag(Dl)[np.diag(Dl) != 0])
            assert (Dl >= 0).all(), "%s: negative entries %s" % (tag, Dl[Dl < 0])
            assert np.isfinite(Dl).all(), tag
            asym = float(np.abs(Dl - Dl.T).max())
            assert asym <= 1e-9 * diam, "%s: asymmetric by %.3g" % (tag, asym)
            worst[kind] = max(worst.get(kind, 0.0), err / diam)
    print("     worst difference / diameter: " + ", ".join("%s %.2g" % kv for kv in worst.items()))


# ---- bad input ----

def expect_fail(args, *words, status=1):
    r = suite.run(*args)
    assert r.code == status, "%s: expected exit %d, got %d; stdout %r stderr %r" % (
        " ".join(map(str, args)), status, r.code, r.out, r.err)
    low = r.err.lower()
    for w in words:
        assert w.lower() in low, "%s: expected %r in the message, got %r" % (" ".join(map(str, args)), w, r.err)
    assert r.err.strip(), "no message"
    return r.err.strip()


def bad_distances(D, *words, extra=()):
    return expect_fail(["--distances", write_f64(D), D.shape[0]] + list(extra), *words)


def bad_points(X, kind, *words):
    return expect_fail(["--points", write_f32(X), X.shape[0], X.shape[1], "--distance", kind], *words)


def case_bad_input():
    msgs = []
    good = euclidean_ref(cloud(8, 3, 1300))
    msgs.append(bad_distances(path_graph(3), "at least 4 points", "got 3"))
    msgs.append(bad_distances(np.zeros((0, 0)), "at least 4 points", "got 0"))
    D = good.copy(); D[2, 5] = D[5, 2] = np.nan  # noqa: E702
    msgs.append(bad_distances(D, "[2, 5]", "not finite", "nan"))
    D = good.copy(); D[1, 6] = D[6, 1] = np.inf  # noqa: E702
    msgs.append(bad_distances(D, "[1, 6]", "not finite", "inf"))
    D = good.copy(); D[3, 4] += 0.5  # noqa: E702
    msgs.append(bad_distances(D, "not symmetric", "[3, 4]", "[4, 3]"))
    D = good.copy(); D[0, 7] = D[7, 0] = -1.0  # noqa: E702
    msgs.append(bad_distances(D, "[0, 7]", "negative"))
    D = good.copy(); D[4, 4] = 0.25  # noqa: E702
    msgs.append(bad_distances(D, "[4, 4]", "diagonal", "0.25"))
    msgs.append(bad_distances(good, "base point 8", "out of range", extra=("--base", 8)))
    msgs.append(bad_points(cloud(3, 2, 1302), "euclidean", "at least 4 points", "got 3"))
    X = cloud(8, 3, 1301)
    Xb = X.copy(); Xb[5, 1] = np.nan  # noqa: E702
    msgs.append(bad_points(Xb, "euclidean", "point 5, coordinate 1", "not finite", "nan"))
    Xb = X.copy(); Xb[2, 0] = np.inf  # noqa: E702
    msgs.append(bad_points(Xb, "euclidean", "point 2, coordinate 0", "not finite", "inf"))
    Xb = X.copy(); Xb[6] = 0  # noqa: E702
    msgs.append(bad_points(Xb, "cosine", "point 6", "zero vector", "cosine"))
    msgs.append(bad_points(Xb, "angular", "point 6", "zero vector", "angular"))
    # A zero vector is a fine point under the Euclidean distance.
    D_ok = run_points(Xb, "euclidean")
    assert D_ok["delta"] >= 0, D_ok
    for m in msgs:
        print("     " + m)


def case_bad_usage():
    D = euclidean_ref(cloud(6, 2, 1400))
    p = write_f64(D)
    expect_fail([], status=2)
    expect_fail(["--distances", p], status=2)
    expect_fail(["--distances", p, 6, "--exact", "--base", 1], status=2)
    expect_fail(["--distances", p, 6, "--bogus"], status=2)
    expect_fail(["--points", p, 6, 2, "--distance", "manhattan"], status=2)
    expect_fail(["--distances", p, 7], "bytes")  # the file is not 7 x 7


# ---- many sets (hp_delta_sets, the per-prompt driver) ----

def run_sets(sets, *extra, threads=None):
    p = write_f32(np.concatenate(sets))
    args = ["--sets", p, sets[0].shape[1], ",".join(str(len(x)) for x in sets)] + list(extra)
    if threads:
        args += ["--threads", threads]
    r = suite.ok(*args)
    return r.out, [parse(type("R", (), {"out": line})) for line in r.out.splitlines()]


def case_sets():
    rng_sets = np.random.default_rng(1500)
    sizes = [4, 5, 90, 7, 300, 12, 33, 4, 61, 260, 9, 17]
    sets = [cloud(n, 24, 1600 + i, "gauss" if i % 2 else "uniform") for i, n in enumerate(sizes)]
    bases = [int(rng_sets.integers(n)) for n in sizes]
    for kind in ("euclidean", "cosine", "angular"):
        text1, outs = run_sets(sets, "--distance", kind, "--bases", ",".join(map(str, bases)), threads=1)
        text2, _ = run_sets(sets, "--distance", kind, "--bases", ",".join(map(str, bases)), threads=2)
        assert text1 == text2, "%s: the results differ between 1 and 2 threads" % kind
        assert len(outs) == len(sets), (len(outs), len(sets))
        for i, (X, b, out) in enumerate(zip(sets, bases, outs)):
            D = DIST_REF[kind](X)
            try:
                check_result(out, D, fixed_base_ref(D, b), FLOAT_TOL, base=b)
            except AssertionError as e:
                raise AssertionError("%s set %d (n=%d, base %d): %s" % (kind, i, len(X), b, e))
    # default base 0, and the four-point δ of each small set
    small = [x for x in sets if len(x) <= 33]
    _, outs = run_sets(small)
    for X, out in zip(small, outs):
        D = euclidean_ref(X)
        check_result(out, D, fixed_base_ref(D, 0), FLOAT_TOL, base=0)
    _, outs = run_sets(small, "--exact", threads=2)
    for X, out in zip(small, outs):
        D = euclidean_ref(X)
        check_result(out, D, all_bases_ref(D).max(), FLOAT_TOL, exact=True)
    print("     %d sets of 4..300 points, 3 distances, 1 and 2 threads identical" % len(sets))


def case_sets_bad():
    ok = [cloud(6, 3, 1700 + i) for i in range(3)]
    bad = ok[:1] + [np.concatenate([cloud(4, 3, 1710), np.full((1, 3), np.nan, np.float32)])] + ok[1:]
    expect_fail(["--sets", write_f32(np.concatenate(bad)), 3, "6,5,6,6"], "set 1", "not finite")
    expect_fail(["--sets", write_f32(np.concatenate(ok)), 3, "6,6,6", "--bases", "0,6,1"], "set 1",
                "base point 6 is out of range")
    few = [cloud(6, 3, 1720), cloud(3, 3, 1721)]
    expect_fail(["--sets", write_f32(np.concatenate(few)), 3, "6,3"], "set 1", "at least 4 points")


T0 = time.time()
suite.check("references: brute-force four-point δ = max_w δ_w, δ_w <= δ <= 2 δ_w", case_reference_identity)
suite.check("random clouds: fixed-base δ against numpy (float32 kernel and --double)", case_clouds_fixed_base)
suite.check("default base is 0", case_default_base)
suite.check("exact δ against the brute force, n <= 30", case_exact_small)
suite.check("exact δ against max_w δ_w, n ~ 60, and the reported base attains it", case_exact_60)
suite.check("δ small against the products: recomputed in double, within 1e-5", case_small_delta)
suite.check("trees and paths: δ exactly 0 (exact in float32; recomputed in double when products round)", case_trees)
suite.check("graphs: 3x3 grid 2, Petersen 1/2, 2x10 ladder 1, cycles C4..C30, 6x6 grid", case_known_graphs)
suite.check("graphs: fixed-base δ exact", case_graph_fixed_base)
suite.check("graphs of 300-400 nodes: the 16-bit pass exact on half-integer products", case_graphs_large)
suite.check("exact δ unchanged by permuting the points", case_permutation)
suite.check("scaling distances by c scales δ and the diameter, keeps δ_rel", case_scaling)
suite.check("uniform samples of S^2 under the angular distance", case_sphere)
suite.check("distances from points against numpy: Euclidean, cosine, angular", case_distances)
suite.check("many sets (hp_delta_sets): each against numpy, thread count immaterial", case_sets)
suite.check("many sets: a bad set is named", case_sets_bad)
suite.check("bad input: exit 1 with a message naming the problem", case_bad_input)
suite.check("usage errors exit 2; a short file exits 1", case_bad_usage)
print("     %.1f s" % (time.time() - T0))
suite.done()
