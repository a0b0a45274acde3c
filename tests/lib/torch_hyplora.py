"""The adapters of docs/hyplora.md in PyTorch (float64), written for the tests from the
formulas there: LoRA, and HypLoRA in the consistent and the authors' released form."""
import torch

# The linear modules an adapter can wrap, in PEFT's names (the order of hp_module).
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def module_shape(cfg, m):
    """(in, out) of module m's matrix in a Hugging Face config."""
    D, F = cfg["hidden_size"], cfg["intermediate_size"]
    hd = cfg.get("head_dim", D // cfg["num_attention_heads"])
    qd, kvd = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    return {"q_proj": (D, qd), "k_proj": (D, kvd), "v_proj": (D, kvd), "o_proj": (qd, D),
            "gate_proj": (D, F), "up_proj": (D, F), "down_proj": (F, D)}[m]




def expmap(form, v, K):
    """The space part of exp_o(v) on the hyperboloid of curvature -1/K, row by row."""
    c = torch.sqrt(K)
    n = torch.linalg.norm(v, dim=-1, keepdim=True)
    if form == "released":
        n = torch.clamp(n, min=1e-7)
    return c * torch.sinh(torch.clamp(n / c, max=12.0)) * v / n


def logmap(form, y, K):
    """log_o of the points with space parts y (rows): sqrt(K) arccosh(t / sqrt(K)) y / |y|, in
    its asinh form sqrt(K) asinh(|y| / sqrt(K)) y / |y| (test_lorentz.py checks the two agree),
    which autograd can take at y = 0 (B = 0 at the start of training): there the norm is
    held at 1e-150, where the factor is 1 and its derivative 0, as in the limit."""
    c = torch.sqrt(K)
    m = torch.sqrt(torch.clamp((y * y).sum(-1, keepdim=True), min=1e-300))
    if form == "consistent":
        return c * torch.asinh(m / c) * y / m
    theta = torch.sqrt(m * m + 1 / K) / c
    arc = torch.where(theta < 1.01, torch.sqrt(2 * torch.clamp(theta - 1, min=1e-6)),
                      torch.acosh(torch.clamp(theta, min=1.0)))
    return c * arc * y / torch.clamp(m, min=1e-7)


def delta(method, form, x, A, B, k, s, scaling, k_log=None):
    """scaling * the adapter's update of the rows x (dropout already applied). With k_log (a
    second leaf holding the same value), log_o takes its curvature from k_log: the gradient
    of k then comes in its two parts, through exp_o and through log_o."""
    if method == "lora":
        return scaling * (x @ A.T @ B.T)
    K = torch.nn.functional.softplus(k) + 1e-6
    K_log = torch.nn.functional.softplus(k_log) + 1e-6 if k_log is not None else K
    return scaling * logmap(form, expmap(form, x / s, K) @ A.T @ B.T, K_log)
