"""The adapters of docs/hyplora.md in PyTorch (float64), written for the tests from the
formulas there: LoRA, and HypLoRA in the consistent and the authors' released form."""
import torch


def expmap(form, v, K):
    """The space part of exp_o(v) on the hyperboloid of curvature -1/K, row by row."""
    c = torch.sqrt(K)
    n = torch.linalg.norm(v, dim=-1, keepdim=True)
    if form == "released":
        n = torch.clamp(n, min=1e-7)
    return c * torch.sinh(torch.clamp(n / c, max=12.0)) * v / n


def logmap(form, y, K):
    """log_o of the points with space parts y (rows): sqrt(K) arccosh(t / sqrt(K)) y / |y|."""
    c = torch.sqrt(K)
    m = torch.linalg.norm(y, dim=-1, keepdim=True)
    if form == "consistent":
        return c * torch.acosh(torch.sqrt(m * m + K) / c) * y / m
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
