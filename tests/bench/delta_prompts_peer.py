"""The numpy peer of the per-prompt part of bench_delta.sh: the paper's protocol as one
would write it with numpy: for each prompt, its tokens' embedding rows (float64), Euclidean
distances through the Gram matrix, and Khrulkov et al.'s fixed-base δ with the first token
as base (their n x n x n array, small at prompt sizes). The token ids are those of the
report `hyplora delta MODEL --data FILE` wrote (/delta/embeddings: rows, item_points), so
both sides measure the same points; the embedding is read from the model's safetensors.

    delta_prompts_peer.py MODEL_DIR REPORT

Prints "peer_s S items N worst_rel R": the time of the per-prompt loop (reading the rows,
distances, δ), and the largest relative difference of δ from the report's."""
import json
import os
import sys
import time

import h5py
import numpy as np


def embedding(model_dir):
    """The input embedding [vocab, hidden] as float32, from model.safetensors (BF16/F32)."""
    path = os.path.join(model_dir, "model.safetensors")
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        info = header["model.embed_tokens.weight"]
        start, end = info["data_offsets"]
        f.seek(8 + n + start)
        raw = f.read(end - start)
    if info["dtype"] == "BF16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(info["shape"])
    return np.frombuffer(raw, dtype="<f4").reshape(info["shape"])


def delta_first(X):
    G = X @ X.T
    sq = np.diag(G)
    D = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * G, 0))
    np.fill_diagonal(D, 0)
    P = 0.5 * (D[:, 0][:, None] + D[0][None, :] - D)
    M = np.max(np.minimum(P[:, :, None], P[None, :, :]), axis=1)
    return float(np.max(M - P))


def main():
    model_dir, report = sys.argv[1], sys.argv[2]
    E = embedding(model_dir)
    with h5py.File(report, "r") as f:
        g = f["delta/embeddings"]
        rows, sizes, want = g["rows"][()], g["item_points"][()], g["delta"][()]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    t0 = time.perf_counter()
    got = [delta_first(E[rows[starts[i]:starts[i + 1]]].astype(np.float64)) for i in range(len(sizes))]
    t = time.perf_counter() - t0
    worst = float(np.max(np.abs(np.array(got) - want) / np.maximum(np.abs(want), 1e-300)))
    print("peer_s %.4f items %d worst_rel %.3g" % (t, len(sizes), worst))


main()
