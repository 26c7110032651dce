"""Saving a trained genre model: its labels' names, label sets and hierarchy, what made it
(method, configuration, data, time) and what it was built on, in the model file."""

from __future__ import annotations

import time
from pathlib import Path

from genretag.models import features
from genretag.models.net import Model, save_model
from genretag.training.data.labelspace import GTZAN, PARENTS
from genretag.training.data.labelspace import NAMES as DISPLAY_NAMES


def save_genre_model(
    out: Path,
    model: Model,
    method: str,
    config: dict,
    data_summary: dict,
    backbone: Model | None = None,
    feature_table: str | None = None,
    started: float | None = None,
    evaluation: dict | None = None,
) -> str:
    """Write a trained model (with its feature head, tags and independent genres, if any)
    and what made it."""
    from genretag.training.recipes.probe import PARENTS, TAG_GENRE_NAMES

    labels, net = model.labels, model.net
    genres = {lab: list(tags) for lab, tags in model.metadata.tag_genres.items()}
    exclusive = [lab for lab in labels if lab not in genres]
    names = {**DISPLAY_NAMES, **TAG_GENRE_NAMES}
    extra = {
        "name": "genretag genre model",
        "display_names": {lab: names.get(lab, lab) for lab in labels},
        "label_sets": {"dataset": exclusive},
        "parents": {
            lab: [p for p in PARENTS.get(lab, []) if p in labels]
            for lab in labels
            if any(p in labels for p in PARENTS.get(lab, []))
        },
        "training": {
            "method": method,
            "config": config,
            "data": data_summary,
            "seconds": round(time.time() - started, 1) if started else None,
        },
    }
    if set(exclusive) <= set(GTZAN):
        extra["label_sets"]["gtzan"] = exclusive
    if model.metadata.tags:  # a track head: the tagger's tags size its tag layer
        extra["tags"] = list(model.metadata.tags)
    if genres:
        extra["tag_genres"] = genres
    if evaluation:
        extra["evaluation"] = evaluation
    if backbone is not None:
        extra["backbone"] = {
            "model_id": backbone.model_id,
            "name": backbone.metadata.name or "musicnn MSD",
        }
    if net.features is not None:
        extra["features"] = {
            "columns": list(features.COLUMNS),
            "extractor": features.EXTRACTOR,
            "table": feature_table,
        }
    return save_model(out, net, labels, net.params, extra=extra)


def save_genres_model(
    out: Path,
    model: Model,
    head,
    method: str,
    config: dict,
    data_summary: dict,
    backbone: Model,
    started: float | None = None,
) -> str:
    """Write a ``genres`` model (``recipes.genres``): every label independent, each
    validated one with the threshold at which a scan writes it (``thresholds``); the label
    set ``validated`` names them, and a scan writes only those unless ``--labels all``."""
    labels = model.labels
    validated = [lab for lab in labels if lab in head.thresholds]
    extra = {
        "name": "genretag genre model",
        "display_names": {lab: DISPLAY_NAMES.get(lab, lab) for lab in labels},
        "label_sets": {
            "validated": validated,
            **({"gtzan": list(GTZAN)} if set(GTZAN) <= set(labels) else {}),
        },
        "parents": {
            lab: [p for p in PARENTS[lab] if p in labels] for lab in labels if lab in PARENTS
        },
        "thresholds": {lab: head.thresholds[lab] for lab in validated},
        "tags": list(model.metadata.tags),
        "training": {
            "method": method,
            "config": {**config, "chosen": {"c": head.c, "inner": head.inner}},
            "data": data_summary,
            "seconds": round(time.time() - started, 1) if started else None,
        },
        "backbone": {
            "model_id": backbone.model_id,
            "name": backbone.metadata.name or "musicnn MSD",
        },
    }
    return save_model(out, model.net, labels, model.net.params, extra=extra)


def save_background(model_path: Path, d, clips, model_id: str, windows: int, heldout=None) -> Path:
    """The model's background (``models.background``) beside it: every training clip's
    statistics pooled as a fast scan of ``windows`` windows pools a track (``d``, the
    prepared ``Labelled``), its targets in the model's labels and its artist (``clips``),
    and the recipe's probabilities on it from the fold that held it out (``heldout``, a
    ``Heldout`` of the clips)."""
    import numpy as np

    from genretag.models import background

    groups = {g: i for i, g in enumerate(dict.fromkeys(clips.groups))}
    path = background.path_of(model_path)
    background.write(
        path,
        d.fast_statistics(windows),
        clips.y,
        np.array([groups[g] for g in clips.groups]),
        clips.labels,
        model_id,
        windows,
        None if heldout is None else heldout.probabilities,
    )
    return path
