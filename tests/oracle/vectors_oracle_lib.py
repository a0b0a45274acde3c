"""Shared helpers for the word-vector oracle tests (stdlib + numpy only).

The reference for a decimal in a text or JSON file is the float32 nearest to it, found
with exact rational arithmetic (fractions.Fraction), independent of any C library.
"""
import json
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np


def f32_nearest(text):
    """The float32 nearest to the decimal `text`, ties to even (IEEE round-to-nearest)."""
    x = Fraction(text)
    if x == 0:
        return np.float32(-0.0) if text.strip().startswith("-") else np.float32(0.0)
    guess = np.float32(float(x))  # within one float32 step of the answer
    with np.errstate(over="ignore"):
        up = np.nextafter(guess, np.float32(np.inf))
        down = np.nextafter(guess, np.float32(-np.inf))
    best = None
    for c in (down, guess, up):
        if not np.isfinite(c):
            continue
        key = (abs(Fraction(float(c)) - x), int(np.array(c).view(np.uint32)) & 1)
        if best is None or key < best[0]:
            best = (key, c)
    return np.float32(best[1])


def run_dump(exe, path, vocab=None, out=None):
    """Runs test_vectors_dump; returns (exit status, stdout, stderr)."""
    cmd = [exe, path]
    if vocab:
        cmd += ["--vocab", vocab]
    if out:
        cmd += ["--out", out]
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    return p.returncode, p.stdout, p.stderr


def load_dump(exe, path, vocab=None, out=None):
    """Loads path with the C library; returns (summary dict, words, float32 matrix)."""
    rc, stdout, stderr = run_dump(exe, path, vocab, out)
    if rc != 0:
        raise AssertionError(f"{path}: exit {rc}: {stderr.strip()}")
    summary = json.loads(stdout)
    with open(out + ".words", encoding="utf-8", newline="\n") as f:
        words = f.read().split("\n")[:-1]
    matrix = np.load(out + ".npy")
    return summary, words, matrix


def same_bits(a, b):
    """Exact equality of float32 arrays, telling -0.0 from 0.0."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    sys.exit(1)


def source_root():
    return os.environ.get("HYPLORA_SOURCE_ROOT",
                          os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
