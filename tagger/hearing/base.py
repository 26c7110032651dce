"""What hears tracks: the :class:`Hearer` that this machine's ``hearing.local.Predictor`` and
the Ray engine's ``rayengine.RayHearer`` both are, and :func:`hearer`, which picks one for a
scan, training's embeddings and learn. Each of the two imports what it needs from
``predictor``; neither imports the other."""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Protocol

from genretag.hearing.local import Predictor, Timings, TrackResult
from genretag.hearing.windows import Coverage
from genretag.settings import Settings
from genretag.states import Engine, Runtime


class Hearer(Protocol):
    """Hears tracks: ``predict(paths)`` yields a :class:`TrackResult` per path as each is
    done (its ``key`` the path's index), and ``close()`` on what it returned stops the
    work at once; ``timings`` adds up the work, ``decoded_on`` and ``heard_on`` count the
    tracks each node decoded and heard (a Ray cluster's; empty here)."""

    timings: Timings
    decoded_on: Counter[str]
    heard_on: Counter[str]

    def predict(self, paths: Sequence[Path]) -> Generator[TrackResult, None, None]: ...


def hearer(
    model,
    coverage: Coverage,
    settings: Settings,
    model_path: Path | None = None,
    runtime: Runtime | None = None,
    embeddings: bool = False,
) -> Hearer:
    """This machine's :class:`Predictor`, or (engine ray in ``settings``)
    ``rayengine.RayHearer``, whose workers load the model from ``model_path`` on
    the settings' device with ``runtime`` (default: the settings' runtime); with
    ``embeddings``, each result holds each window's backbone embeddings and start."""
    if settings.engine == Engine.RAY:
        from genretag.hearing.rayengine import RayHearer

        if model_path is None:
            raise ValueError("a Ray cluster's workers load the model from its file")
        return RayHearer(
            model,
            model_path,
            coverage,
            device=settings.device.value,
            runtime=(runtime or settings.runtime).value,
            batch_size=settings.batch_size,
            address=settings.ray_address,
            embeddings=embeddings,
        )
    return Predictor(
        model,
        coverage,
        settings.batch_size,
        settings.decode_workers(),
        keep_windows=embeddings,
        embeddings=embeddings,
    )
