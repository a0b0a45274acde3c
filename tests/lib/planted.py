"""A checkpoint whose embedding has the shape the HypLoRA paper describes, planted: rows of
frequent tokens shorter than rare ones, two strong principal directions above isotropic
noise and a mean offset, so that norm and frequency correlate and the principal components
are well defined. Used by the norms and chart tests."""
import os

import numpy as np

import st_writer


def plant_embedding(model_dir, count, seed=11):
    """Rewrites model_dir/model.safetensors (float32) with a planted embedding for the given
    per-token counts; every other tensor is kept."""
    rng = np.random.default_rng(seed)
    path = os.path.join(model_dir, "model.safetensors")
    _, tensors, _ = st_writer.read(path)
    tensors = dict(tensors)
    n, dim = tensors["model.embed_tokens.weight"].shape
    assert n == len(count), (n, len(count))
    basis = np.linalg.qr(rng.normal(size=(dim, 2)))[0].T
    emb = rng.normal(scale=0.02, size=(n, dim))
    emb += rng.normal(scale=0.12, size=(n, 1)) * basis[0] + rng.normal(scale=0.07, size=(n, 1)) * basis[1]
    emb *= (1.0 + 0.5 / (1.0 + np.log1p(count)))[:, None]
    emb += 0.05
    tensors["model.embed_tokens.weight"] = emb.astype(np.float32)
    st_writer.write(path, [(k, "F32", v.shape, st_writer.tensor_bytes("F32", v))
                           for k, v in tensors.items()])
