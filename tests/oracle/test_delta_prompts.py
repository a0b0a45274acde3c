#!/usr/bin/python3
"""The per-prompt and per-layer modes of `hyplora delta` (`--data`, `--layers`), end to end,
against references written here in float64 (numpy, and the PyTorch decoder of
tests/lib/torch_llama.py) and read back from the report with h5py:

    test_delta_prompts.py HYPLORA_EXE

The model is make-model's default layout (hidden 64, 2 layers, BF16, the LLaMA-2 tokenizer,
vocab 32000) with sharpened weights (tests/lib/checkpoints.py), so that the hidden states
are far from the embeddings and from each other. The data set is written here: a .json
array of instruction/input/output objects, with items of fewer than 4
tokens (empty, blank, "Hi", "Ok.", "a b"), unicode (accents, CJK, emoji, Cyrillic, Greek),
newlines and tabs, a prompt of one repeated token; the same items as .jsonl, and the
single-line ones as a plain text file.

- the references themselves: Khrulkov's fixed-base δ is 1 on the 4-cycle and 0 on a path,
  the four-point δ of the 4-cycle 1; the angular distance equals arccos of the cosine; the
  torch hidden state 0 equals the embedding rows and state L is before the final norm (the
  norm of it gives torch's logits); the data set's tokens are BOS first and the short items
  have fewer than 4;
- MODEL --data F.json --field instruction: per item, the report's rows slice equals the ids
  of `hyplora tokenize --add-special`, and δ, the diameter and δ_rel equal the fixed-base δ
  (base 0, Euclidean) of the embedding rows read from model.safetensors with numpy (within
  1e-5 relative; absolute 1e-9 of the diameter, see close()); item indices, item_points,
  n_skipped, n_points, n_items; the δ_rel mean and population std, δ and diameter means,
  curvature c = (0.144 / mean)^2 and K = 1/c; the attributes (mode "prompts", data, field,
  cutoff, source, matrix, n_rows, dim, base_point, exact, distance, sampled 0, ...), the
  dataset dtypes and a definition on each;
- the .jsonl variant gives the same datasets as the .json; the plain text file (one prompt
  per line) and --field output are checked against the reference likewise;
- --exact: δ = max over all base points, the reported base attains it; --base random
  --seed S: each base within its item and δ equal to the reference for that base, the same
  seed the same bases, another seed other bases; --distance cosine (1 - cos) and angular
  (arccos); --cutoff N (every item cut to its first N points); --limit N (only the first N
  items of the file, skipped ones counted); --tokenizer for a model without one;
- --vectors (a GloVe text file written here) --data: the words of each prompt (lowercased
  runs of letters, marks and numbers, an apostrophe inside a word kept), out-of-vocabulary
  ones dropped, order and repeats kept, no BOS; rows = the vector rows; as above;
- --layers all, 0,2 and 1-2: /delta/layers (NAME_layers with --name) with the layer indices,
  per-item δ_rel [layers, items] against the torch reference's hidden states (float64,
  state L before the final norm) within 1e-4 relative (the C forward is float32), δ and
  diameter means against the reference, δ_rel mean and std against numpy's of the reported
  values; layer 0 equal to the /delta/embeddings result of the same run; --exact --cutoff
  with --layers; a --batch 1 run equal to a --batch 8 run within 1e-6, --weights stored
  against the reference too; other /delta groups of the report kept;
- bad input: --layers with --vectors, --layers without --data (also with --sample),
  --layers 99 on the 2-layer model (the message names the range 0..2), an item without the
  field (the message names the field and the item), a missing --data file, a data set whose
  items all have fewer than 4 tokens, a model without a tokenizer; each exits with a clear
  message and writes no report.
"""
import json
import os
import re
import sys
import unicodedata

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
try:
    import torch  # noqa: E402
except ImportError:  # a clear failure, not a skip: the per-layer mode has no other oracle
    sys.exit("test_delta_prompts.py: PyTorch is missing: apt-get install python3-torch "
             "(Debian's, for /usr/bin/python3)")

import st_writer  # noqa: E402
from checkpoints import make_model, rewrite, sharpen, tokenize_texts  # noqa: E402
from delta_report import check_layout, delta_group  # noqa: E402
from harness import Suite, expect_error  # noqa: E402
from torch_llama import load_safetensors_dir, reference, rmsnorm  # noqa: E402

s = Suite()
HYPLORA = s.exe
TOL = 1e-5          # δ of the embedding rows or vectors (float32 points, the float32 δ kernel)
ATOL_REL = 1e-9     # absolute part, as a fraction of the item's diameter (see close())
LAYER_TOL = 1e-4    # δ_rel of the hidden states of the float32 forward against float64
BATCH_TOL = 1e-6    # one batch size against another
N_LAYERS = 2
LLAMA2 = os.path.join(HERE, "..", "..", "notebooks-data", "tokenizers", "llama2", "tokenizer.json")
EMB_NAME = "model.embed_tokens.weight"
ATTRS = ["delta_rel_mean", "delta_rel_std", "delta_mean", "diameter_mean", "n_points", "n_items",
         "base_point", "exact", "distance", "used_double", "source", "input", "matrix", "n_rows", "dim",
         "sampled", "command_line", "tool_version", "created_utc", "inputs",
         "mode", "data", "field", "n_skipped", "cutoff"]
DATASETS = {"delta": np.float64, "diameter": np.float64, "delta_rel": np.float64, "base": np.int64,
            "used_double": np.int64, "item": np.int64, "item_points": np.int64, "rows": np.int64}
LAYER_ATTRS = ["n_items", "n_layers", "base_point", "exact", "distance", "data", "field", "mode", "source",
               "input", "command_line", "tool_version", "created_utc", "inputs"]
LAYER_DATASETS = {"layer": np.int64, "delta_rel_mean": np.float64, "delta_rel_std": np.float64,
                  "delta_mean": np.float64, "diameter_mean": np.float64, "delta_rel": np.float64,
                  "item": np.int64}


# ---- references ----

def fixed_base_ref(D, w):
    """Khrulkov's fixed-base δ_w in float64: G = Gromov products at w,
    δ_w = max over x, y of (max over z of min(G[x,z], G[z,y])) - G[x,y]."""
    D = np.asarray(D, dtype=np.float64)
    G = (D[:, w][:, None] + D[w][None, :] - D) / 2
    M = np.minimum(G[:, :, None], G[None, :, :]).max(axis=1)
    return float((M - G).max())


def exact_ref(D):
    """The four-point δ: every base point's δ_w (the largest is the δ)."""
    return np.array([fixed_base_ref(D, w) for w in range(len(D))])


def euclidean(X):
    X = np.asarray(X, dtype=np.float64)
    return np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))


def cos_matrix(X):
    X = np.asarray(X, dtype=np.float64)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    C = np.clip(U @ U.T, -1, 1)
    np.fill_diagonal(C, 1)
    return C


def cosine(X):
    return 1 - cos_matrix(X)


def angular(X):
    """arccos(cos), computed as 2 arcsin(chord / 2) of the unit vectors (the same angle,
    without arccos's loss of precision near 0; case_references checks they agree)."""
    X = np.asarray(X, dtype=np.float64)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    chord = np.sqrt(((U[:, None, :] - U[None, :, :]) ** 2).sum(-1))
    return 2 * np.arcsin(np.clip(chord / 2, 0, 1))


DIST = {"euclidean": euclidean, "cosine": cosine, "angular": angular}


def measure(X, kind="euclidean", base=0, exact=False):
    """(δ, diameter, δ_rel, δ_w of every base or None) of the points X."""
    D = DIST[kind](X)
    if exact:
        per = exact_ref(D)
        delta = float(per.max())
    else:
        per, delta = None, fixed_base_ref(D, base)
    diam = float(D.max())
    return delta, diam, (2 * delta / diam if diam > 0 else 0.0), per


def close(got, want, diam, what, tol=TOL):
    """got within tol relative of want, plus ATOL_REL of the diameter for values near 0 (a
    repeated token or word: equal rows, which both sides put exactly 0 apart)."""
    assert abs(got - want) <= tol * abs(want) + ATOL_REL * diam, "%s: got %.17g, expected %.17g" % (what, got, want)


def words(text):
    """The word rule of `hyplora freq --words` (docs/tokenizers.md): maximal runs of
    characters of the general categories L*, M*, N*, an apostrophe (' or U+2019) with such
    a character on both sides belonging to the word; lowercased one character at a time."""
    is_word = [unicodedata.category(c)[0] in "LMN" for c in text]
    out, cur = [], []
    for i, c in enumerate(text):
        inner_apostrophe = c in "'\u2019" and cur and i + 1 < len(text) and is_word[i + 1]
        if is_word[i] or inner_apostrophe:
            cur.append(c)
        else:
            if cur:
                out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return ["".join(ch.lower() for ch in w) for w in out]


# ---- the data set ----

BARE = "Classify the sentiment: I don't love this movie, I adore it!"
ITEMS = [
    {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat well, sleep, move."},
    {"instruction": "", "input": "An empty instruction.", "output": "Nothing to measure here at all."},
    {"instruction": "Hi", "input": "", "output": "Hello! How can I help you today?"},
    {"instruction": "Translate to French: the cat sat on the mat, and the cat sat on the mat again.",
     "input": "", "output": "Le chat s'est assis sur le tapis."},
    {"instruction": "\u00dcn\u00efc\u00f6d\u00e9: caf\u00e9, na\u00efve, \u00c9COLE, \u6771\u4eac\u30bf\u30ef\u30fc "
                    "\U0001F680\U0001F680 \u2014 \u00bfqu\u00e9 tal?", "input": "",
     "output": "Caf\u00e9 na\u00efve \u00e9cole."},
    {"instruction": "Ok.", "input": "", "output": "Ok."},
    {"instruction": "Line one.\nLine two\twith a tab.\n  Indented line three.", "input": "x",
     "output": "Three lines, one tab."},
    {"instruction": BARE, "input": "", "output": "Positive: adore is stronger than love."},
    {"instruction": "What is 12345 + 67890? Show the steps.", "input": "", "output": "80235, by adding the digits."},
    {"instruction": "  ", "input": "", "output": "Blank."},
    {"instruction": "Write a paragraph about the history of the Roman Empire: its emperors, its wars, "
                    "its roads and its fall in 476.", "input": "", "output": "Rome rose and fell."},
    {"instruction": "a b", "input": "", "output": "c d e f g"},
    {"instruction": "\u0417\u0434\u0440\u0430\u0432\u0441\u0442\u0432\u0443\u0439, \u043c\u0438\u0440! "
                    "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u03ba\u03cc\u03c3\u03bc\u03b5.", "input": "",
     "output": "\u041f\u0440\u0438\u0432\u0435\u0442."},
    {"instruction": "yes yes yes yes yes", "input": "", "output": "The same token five times."},
    {"instruction": "Name the planets of the solar system in order from the sun.", "input": "",
     "output": "Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus, Neptune."},
]


def texts_of(items, field="instruction"):
    return [it[field] for it in items]


JSON_TEXTS = texts_of(ITEMS)
LINES = [t for t in JSON_TEXTS if "\n" not in t and t.strip()]        # the plain-text variant
OUTPUTS = texts_of(ITEMS, "output")
SHORT_TEXTS = ["Hi", "", "Ok.", "a b"]                                  # every item skipped

_n = [0]


def fresh(stem, ext):
    _n[0] += 1
    return s.path("%s%d%s" % (stem, _n[0], ext))


def write_json(items, name="data.json"):
    p = fresh(name.split(".")[0], "." + name.split(".", 1)[1])
    with open(p, "w", encoding="utf-8") as f:
        json.dump(items, f, ensure_ascii=False, indent=1)
    return p


def write_jsonl(items):
    p = fresh("data", ".jsonl")
    with open(p, "w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")
    return p


def write_lines(lines):
    p = fresh("prompts", ".txt")
    with open(p, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(line + "\n" for line in lines))
    return p


# ---- the model ----

def sharp_model(name, seed, *extra):
    """make-model's default layout (LLaMA-2 tokenizer, BF16, hidden 64, 2 layers), with
    random norm weights, q/k times 8 and v/o times 6: the hidden states move far from the
    embeddings (norms ~0.16 -> ~5 -> ~7) and their δ_rel differs from layer to layer."""
    d = make_model(s, HYPLORA, name, "--seed", seed, *extra)
    rng = np.random.default_rng(seed)
    rewrite(d, lambda t: sharpen(t, rng, qk_scale=8.0, vo_scale=6.0, sort_names=True))
    return d


def embedding(model_dir):
    _, tensors, _ = st_writer.read(os.path.join(model_dir, "model.safetensors"))
    return np.asarray(tensors[EMB_NAME], dtype=np.float64)


MODEL = sharp_model("model", 17)
EMB = embedding(MODEL)
WEIGHTS = load_safetensors_dir(MODEL)
_all_texts = sorted(set(JSON_TEXTS + LINES + OUTPUTS + SHORT_TEXTS))
IDS = dict(zip(_all_texts, tokenize_texts(s, os.path.join(MODEL, "tokenizer.json"), _all_texts)))
_hidden_cache = {}


def hidden(ids, model_dir=MODEL, weights=WEIGHTS):
    """The torch reference's hidden states [L+1, T, D] (float64) of one id sequence."""
    key = (model_dir, tuple(ids))
    if key not in _hidden_cache:
        _hidden_cache[key] = reference(model_dir, list(ids), weights=weights)[1]
    return _hidden_cache[key]


# ---- expected items ----

def token_points(text):
    return IDS[text]


def expected_items(texts, points_of=token_points, cutoff=0, limit=None):
    """[(item index, rows)] of the measured items and the number skipped."""
    items, skipped = [], 0
    for i, t in enumerate(texts[:limit] if limit else texts):
        rows = list(points_of(t))
        if cutoff:
            rows = rows[:cutoff]
        if len(rows) < 4:
            skipped += 1
        else:
            items.append((i, rows))
    return items, skipped


# ---- the report ----

def same_file(a, b):
    return os.path.realpath(str(a)) == os.path.realpath(str(b))


def check_stats(attrs, data):
    rel = data["delta_rel"]
    assert abs(attrs["delta_rel_mean"] - rel.mean()) <= 1e-12 * max(1, rel.mean()), \
        ("delta_rel_mean", attrs["delta_rel_mean"], rel.mean())
    assert abs(attrs["delta_rel_std"] - np.std(rel)) <= 1e-12 * max(1, np.std(rel)), \
        ("delta_rel_std (population, ddof 0)", attrs["delta_rel_std"], np.std(rel))
    assert abs(attrs["delta_mean"] - data["delta"].mean()) <= 1e-12 * max(1, data["delta"].mean())
    assert abs(attrs["diameter_mean"] - data["diameter"].mean()) <= 1e-12 * data["diameter"].mean()
    assert attrs["used_double"] == int(data["used_double"].any()), attrs["used_double"]
    assert rel.mean() > 0
    c = (0.144 / attrs["delta_rel_mean"]) ** 2
    assert abs(attrs["curvature_c"] - c) <= 1e-12 * c, (attrs["curvature_c"], c)
    assert abs(attrs["curvature_k"] - 1 / c) <= 1e-12 / c, (attrs["curvature_k"], 1 / c)


def check_prompts(rep, name, data_file, texts, X, points_of=token_points, kind="euclidean", base="first",
                  exact=False, cutoff=0, limit=None, field="instruction", source="model"):
    """/delta/<name> of a per-prompt run against the references on the points X[rows]."""
    attrs, data, defs = delta_group(rep, name)
    check_layout(attrs, data, defs, ATTRS, DATASETS)
    items, skipped = expected_items(texts, points_of, cutoff, limit)
    n = len(items)
    for k in DATASETS:
        if k != "rows":
            assert data[k].shape == (n,), (k, data[k].shape, n)
    lengths = [len(r) for _, r in items]
    assert data["item"].tolist() == [i for i, _ in items], ("item", data["item"], [i for i, _ in items])
    assert data["item_points"].tolist() == lengths, ("item_points", data["item_points"], lengths)
    assert data["rows"].tolist() == [x for _, r in items for x in r], "rows differ from the reference's points"
    assert attrs["n_items"] == n and attrs["n_points"] == sum(lengths), (attrs["n_items"], attrs["n_points"])
    assert attrs["n_skipped"] == skipped, (attrs["n_skipped"], skipped)
    assert attrs["mode"] == "prompts" and attrs["sampled"] == 0, attrs
    assert attrs["cutoff"] == cutoff, attrs["cutoff"]
    assert attrs["source"] == source and attrs["distance"] == kind, attrs
    assert attrs["exact"] == int(exact), attrs
    assert attrs["base_point"] == ("all" if exact else base), attrs["base_point"]
    assert same_file(attrs["data"], data_file), (attrs["data"], data_file)
    if field is not None:
        assert attrs["field"] == field, attrs["field"]
    assert attrs["n_rows"] == X.shape[0] and attrs["dim"] == X.shape[1], (attrs["n_rows"], attrs["dim"])
    off = np.concatenate([[0], np.cumsum(lengths)])
    for j, (i, rows) in enumerate(items):
        assert data["rows"][off[j]:off[j + 1]].tolist() == rows
        w = int(data["base"][j])
        assert 0 <= w < len(rows), (i, w)
        if base == "first" and not exact:
            assert w == 0, (i, w)
        delta, diam, rel, per = measure(X[rows], kind, w, exact)
        what = "item %d (%d points)" % (i, len(rows))
        if diam == 0:  # one word repeated (vectors): every distance 0, δ_rel 0 by definition
            got = (data["delta"][j], data["diameter"][j], data["delta_rel"][j])
            assert got == (0, 0, 0), "%s: the same row %d times must give δ, diameter, δ_rel 0, got %s" % (
                what, len(rows), got)
            continue
        close(float(data["delta"][j]), delta, diam, what + " δ")
        if exact:
            close(float(per[w]), delta, diam, what + ": δ_w at the reported base")
        assert abs(data["diameter"][j] - diam) <= 1e-6 * diam, (what, data["diameter"][j], diam)
        close(float(data["delta_rel"][j]), rel, 2.0, what + " δ_rel")
        if data["diameter"][j] > 0:
            assert abs(data["delta_rel"][j] - 2 * data["delta"][j] / data["diameter"][j]) <= 1e-12, what
        else:
            assert data["delta_rel"][j] == 0, (what, data["delta_rel"][j])
    check_stats(attrs, data)
    return attrs, data


def check_layers(rep, name, data_file, texts, layers, kind="euclidean", exact=False, cutoff=0,
                 emb_group=None, field="instruction"):
    """/delta/<name> of a --layers run against the torch reference's hidden states; layer 0
    against the per-prompt group emb_group of the same report."""
    attrs, data, defs = delta_group(rep, name)
    check_layout(attrs, data, defs, LAYER_ATTRS, LAYER_DATASETS)
    items, _ = expected_items(texts, cutoff=cutoff)
    n, nl = len(items), len(layers)
    assert attrs["mode"] == "layers" and attrs["source"] == "model", attrs
    assert attrs["n_items"] == n and attrs["n_layers"] == N_LAYERS, (attrs["n_items"], attrs["n_layers"])
    assert attrs["distance"] == kind and attrs["exact"] == int(exact), attrs
    assert attrs["base_point"] == ("all" if exact else "first"), attrs["base_point"]
    assert same_file(attrs["data"], data_file) and attrs["field"] == field, (attrs["data"], attrs["field"])
    assert data["layer"].tolist() == list(layers), data["layer"]
    assert data["item"].tolist() == [i for i, _ in items], ("item", data["item"])
    for k in ("delta_rel_mean", "delta_rel_std", "delta_mean", "diameter_mean"):
        assert data[k].shape == (nl,), (k, data[k].shape)
    rel = data["delta_rel"]
    assert rel.shape == (nl, n), rel.shape
    want = np.zeros((3, nl, n))  # δ, diameter, δ_rel
    worst = 0.0
    for j, (i, ids) in enumerate(items):
        H = hidden(ids)
        assert H.shape[0] == N_LAYERS + 1
        for a, layer in enumerate(layers):
            delta, diam, r, _ = measure(H[layer], kind, 0, exact)
            want[:, a, j] = delta, diam, r
            e = abs(rel[a, j] - r) / r if r > 0 else abs(rel[a, j])
            worst = max(worst, e)
            assert abs(rel[a, j] - r) <= LAYER_TOL * r + ATOL_REL, \
                "item %d layer %d: δ_rel %.10g, reference %.10g" % (i, layer, rel[a, j], r)
    for a in range(nl):
        assert abs(data["delta_rel_mean"][a] - rel[a].mean()) <= 1e-12, ("delta_rel_mean", layers[a])
        assert abs(data["delta_rel_std"][a] - np.std(rel[a])) <= 1e-12, ("delta_rel_std (ddof 0)", layers[a])
        for k, m in (("delta_mean", want[0, a].mean()), ("diameter_mean", want[1, a].mean()),
                     ("delta_rel_mean", want[2, a].mean())):
            assert abs(data[k][a] - m) <= LAYER_TOL * abs(m), (k, layers[a], data[k][a], m)
    if emb_group is not None and 0 in layers:
        eattrs, edata, _ = delta_group(rep, emb_group)
        a = list(layers).index(0)
        assert edata["item"].tolist() == data["item"].tolist()
        assert np.allclose(rel[a], edata["delta_rel"], rtol=1e-9, atol=0), (rel[a], edata["delta_rel"])
        assert abs(data["delta_mean"][a] - eattrs["delta_mean"]) <= 1e-9 * eattrs["delta_mean"]
        assert abs(data["diameter_mean"][a] - eattrs["diameter_mean"]) <= 1e-9 * eattrs["diameter_mean"]
    return attrs, data, worst


def no_temp_files():
    left = [f for f in os.listdir(s.dir) if ".tmp-" in f]
    assert not left, left


# ---- cases ----

def case_references():
    C4 = np.array([[0, 1, 2, 1], [1, 0, 1, 2], [2, 1, 0, 1], [1, 2, 1, 0]], dtype=np.float64)
    assert fixed_base_ref(C4, 0) == 1.0, fixed_base_ref(C4, 0)
    assert exact_ref(C4).max() == 1.0
    P = np.abs(np.arange(6.0)[:, None] - np.arange(6.0)[None, :])   # a path: a tree
    assert max(fixed_base_ref(P, w) for w in range(6)) == 0.0
    X = np.random.default_rng(1).standard_normal((9, 5))
    A = np.arccos(cos_matrix(X))
    assert np.allclose(angular(X), A, rtol=1e-12, atol=1e-7), np.abs(angular(X) - A).max()
    assert np.allclose(cosine(X), 1 - cos_matrix(X))
    assert words("Don't  STOP\u2014caf\u00e9's 12ab, x'y 'q' \u6771\u4eac!") == \
        ["don't", "stop", "caf\u00e9's", "12ab", "x'y", "q", "\u6771\u4eac"], words("Don't STOP")
    # The data set as designed: BOS first, the short items below 4 tokens, the others not.
    short = {"", "Hi", "Ok.", "  ", "a b"}
    for t in JSON_TEXTS + OUTPUTS:
        assert IDS[t][0] == 1, (t, IDS[t])
        assert (len(IDS[t]) < 4) == (t in short), (t, IDS[t])
    assert IDS["yes yes yes yes yes"][1:] == [IDS["yes yes yes yes yes"][1]] * 5
    # torch: state 0 = the embedding rows, state L = before the final norm.
    ids = IDS[ITEMS[3]["instruction"]]
    logits, H = reference(MODEL, ids, weights=WEIGHTS)
    assert H.shape == (N_LAYERS + 1, len(ids), 64), H.shape
    assert np.array_equal(H[0], EMB[ids])
    cfg, W = WEIGHTS
    head = W.get("lm_head.weight", W[EMB_NAME])
    again = (rmsnorm(torch.tensor(H[-1]), W["model.norm.weight"], cfg["rms_norm_eps"]) @ head.T).numpy()
    assert np.allclose(again, logits, rtol=0, atol=1e-12 * np.abs(logits).max())
    # The layers differ: the check of each layer is not the check of the embeddings again.
    rels = [measure(H[layer])[2] for layer in range(N_LAYERS + 1)]
    assert min(abs(rels[a] - rels[b]) for a in range(3) for b in range(a)) > 1e-3, rels
    print("  4-cycle δ 1, path δ 0; δ_rel by layer of item 3: %s" % ", ".join("%.4f" % r for r in rels))


def case_json():
    p = write_json(ITEMS)
    rep = fresh("json", ".h5")
    s.ok("delta", MODEL, "--data", p, "--field", "instruction", "-o", rep)
    attrs, data = check_prompts(rep, "embeddings", p, JSON_TEXTS, EMB)
    assert attrs["matrix"] == EMB_NAME and same_file(attrs["input"], MODEL), (attrs["matrix"], attrs["input"])
    assert attrs["n_skipped"] == 5
    no_temp_files()
    print("  %d items, %d skipped: δ_rel %.4f ± %.4f" % (attrs["n_items"], attrs["n_skipped"],
                                                         attrs["delta_rel_mean"], attrs["delta_rel_std"]))


def case_jsonl_text_field():
    pj = write_json(ITEMS)
    rj = fresh("json", ".h5")
    s.ok("delta", MODEL, "--data", pj, "-o", rj)          # the default field: instruction
    pl = write_jsonl(ITEMS)
    rl = fresh("jsonl", ".h5")
    s.ok("delta", MODEL, "--data", pl, "-o", rl)
    check_prompts(rl, "embeddings", pl, JSON_TEXTS, EMB)
    dj, dl = delta_group(rj, "embeddings")[1], delta_group(rl, "embeddings")[1]
    assert sorted(dj) == sorted(dl)
    for k in dj:
        assert np.array_equal(dj[k], dl[k]), "jsonl and json differ in " + k
    pt = write_lines(LINES)
    rt = fresh("text", ".h5")
    s.ok("delta", MODEL, "--data", pt, "-o", rt)
    check_prompts(rt, "embeddings", pt, LINES, EMB, field=None)
    ro = fresh("output", ".h5")
    s.ok("delta", MODEL, "--data", pl, "--field", "output", "-o", ro)
    check_prompts(ro, "embeddings", pl, OUTPUTS, EMB, field="output")


def case_exact():
    p = write_json(ITEMS)
    rep = fresh("exact", ".h5")
    s.ok("delta", MODEL, "--data", p, "--exact", "-o", rep)
    attrs, data = check_prompts(rep, "embeddings", p, JSON_TEXTS, EMB, exact=True)
    fixed = [measure(EMB[rows])[0] for _, rows in expected_items(JSON_TEXTS)[0]]
    assert (data["delta"] >= np.array(fixed) * (1 - TOL)).all(), "four-point δ below the fixed-base δ"


def case_base_random():
    p = write_json(ITEMS)
    bases = []
    for seed in (7, 7, 8):
        rep = fresh("rand", ".h5")
        s.ok("delta", MODEL, "--data", p, "--base", "random", "--seed", seed, "-o", rep)
        attrs, data = check_prompts(rep, "embeddings", p, JSON_TEXTS, EMB, base="random")
        bases.append(data["base"])
    assert np.array_equal(bases[0], bases[1]), "--seed 7 twice gave other bases"
    assert not np.array_equal(bases[0], bases[2]), "--seed 7 and 8 gave the same bases"
    assert (bases[0] != 0).any() and (bases[2] != 0).any(), (bases[0], bases[2])


def case_distances():
    p = write_json(ITEMS)
    for kind in ("cosine", "angular"):
        rep = fresh(kind, ".h5")
        s.ok("delta", MODEL, "--data", p, "--distance", kind, "-o", rep)
        attrs, _ = check_prompts(rep, "embeddings", p, JSON_TEXTS, EMB, kind=kind)
        print("  %-8s δ_rel %.4f" % (kind, attrs["delta_rel_mean"]))


def case_cutoff_limit():
    p = write_json(ITEMS)
    rep = fresh("cut", ".h5")
    s.ok("delta", MODEL, "--data", p, "--cutoff", 6, "-o", rep)
    attrs, data = check_prompts(rep, "embeddings", p, JSON_TEXTS, EMB, cutoff=6)
    assert data["item_points"].max() == 6
    rep = fresh("limit", ".h5")
    s.ok("delta", MODEL, "--data", p, "--limit", 7, "-o", rep)
    attrs, data = check_prompts(rep, "embeddings", p, JSON_TEXTS, EMB, limit=7)
    assert data["item"].max() < 7 and attrs["n_skipped"] == 3, (data["item"], attrs["n_skipped"])
    pl = write_jsonl(ITEMS)
    rep = fresh("cutlimit", ".h5")
    s.ok("delta", MODEL, "--data", pl, "--limit", 9, "--cutoff", 5, "--distance", "cosine",
         "-o", rep, "--name", "short_prompts")
    check_prompts(rep, "short_prompts", pl, JSON_TEXTS, EMB, kind="cosine", cutoff=5, limit=9)


def case_tokenizer_option():
    d = sharp_model("bare", 23, "--no-tokenizer")
    assert not os.path.exists(os.path.join(d, "tokenizer.json"))
    p = write_json(ITEMS)
    rep = fresh("tok", ".h5")
    s.ok("delta", d, "--data", p, "--tokenizer", LLAMA2, "-o", rep)
    check_prompts(rep, "embeddings", p, JSON_TEXTS, embedding(d))   # the same tokenizer: the same ids
    rep = fresh("notok", ".h5")
    expect_error(s, ["delta", d, "--data", p, "-o", rep], "tokenizer")
    assert not os.path.exists(rep)


# ---- word vectors ----

def glove_vocab():
    """The words of the prompts minus a few (out of vocabulary), plus unused ones; shuffled."""
    seen = []
    for t in JSON_TEXTS:
        for w in words(t):
            if w not in seen:
                seen.append(w)
    dropped = {"three", "healthy", "french", "mat", "tal", "12345", "roman", "\u043c\u0438\u0440", "movie"}
    assert dropped <= set(seen), dropped - set(seen)
    vocab = [w for w in seen if w not in dropped] + ["zebra", "quantum", "\u00e9t\u00e9", "l'\u00e9t\u00e9", "x"]
    order = np.random.default_rng(4).permutation(len(vocab))
    return [vocab[i] for i in order]


VOCAB = glove_vocab()
VEC = (np.random.default_rng(41).standard_normal((len(VOCAB), 8)) *
       np.random.default_rng(42).uniform(0.5, 2.0, 8)).astype(np.float32)
ROW = {w: i for i, w in enumerate(VOCAB)}


def vector_points(text):
    return [ROW[w] for w in words(text) if w in ROW]


def write_glove():
    p = fresh("glove", ".txt")
    with open(p, "w", encoding="utf-8") as f:
        for w, row in zip(VOCAB, VEC):
            f.write(w + " " + " ".join(repr(float(v)) for v in row) + "\n")
    return p


def case_vectors():
    g = write_glove()
    p = write_json(ITEMS)
    X = VEC.astype(np.float64)
    # The design: a skipped item, words dropped, an apostrophe word, repeats.
    assert vector_points("Hi") == [ROW["hi"]]
    assert "don't" in ROW and len(vector_points(BARE)) < len(words(BARE))
    for kind in ("euclidean", "angular"):
        rep = fresh("vec", ".h5")
        s.ok("delta", "--vectors", g, "--data", p, "--distance", kind, "-o", rep)
        attrs, data = check_prompts(rep, "vectors", p, JSON_TEXTS, X, points_of=vector_points, kind=kind,
                                    source="vectors")
        assert same_file(attrs["input"], g), attrs["input"]
    pt = write_lines(LINES)
    rep = fresh("vecx", ".h5")
    s.ok("delta", "--vectors", g, "--data", pt, "--exact", "--cutoff", 7, "-o", rep)
    check_prompts(rep, "vectors", pt, LINES, X, points_of=vector_points, exact=True, cutoff=7, field=None,
                  source="vectors")
    print("  %d of %d items measured, %d skipped" % (attrs["n_items"], len(ITEMS), attrs["n_skipped"]))


# ---- layers ----

def case_layers_all():
    p = write_json(ITEMS)
    rep = fresh("layers", ".h5")
    s.ok("delta", MODEL, "--data", p, "--layers", "all", "-o", rep)
    check_prompts(rep, "embeddings", p, JSON_TEXTS, EMB)
    attrs, data, worst = check_layers(rep, "layers", p, JSON_TEXTS, [0, 1, 2], emb_group="embeddings")
    no_temp_files()
    print("  δ_rel by layer %s; worst relative difference %.2g" % (
        ", ".join("%.4f" % v for v in data["delta_rel_mean"]), worst))


def case_layers_lists():
    p = write_json(ITEMS)
    rep = fresh("lists", ".h5")
    s.ok("delta", MODEL, "--data", p, "--cutoff", 8, "-o", rep)               # a group to keep
    kept = delta_group(rep, "embeddings")[1]
    s.ok("delta", MODEL, "--data", p, "--layers", "0,2", "--name", "sharp", "-o", rep)
    check_prompts(rep, "sharp", p, JSON_TEXTS, EMB)
    check_layers(rep, "sharp_layers", p, JSON_TEXTS, [0, 2], emb_group="sharp")
    s.ok("delta", MODEL, "--data", p, "--layers", "1-2", "--distance", "angular", "--name", "ang", "-o", rep)
    check_layers(rep, "ang_layers", p, JSON_TEXTS, [1, 2], kind="angular")
    with h5py.File(rep, "r") as f:
        assert sorted(f["delta"]) == ["ang", "ang_layers", "embeddings", "sharp", "sharp_layers"], list(f["delta"])
    for k, v in delta_group(rep, "embeddings")[1].items():
        assert np.array_equal(v, kept[k]), "the first group changed: " + k
    rep = fresh("lexact", ".h5")
    s.ok("delta", MODEL, "--data", p, "--layers", "2", "--exact", "--cutoff", 12, "-o", rep)
    check_prompts(rep, "embeddings", p, JSON_TEXTS, EMB, exact=True, cutoff=12)
    check_layers(rep, "layers", p, JSON_TEXTS, [2], exact=True, cutoff=12)


def case_layers_batch():
    p = write_jsonl(ITEMS)
    out = {}
    for tag, extra in (("b1", ["--batch", 1]), ("b8", ["--batch", 8]), ("stored", ["--weights", "stored"])):
        rep = fresh(tag, ".h5")
        s.ok("delta", MODEL, "--data", p, "--layers", "all", *extra, "-o", rep)
        out[tag] = check_layers(rep, "layers", p, JSON_TEXTS, [0, 1, 2], emb_group="embeddings")[1]
    a, b = out["b1"]["delta_rel"], out["b8"]["delta_rel"]
    assert a.shape == b.shape, (a.shape, b.shape)
    assert (np.abs(a - b) <= BATCH_TOL * np.abs(b) + ATOL_REL).all(), np.abs(a - b).max()
    e = float((np.abs(a - b) / np.maximum(np.abs(b), 1e-3)).max())
    print("  --batch 1 against --batch 8: %.2g relative" % e)


# ---- bad input ----

def case_errors():
    p = write_json(ITEMS)
    g = write_glove()
    n = [0]

    def fails(args, status, *texts, pattern=None):
        n[0] += 1
        rep = s.path("bad%d.h5" % n[0])
        r = expect_error(s, ["delta", *args, "-o", rep], texts[0], status)
        for t in texts[1:]:
            assert t in r.err, (t, r.err)
        if pattern:
            assert re.search(pattern, r.err), (pattern, r.err)
        assert not os.path.exists(rep), "a failed run wrote " + rep
        no_temp_files()
        return r

    fails(["--vectors", g, "--data", p, "--layers", "all"], 2, "--layers")
    fails([MODEL, "--layers", "all"], 2, "--layers", "--data")
    fails([MODEL, "--sample", 10, "--layers", "1"], 2, "--layers", "--data")
    fails([MODEL, "--data", p, "--layers", "99"], 1, "99", pattern=r"0 ?(\(the embeddings\) )?(\.\.|-|to|–) ?2")
    missing = [dict(it) if isinstance(it, dict) else it for it in ITEMS]
    del missing[5]["instruction"]
    fails([MODEL, "--data", write_json(missing, "missing.json")], 1, "instruction", pattern=r"item #?5\b")
    fails([MODEL, "--data", s.path("absent.json")], 1, "absent.json")
    short = write_json([{"instruction": t, "output": "x"} for t in SHORT_TEXTS], "short.json")
    fails([MODEL, "--data", short], 1, "short", pattern=r"\b4\b")
    fails([MODEL, "--data", short, "--layers", "all"], 1, "short", pattern=r"\b4\b")


s.check("references: 4-cycle δ 1, path δ 0, arccos, words; torch state 0 = embeddings, L before the norm",
        case_references)
s.check("--data .json --field instruction: ids, rows, δ, diameter, δ_rel per item, skipped, summary", case_json)
s.check(".jsonl equal to .json; plain text; --field output", case_jsonl_text_field)
s.check("--exact: the largest δ over the base points", case_exact)
s.check("--base random --seed: per-item bases, reproducible", case_base_random)
s.check("--distance cosine and angular", case_distances)
s.check("--cutoff and --limit", case_cutoff_limit)
s.check("--tokenizer for a model without one", case_tokenizer_option)
s.check("--vectors --data: in-vocabulary words, no BOS; euclidean, angular, --exact --cutoff", case_vectors)
s.check("--layers all: per-layer δ_rel against torch, layer 0 = embeddings", case_layers_all)
s.check("--layers 0,2 / 1-2 with --name, --exact --cutoff; other groups kept", case_layers_lists)
s.check("--layers: --batch 1 = --batch 8, --weights stored", case_layers_batch)
s.check("bad input: clear errors, no report", case_errors)
s.done()
