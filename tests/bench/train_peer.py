"""The PyTorch peer of train_bench: one LoRA training step, or one step training every weight
(--method full), of the same Llama architecture, written with PyTorch autograd (float32 on
CPU), measured the same way and printed in the same line format.

  /usr/bin/python3 tests/bench/train_peer.py MODEL_DIR [--method lora|full] [--batch 4]
                                             [--seq 256] [--rank 32] [--alpha 64]
                                             [--dropout 0.05] [--steps 3] [--threads N]
                                             [--seed 1] [--default-omp]

The frozen weights are read as forward_peer.py reads them (its Llama class: plain reads,
widened to float32). Every layer's q, k, v, up and down projection gets a LoRA adapter as
PEFT builds one: lora_B(lora_A(dropout(x))) * alpha / r, A kaiming-uniform (uniform in
+-1/sqrt(in)), B zero; only A and B require gradients. One micro-batch of BATCH x SEQ
pseudo-random ids (the stream train_bench uses: each sequence SEQ+1 ids, the last SEQ the
targets), the mean cross-entropy over all positions, backward, clip_grad_norm_ to 1,
torch.optim.AdamW (lr 3e-4, no weight decay) and zero_grad: one warm-up step, then the median
of STEPS timed steps. With --method full there are no adapters: every weight (embedding,
norms, matrices; a tied head is the embedding tensor itself) requires gradients, and the
optimiser is torch.optim.AdamW with betas 0.9, 0.95, lr 3e-4, weight decay 0.1 on the 2-D
parameters and 0 on the 1-D ones (two param groups), as train_bench --method full; the FLOP
count is then 6 x parameters x tokens (2 forward, 4 backward). OMP_WAIT_POLICY=PASSIVE
unless --default-omp (PyTorch as installed), as forward_peer.py does. Only Debian's python3-torch and numpy are needed; no transformers,
no peft."""
import argparse
import math
import os
import resource
import sys
import time

if "--default-omp" not in sys.argv:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from forward_peer import Llama  # noqa: E402


class Lora:
    """One adapter: delta(x) = dropout(x) A^T B^T * scaling, A [r, in], B [out, r]."""

    def __init__(self, n_in, n_out, r, alpha, p, gen):
        bound = 1.0 / math.sqrt(n_in)
        self.A = (torch.rand(r, n_in, generator=gen) * 2 - 1).mul_(bound).requires_grad_()
        self.B = torch.zeros(n_out, r).requires_grad_()
        self.scaling = alpha / r
        self.p = p

    def __call__(self, x):
        x = F.dropout(x, self.p, training=True) if self.p > 0 else x
        return F.linear(F.linear(x, self.A), self.B) * self.scaling


def train_forward(m, lora, tokens, targets):
    """The mean cross-entropy of a batch tokens [B, T] against targets [B, T]; lora None: no
    adapters."""
    B, T = tokens.shape
    H, KV, hd, rep = m.H, m.KV, m.hd, m.H // m.KV
    x = m.embed[tokens]
    cos, sin = m.rope(torch.arange(T))
    mask = torch.full((T, T), float("-inf")).triu(1)
    scale = 1.0 / math.sqrt(hd)
    for l, p in enumerate(m.layers):
        a = lora[l] if lora else None
        h = m.rmsnorm(x, p["in_norm"])
        q = F.linear(h, p["wq"], p["bq"])
        k = F.linear(h, p["wk"], p["bk"])
        v = F.linear(h, p["wv"], p["bv"])
        if a:
            q, k, v = q + a["q"](h), k + a["k"](h), v + a["v"](h)
        q = m.rotate(q.view(B, T, H, hd).transpose(1, 2), cos, sin)   # [B, H, T, hd]
        k = m.rotate(k.view(B, T, KV, hd).transpose(1, 2), cos, sin)  # [B, KV, T, hd]
        v = v.view(B, T, KV, hd).transpose(1, 2)
        # grouped-query attention: the rep query heads of a KV head share its keys
        qg = q.reshape(B, KV, rep * T, hd)
        s = torch.matmul(qg, k.transpose(-1, -2)).mul(scale).view(B, KV, rep, T, T) + mask
        w = torch.softmax(s, dim=-1).view(B, KV, rep * T, T)
        o = torch.matmul(w, v).view(B, H, T, hd).transpose(1, 2).reshape(B, T, H * hd)
        x = x + F.linear(o, p["wo"])
        h = m.rmsnorm(x, p["post_norm"])
        up = F.linear(h, p["up"])
        act = F.silu(F.linear(h, p["gate"])) * (up + a["up"](h) if a else up)
        down = F.linear(act, p["down"])
        x = x + (down + a["down"](act) if a else down)
    logits = F.linear(m.rmsnorm(x, m.norm), m.head)
    return F.cross_entropy(logits.view(B * T, m.V), targets.reshape(B * T))


def bench_batch(B, T, vocab):
    """B sequences of T+1 ids from the xorshift64 stream train_bench uses: tokens the first T
    of each, targets the next id at every position."""
    s = 0x2545F4914F6CDD1D
    tok, tgt = [], []
    for _ in range(B):
        ids = []
        for _ in range(T + 1):
            s ^= (s << 13) & 0xFFFFFFFFFFFFFFFF
            s ^= s >> 7
            s ^= (s << 17) & 0xFFFFFFFFFFFFFFFF
            ids.append(s % vocab)
        tok.append(ids[:T])
        tgt.append(ids[1:])
    return torch.tensor(tok, dtype=torch.long), torch.tensor(tgt, dtype=torch.long)


def trainable(m):
    """Makes every weight of m a leaf requiring gradients (sharing its storage; a tied head
    stays the embedding tensor); returns them once each."""
    tied = m.head is m.embed
    m.embed = m.embed.detach().requires_grad_()
    params = [m.embed]
    for p in m.layers:
        for key, t in p.items():
            if t is not None:
                p[key] = t.detach().requires_grad_()
                params.append(p[key])
    m.norm = m.norm.detach().requires_grad_()
    params.append(m.norm)
    if tied:
        m.head = m.embed
    else:
        m.head = m.head.detach().requires_grad_()
        params.append(m.head)
    return params


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--method", choices=("lora", "full"), default="lora")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--rank", type=int, default=32)
    ap.add_argument("--alpha", type=float, default=64)
    ap.add_argument("--dropout", type=float, default=0.05)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--default-omp", action="store_true",
                    help="keep libgomp's default OMP_WAIT_POLICY (PyTorch as installed)")
    a = ap.parse_args()
    threads = a.threads if a.threads > 0 else os.cpu_count()
    torch.set_num_threads(threads)
    print("threads %d" % threads)
    print("method %s" % a.method)
    full = a.method == "full"

    t0 = time.monotonic()
    m = Llama(a.model)
    print("load_s %.3f" % (time.monotonic() - t0))
    D, I, L, H, KV, hd, V = m.D, m.I, m.L, m.H, m.KV, m.hd, m.V
    tied = m.head is m.embed
    print("shape layers %d hidden %d intermediate %d heads %d kv_heads %d head_dim %d vocab %d tied %d"
          % (L, D, I, H, KV, hd, V, int(tied)))
    if full:
        print("batch %d seq %d" % (a.batch, a.seq))
    else:
        print("batch %d seq %d rank %d alpha %g dropout %g" % (a.batch, a.seq, a.rank, a.alpha, a.dropout))
    gen = torch.Generator().manual_seed(a.seed)
    torch.manual_seed(a.seed)
    r = a.rank
    lora = []
    if full:
        params = trainable(m)
        opt = torch.optim.AdamW([
            {"params": [t for t in params if t.dim() >= 2], "weight_decay": 0.1},
            {"params": [t for t in params if t.dim() < 2], "weight_decay": 0.0},
        ], lr=3e-4, betas=(0.9, 0.95))
    else:
        for _ in range(L):
            lora.append({
                "q": Lora(D, H * hd, r, a.alpha, a.dropout, gen),
                "k": Lora(D, KV * hd, r, a.alpha, a.dropout, gen),
                "v": Lora(D, KV * hd, r, a.alpha, a.dropout, gen),
                "up": Lora(D, I, r, a.alpha, a.dropout, gen),
                "down": Lora(I, D, r, a.alpha, a.dropout, gen),
            })
        params = [t for ad in lora for mod in ad.values() for t in (mod.A, mod.B)]
        opt = torch.optim.AdamW(params, lr=3e-4, weight_decay=0.0)

    # the FLOP count train_bench prints (same convention and formulas)
    layer_mat = D * H * hd + 2.0 * D * KV * hd + H * hd * D + 3.0 * D * I
    n_params = L * (layer_mat + 2.0 * D) + V * D * (1 if tied else 2) + D
    B, T = a.batch, a.seq
    flops = (6.0 if full else 4.0) * n_params * B * T
    flops_attn = 3.0 * B * L * 4.0 * H * hd * (T * (T + 1) / 2)
    qd, kvd = H * hd, KV * hd
    flops_adapt = 0.0 if full else 6.0 * r * ((D + qd) + 2.0 * (D + kvd) + (D + I) + (I + D)) * L * B * T
    if full:
        print("params %.0f trained_params %d" % (n_params, sum(t.numel() for t in params)))
    else:
        print("params %.0f adapter_params %d" % (n_params, sum(t.numel() for t in params)))
    print("step_flops %.4e attn %.4e adapters %.4e" % (flops, flops_attn, flops_adapt))
    tokens, targets = bench_batch(B, T, V)

    def step():
        loss = train_forward(m, lora, tokens, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss)

    loss0 = step()  # warm-up
    times = []
    loss = loss0
    for _ in range(a.steps):
        t = time.monotonic()
        loss = step()
        times.append(time.monotonic() - t)
    step_s = float(np.median(times))
    print("loss0 %.6f" % loss0)
    print("loss_last %.6f" % loss)
    print("step_s %.4f" % step_s)
    print("tok_s %.1f" % (B * T / step_s))
    print("gflops %.1f" % (flops / step_s / 1e9))
    print("gflops_all %.1f" % ((flops + flops_attn + flops_adapt) / step_s / 1e9))
    print("peak_rss_mb %.0f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


if __name__ == "__main__":
    main()
