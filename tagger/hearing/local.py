"""Stage 2 of a track's way: from windows to a :class:`Prediction`, for many tracks at once.

A pool of decode threads (each drives an ffmpeg process, so they run truly in parallel)
opens tracks (``hearing.source.TrackSource``) and puts their windows, a chunk at a time, on a
bounded queue. The model loop takes windows from whichever tracks are ready, runs them in
batches that mix tracks, and pools each window's outputs into its track
(``models.pooling.WindowPool``). A track is done when its
decoder has finished and all its windows have been through the model; the model then turns
its pool into the track's probabilities (``Model.track_probabilities``). The queue's bound
keeps memory flat however long a track is.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genretag.hearing.prediction import Prediction
from genretag.hearing.source import TrackSource
from genretag.hearing.windows import Coverage
from genretag.library.decode import DecodeError, Silent
from genretag.models.pooling import WindowPool

if TYPE_CHECKING:  # torch is imported when a model runs, not when a re-scan only reads
    from genretag.models.base import Network


@dataclass
class TrackResult:
    """The model's verdict on one track (``error`` set instead when it could not be heard)."""

    key: int
    path: Path
    prediction: Prediction | None = None
    windows: int = 0
    window_starts: np.ndarray | None = None  # (windows,) seconds, when kept
    window_outputs: np.ndarray | None = None  # (windows, dim), when kept
    statistics: np.ndarray | None = None  # pooled backbone statistics (Model.statistics)
    error: str | None = None
    transient: bool = False  # the error may go away by itself (permissions, I/O)
    silent: bool = False  # the error: digital silence wherever it was heard
    detail: str = ""  # what ffmpeg said about the error, for --verbose
    decode_seconds: float = 0.0

    @property
    def probabilities(self) -> np.ndarray | None:
        """(n_labels,), in the model's label order."""
        return None if self.prediction is None else self.prediction.probabilities


@dataclass
class Timings:
    """Where the time went (seconds; decode is summed over the workers)."""

    decode: float = 0.0
    frontend: float = 0.0
    cnn: float = 0.0
    windows: int = 0
    batches: int = 0


@dataclass
class _Chunk:
    key: int
    starts: np.ndarray  # (m,) sample offsets
    windows: np.ndarray  # (m, window_samples)


@dataclass
class _End:
    key: int
    error: str | None = None
    detail: str = ""
    seconds: float = 0.0
    transient: bool = False
    silent: bool = False
    features: np.ndarray | None = None  # (n_features,), for a model with a feature head


_DONE = object()  # a worker's last message


@dataclass
class _Track:
    path: Path
    pool: WindowPool | None = None
    pending: int = 0
    ended: _End | None = None
    starts: list = field(default_factory=list)
    per_window: list = field(default_factory=list)


def outputs_of(
    model, samples: np.ndarray, timings: Timings | None = None, embeddings: bool = False
) -> np.ndarray:
    """A batch of windows (batch, window_samples) -> their outputs (batch, dim): what a track
    pools of each (``embeddings``: the backbone's embeddings), on the model's runtime; the
    time of the frontend and the CNN added to ``timings`` (on ONNX Runtime one graph runs
    both, and the CNN's time holds the frontend's)."""
    t = timings or Timings()
    t0 = time.perf_counter()
    outputs, frontend = model.window_outputs_of(samples, embeddings)
    t.frontend += frontend
    t.cnn += time.perf_counter() - t0 - frontend
    return outputs


def failure(e: Exception) -> tuple[str, str, bool, bool]:
    """How a track that could not be decoded reads in its result: (error, detail, silent,
    transient). Permissions and I/O may pass by themselves, and so may a bug."""
    if isinstance(e, DecodeError):
        return str(e), e.detail, isinstance(e, Silent), False
    if isinstance(e, OSError):
        return f"cannot read file: {e.strerror or e}", "", False, True
    return f"unexpected error while decoding: {type(e).__name__}: {e}", "", False, True


def batch_size_for(device_type: str, asked: int = 0) -> int:
    """Windows per CNN batch: ``asked``, or (0) by device. On a CPU 16 windows a batch run
    about as fast per window as 8 and faster than 64 (README, Performance;
    benchmarks/cnn_speed.py), and keep the first convolutions' large activations small; a
    GPU wants large ones."""
    return asked or (256 if device_type == "cuda" else 16)


class Predictor:
    """Predicts many tracks with one model; see the module docstring. The only place where
    window outputs become a track's :class:`Prediction` (through ``Model``)."""

    def __init__(
        self,
        model: Network,
        coverage: Coverage,
        batch_size: int = 0,
        workers: int = 2,
        keep_windows: bool = False,
        embeddings: bool = False,
    ):
        """``keep_windows`` keeps every window's start and outputs in the result;
        ``embeddings`` makes the outputs the backbone's embeddings and no probabilities
        (training caches them, and pools them with ``Model.outputs_of_embeddings``). Those
        are computed in batches of one track's windows at fixed offsets, never mixed with
        other tracks: a window's numbers then do not depend on which windows shared its
        batch, so training from scratch reproduces a model bit for bit."""
        self.model = model
        self.embeddings = embeddings
        # a model with a feature head also needs the track's table features
        # (TrackAudio.features); its probabilities are then fused per track
        self.feature_columns = [] if embeddings else model.feature_columns
        self.coverage = coverage
        self.batch_size = batch_size_for(model.device_type, batch_size)
        self.workers = max(1, workers)
        self.keep_windows = keep_windows
        self.timings = Timings()
        # tracks per Ray node (RayHearer's): none here
        self.decoded_on: Counter[str] = Counter()
        self.heard_on: Counter[str] = Counter()
        self._stop = threading.Event()
        self.source = TrackSource(
            model.params,
            coverage,
            self.batch_size,
            feature_rate=bool(self.feature_columns),
            fixed_chunks=embeddings,
            stopped=self._stop.is_set,
        )

    # -- decoding (worker threads) -------------------------------------------------------

    def _worker(self, jobs: queue.Queue, out: queue.Queue) -> None:
        try:
            while not self._stop.is_set():
                try:
                    key, path = jobs.get_nowait()
                except queue.Empty:
                    break
                t0 = time.perf_counter()
                waited = 0.0  # time blocked on a full queue is the model's, not decoding's
                end = _End(key)
                try:
                    audio = self.source.open(path)
                    for starts, windows in audio.chunks:
                        if self._stop.is_set():
                            break
                        t_put = time.perf_counter()
                        self._put(out, _Chunk(key, starts, windows))
                        waited += time.perf_counter() - t_put
                    if self.feature_columns and not self._stop.is_set():
                        end.features = audio.features(self.feature_columns)
                except Exception as e:  # a bug must cost one file, not hang the run
                    end.error, end.detail, end.silent, end.transient = failure(e)
                end.seconds = time.perf_counter() - t0 - waited
                self._put(out, end)
        finally:
            self._put(out, _DONE)

    def _put(self, out: queue.Queue, item: object) -> None:
        """Put on the bounded queue, giving up if the run is being stopped."""
        while True:
            try:
                out.put(item, timeout=0.1)
                return
            except queue.Full:
                if self._stop.is_set():
                    return

    # -- the model loop (caller's thread) ------------------------------------------------

    def _run_batch(self, batch: list[_Chunk], tracks: dict[int, _Track]) -> None:
        model, t = self.model, self.timings
        outputs = outputs_of(model, np.concatenate([c.windows for c in batch]), t, self.embeddings)
        t.windows += len(outputs)
        t.batches += 1
        i = 0
        for c in batch:
            part = outputs[i : i + len(c.windows)]
            i += len(c.windows)
            tr = tracks[c.key]
            tr.pool = tr.pool or WindowPool(part.shape[1])
            tr.pool.add(part)
            tr.pending -= len(part)
            if self.keep_windows:
                tr.starts.extend(c.starts / model.params.sample_rate)
                tr.per_window.append(part)

    def _result(self, key: int, tr: _Track) -> TrackResult:
        end = tr.ended
        assert end is not None  # a result is made once its track has ended
        res = TrackResult(
            key, tr.path, windows=tr.pool.count if tr.pool else 0, decode_seconds=end.seconds
        )
        self.timings.decode += end.seconds
        if end.error is not None:
            res.error, res.transient, res.detail = end.error, end.transient, end.detail
            res.silent = end.silent
        elif tr.pool is None:
            res.error = "no audio decoded"
        else:
            if not self.embeddings:
                res.prediction = Prediction(
                    tuple(self.model.labels), self.model.track_probabilities(tr.pool, end.features)
                )
                res.statistics = self.model.statistics(tr.pool)
            if self.keep_windows:
                res.window_starts = np.asarray(tr.starts)
                res.window_outputs = np.concatenate(tr.per_window)
        return res

    def predict(self, paths: Sequence[Path]) -> Generator[TrackResult, None, None]:
        """Yield a :class:`TrackResult` per path, in the order they finish."""
        self._stop.clear()
        jobs: queue.Queue = queue.Queue()
        for key, path in enumerate(paths):
            jobs.put((key, Path(path)))
        tracks = {key: _Track(Path(path)) for key, path in enumerate(paths)}
        # bounded: a few chunks per worker keeps the model fed and memory flat
        out: queue.Queue = queue.Queue(maxsize=4 * self.workers)
        n_workers = min(self.workers, len(paths))
        threads = [
            threading.Thread(target=self._worker, args=(jobs, out), daemon=True, name=f"decode-{i}")
            for i in range(n_workers)
        ]
        for th in threads:
            th.start()
        live, batched = n_workers, 0
        batch: list[_Chunk] = []
        try:
            while live or batch:
                try:
                    msg = out.get(timeout=0.02 if batch else 0.5) if live else None
                except queue.Empty:
                    msg = None
                if msg is _DONE:
                    live -= 1
                    msg = None
                elif isinstance(msg, _Chunk):
                    batch.append(msg)
                    batched += len(msg.windows)
                    tracks[msg.key].pending += len(msg.windows)
                elif isinstance(msg, _End):
                    tracks[msg.key].ended = msg
                # run a full batch, or whatever is there when the decoders have nothing new:
                # the model never waits for a batch to fill while windows sit ready
                if batch and (batched >= self.batch_size or msg is None or self.embeddings):
                    self._run_batch(batch, tracks)
                    batch, batched = [], 0
                for key in [k for k, tr in tracks.items() if tr.ended and tr.pending == 0]:
                    yield self._result(key, tracks.pop(key))
            for key in list(tracks):  # workers stopped early: nothing more will come
                tr = tracks.pop(key)
                if tr.ended:
                    yield self._result(key, tr)
        finally:
            self._stop.set()
            for th in threads:
                th.join(timeout=5)
