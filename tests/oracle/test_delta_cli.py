#!/usr/bin/python3
"""`hyplora delta` end to end, against references written here in float64 numpy and read
back from the report with h5py:

    test_delta_cli.py HYPLORA_EXE

- graphs through --graph (edge lists written here, with comments, blank lines, CR LF and
  repeated edges): tree 0, 3x3 grid 2, Petersen 1/2, 2x10 ladder 1 with --exact; the
  fixed-base δ against Khrulkov's algorithm on numpy's BFS distances;
- --distances .npy, float32 and float64: the fixed-base δ (first row, and --base INDEX)
  against Khrulkov's δ_w = max over x, y of max_z min(G[x,z], G[z,y]) - G[x,y] with
  G = (D[:,w][:,None] + D[w][None,:] - D) / 2, within 1e-5; --exact against max over w;
- --vectors (GloVe text written here) with --sample/--tries/--seed: the same seed gives the
  same report, each try's δ equals the reference on the rows the report says were drawn,
  mean and std equal numpy's of the per-try values; --base random and --base INDEX; all rows
  with cosine and angular distances;
- a `hyplora make-model` checkpoint with --sample 50 --tries 3 against numpy on the
  embedding rows exported by `hyplora tensor`;
- the report: /delta/<name> with the attributes and a definition on every dataset, the
  curvature estimate (absent, with a note, when δ_rel is 0), a second run with --name keeps
  the first group (values and inputs), no temporary file left behind.
"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from delta_report import delta_group  # noqa: E402
from harness import Suite  # noqa: E402

s = Suite()
TOL = 1e-5
rng = np.random.default_rng(20261128)
ATTRS = ["delta_rel_mean", "delta_rel_std", "delta_mean", "diameter_mean", "n_points", "n_items",
         "base_point", "exact", "distance", "used_double", "source", "input", "n_rows", "sampled",
         "command_line", "tool_version", "created_utc", "inputs"]
DATASETS = ["delta", "diameter", "delta_rel", "base", "used_double"]


# ---- references ----

def fixed_base_ref(D, w):
    """Khrulkov's fixed-base δ_w in float64."""
    D = np.asarray(D, dtype=np.float64)
    G = (D[:, w][:, None] + D[w][None, :] - D) / 2
    M = np.minimum(G[:, :, None], G[None, :, :]).max(axis=1)
    return float((M - G).max())


def euclidean(X):
    X = np.asarray(X, dtype=np.float64)
    return np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))


def unit(X):
    X = np.asarray(X, dtype=np.float64)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def cosine(X):
    U = unit(X)
    D = 1 - np.clip(U @ U.T, -1, 1)
    np.fill_diagonal(D, 0)
    return D


def angular(X):
    U = unit(X)
    chord = np.sqrt(((U[:, None, :] - U[None, :, :]) ** 2).sum(-1))
    return 2 * np.arcsin(np.clip(chord / 2, 0, 1))


DIST = {"euclidean": euclidean, "cosine": cosine, "angular": angular}


def bfs(n, edges):
    adj = [[] for _ in range(n)]
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    D = np.full((n, n), -1.0)
    for src in range(n):
        D[src, src] = 0
        frontier = [src]
        while frontier:
            nxt = []
            for u in frontier:
                for v in adj[u]:
                    if D[src, v] < 0:
                        D[src, v] = D[src, u] + 1
                        nxt.append(v)
            frontier = nxt
    assert (D >= 0).all()
    return D


def close(got, want, scale, what="δ"):
    ref = max(abs(want), 1e-12 * scale)
    assert abs(got - want) <= TOL * ref or got == want, "%s: got %.17g, expected %.17g" % (what, got, want)


# ---- running ----

_n = [0]


def fresh(stem, ext):
    _n[0] += 1
    return s.path("%s%d%s" % (stem, _n[0], ext))


def check_group(rep, name, tries, n_points, exact, sampled):
    attrs, data, defs = delta_group(rep, name)
    missing = [a for a in ATTRS if a not in attrs]
    assert not missing, missing
    for k, d in defs.items():
        assert isinstance(d, str) and len(d) > 10, (k, d)
    for k in DATASETS:
        assert data[k].shape == (tries,), (k, data[k].shape)
    assert ("sample_rows" in data) == sampled, list(data)
    if sampled:
        assert data["sample_rows"].shape == (tries, n_points), data["sample_rows"].shape
    assert attrs["n_items"] == tries and attrs["n_points"] == n_points, attrs
    assert attrs["exact"] == int(exact), attrs
    assert attrs["sampled"] == int(sampled), attrs
    rel = data["delta_rel"]
    want_rel = np.where(data["diameter"] > 0, 2 * data["delta"] / np.where(data["diameter"] > 0, data["diameter"], 1), 0)
    assert np.allclose(rel, want_rel, rtol=1e-12, atol=0), (rel, want_rel)
    assert abs(attrs["delta_rel_mean"] - rel.mean()) <= 1e-12 * max(1, rel.mean()), attrs
    assert abs(attrs["delta_rel_std"] - rel.std()) <= 1e-12 * max(1, rel.std()), (attrs, rel.std())
    assert abs(attrs["delta_mean"] - data["delta"].mean()) <= 1e-12 * max(1, data["delta"].mean())
    assert abs(attrs["diameter_mean"] - data["diameter"].mean()) <= 1e-12 * data["diameter"].mean()
    assert attrs["used_double"] == int(data["used_double"].any())
    if attrs["delta_rel_mean"] > 0:
        c = (0.144 / attrs["delta_rel_mean"]) ** 2
        assert abs(attrs["curvature_c"] - c) <= 1e-12 * c, (attrs["curvature_c"], c)
        assert abs(attrs["curvature_k"] - 1 / c) <= 1e-12 / c, (attrs["curvature_k"], 1 / c)
        assert "curvature_note" not in attrs
    else:
        assert "curvature_c" not in attrs and "curvature_k" not in attrs, attrs
        assert "unbounded" in attrs["curvature_note"], attrs
    return attrs, data


def no_temp_files():
    left = [f for f in os.listdir(s.dir) if ".tmp-" in f]
    assert not left, left


# ---- graphs ----

def write_edges(edges, decorate=True):
    p = fresh("g", ".txt")
    lines = ["# an edge list written by test_delta_cli.py", ""] if decorate else []
    for i, (a, b) in enumerate(edges):
        if decorate and i % 3 == 0:
            lines.append("%d\t%d   # edge %d" % (b, a, i))   # reversed, tab, trailing comment
        else:
            lines.append("%d %d" % (a, b))
        if decorate and i % 5 == 0:
            lines.append("%d %d" % (a, b))                  # repeated
            lines.append("")
    with open(p, "w", newline="") as f:
        f.write(("\r\n" if decorate else "\n").join(lines) + "\n")
    return p


def grid_edges(rows, cols):
    idx = lambda r, c: r * cols + c  # noqa: E731
    e = [(idx(r, c), idx(r, c + 1)) for r in range(rows) for c in range(cols - 1)]
    return e + [(idx(r, c), idx(r + 1, c)) for r in range(rows - 1) for c in range(cols)]


def petersen_edges():
    return ([(i, (i + 1) % 5) for i in range(5)] + [(i, i + 5) for i in range(5)]
            + [(5 + i, 5 + (i + 2) % 5) for i in range(5)])


def tree_edges(n, seed):
    r = np.random.default_rng(seed)
    return [(i, int(r.integers(0, i))) for i in range(1, n)]


GRAPHS = [("tree", lambda: (40, tree_edges(40, 5)), 0.0),
          ("grid 3x3", lambda: (9, grid_edges(3, 3)), 2.0),
          ("Petersen", lambda: (10, petersen_edges()), 0.5),
          ("ladder 2x10", lambda: (20, grid_edges(2, 10)), 1.0)]


def case_graphs_known():
    for label, make, want in GRAPHS:
        n, edges = make()
        p = write_edges(edges)
        rep = fresh("graph", ".h5")
        r = s.ok("delta", "--graph", p, "--exact", "-o", rep)
        attrs, data = check_group(rep, "graph", 1, n, True, False)
        D = bfs(n, edges)
        assert data["delta"][0] == want, (label, data["delta"][0], want)
        assert data["diameter"][0] == D.max(), (label, data["diameter"][0], D.max())
        assert data["delta_rel"][0] == 2 * want / D.max(), label
        assert attrs["distance"] == "shortest_path" and attrs["base_point"] == "all", attrs
        assert attrs["n_rows"] == n and attrs["source"] == "graph", attrs
        assert attrs["n_edges"] == len(set(tuple(sorted(e)) for e in edges)), (attrs["n_edges"], label)
        assert "δ_rel" in r.out, r.out
        w = int(data["base"][0])
        assert fixed_base_ref(D, w) == want, (label, w)  # the reported base attains it
        print("  %-12s δ %g, diameter %g" % (label, want, D.max()))


def case_graphs_fixed_base():
    for label, make, _ in GRAPHS:
        n, edges = make()
        p = write_edges(edges, decorate=False)
        D = bfs(n, edges)
        for base in (0, n - 1):
            rep = fresh("graphfb", ".h5")
            args = ["delta", "--graph", p, "-o", rep] + (["--base", base] if base else [])
            s.ok(*args)
            attrs, data = check_group(rep, "graph", 1, n, False, False)
            assert data["delta"][0] == fixed_base_ref(D, base), (label, base, data["delta"][0])
            assert data["base"][0] == base
            assert attrs["base_point"] == (str(base) if base else "first"), attrs


def case_graphs_large_sampled():
    """Hop distances of larger graphs (the searches spread over the threads), through
    sampled blocks: a 30 x 30 grid against numpy's BFS, a 1000-node tree δ 0."""
    n, edges = 900, grid_edges(30, 30)
    D = bfs(n, edges)
    rep = fresh("biggrid", ".h5")
    s.ok("delta", "--graph", write_edges(edges), "--sample", 60, "--tries", 3, "--seed", 9, "-o", rep)
    attrs, data = check_group(rep, "graph", 3, 60, False, True)
    for t in range(3):
        rows = data["sample_rows"][t]
        sub = D[np.ix_(rows, rows)]
        assert data["delta"][t] == fixed_base_ref(sub, 0), (t, data["delta"][t])
        assert data["diameter"][t] == sub.max()
    rep = fresh("bigtree", ".h5")
    s.ok("delta", "--graph", write_edges(tree_edges(1000, 77)), "--sample", 200, "--tries", 2, "--exact", "-o", rep)
    attrs, data = check_group(rep, "graph", 2, 200, True, True)
    assert (data["delta"] == 0).all(), data["delta"]


# ---- distance matrices ----

def cloud(n, dim, seed):
    r = np.random.default_rng(seed)
    return (r.standard_normal((n, dim)) * r.uniform(0.5, 3.0, dim)).astype(np.float32)


def write_npy(D, dtype):
    p = fresh("d", ".npy")
    np.save(p, np.ascontiguousarray(D, dtype=dtype))
    return p


def case_distances_npy():
    for dtype in ("<f8", "<f4"):
        for n, dim, base in ((6, 2, None), (40, 5, None), (120, 16, 77)):
            D = euclidean(cloud(n, dim, n + dim))
            if dtype == "<f4":
                D = D.astype(np.float32)
                D = np.minimum(D, D.T)  # exactly symmetric in float32 too
            p = write_npy(D, dtype)
            rep = fresh("dist", ".h5")
            args = ["delta", "--distances", p, "-o", rep] + (["--base", base] if base is not None else [])
            s.ok(*args)
            attrs, data = check_group(rep, "distances", 1, n, False, False)
            Dd = D.astype(np.float64)
            w = base or 0
            close(float(data["delta"][0]), fixed_base_ref(Dd, w), Dd.max(), "%s n=%d" % (dtype, n))
            assert data["diameter"][0] == Dd.max()
            assert data["base"][0] == w
            assert attrs["matrix"] == ("float64" if dtype == "<f8" else "float32"), attrs
            assert attrs["distance"] == "given"
        print("  %s: fixed-base δ within 1e-5 of numpy's" % dtype)


def case_distances_hdf5():
    D = euclidean(cloud(70, 4, 71))
    p = fresh("dist", ".h5")
    with h5py.File(p, "w") as f:
        f["distances"] = D
        f["nested/single"] = np.minimum(D, D.T).astype(np.float32)
        f["nested/ints"] = np.rint(D * 10).astype(np.int32)
    for dataset, want in ((None, D), ("nested/single", D.astype(np.float32).astype(np.float64)),
                          ("/nested/ints", np.rint(D * 10))):
        rep = fresh("h5dist", ".h5")
        s.ok("delta", "--distances", p, "-o", rep, "--exact", *(["--dataset", dataset] if dataset else []))
        attrs, data = check_group(rep, "distances", 1, 70, True, False)
        per = max(fixed_base_ref(want, w) for w in range(70))
        close(float(data["delta"][0]), per, want.max(), "HDF5 %s" % dataset)
        assert attrs["matrix"] == "HDF5 dataset %s" % (dataset or "distances"), attrs
    print("  float64, float32 and int32 datasets of an HDF5 file: exact δ within 1e-5 of numpy's")


def case_exact_is_max_over_bases():
    for n, dim in ((12, 2), (45, 6)):
        D = euclidean(cloud(n, dim, 700 + n))
        p = write_npy(D, "<f8")
        rep = fresh("exact", ".h5")
        s.ok("delta", "--distances", p, "--exact", "-o", rep)
        attrs, data = check_group(rep, "distances", 1, n, True, False)
        per = np.array([fixed_base_ref(D, w) for w in range(n)])
        close(float(data["delta"][0]), float(per.max()), D.max(), "exact n=%d" % n)
        close(float(per[int(data["base"][0])]), float(per.max()), D.max(), "δ_w at the reported base")
        # sampled blocks of a matrix, exact on each
        rep = fresh("exacts", ".h5")
        s.ok("delta", "--distances", p, "--exact", "--sample", 8, "--tries", 3, "--seed", 4, "-o", rep)
        attrs, data = check_group(rep, "distances", 3, 8, True, True)
        for t in range(3):
            rows = data["sample_rows"][t]
            sub = D[np.ix_(rows, rows)]
            want = max(fixed_base_ref(sub, w) for w in range(8))
            close(float(data["delta"][t]), want, sub.max(), "sampled exact try %d" % t)
            assert data["base"][t] in rows


# ---- word vectors ----

def write_glove(X, words=None):
    p = fresh("v", ".txt")
    with open(p, "w", encoding="utf-8") as f:
        for i, row in enumerate(X):
            w = words[i] if words else "w%d" % i
            f.write(w + " " + " ".join(repr(float(v)) for v in row) + "\n")
    return p


VEC = cloud(200, 10, 31)


def sampled_check(rep, name, X, tries, N, kind="euclidean", base_mode="first"):
    attrs, data = check_group(rep, name, tries, N, False, True)
    rows = data["sample_rows"]
    assert rows.min() >= 0 and rows.max() < X.shape[0]
    per = []
    for t in range(tries):
        r = rows[t]
        assert len(set(r.tolist())) == N, "try %d repeats rows without --with-replacement" % t
        Dt = DIST[kind](X[r])
        b = int(np.nonzero(r == data["base"][t])[0][0])
        if base_mode == "first":
            assert b == 0, (t, b)
        close(float(data["delta"][t]), fixed_base_ref(Dt, b), Dt.max(), "try %d" % t)
        assert abs(data["diameter"][t] - Dt.max()) <= 1e-6 * Dt.max()
        per.append(float(data["delta_rel"][t]))
    assert abs(attrs["delta_rel_mean"] - np.mean(per)) <= 1e-12
    assert abs(attrs["delta_rel_std"] - np.std(per)) <= 1e-12
    return attrs, data


def case_vectors_sampled():
    p = write_glove(VEC)
    reps = []
    for seed in (3, 3, 4):
        rep = fresh("vec", ".h5")
        r = s.ok("delta", "--vectors", p, "--sample", 40, "--tries", 4, "--seed", seed, "-o", rep)
        attrs, data = sampled_check(rep, "vectors", VEC, 4, 40)
        assert attrs["seed"] == seed and attrs["with_replacement"] == 0 and attrs["dim"] == 10, attrs
        assert "± " in r.out and "curvature" in r.out, r.out
        reps.append(data)
    for k in ("sample_rows", "delta", "base"):
        assert np.array_equal(reps[0][k], reps[1][k]), "seed 3 twice: %s differs" % k
    assert not np.array_equal(reps[0]["sample_rows"], reps[2]["sample_rows"]), "seeds 3 and 4 drew the same rows"
    print("  δ_rel %.4f ± %.4f over 4 tries; the same seed, the same report" % (
        reps[0]["delta_rel"].mean(), reps[0]["delta_rel"].std()))


def case_vectors_bases_and_distances():
    p = write_glove(VEC)
    rep = fresh("vrand", ".h5")
    s.ok("delta", "--vectors", p, "--sample", 30, "--tries", 5, "--base", "random", "--distance", "angular", "-o", rep)
    attrs, data = sampled_check(rep, "vectors", VEC, 5, 30, "angular", "random")
    assert attrs["base_point"] == "random" and attrs["distance"] == "angular", attrs
    firsts = [int(np.nonzero(data["sample_rows"][t] == data["base"][t])[0][0]) for t in range(5)]
    assert any(f != 0 for f in firsts), firsts
    # --base INDEX: that row first in every sample, never again
    rep = fresh("vidx", ".h5")
    s.ok("delta", "--vectors", p, "--sample", 20, "--tries", 6, "--base", 123, "--distance", "cosine", "-o", rep)
    attrs, data = sampled_check(rep, "vectors", VEC, 6, 20, "cosine", "first")
    assert (data["sample_rows"][:, 0] == 123).all() and (data["sample_rows"][:, 1:] != 123).all()
    assert (data["base"] == 123).all() and attrs["base_point"] == "123", attrs
    # with replacement: more rows than the file has
    small = write_glove(VEC[:10])
    rep = fresh("vrep", ".h5")
    s.ok("delta", "--vectors", small, "--sample", 25, "--tries", 2, "--with-replacement", "-o", rep)
    attrs, data = check_group(rep, "vectors", 2, 25, False, True)
    rows = data["sample_rows"]
    assert attrs["with_replacement"] == 1 and rows.max() < 10, rows
    for t in range(2):
        Dt = euclidean(VEC[:10][rows[t]])
        close(float(data["delta"][t]), fixed_base_ref(Dt, 0), Dt.max(), "with replacement try %d" % t)
    # all rows, three distances
    X = VEC[:60]
    p60 = write_glove(X)
    for kind in ("euclidean", "cosine", "angular"):
        rep = fresh("vall", ".h5")
        s.ok("delta", "--vectors", p60, "--distance", kind, "-o", rep, "--name", "all_" + kind)
        attrs, data = check_group(rep, "all_" + kind, 1, 60, False, False)
        D = DIST[kind](X)
        close(float(data["delta"][0]), fixed_base_ref(D, 0), D.max(), kind)
        assert attrs["distance"] == kind


# ---- a model ----

def case_model():
    d = s.path("model")
    s.ok("make-model", "-o", d, "--hidden", 64, "--layers", 1, "--no-tokenizer", "--vocab", 300)
    x = s.path("emb.npy")
    s.ok("tensor", d, "model.embed_tokens.weight", "-o", x)
    E = np.load(x)
    assert E.shape == (300, 64)
    rep = s.path("model.h5")
    s.ok("delta", d, "--sample", 50, "--tries", 3, "-o", rep)
    attrs, data = sampled_check(rep, "embeddings", E, 3, 50)
    assert attrs["source"] == "model" and attrs["matrix"] == "model.embed_tokens.weight", attrs
    assert attrs["n_rows"] == 300 and attrs["dim"] == 64 and attrs["seed"] == 0, attrs
    with h5py.File(rep, "r") as f:
        files = list(f.attrs["input_files"])
    assert any(str(p).endswith("model.safetensors") for p in files), files
    print("  embeddings: δ_rel %.4f ± %.4f" % (attrs["delta_rel_mean"], attrs["delta_rel_std"]))


def case_seen():
    # word vectors and word counts: only words that occur are drawn
    words = ["w%d" % i for i in range(200)]
    p = write_glove(VEC, words)
    text = fresh("text", ".txt")
    occurring = sorted({int(i) for i in np.random.default_rng(5).integers(0, 200, 120)})
    with open(text, "w") as f:
        f.write(" ".join("W%d" % i for i in occurring) + " unknown words here\n")
    rep = fresh("seen", ".h5")
    s.ok("freq", "--words", text, "-o", rep)
    s.ok("delta", "--vectors", p, "--sample", 40, "--tries", 5, "--seen", rep, "-o", rep)
    attrs, data = sampled_check(rep, "vectors", VEC, 5, 40)
    assert set(data["sample_rows"].ravel().tolist()) <= set(occurring), "a row outside the counts was drawn"
    assert attrs["n_candidates"] == len(occurring) and attrs["seen_report"] == rep, attrs
    # a model and token counts (the LLaMA-2 tokenizer make-model copies)
    d = s.path("seen-model")
    s.ok("make-model", "-o", d, "--hidden", 16, "--layers", 1, "--heads", 2, "--kv-heads", 1,
         "--intermediate", 32)
    rep = fresh("seen-tok", ".h5")
    s.ok("freq", "--tokenizer", d, text, "-o", rep)
    with h5py.File(rep, "r") as f:
        counts = f["freq/counts"][()]
    s.ok("delta", d, "--sample", 8, "--tries", 3, "--seen", rep, "-o", rep)
    attrs, data = check_group(rep, "embeddings", 3, 8, False, True)
    assert (counts[data["sample_rows"].ravel()] > 0).all(), "a token outside the counts was drawn"
    assert attrs["n_candidates"] == int((counts > 0).sum()), attrs
    # more than the seen rows without replacement: a clear error
    r = s.run("delta", d, "--sample", int((counts > 0).sum()) + 1, "--seen", rep, "-o", fresh("x", ".h5"))
    assert r.code == 1 and "occur in the counts" in r.err, r.err
    print("  %d of 200 words seen, %d tokens seen: samples drawn from them only" % (
        len(occurring), int((counts > 0).sum())))


# ---- the report ----

def case_report_keeps_groups():
    rep = s.path("keep.h5")
    n, edges = 9, grid_edges(3, 3)
    g = write_edges(edges)
    v = write_glove(VEC[:50])
    s.ok("delta", "--graph", g, "--exact", "-o", rep)
    first_attrs, first_data = delta_group(rep, "graph")[:2]
    s.ok("delta", "--vectors", v, "--sample", 10, "--tries", 3, "--seed", 2, "--name", "sampled", "-o", rep)
    sampled_attrs, sampled_data, sampled_defs = delta_group(rep, "sampled")
    s.ok("delta", "--vectors", v, "--name", "glove_small", "-o", rep)
    s.ok("delta", "--graph", g, "--name", "grid_fixed", "-o", rep)
    with h5py.File(rep, "r") as f:
        assert sorted(f["delta"]) == ["glove_small", "graph", "grid_fixed", "sampled"], list(f["delta"])
        files = set(f.attrs["input_files"])
        gfiles = set(f["delta"].attrs["input_files"])
    for want in (os.path.realpath(g), os.path.realpath(v)):
        assert want in files and want in gfiles, (want, files, gfiles)
    for name, a0, d0 in (("graph", first_attrs, first_data), ("sampled", sampled_attrs, sampled_data)):
        attrs, data, defs = delta_group(rep, name)
        assert attrs == a0, (name, attrs, a0)
        for k in d0:
            assert data[k].dtype == d0[k].dtype and np.array_equal(data[k], d0[k]), (name, k)
    assert delta_group(rep, "sampled")[1]["sample_rows"].shape == (3, 10)
    assert delta_group(rep, "sampled")[2] == sampled_defs
    assert first_attrs["command_line"] != delta_group(rep, "glove_small")[0]["command_line"]
    # the same name again replaces only that group
    s.ok("delta", "--vectors", v, "--name", "glove_small", "--distance", "cosine", "-o", rep)
    with h5py.File(rep, "r") as f:
        assert sorted(f["delta"]) == ["glove_small", "graph", "grid_fixed", "sampled"], list(f["delta"])
        assert f["delta/glove_small"].attrs["distance"] == "cosine"
        assert f["delta/graph"].attrs["delta_mean"] == 2.0
    # other top-level groups stay
    s.ok("info", v, "-o", rep)
    s.ok("delta", "--graph", g, "--name", "again", "-o", rep)
    with h5py.File(rep, "r") as f:
        assert "model" in f and len(f["delta"]) == 5, list(f)
    no_temp_files()


def case_tree_has_no_curvature():
    rep = fresh("tree", ".h5")
    r = s.ok("delta", "--graph", write_edges(tree_edges(25, 9)), "-o", rep)
    check_group(rep, "graph", 1, 25, False, False)
    assert "unbounded" in r.err, r.err


def case_help():
    r = s.ok("delta", "--help")
    assert "usage: hyplora delta" in r.out and "Example" in r.out, r.out
    assert "--data FILE" in r.out and "--layers" in r.out, r.out
    r = s.ok("--help")
    assert "delta" in r.out


s.check("--distances FILE.h5 [--dataset PATH]: HDF5 distance matrices", case_distances_hdf5)
s.check("--seen REPORT: samples only rows counted in /freq (words and tokens)", case_seen)
s.check("graphs: tree 0, 3x3 grid 2, Petersen 1/2, 2x10 ladder 1 (--exact)", case_graphs_known)
s.check("graphs: fixed-base δ (base 0 and the last node) against numpy", case_graphs_fixed_base)
s.check("graphs: 30x30 grid and a 1000-node tree, sampled", case_graphs_large_sampled)
s.check("--distances .npy float64 and float32 against numpy's fixed-base δ", case_distances_npy)
s.check("--exact = max over base points; sampled blocks of a matrix", case_exact_is_max_over_bases)
s.check("--vectors --sample/--tries/--seed: reproducible, per-try δ = numpy's on the drawn rows", case_vectors_sampled)
s.check("--vectors: --base random, --base INDEX, --with-replacement, all rows x 3 distances",
        case_vectors_bases_and_distances)
s.check("MODEL --sample 50 --tries 3 against numpy on the embedding rows", case_model)
s.check("report: --name keeps the other /delta groups, values, inputs; other groups kept", case_report_keeps_groups)
s.check("tree: δ_rel 0, no curvature estimate, a note", case_tree_has_no_curvature)
s.check("--help", case_help)
s.done()
