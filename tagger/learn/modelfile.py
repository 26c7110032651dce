"""What ``learn`` learnt, as an ordinary genretag model file: its base model's backbone and
tagger, and a ``library`` head (``heads.StackedHead`` over a base with a ``genres`` head;
a plain ``LinearHead`` over any other). Written in numpy, so learn needs no PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genretag.learn.fit import Learnt
from genretag.learn.library import LearnError, Library


def save(learnt: Learnt, lib: Library, base, base_path: Path, out: Path) -> str:
    """Write ``learnt`` as a model file at ``out`` over ``base`` (the model file at
    ``base_path``); returns the model id."""
    from genretag.models.file import LIBRARY_KEYS, MEL_KEY, header, read_tensors, write_model_file
    from genretag.models.params import Architecture
    from genretag.states import ModelKind

    if not learnt.keys:
        raise LearnError("no label could be learnt (see the table); nothing written")
    meta = base.metadata
    base_weights = learnt.base_weights
    stacked = base_weights is not None
    parts: tuple[str, ...] = ("backbone.", "head.", MEL_KEY) + (("genres.",) if stacked else ())
    tensors = read_tensors(base_path, parts)
    head = (learnt.mean, learnt.scale, learnt.weights, learnt.bias)
    tensors.update({k: np.asarray(v, dtype=np.float32) for k, v in zip(LIBRARY_KEYS, head)})
    arch = Architecture.from_dict({**meta.architecture.to_dict(), "head": "library"})
    names = {r.key: lib.name(r.key) for r in learnt.results}
    base_names = meta.display_names
    about = {
        **header(ModelKind.GENRE_MODEL, learnt.keys, meta.audio, arch),
        "name": f"learnt from a library ({len(lib.tagged)} tagged tracks)",
        "display_names": {k: names.get(k) or base_names.get(k, k) for k in learnt.keys},
        "thresholds": dict(zip(learnt.keys, map(float, learnt.thresholds))),
        "tags": list(meta.tags),
        "learnt": {
            "labels": [r.to_dict() for r in learnt.results],
            "base_model": base.model_id,
            "kept": learnt.kept,
            "heldout": learnt.heldout,
        },
    }
    if base_weights is not None:
        fam = learnt.familiar
        d, n = len(learnt.mean), len(learnt.keys)
        axes = fam.basis.shape[0] if fam else 1
        extra = {
            "library.base.weight": base_weights,
            "library.basis": fam.basis if fam else np.zeros((axes, d)),
            "library.spread": fam.spread if fam else np.ones(axes),
            "library.points": fam.points if fam else np.zeros((0, axes)),
            "library.radius": fam.radius if fam else np.full(n, np.inf),
        }
        tensors.update({k: np.asarray(v, dtype=np.float32) for k, v in extra.items()})
        owner = fam.owner if fam else np.zeros(0)
        tensors["library.owner"] = np.asarray(owner, dtype=np.int64)
        about["stacking"] = {
            "base": base_weights.shape[1],
            "points": len(tensors["library.points"]),
            "axes": axes,
        }
    return write_model_file(out, tensors, about)
