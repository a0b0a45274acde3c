"""The PyTorch peer of `hyplora eval` (greedy): the same evaluation decoding written in
PyTorch (float32 on CPU) over forward_peer.py's Llama (its weights, RMSNorm, rotate-half
RoPE, SwiGLU), with a key/value cache kept here and the same continuous batching, printed
in the KEY VALUE line format of the other peers.

  /usr/bin/python3 tests/bench/eval_peer.py MODEL_DIR DATA --tokenizer PATH --hyplora BIN
                                            [--limit 32] [--max-new 64] [--batch 8]
                                            [--threads N] [--compare RESULTS] [--default-omp]

The first LIMIT items of DATA (a JSON array or JSONL of {"instruction", "input"}) are put
in the Alpaca prompt as hyplora's template writes it (tests/lib/instruct.py's fill), and
their ids come from `hyplora tokenize --add-special` (tests/lib/checkpoints.py's
tokenize_texts), so both sides decode the same ids; no tokenizer here.
Decoding as train/eval_decode.c does it: up to BATCH sequences live in the cache; new
prompts run through the model together, right-padded with id 0, into free slots; every
step feeds one token of each live slot (its own position, attention masked to its own
length); a sequence ends at the model's EOS id (config.json's eos_token_id, LLaMA-2's
</s> as hyplora takes it from the tokenizer) or after MAX_NEW tokens, and its slot is given
the last live one's cache at once, so the next step runs the live sequences only and the
freed slots are refilled before it. The timed part is that loop (the prompts' ids and the
weights are ready before it starts): eval_s, items_min, new_tok_s. With --compare, the
generated ids are decoded by `hyplora tokenize --decode --skip-special` as eval decodes its
outputs (checkpoints.py's decode_ids) and compared with the outputs in RESULTS, hyplora
eval's results file: outputs_agree K N. OMP_WAIT_POLICY=PASSIVE unless --default-omp, as
forward_peer.py."""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [here, os.path.join(here, "..", "lib")]
# forward_peer sets OMP_WAIT_POLICY from this process's argv (--default-omp) before torch
from forward_peer import Llama  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from checkpoints import decode_ids, tokenize_texts  # noqa: E402
from instruct import fill  # noqa: E402


class Hyplora:
    """What tests/lib/checkpoints.py's tokenize_texts and decode_ids need of a test suite:
    the binary, a scratch folder, and running a command that must succeed."""

    class Ran:
        def __init__(self, out):
            self.out = out

    def __init__(self, exe, threads, folder):
        self.exe, self.threads, self.dir = exe, threads, folder

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def ok(self, *args):
        p = subprocess.run([self.exe, "--quiet", "--threads", str(self.threads), *map(str, args)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit("eval_peer: hyplora %s exited %d:\n%s" % (" ".join(map(str, args)), p.returncode,
                                                                        p.stderr))
        return self.Ran(p.stdout)


def read_items(path, limit):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("["):
        items = json.loads(text)
    else:
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    return items[:limit] if limit > 0 else items


class Slots:
    """The decoding batch's KV cache: per layer K, V [batch, KV, capacity, hd], and each
    slot's length."""

    def __init__(self, m, batch, capacity):
        self.K = [torch.zeros(batch, m.KV, capacity, m.hd) for _ in range(m.L)]
        self.V = [torch.zeros(batch, m.KV, capacity, m.hd) for _ in range(m.L)]
        self.len = [0] * batch

    def move(self, dst, src):
        n = self.len[src]
        for K, V in zip(self.K, self.V):
            K[dst, :, :n] = K[src, :, :n]
            V[dst, :, :n] = V[src, :, :n]
        self.len[dst] = n


def lin(x, w):
    return F.linear(x, w) if x.shape[0] > 1 else torch.mv(w, x[0]).unsqueeze(0)  # gemv, as forward_peer


def prefill(m, c, at, prompts):
    """prompts (id lists) as one right-padded batch into slots at, at+1, ...: the logits
    [k, V] of each one's last position."""
    k, T = len(prompts), max(len(p) for p in prompts)
    H, KV, hd, rep = m.H, m.KV, m.hd, m.H // m.KV
    tokens = torch.tensor([p + [0] * (T - len(p)) for p in prompts], dtype=torch.long)
    last = torch.tensor([len(p) - 1 for p in prompts])
    x = m.embed[tokens]                                    # [k, T, D]
    cos, sin = m.rope(torch.arange(T))
    mask = torch.full((T, T), float("-inf")).triu(1)
    scale = 1.0 / math.sqrt(hd)
    for l, p in enumerate(m.layers):
        h = m.rmsnorm(x, p["in_norm"])
        q = m.rotate(F.linear(h, p["wq"]).view(k, T, H, hd).transpose(1, 2), cos, sin)   # [k, H, T, hd]
        kk = m.rotate(F.linear(h, p["wk"]).view(k, T, KV, hd).transpose(1, 2), cos, sin)
        v = F.linear(h, p["wv"]).view(k, T, KV, hd).transpose(1, 2)
        c.K[l][at:at + k, :, :T] = kk
        c.V[l][at:at + k, :, :T] = v
        s = torch.matmul(q.reshape(k, KV, rep * T, hd), kk.transpose(-1, -2)).mul_(scale)
        s = s.view(k, KV, rep, T, T).add_(mask)
        w = torch.softmax(s, dim=-1).view(k, KV, rep * T, T)
        o = torch.matmul(w, v).view(k, H, T, hd).transpose(1, 2).reshape(k, T, H * hd)
        x = x + F.linear(o, p["wo"])
        h = m.rmsnorm(x, p["post_norm"])
        x = x + F.linear(F.silu(F.linear(h, p["gate"])) * F.linear(h, p["up"]), p["down"])
    for j, pr in enumerate(prompts):
        c.len[at + j] = len(pr)
    xl = x[torch.arange(k), last]                          # [k, D]
    return F.linear(m.rmsnorm(xl, m.norm), m.head)


def step(m, c, tokens):
    """One token of each of the n live slots 0 .. n-1 at its own position: logits [n, V]."""
    n = len(tokens)
    H, KV, hd, rep = m.H, m.KV, m.hd, m.H // m.KV
    pos = torch.tensor(c.len[:n])
    end = max(c.len[:n]) + 1
    rows = torch.arange(n)
    x = m.embed[torch.tensor(tokens)]                      # [n, D]
    cos, sin = m.rope(pos)                                 # [n, hd]
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    # a slot attends to its positions 0 .. len (the new one included)
    mask = torch.zeros(n, end).masked_fill_(torch.arange(end).unsqueeze(0) > pos.unsqueeze(1), float("-inf"))
    mask = mask.view(n, 1, 1, end)
    scale = 1.0 / math.sqrt(hd)
    for l, p in enumerate(m.layers):
        h = m.rmsnorm(x, p["in_norm"])
        q = m.rotate(lin(h, p["wq"]).view(n, H, hd), cos, sin)
        kk = m.rotate(lin(h, p["wk"]).view(n, KV, hd), cos, sin)
        K, V = c.K[l], c.V[l]
        K[rows, :, pos] = kk
        V[rows, :, pos] = lin(h, p["wv"]).view(n, KV, hd)
        s = torch.matmul(q.view(n, KV, rep, hd), K[:n, :, :end].transpose(-1, -2)).mul_(scale).add_(mask)
        o = torch.matmul(torch.softmax(s, dim=-1), V[:n, :, :end]).reshape(n, H * hd)
        x = x + lin(o, p["wo"])
        h = m.rmsnorm(x, p["post_norm"])
        x = x + lin(F.silu(lin(h, p["gate"])) * lin(h, p["up"]), p["down"])
    for b in range(n):
        c.len[b] += 1
    return lin(m.rmsnorm(x, m.norm), m.head)


def evaluate(m, prompts, batch, max_new, eos, capacity):
    """Greedy continuous batching over prompts: each one's generated ids (without EOS)."""
    B = min(batch, len(prompts))
    c = Slots(m, B, capacity)
    live = []             # per live slot: [prompt index, generated ids, pending id]
    outs = [None] * len(prompts)
    nxt = 0

    def advance(s, t):
        """True when slot s's sequence is finished with t (EOS, max_new, the cache full)."""
        if t == eos:
            return True
        live[s][1].append(t)
        live[s][2] = t
        return len(live[s][1]) >= max_new or c.len[s] >= capacity

    def finish(s):
        outs[live[s][0]] = live[s][1]
        last = len(live) - 1
        if s != last:
            c.move(s, last)
            live[s] = live[last]
        live.pop()

    while True:
        k = min(B - len(live), len(prompts) - nxt)
        if k > 0:
            at = len(live)
            logits = prefill(m, c, at, prompts[nxt:nxt + k])
            first = logits.argmax(-1).tolist()
            for j in range(k):
                live.append([nxt, [], None])
                nxt += 1
            for j in range(k - 1, -1, -1):  # from the last down: finish moves the last slot
                if advance(at + j, first[j]) or max_new == 0:
                    finish(at + j)
        if not live:  # every new prompt ended at its first token
            if nxt < len(prompts):
                continue
            break
        logits = step(m, c, [s[2] for s in live])
        toks = logits.argmax(-1).tolist()
        for b in range(len(live) - 1, -1, -1):  # from the last down, as eval_decode.c
            if advance(b, toks[b]):
                finish(b)
    return outs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--hyplora", required=True, help="the hyplora binary (its tokenize command)")
    ap.add_argument("--limit", type=int, default=32)
    ap.add_argument("--max-new", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--compare", help="hyplora eval's results file: compare the outputs")
    ap.add_argument("--default-omp", action="store_true",
                    help="keep libgomp's default OMP_WAIT_POLICY (PyTorch as installed)")
    a = ap.parse_args()
    a.threads = a.threads if a.threads > 0 else os.cpu_count()
    torch.set_num_threads(a.threads)
    print("threads %d" % a.threads)
    print("batch %d" % a.batch)

    items = read_items(a.data, a.limit)
    with tempfile.TemporaryDirectory() as tmp:
        tool = Hyplora(a.hyplora, a.threads, tmp)
        # the Alpaca prompt as hyplora's template writes it (tests/lib/instruct.py), its ids
        # from hyplora tokenize --add-special
        prompts = tokenize_texts(tool, a.tokenizer, [fill("alpaca", it, "") for it in items])
        t0 = time.monotonic()
        m = Llama(a.model)
        print("load_s %.3f" % (time.monotonic() - t0))
        cfg = json.load(open(os.path.join(a.model, "config.json")))
        eos = cfg.get("eos_token_id", 2)
        ctx = cfg.get("max_position_embeddings", 0)
        capacity = max(len(p) for p in prompts) + a.max_new
        if ctx and capacity > ctx:
            capacity = ctx
        with torch.inference_mode():
            t0 = time.monotonic()
            outs = evaluate(m, prompts, a.batch, a.max_new, eos, capacity)
            eval_s = time.monotonic() - t0
        new = sum(len(o) for o in outs)
        print("items %d" % len(items))
        print("prompt_tokens %d" % sum(len(p) for p in prompts))
        print("new_tokens %d" % new)
        print("eos_stops %d" % sum(len(o) < a.max_new for o in outs))
        print("eval_s %.3f" % eval_s)
        print("items_min %.2f" % (60 * len(items) / eval_s))
        print("new_tok_s %.2f" % (new / eval_s))
        if a.compare:
            texts = decode_ids(tool, a.tokenizer, outs)
            theirs = json.load(open(a.compare, encoding="utf-8"))["items"]
            assert len(theirs) == len(texts), "%s holds %d items, not %d" % (a.compare, len(theirs), len(texts))
            print("outputs_agree %d %d" % (sum(t == r["output"] for t, r in zip(texts, theirs)), len(texts)))
    print("peak_rss_mb %.0f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


if __name__ == "__main__":
    main()
