"""The numpy peer of bench_delta.sh: Khrulkov et al.'s fixed-base δ (the (max, min) product
of the Gromov product matrix) on a float64 distance matrix written by delta_bench --save.

    delta_peer.py FILE N [--blocked]

Without --blocked, as their published code does it: one n x n x n array (n = 500 takes
1 GB; n = 1500 would need 27 GB). With --blocked, the same product a few rows at a time,
which fits any n. Prints "peer_s S delta D"."""
import sys
import time

import numpy as np


def gromov(D, w=0):
    return 0.5 * (D[:, w][:, None] + D[w][None, :] - D)


def delta_full(G):
    M = np.max(np.minimum(G[:, :, None], G[None, :, :]), axis=1)
    return float(np.max(M - G))


def delta_blocked(G, rows=8):
    best = 0.0
    for i in range(0, len(G), rows):
        M = np.max(np.minimum(G[i:i + rows, None, :], G[None, :, :]), axis=2)
        best = max(best, float(np.max(M - G[i:i + rows])))
    return best


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    D = np.fromfile(path, dtype=np.float64).reshape(n, n)
    G = gromov(D).astype(np.float32)
    t0 = time.perf_counter()
    d = delta_blocked(G) if "--blocked" in sys.argv else delta_full(G)
    print("peer_s %.4f delta %.9g" % (time.perf_counter() - t0, d))


main()
