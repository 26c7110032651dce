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

Training, evaluate and learn hear their datasets through the same pipeline
(``hearing.base.hearer``): with ``embeddings``, the actors give each window's backbone
embeddings instead of a track's probabilities, batched as the local engine batches them.

Every worker reads the files at the driver's paths (a shared mount).
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections import Counter
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

import numpy as np

from genretag.hearing.local import Timings, TrackResult, batch_size_for, failure, outputs_of
from genretag.hearing.prediction import Prediction
from genretag.hearing.windows import Coverage
from genretag.models.pooling import WindowPool
from genretag.states import CoverageMode

# Ray Data keeps about 8 KB on the driver for each block of a dataset until the dataset is
# done, and a block is a track here; so a library is heard as successive datasets of
# CHUNK_PER_CPU tracks per CPU of the cluster (at least CHUNK_MIN), and the driver's memory
# stays flat however large the library is (docs/performance.md).
CHUNK_MIN = 1_000
CHUNK_PER_CPU = 50


class RayError(Exception):
    """The cluster cannot hear this run; one line for the user."""


# the first Ray whose local runtimes require a token: before it, anyone on the network could
# run code on this machine while a scan's runtime listens on every interface
RAY_AT_LEAST = (2, 59)


def missing() -> str | None:
    """Why ``--engine ray`` cannot run here, or None."""
    from importlib.util import find_spec

    if find_spec("ray") is None or find_spec("ray.data") is None:
        return "--engine ray needs the ray extra: pip install 'genretag[ray]'"
    from importlib.metadata import version

    found = version("ray")
    if tuple(int(x) for x in re.findall(r"\d+", found)[:2]) < RAY_AT_LEAST:
        return (
            f"--engine ray needs Ray {'.'.join(map(str, RAY_AT_LEAST))} or later, whose "
            f"local runtimes require a token (this is Ray {found}): "
            "pip install -U 'genretag[ray]'"
        )
    return None


def _node() -> str:
    """The Ray node this runs on (its id's first 8 hex digits)."""
    import ray

    return ray.get_runtime_context().get_node_id()[:8]


def _decode(row: dict, params: dict, coverage: str, windows: int, columns: list[str]) -> dict:
    """A track's windows (n, window_samples) and their starts (n,) in samples, and its table
    features where the model has a feature head; decoded where Ray runs this (a CPU task,
    retried if lost)."""
    import time

    from genretag.hearing.source import TrackSource
    from genretag.models.params import AudioParams

    source = TrackSource(
        AudioParams.from_dict(params),
        Coverage(CoverageMode(coverage), windows),
        16,
        feature_rate=bool(columns),
    )
    t0 = time.perf_counter()
    out = {
        "key": row["key"],
        "path": row["path"],
        "error": "",
        "detail": "",
        "silent": False,
        "transient": False,
        "decoded_on": _node(),
        "windows": np.zeros((0, 1), np.float32),
        "starts": np.zeros(0, np.int64),
        "features": np.zeros(0, np.float32),
    }
    try:
        audio = source.open(Path(os.fsdecode(row["path"])))
        chunks = list(audio.chunks)
        if chunks:
            out["starts"] = np.concatenate([s for s, _ in chunks]).astype(np.int64)
            out["windows"] = np.concatenate([w for _, w in chunks]).astype(np.float32)
        if columns and chunks:
            values = audio.features(columns)
            if values is not None:
                out["features"] = values.astype(np.float32)
    except Exception as e:  # a bug must cost one file, not the run
        error, detail, silent, transient = failure(e)
        out.update(error=error, detail=detail, silent=silent, transient=transient)
    out["seconds"] = time.perf_counter() - t0
    return out


class _Hear:
    """The model on an actor: a track's windows -> its probabilities and statistics, or
    (``embeddings``) each window's backbone embeddings."""

    def __init__(
        self,
        model_path: str,
        model_id: str,
        device: str,
        runtime: str,
        batch_size: int,
        embeddings: bool,
    ):
        import socket

        from genretag.models.loader import LazyModel

        where = f"worker {socket.gethostname()} (node {_node()})"
        try:
            lazy = LazyModel(Path(model_path), device, "torch" if embeddings else runtime)
            if lazy.model_id != model_id:
                raise RayError(
                    f"{where}: {model_path} is model {lazy.model_id}, not the driver's {model_id}"
                )
            self.model = lazy.load()
        except RayError:
            raise
        except Exception as e:  # a missing or unreadable model file on that machine
            raise RayError(f"{where}: cannot load {model_path}: {e}") from None
        self.batch_size = batch_size_for(self.model.device_type, batch_size)
        self.embeddings = embeddings
        self.node = _node()

    def __call__(self, row: dict) -> dict:
        windows = row.pop("windows")
        timings = Timings()
        row.update(
            heard_on=self.node,
            probabilities=np.zeros(0, np.float32),
            statistics=np.zeros(0, np.float16),
            outputs=np.zeros((0, 1), np.float32),
            count=0,
        )
        if not row["error"] and len(windows) == 0:
            row["error"] = "no audio decoded"
        if not row["error"]:
            # batches of one track's windows from its first: the local engine's fixed
            # chunks, so an embedding does not depend on the engine
            b = self.batch_size
            outputs = np.concatenate(
                [
                    outputs_of(self.model, windows[i : i + b], timings, self.embeddings)
                    for i in range(0, len(windows), b)
                ]
            )
            row["count"] = len(outputs)
            if self.embeddings:
                row["outputs"] = outputs.astype(np.float32)
            else:
                pool = WindowPool.of(outputs)
                features = row["features"] if row["features"].size else None
                row["probabilities"] = np.asarray(
                    self.model.track_probabilities(pool, features), np.float32
                )
                stats = self.model.statistics(pool)
                if stats is not None:
                    row["statistics"] = stats
        row["frontend"], row["cnn"] = timings.frontend, timings.cnn
        return row


_SAID = re.compile(r"worker \S+ \(node \w+\): [^\n]+")


class RayHearer:
    """What ``Predictor`` does, with the hearing on Ray Data (see the module docstring).
    ``decoded_on`` and ``heard_on`` count the tracks each node decoded and heard."""

    def __init__(
        self,
        model,
        model_path: Path,
        coverage: Coverage,
        device: str = "auto",
        runtime: str = "auto",
        batch_size: int = 0,
        address: str | None = None,
        embeddings: bool = False,
    ):
        self.model, self.model_path = model, Path(model_path).resolve()
        self.device, self.runtime = device, runtime
        self.coverage, self.batch_size, self.address = coverage, batch_size, address
        self.embeddings = embeddings
        self.timings = Timings()
        self.decoded_on: Counter[str] = Counter()
        self.heard_on: Counter[str] = Counter()

    def predict(self, paths: Sequence[Path]) -> Generator[TrackResult, None, None]:
        # Ray's own C++ notes (an actor that may be restarted) are not the user's business
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        import ray

        if not ray.is_initialized():
            # no address and no RAY_ADDRESS: a runtime of our own on this machine ("local"),
            # never the last cluster someone started here, which Ray would join by default
            address = self.address or os.environ.get("RAY_ADDRESS") or "local"
            if address == "local":
                # its servers listen on every interface: a token guards them, always. Ray
                # (RAY_AT_LEAST) makes one for a local runtime unless RAY_AUTH_MODE says
                # otherwise, so an opt-out left in the environment is not honoured
                os.environ.pop("RAY_AUTH_MODE", None)
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
                configure_logging=True,
            )
        import ray.data

        for name in ("ray", "ray.data"):  # the scan's own progress and lines are enough
            logging.getLogger(name).setLevel(logging.ERROR)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        gpus, actors = self._actors(ray)
        chunk = max(CHUNK_MIN, CHUNK_PER_CPU * int(ray.cluster_resources().get("CPU", 1)))
        labels = tuple(self.model.labels)
        try:
            for start in range(0, len(paths), chunk):
                ds = self._dataset(ray, paths, start, min(len(paths), start + chunk), gpus, actors)
                yield from self._results(ds, paths, labels)
        except RayError:
            raise
        except Exception as e:  # Ray wraps an actor's failure; ours is said in one line
            said = _SAID.search(str(e))
            if said:
                raise RayError(said.group(0)) from None
            raise

    def _dataset(self, ray, paths: Sequence[Path], start: int, end: int, gpus: int, actors: int):
        """The pipeline for ``paths[start:end]``: decode tasks, then the model actors."""
        columns = [] if self.embeddings else list(self.model.feature_columns)
        # a block per track: each result reaches the driver when it is done, not when a
        # whole block of tracks is
        # a path as bytes: Arrow's strings are UTF-8, and a file name need not be
        ds = ray.data.from_items(
            [{"key": i, "path": os.fsencode(paths[i])} for i in range(start, end)],
            override_num_blocks=end - start,
        )
        ds = ds.map(
            _decode,
            fn_kwargs=dict(
                params=self.model.params.to_dict(),
                coverage=self.coverage.mode.value,
                windows=self.coverage.windows,
                columns=columns,
            ),
        )
        with warnings.catch_warnings():  # how Ray names actor options is still moving
            warnings.simplefilter("ignore")
            return ds.map(
                _Hear,
                fn_constructor_kwargs=dict(
                    model_path=str(self.model_path),
                    model_id=self.model.model_id,
                    device=self.device,
                    runtime=self.runtime,
                    batch_size=self.batch_size,
                    embeddings=self.embeddings,
                ),
                concurrency=actors,
                num_gpus=gpus,
                max_restarts=-1,
                max_task_retries=-1,
                scheduling_strategy="SPREAD",
            )  # an actor per node, not all on the first

    def _actors(self, ray) -> tuple[int, int]:
        """GPUs per model actor, and how many actors: one per GPU on a cluster with GPUs
        (unless the CPU was asked for), else one per node with a CPU to spare for decoding
        beside the actor's own (at least one)."""
        gpus = int(ray.cluster_resources().get("GPU", 0))
        if self.device != "cpu" and gpus:
            return 1, gpus
        if ray.cluster_resources().get("CPU", 0) < 2:
            raise RayError(
                "the cluster has fewer than 2 CPUs: one decodes, one runs the "
                "model (ray start --num-cpus 2 or more)"
            )
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        return 0, max(1, sum(1 for n in nodes if n.get("Resources", {}).get("CPU", 0) >= 2))

    def _results(self, ds, paths: Sequence[Path], labels: tuple[str, ...]) -> Iterator[TrackResult]:
        rate = self.model.params.sample_rate
        for row in ds.iter_rows():
            key = int(row["key"])
            res = TrackResult(
                key, paths[key], windows=int(row["count"]), decode_seconds=float(row["seconds"])
            )
            t = self.timings
            t.decode += res.decode_seconds
            t.frontend += float(row["frontend"])
            t.cnn += float(row["cnn"])
            t.windows += res.windows
            self.decoded_on[row["decoded_on"]] += 1
            if row["error"]:
                res.error, res.detail = row["error"], row["detail"] or ""
                res.silent, res.transient = bool(row["silent"]), bool(row["transient"])
            elif self.embeddings:
                self.heard_on[row["heard_on"]] += 1
                res.window_starts = np.asarray(row["starts"]) / rate
                res.window_outputs = np.asarray(row["outputs"], np.float32)
            else:
                self.heard_on[row["heard_on"]] += 1
                res.prediction = Prediction(labels, np.asarray(row["probabilities"], float))
                stats = np.asarray(row["statistics"])
                res.statistics = stats.astype(np.float16) if stats.size else None
            yield res
