"""PEFT adapter directories written by the tests (adapter_model.safetensors with PEFT's
names, adapter_config.json, the hyplora object of docs/training.md), with the matching
adapt functions for tests/lib/torch_llama.py."""
import json
import os

import numpy as np
import torch

import st_writer
from torch_hyplora import MODULES, delta, module_shape


def write(d, cfg, plan, rng, hyplora=None, base_model=""):
    """A PEFT adapter directory d for a model of Hugging Face config cfg. plan: [(layer,
    module, kind)], kind "lora" or "hyplora"; rank 4, random non-zero A and B (and k, s);
    lora_alpha 16; hyplora: the config's hyplora object (form, alpha_hyperbolic). Returns
    adapt_for(index), the layer hooks of torch_llama.layer with these adapters."""
    os.makedirs(d)
    tensors, values = [], {}
    for layer, m, kind in plan:
        n_in, n_out = module_shape(cfg, m)
        part = "self_attn" if m in MODULES[:4] else "mlp"
        prefix = "base_model.model.model.layers.%d.%s.%s." % (layer, part, m)
        A = rng.uniform(-1, 1, (4, n_in)).astype(np.float32) / np.sqrt(n_in)
        B = (rng.standard_normal((n_out, 4)) * 0.3).astype(np.float32)
        tensors += [(prefix + "lora_A.weight", "F32", A.shape, A.tobytes()),
                    (prefix + "lora_B.weight", "F32", B.shape, B.tobytes())]
        v = {"kind": kind, "A": torch.tensor(A.astype(np.float64)), "B": torch.tensor(B.astype(np.float64))}
        if kind == "hyplora":
            k, s_ = np.float32(rng.uniform(-0.5, 1.5)), np.float32(np.sqrt(n_in) * rng.uniform(0.5, 1))
            tensors += [(prefix + "lora_k", "F32", (), k.tobytes()), (prefix + "lora_norm_scale", "F32", (), s_.tobytes())]
            v["k"], v["s"] = torch.tensor(float(k)), torch.tensor(float(s_))
        values[(layer, m)] = v
    st_writer.write(os.path.join(d, "adapter_model.safetensors"), tensors, metadata={"format": "pt"})
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 4, "lora_alpha": 16, "lora_dropout": 0.05,
              "target_modules": sorted({m for _, m, _ in plan}), "base_model_name_or_path": base_model}
    if hyplora:
        config["hyplora"] = hyplora
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump(config, f)
    form = (hyplora or {}).get("form", "consistent")

    def adapt_for(index):
        def adapt(module, inp):
            v = values.get((index, module))
            if v is None:
                return None
            alpha = 16 if v["kind"] == "lora" else hyplora["alpha_hyperbolic"]
            return delta(v["kind"], form, inp, v["A"], v["B"], v.get("k"), v.get("s"), alpha / 4)
        return adapt
    return adapt_for
