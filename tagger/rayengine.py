"""Hearing on a Ray cluster (``scan --engine ray``): only stage 1 and 2 of a track's way run
there; discovery, the cache, albums, verdicts, writes and undo stay on this machine.

The pipeline is Ray Data's own:
1. a dataset of the paths to hear (only what the cache could not answer for);
2. decoding as CPU tasks, with the project's own decoders and coverage (``source``);
3. the model as an actor pool, loaded once per actor, on the runtime the driver chose (a
   GPU per actor where the cluster has them); each actor checks that it loaded the model
   the driver named, by id, before it hears anything;
4. each track's result streams back to the driver as it is done, where ``Scanner`` stores
   it in the cache at once, so Ctrl-C or a lost driver loses only the tracks in flight.

Every worker reads the files at the driver's paths (a shared mount).
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .decode import DecodeError, Silent
from .pooling import WindowPool
from .prediction import Prediction
from .predictor import Timings, TrackResult, outputs_of
from .segments import Coverage

BLOCKS = 100_000


class RayError(Exception):
    """The cluster cannot hear this run; one line for the user."""


def missing() -> str | None:
    """Why ``--engine ray`` cannot run here, or None."""
    from importlib.util import find_spec

    if find_spec("ray") is None or find_spec("ray.data") is None:
        return "--engine ray needs the ray extra: pip install 'genretag[ray]'"
    return None


def _decode(row: dict, params: dict, coverage: str, windows: int) -> dict:
    """A track's windows, decoded where Ray runs this (a CPU task, retried if lost)."""
    import time

    from .params import AudioParams
    from .source import TrackSource

    source = TrackSource(AudioParams.from_dict(params), Coverage(coverage, windows), 16)
    t0 = time.perf_counter()
    out = {"key": row["key"], "path": row["path"], "error": "", "detail": "",
           "silent": False, "transient": False}
    try:
        audio = source.open(Path(row["path"]))
        parts = [w for _, w in audio.chunks]
        out["windows"] = np.concatenate(parts).astype(np.float32) if parts else \
            np.zeros((0, 1), np.float32)
    except DecodeError as e:
        out.update(error=str(e), detail=e.detail, silent=isinstance(e, Silent),
                   windows=np.zeros((0, 1), np.float32))
    except OSError as e:
        out.update(error=f"cannot read file: {e.strerror or e}", transient=True,
                   windows=np.zeros((0, 1), np.float32))
    out["seconds"] = time.perf_counter() - t0
    return out


class _Hear:
    """The model on an actor: a track's windows -> its probabilities and statistics."""

    def __init__(self, model_path: str, model_id: str, device: str, runtime: str,
                 batch_size: int):
        import socket

        from .loader import LazyModel

        lazy = LazyModel(Path(model_path), device, runtime)
        if lazy.model_id != model_id:
            raise RayError(f"worker {socket.gethostname()}: {model_path} is model "
                           f"{lazy.model_id}, not the driver's {model_id}")
        self.model = lazy.load()
        self.batch_size = batch_size

    def __call__(self, row: dict) -> dict:
        windows = row.pop("windows")
        row["probabilities"] = np.zeros(0, np.float32)
        row["statistics"] = np.zeros(0, np.float16)
        row["count"] = 0
        if row["error"]:
            return row
        if len(windows) == 0:
            row["error"] = "no audio decoded"
            return row
        b = self.batch_size
        pool = WindowPool.of(np.concatenate([outputs_of(self.model, windows[i:i + b])
                                             for i in range(0, len(windows), b)]))
        row["probabilities"] = np.asarray(self.model.track_probabilities(pool), np.float32)
        stats = self.model.statistics(pool) if self.model.pools_statistics else None
        if stats is not None:
            row["statistics"] = stats
        row["count"] = pool.count
        return row


class RayHearer:
    """What ``Predictor`` does for a scan, with the hearing on Ray Data."""

    def __init__(self, model, model_path: Path, device: str, runtime: str, coverage: Coverage,
                 batch_size: int, address: str | None = None):
        self.model, self.model_path = model, Path(model_path).resolve()
        self.device, self.runtime = device, runtime
        self.coverage, self.batch_size, self.address = coverage, batch_size, address
        self.timings = Timings()

    def predict(self, paths: list[Path]) -> Iterator[TrackResult]:
        # Ray's own C++ notes (an actor that may be restarted) are not the user's business
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR", configure_logging=True)
        import ray.data

        for name in ("ray", "ray.data"):  # the scan's own progress and lines are enough
            logging.getLogger(name).setLevel(logging.ERROR)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        gpus = 1 if self.device == "cuda" else 0
        # a block per track (up to BLOCKS): each result reaches the driver when it is done,
        # not when a whole block of tracks is
        ds = ray.data.from_items([{"key": i, "path": str(p)} for i, p in enumerate(paths)],
                                 override_num_blocks=min(len(paths), BLOCKS))
        ds = ds.map(_decode, fn_kwargs=dict(
            params=self.model.params.to_dict(), coverage=self.coverage.mode.value,
            windows=self.coverage.windows))
        with warnings.catch_warnings():  # how Ray names actor options is still moving
            warnings.simplefilter("ignore")
            ds = ds.map(_Hear, fn_constructor_kwargs=dict(
                model_path=str(self.model_path), model_id=self.model.model_id,
                device=self.device, runtime=self.runtime, batch_size=self.batch_size),
                concurrency=1, num_gpus=gpus, max_restarts=-1, max_task_retries=-1)
        labels = tuple(self.model.labels)
        try:
            yield from self._results(ds, paths, labels)
        except RayError:
            raise
        except Exception as e:  # Ray wraps an actor's failure; ours is said in one line
            said = re.search(r"worker \S+: \S+ is model \S+, not the driver's \S+", str(e))
            if said:
                raise RayError(said.group(0)) from None
            raise

    def _results(self, ds, paths: list[Path], labels: tuple[str, ...]
                 ) -> Iterator[TrackResult]:
        for row in ds.iter_rows():
            key = int(row["key"])
            res = TrackResult(key, paths[key], windows=int(row["count"]),
                              decode_seconds=float(row["seconds"]))
            self.timings.decode += res.decode_seconds
            if row["error"]:
                res.error, res.detail = row["error"], row["detail"] or ""
                res.silent, res.transient = bool(row["silent"]), bool(row["transient"])
            else:
                res.prediction = Prediction(labels, np.asarray(row["probabilities"], float))
                stats = np.asarray(row["statistics"])
                res.statistics = stats.astype(np.float16) if stats.size else None
            yield res
