"""``genretag learn``: a library's own genres, learnt from its tagged tracks.

A track's way through it:

1. ``learn.library.gather``: its genres and artist are read as a scan reads them (from the cache
   where the file is unchanged), less the genres genretag wrote itself; its pooled backbone
   statistics come from the cache (a scan stored them) or are heard now and stored
   (``learn.library.hear``).
2. ``learn.fit.fit``: each label the owner uses on enough tracks by enough artists is fitted
   against the owner's other tracks and the base model's background (the music it was
   trained on, ``models.background``), and checked on artists held out. Of the learnt
   head, a head stacked on the base model's genres, and the base genre it maps to, the
   best on those held-out tracks is kept. The base model's genres that no owner label
   covers are kept under their own names.
3. ``learn.suggest.suggest``: the untagged tracks whose genre, once the owner gives it, would
   teach most.
4. ``learn.modelfile.save``: all of it becomes an ordinary model file that ``scan --model`` uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genretag.learn.fit import BaseView, LabelResult, Learnt, fit, threshold
from genretag.learn.library import (
    LearnError,
    Library,
    Track,
    gather,
    hear,
    label_key,
    read_map,
    statistics_of,
)
from genretag.learn.suggest import Suggestion, suggest
from genretag.settings import Settings
from genretag.store.cache import Cache

__all__ = [
    "BaseView",
    "LabelResult",
    "LearnError",
    "Learned",
    "Learnt",
    "Library",
    "Suggestion",
    "Track",
    "base_view",
    "fit",
    "label_key",
    "learn_library",
    "threshold",
]


def base_view(base, base_path: Path, lib: Library, settings: Settings) -> BaseView:
    """What learn uses of ``base`` (a loaded model from ``base_path``): its probabilities on
    the library's tracks and, for a model with a ``genres`` head, its background."""
    from genretag.models import background
    from genretag.models.file import ModelFileError

    meta = base.metadata
    labels = list(base.labels)
    stacks = meta.architecture.head == "genres" and settings.fill_in

    def probs(tracks: list[Track]) -> np.ndarray:
        if not tracks:
            return np.zeros((0, len(labels)))
        return np.asarray(base.probabilities_of_statistics(statistics_of(tracks)), dtype=float)

    view = BaseView(
        labels,
        {lab: meta.display_names.get(lab, lab) for lab in labels},
        dict(meta.thresholds),
        probs(lib.tagged),
        probs(lib.untagged),
        stacks=meta.architecture.head == "genres",
        min_confidence=settings.min_confidence,
        fills_in=stacks,
    )
    try:
        bg = background.load(base_path, base.model_id, labels)
    except ModelFileError as e:
        raise LearnError(str(e)) from None
    if bg is not None:
        view.background = bg.statistics
        view.background_targets = bg.targets
        view.background_groups = bg.groups
        view.background_probs = (
            bg.probabilities.astype(float)
            if bg.probabilities is not None
            else np.asarray(base.probabilities_of_statistics(bg.statistics), dtype=float)
        )
    return view


@dataclass
class Learned:
    """What ``Session.learn`` learnt from a library: its tracks (``library``: tagged,
    untagged, errors), the labels (``learnt``), the untagged tracks worth the owner's
    time (``suggestions``), and the base model they were learnt on, from which ``save``
    writes the model file."""

    library: Library
    learnt: Learnt
    base: Any  # a models.base.Network
    base_path: Path
    seconds: float
    background: int = 0  # clips of the base model's background learnt against
    suggestions: list[Suggestion] = field(default_factory=list)

    @property
    def filled(self) -> list[str]:
        """The owner's labels the base model writes (its genre, under the owner's name)."""
        return [r.key for r in self.learnt.results if r.source == "default"]

    def summary(self) -> str:
        lib = self.library
        return (
            f"{len(lib.tagged)} tagged and {len(lib.untagged)} untagged tracks; "
            f"heard {lib.heard} now, {len(lib.tagged) + len(lib.untagged) - lib.heard} "
            f"from the cache; {lib.own_skipped} genres genretag wrote left out; "
            f"{self.background} background clips; {self.seconds:.1f} s"
        )

    def heldout_line(self) -> str:
        """The learnt model against the base model alone, on the owner's tagged tracks
        held out by artist (empty when there is nothing to compare)."""
        h = self.learnt.heldout
        if "learnt" not in h or "default" not in h:
            return ""
        a, b = h["learnt"], h["default"]
        return (
            f"on your tagged tracks, held out by artist: learnt right {a['right']:.0%}, "
            f"wrong {a['wrong']:.0%}; default right {b['right']:.0%}, wrong {b['wrong']:.0%}"
        )

    def save(self, out: Path) -> str:
        """The model file (``learn.modelfile.save``); returns its id. A ``LearnError`` when
        nothing could be learnt."""
        from genretag.learn.modelfile import save

        return save(self.learnt, self.library, self.base, self.base_path, out)


def learn_library(
    paths: Iterable[Path],
    settings: Settings,
    base,
    base_path: Path,
    cache: Cache,
    on_heard: Callable[[int], None] | None = None,
    on_hearing: Callable[[int], None] | None = None,
) -> Learned:
    """Gather the tracks under ``paths``, hear those the cache cannot answer for (telling
    ``on_hearing`` how many, ``on_heard`` as they are), fit the labels with the settings'
    thresholds, and find the untagged tracks worth the owner's time (as many as the
    ``suggest`` setting asks)."""
    import time

    from genretag.hearing.windows import Coverage

    t0 = time.perf_counter()
    if not base.pools_statistics:
        raise LearnError(
            f"{base_path}: its head does not pool backbone statistics; learn needs the "
            "shipped model or one like it"
        )
    lib, to_hear = gather(paths, cache, base.backbone_id, read_map(settings.genre_map))
    if to_hear:
        if on_hearing:
            on_hearing(len(to_hear))
        used = Coverage(settings.coverage, settings.windows).resolved(base.device_type)
        hear(lib, to_hear, base, used, cache, on_heard or (lambda n: None), settings, base_path)
    if not lib.tagged:
        raise LearnError("no track with a genre tag to learn from")
    view = base_view(base, base_path, lib, settings)
    learnt = fit(lib, view, settings.min_tracks, settings.min_artists, settings.min_precision)
    found = suggest(lib, learnt, view, settings.suggest) if settings.suggest else []
    return Learned(
        lib, learnt, base, base_path, time.perf_counter() - t0, len(view.background), found
    )
