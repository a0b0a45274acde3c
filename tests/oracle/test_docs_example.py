"""docs/library.md shows docs/examples/embedding.c verbatim, and that program reads the same
embedding as `hyplora tensor` does."""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Suite  # noqa: E402

s = Suite()
example = sys.argv[2]
root = os.path.join(os.path.dirname(__file__), "..", "..")


def shown_verbatim():
    code = open(os.path.join(root, "docs", "examples", "embedding.c")).read()
    page = open(os.path.join(root, "docs", "library.md")).read()
    assert "```c\n" + code + "```" in page, "docs/library.md does not show docs/examples/embedding.c as it is"


def runs():
    d = s.path("m")
    s.ok("make-model", "-o", d, "--hidden", "16", "--heads", "2", "--kv-heads", "1", "--vocab", "40",
         "--no-tokenizer")
    out = subprocess.run([example, d], capture_output=True, text=True, check=True).stdout
    s.ok("tensor", d, "model.embed_tokens.weight", "-o", s.path("e.npy"))
    e = np.load(s.path("e.npy")).astype(np.float64)
    assert out.startswith("model.embed_tokens.weight: 40 x 16 BF16, |row 0|^2 = "), out
    assert abs(float(out.split("= ")[1]) - float(e[0] @ e[0])) < 1e-6, (out, e[0] @ e[0])
    r = subprocess.run([example, s.path("none")], capture_output=True, text=True)
    assert r.returncode == 1 and "no such file or directory" in r.stderr


s.check("library.md shows the example verbatim", shown_verbatim)
s.check("the example runs and agrees with hyplora tensor", runs)
s.done()
