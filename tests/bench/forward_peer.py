"""The PyTorch peer of forward_bench: the same Llama architecture written independently in
PyTorch (RMSNorm, rotate-half RoPE, grouped-query causal attention, SwiGLU; float32 on CPU)
from the same safetensors file, measured the same way and printed in the same line format.

  /usr/bin/python3 tests/bench/forward_peer.py MODEL_DIR [--seq 256] [--decode 32] [--threads N]
                                               [--runs 3] [--default-omp]

The weights are read tensor by tensor with plain reads (no memory map, so the file's pages
are not counted in the resident set) and widened to float32 in row blocks, so the peak
resident set is the float32 model plus a few MB. Prefill: one warm-up, then the median of
3 timed runs of one sequence of SEQ token ids (the same ids forward_bench uses), computing
the logits of the last position only. Decode: greedy, with a key/value cache this script
keeps itself; after an untimed prefill, RUNS blocks of DECODE steps are timed (median);
single-position products use gemv (torch.mv), faster here than F.linear's one-row sgemm. Only
Debian's python3-torch and numpy are needed (torch uses the system OpenBLAS for its sgemm,
so both sides run the same matrix-product code)."""
import argparse
import json
import math
import os
import resource
import struct
import sys
import time

import numpy as np

# torch's OpenMP workers and OpenBLAS's own threads (Debian's torch calls the system
# libblas, OpenBLAS here) busy-wait against each other on few cores: measured 2.5x slower
# prefill and 3-4x slower decode with libgomp's default wait policy, so the peer gets its
# best setting unless --default-omp asks for PyTorch as installed.
if "--default-omp" not in sys.argv:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

ST_DTYPES = {"F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2)}


def st_index(model_dir):
    """{tensor name: (file path, dtype, shape, absolute byte offset)} of a safetensors
    directory (one file, or shards with model.safetensors.index.json) or a single file."""
    if os.path.isdir(model_dir):
        index = os.path.join(model_dir, "model.safetensors.index.json")
        if os.path.exists(index):
            files = sorted(set(json.load(open(index))["weight_map"].values()))
            files = [os.path.join(model_dir, f) for f in files]
        else:
            files = [os.path.join(model_dir, "model.safetensors")]
    else:
        files = [model_dir]
    out = {}
    for path in files:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        for name, e in header.items():
            if name != "__metadata__":
                out[name] = (path, e["dtype"], e["shape"], 8 + n + e["data_offsets"][0])
    return out


def read_f32(entry, block_bytes=32 << 20):
    """One tensor as a float32 torch tensor, widened in row blocks (BF16 is the upper 16
    bits of a float32)."""
    path, dtype, shape, offset = entry
    if dtype not in ST_DTYPES:
        raise SystemExit("forward_peer: %s: dtype %s not supported" % (path, dtype))
    np_dtype, size = ST_DTYPES[dtype]
    rows = shape[0] if shape else 1
    cols = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    out = torch.empty((rows, cols), dtype=torch.float32)
    dst = out.numpy()
    step = max(1, block_bytes // max(1, cols * size))
    with open(path, "rb") as f:
        f.seek(offset)
        for r in range(0, rows, step):
            n = min(step, rows - r)
            raw = np.fromfile(f, dtype=np_dtype, count=n * cols).reshape(n, cols)
            if dtype == "BF16":
                dst[r:r + n] = (raw.astype(np.uint32) << 16).view(np.float32)
            else:
                dst[r:r + n] = raw
    return out.reshape(shape)


class Llama:
    def __init__(self, model_dir):
        c = json.load(open(os.path.join(model_dir, "config.json")))
        self.D = c["hidden_size"]
        self.I = c["intermediate_size"]
        self.L = c["num_hidden_layers"]
        self.H = c["num_attention_heads"]
        self.KV = c.get("num_key_value_heads") or self.H
        self.hd = c.get("head_dim") or self.D // self.H
        self.V = c["vocab_size"]
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.theta = c.get("rope_theta", 10000.0)
        if c.get("rope_scaling"):
            raise SystemExit("forward_peer: rope_scaling is not implemented here")
        idx = st_index(model_dir)
        w = lambda name: read_f32(idx[name])
        self.embed = w("model.embed_tokens.weight")
        self.layers = []
        for i in range(self.L):
            p = "model.layers.%d." % i
            self.layers.append({
                "in_norm": w(p + "input_layernorm.weight"),
                "wq": w(p + "self_attn.q_proj.weight"),
                "wk": w(p + "self_attn.k_proj.weight"),
                "wv": w(p + "self_attn.v_proj.weight"),
                "wo": w(p + "self_attn.o_proj.weight"),
                "bq": w(p + "self_attn.q_proj.bias") if p + "self_attn.q_proj.bias" in idx else None,
                "bk": w(p + "self_attn.k_proj.bias") if p + "self_attn.k_proj.bias" in idx else None,
                "bv": w(p + "self_attn.v_proj.bias") if p + "self_attn.v_proj.bias" in idx else None,
                "post_norm": w(p + "post_attention_layernorm.weight"),
                "gate": w(p + "mlp.gate_proj.weight"),
                "up": w(p + "mlp.up_proj.weight"),
                "down": w(p + "mlp.down_proj.weight"),
            })
        self.norm = w("model.norm.weight")
        tied = c.get("tie_word_embeddings", False) or "lm_head.weight" not in idx
        self.head = self.embed if tied else w("lm_head.weight")
        self.inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd))

    def rope(self, positions):
        """cos, sin [T, hd] for rotate-half (the frequencies repeated over both halves)."""
        f = torch.outer(positions.to(torch.float64), self.inv_freq)
        e = torch.cat([f, f], dim=-1)
        return e.cos().float(), e.sin().float()

    @staticmethod
    def rotate(x, cos, sin):
        h = x.shape[-1] // 2
        rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
        return x * cos + rot * sin

    def rmsnorm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def lin(self, x, wt, b=None):
        if x.shape[0] == 1:
            # one position (decoding): a matrix-vector product. F.linear would call sgemm
            # with one row, which Debian's OpenBLAS 0.3.21 runs by packing the whole weight
            # matrix: 3-4x slower than gemv, so the peer gets the faster path.
            y = torch.mv(wt, x[0]).unsqueeze(0)
            return y + b if b is not None else y
        return torch.nn.functional.linear(x, wt, b)

    def forward(self, tokens, cache, pos0):
        """tokens [T] at positions pos0 .. pos0+T-1 of one sequence; cache: per layer (K, V)
        of [KV, capacity, hd]. Returns the logits of the last position."""
        T = tokens.shape[0]
        H, KV, hd, rep = self.H, self.KV, self.hd, self.H // self.KV
        x = self.embed[tokens]
        cos, sin = self.rope(torch.arange(pos0, pos0 + T))
        end = pos0 + T
        mask = None
        if T > 1:
            mask = torch.full((T, end), float("-inf")).triu(pos0 + 1)
        scale = 1.0 / math.sqrt(hd)
        for l, p in enumerate(self.layers):
            h = self.rmsnorm(x, p["in_norm"])
            q = self.lin(h, p["wq"], p["bq"]).view(T, H, hd).transpose(0, 1)
            k = self.lin(h, p["wk"], p["bk"]).view(T, KV, hd).transpose(0, 1)
            v = self.lin(h, p["wv"], p["bv"]).view(T, KV, hd).transpose(0, 1)
            q = self.rotate(q, cos, sin)
            k = self.rotate(k, cos, sin)
            K, Vc = cache[l]
            K[:, pos0:end] = k
            Vc[:, pos0:end] = v
            # grouped-query attention: the rep query heads of a KV head share its keys
            qg = q.reshape(KV, rep * T, hd)
            s = torch.bmm(qg, K[:, :end].transpose(1, 2)).mul_(scale).view(KV, rep, T, end)
            if mask is not None:
                s += mask
            a = torch.softmax(s, dim=-1).view(KV, rep * T, end)
            o = torch.bmm(a, Vc[:, :end]).view(H, T, hd).transpose(0, 1).reshape(T, H * hd)
            x = x + self.lin(o, p["wo"])
            h = self.rmsnorm(x, p["post_norm"])
            x = x + self.lin(torch.nn.functional.silu(self.lin(h, p["gate"])) * self.lin(h, p["up"]), p["down"])
        return self.lin(self.rmsnorm(x[-1:], self.norm), self.head)[0]

    def new_cache(self, capacity):
        return [(torch.zeros(self.KV, capacity, self.hd), torch.zeros(self.KV, capacity, self.hd))
                for _ in range(self.L)]


def bench_tokens(T, vocab):
    """The prompt forward_bench uses too: a fixed pseudo-random sequence of ids."""
    s = 0x2545F4914F6CDD1D
    out = []
    for _ in range(T):
        s ^= (s << 13) & 0xFFFFFFFFFFFFFFFF
        s ^= s >> 7
        s ^= (s << 17) & 0xFFFFFFFFFFFFFFFF
        out.append(s % vocab)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--default-omp", action="store_true",
                    help="keep libgomp's default OMP_WAIT_POLICY (PyTorch as installed)")
    a = ap.parse_args()
    threads = a.threads if a.threads > 0 else os.cpu_count()
    torch.set_num_threads(threads)
    print("threads %d" % threads)

    t0 = time.monotonic()
    m = Llama(a.model)
    print("load_s %.3f" % (time.monotonic() - t0))
    T = a.seq
    # the prefill FLOP count forward_bench prints (same formula)
    D, I, L, H, KV, hd, V = m.D, m.I, m.L, m.H, m.KV, m.hd, m.V
    flops = (2.0 * T * L * (D * H * hd + 2 * D * KV * hd + H * hd * D + 3 * D * I)
             + L * 4.0 * H * hd * T * (T + 1) / 2 + 2.0 * V * D)
    print("weights f32")
    print("prefill_flops %.4e" % flops)
    tokens = torch.tensor(bench_tokens(T, m.V), dtype=torch.long)
    cache = m.new_cache(T + a.runs * a.decode)
    with torch.inference_mode():
        logits = m.forward(tokens, cache, 0)  # warm-up
        times = []
        for _ in range(a.runs):
            t = time.monotonic()
            logits = m.forward(tokens, cache, 0)
            times.append(time.monotonic() - t)
        prefill_s = float(np.median(times))
        print("prefill_argmax %d" % int(logits.argmax()))
        print("prefill_s %.4f" % prefill_s)
        print("prefill_tok_s %.1f" % (T / prefill_s))
        print("prefill_gflops %.1f" % (flops / prefill_s / 1e9))

        if a.decode <= 0:
            print("peak_rss_mb %.0f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
            return
        # decode: one prefill fills the cache, then RUNS blocks of DECODE greedy steps, each
        # timed (median); the tokens printed are those of the first block
        dtimes = []
        first = []
        logits = m.forward(tokens, cache, 0)
        pos = T
        for r in range(a.runs):
            t = time.monotonic()
            for i in range(a.decode):
                nxt = int(logits.argmax())
                if r == 0:
                    first.append(nxt)
                logits = m.forward(torch.tensor([nxt]), cache, pos)
                pos += 1
            dtimes.append(time.monotonic() - t)
        decode_s = float(np.median(dtimes))
        print("decode_tok_s %.2f" % (a.decode / decode_s))
        print("decode_tokens %s" % " ".join(str(t) for t in first[:16]))
    print("peak_rss_mb %.0f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


if __name__ == "__main__":
    main()
