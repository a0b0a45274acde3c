"""Training in the tests' PyTorch reference: random batches with next-token targets and the
mean cross-entropy of a batch through tests/lib/torch_llama.py."""
import numpy as np
import torch

from torch_llama import layer, rmsnorm, rope_tables


def random_batch(cfg, lengths, seed, masked=0):
    """Random tokens [B, T] and their targets (the next token; -1 on padding, at the last
    position and on the first `masked` positions, a masked prompt)."""
    T, B = max(lengths), len(lengths)
    r = np.random.default_rng(seed)
    tokens = r.integers(0, cfg["vocab_size"], (B, T))
    targets = np.full((B, T), -1)
    for b, n in enumerate(lengths):
        targets[b, :n - 1] = tokens[b, 1:n]
        targets[b, :min(masked, n - 1)] = -1
    return tokens, targets


def torch_loss(cfg, W, lengths, tokens, targets, lowest=0, adapt_for=None):
    """The mean cross-entropy over the targets, by torch_llama, sequence by sequence; nothing
    below layer `lowest` gets a gradient; adapt_for(index) gives layer index's adapt
    function (torch_llama.layer)."""
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    total, count = 0, 0
    for b, n in enumerate(lengths):
        cos, sin = rope_tables(cfg, n)
        x = W["model.embed_tokens.weight"][torch.tensor([int(t) for t in tokens[b, :n]])]
        for index in range(cfg["num_hidden_layers"]):
            if index == lowest and lowest > 0:
                x = x.detach()
            x = layer(cfg, W, index, x, cos, sin, adapt_for(index) if adapt_for else None)
        logits = rmsnorm(x, W["model.norm.weight"], cfg["rms_norm_eps"]) @ head.T
        tg = torch.tensor([int(t) for t in targets[b, :n]])
        keep = tg >= 0
        total = total - torch.log_softmax(logits, dim=-1)[keep, tg[keep]].sum()
        count += int(keep.sum())
    return total / count, count
