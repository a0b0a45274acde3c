"""Reading the /delta groups `hyplora delta` writes, for its tests."""
import h5py


def delta_group(rep, name):
    """(attributes, datasets, dataset definitions) of /delta/<name> as plain dicts; string
    attributes decoded."""
    with h5py.File(rep, "r") as f:
        g = f["delta"][name]
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}
        data = {k: g[k][()] for k in g}
        defs = {k: g[k].attrs.get("definition") for k in g}
    return attrs, data, defs


def check_layout(attrs, data, defs, want_attrs, want_datasets):
    """Every attribute of want_attrs present, every dataset of want_datasets (name -> numpy
    dtype) present with its dtype, and a definition of some length on every dataset."""
    missing = [a for a in want_attrs if a not in attrs]
    assert not missing, missing
    for k, t in want_datasets.items():
        assert k in data, (k, list(data))
        assert data[k].dtype == t, (k, data[k].dtype)
    for k, d in defs.items():
        assert isinstance(d, str) and len(d) > 10, (k, d)
