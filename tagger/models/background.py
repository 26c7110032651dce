"""A genre model's background: the pooled statistics of the music it was trained on.

``genretag learn`` fits each of an owner's labels against the owner's other tracks *and*
against this background, so that a label learns "not this" from all music, not only from
what one library holds (an owner who tagged only Bebop and Classic Rock still teaches
"not Bebop" with classical, metal and country in the background).

The background travels beside its model as ``<model stem>-background.safetensors``. Per
training clip it holds:
- its statistics (float16), in the order ``GenreNet.statistics`` gives them, pooled as a
  fast scan pools a track (its ``windows`` evenly spread windows);
- its targets in the model's labels (1 yes, 0 no, -1 its dataset cannot tell);
- its artist, as an integer group, so folds can keep artists apart;
- the model's probabilities on it, from the cross-validation fold that held it out.

It is a genretag model file of kind ``background``, whose id is its checksum
(``file.check_whole``), and it names the id of the model it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genretag.models.file import (
    FORMAT,
    FORMAT_VERSION,
    ModelFileError,
    check_whole,
    read_tensors,
    write_model_file,
)

KIND = "background"
SUFFIX = "-background.safetensors"


def path_of(model_path: Path) -> Path:
    """Where a model's background lies: beside it, ``<stem>-background.safetensors``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name.removesuffix(".safetensors") + SUFFIX)


@dataclass(frozen=True)
class Background:
    """The statistics of a model's training clips (see the module docstring)."""

    statistics: np.ndarray  # (clips, stats) float32
    targets: np.ndarray  # (clips, labels) int8: 1 yes, 0 no, -1 cannot tell
    groups: np.ndarray  # (clips,) int: one integer per artist
    labels: tuple[str, ...]  # the model's labels, the targets' columns
    model_id: str  # the model it belongs to
    probabilities: np.ndarray | None = None  # (clips, labels): the model's, held out

    def __len__(self) -> int:
        return len(self.statistics)


def write(
    path: Path,
    statistics: np.ndarray,
    targets: np.ndarray,
    groups: np.ndarray,
    labels: list[str],
    model_id: str,
    windows: int,
    probabilities: np.ndarray | None = None,
) -> str:
    """Write a background file (targets may hold NaN for "cannot tell"); returns its id.
    ``probabilities``: the model's on each clip from the cross-validation fold that held
    the clip out. The model itself has heard every clip, so its own probabilities on them
    are surer than on music it never heard; a head stacked on them (``learn``) would learn
    that surety."""
    t = np.nan_to_num(np.asarray(targets, dtype=float), nan=-1.0).astype(np.int8)
    tensors = {
        "statistics": np.asarray(statistics, dtype=np.float16),
        "targets": t,
        "groups": np.asarray(groups, dtype=np.int32),
    }
    if probabilities is not None:
        tensors["probabilities"] = np.asarray(probabilities, dtype=np.float16)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "labels": list(labels),
        "base_model": model_id,
        "pooling": {"coverage": "fast", "windows": int(windows)},
    }
    return write_model_file(Path(path), tensors, meta)


def load(model_path: Path, model_id: str, labels: list[str]) -> Background | None:
    """The background of the model at ``model_path`` (id ``model_id``), checked whole;
    None when the model has none. A ``ModelFileError`` (one line) when the file is
    damaged, or belongs to another model."""
    import json

    from safetensors import safe_open

    path = path_of(model_path)
    if not path.is_file():
        return None
    check_whole(path)
    with safe_open(str(path), "np") as f:
        meta = json.loads(f.metadata()["genretag"])
    if meta.get("kind") != KIND or meta.get("base_model") != model_id:
        raise ModelFileError(
            f"{path}: not the background of model {model_id} (it names {meta.get('base_model')!r})"
        )
    if list(meta.get("labels", [])) != list(labels):
        raise ModelFileError(f"{path}: its labels are not its model's")
    t = read_tensors(path, ("statistics", "targets", "groups", "probabilities"))
    stats, targets, groups = t["statistics"], t["targets"], t["groups"]
    probs = t.get("probabilities")
    if not (len(stats) == len(targets) == len(groups) and targets.shape[1:] == (len(labels),)):
        raise ModelFileError(f"{path}: damaged background (its tensors do not agree)")
    if probs is not None and probs.shape != targets.shape:
        raise ModelFileError(f"{path}: damaged background (its tensors do not agree)")
    return Background(
        stats.astype(np.float32),
        targets,
        groups,
        tuple(labels),
        model_id,
        None if probs is None else probs.astype(np.float32),
    )
