"""``genretag scan``: a track's whole way from path to tag, in one walk.

1. ``discover.find_audio`` lists the audio files under the given folders.
2. The cache says which are unchanged since the last run (same size, mtime and model): their
   probabilities are reused and they are not decoded. A file the cache does not know by path
   is fingerprinted, and a moved or renamed file is recognised by its fingerprint.
3. ``predictor.Predictor`` decodes the rest in parallel and runs the CNN on their windows.
4. ``genres.choose`` picks genres from the probabilities; ``tags.decide`` applies the policy
   for existing genres (fill / overwrite / merge).
5. ``tags.write_state`` writes them (unless this is a dry run), safely, after the cache has
   recorded what was there before, so ``genretag undo`` can put it back.
6. Every file ends as one :class:`Row` of the report, whatever happened to it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING


from . import tags
from .cache import Cache, TrackRow, fingerprint
from .predictor import Predictor, Timings
from .discover import find_audio
from .genres import Vocabulary, choose
from .prediction import Prediction
from .segments import Coverage
from .states import SCAN_STATUSES, SETTLED, Policy, Status

if TYPE_CHECKING:
    from .loader import LazyModel



@dataclass
class ScanOptions:
    dry_run: bool = False
    policy: Policy = Policy.FILL
    top_k: int = 0
    min_confidence: float = 0.3
    vocab: Vocabulary | None = None
    parents: bool = False  # also write the parent genres of the chosen ones
    coverage: Coverage = field(default_factory=Coverage)
    batch_size: int = 0  # 0: chosen by device (see predictor.Predictor)
    workers: int = 2

    def key(self) -> str:
        """What decides the outcome besides the audio and model (cached results must match)."""
        names = sorted((self.vocab.names if self.vocab else {}).items())
        blob = json.dumps([self.policy, self.top_k, self.min_confidence, names,
                           self.coverage.mode, self.coverage.windows]
                          + ([True] if self.parents else []))
        return hashlib.sha1(blob.encode()).hexdigest()[:12]


@dataclass
class Row:
    """One file's line in the report."""

    path: str
    status: Status
    genres: list[str] = field(default_factory=list)  # what the model proposes
    probabilities: dict[str, float] = field(default_factory=dict)
    previous: list[str] = field(default_factory=list)  # genre in the file before
    written: list[str] | None = None  # the file's genre after this run, when it changed
    confidence: float | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class ScanResult:
    rows: list[Row] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    tag_seconds: float = 0.0
    cache_seconds: float = 0.0
    decoded: int = 0  # files that went through the decoder this run
    elapsed: float = 0.0
    interrupted: bool = False
    device: str = ""
    coverage: str = ""

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in SCAN_STATUSES}
        for r in self.rows:
            out[r.status] += 1
        return out


class Scanner:
    """``model``'s weights are loaded only if some track has to be heard, so a re-scan of an
    unchanged library never pays for them."""

    def __init__(self, model: LazyModel, cache: Cache, options: ScanOptions,
                 on_row: Callable[[Row], None] | None = None):
        self.model, self.cache, self.opt = model, cache, options
        self.options_key = options.key()
        self.vocab = options.vocab or Vocabulary.of_model(model.labels, model.metadata)
        self.on_row = on_row or (lambda row: None)
        self.result = ScanResult(device="none (nothing to decode)",
                                 coverage=options.coverage.mode)

    def run(self, paths: Sequence[Path],
            on_found: Callable[[int], None] | None = None) -> ScanResult:
        t_start = time.perf_counter()
        res = self.result
        found = find_audio(paths)
        res.skipped = [(str(p), why) for p, why in found.skipped]
        if on_found:
            on_found(len(found.files) + len(found.errors))
        for p, why in found.errors:
            self._emit(Row(str(p), Status.ERROR, error=why))
        try:
            todo = self._reuse_cached(found.files)
            res.decoded = len(todo)
            if not todo:
                return res
            model = self.model.load()
            res.device = model.device.type
            coverage = self.opt.coverage.resolved(model.device.type)
            res.coverage = coverage.mode
            predictor = Predictor(model, coverage, self.opt.batch_size, self.opt.workers)
            res.timings = predictor.timings
            results = predictor.predict([p for p, _, _ in todo])
            try:
                for result in results:
                    path, st, fp = todo[result.key]
                    if result.error is not None:
                        row = Row(str(path), Status.ERROR, error=result.error)
                        # a file ffmpeg cannot decode is not tried again until it changes;
                        # one we could not read (permissions, I/O) is, next run
                        self._remember(path, st, fp, None, row, retry=result.transient)
                        self._emit(row)
                        continue
                    self._finish(path, st, fp, result.prediction)
            finally:
                results.close()  # stops the decoders and their ffmpeg processes at once
        except KeyboardInterrupt:
            res.interrupted = True
        finally:
            t0 = time.perf_counter()
            self.cache.flush()
            res.cache_seconds += time.perf_counter() - t0
            res.elapsed = time.perf_counter() - t_start
        return res

    def _reuse_cached(self, files: list[Path]) -> list[tuple[Path, os.stat_result, str | None]]:
        """Settle what the cache already knows; return (path, stat, fingerprint) to decode."""
        t0 = time.perf_counter()
        known = self.cache.all_tracks()
        key, model_id = self.options_key, self.model.model_id
        todo = []
        for path in files:
            try:
                st = path.stat()
            except OSError as e:
                self._emit(Row(str(path), Status.ERROR,
                               error=f"cannot read file: {e.strerror or e}"))
                continue
            row = known.get(str(path))
            unchanged = (row is not None and row.size == st.st_size
                         and row.mtime_ns == st.st_mtime_ns and row.model_id == model_id)
            if unchanged and row.probabilities is None and row.status == Status.ERROR:
                # it could not be decoded last time and has not changed: don't try again
                self._emit(Row(str(path), Status.ERROR, error=row.error))
                continue
            if unchanged and row.probabilities:
                if row.options == key and (row.status in SETTLED or (
                        row.status == Status.WOULD_TAG and self.opt.dry_run)):
                    # nothing changed, not even the options: the last verdict stands
                    status = Status.WOULD_TAG if row.status == Status.WOULD_TAG else Status.CACHED
                    merged = self.vocab.merge(Prediction.from_dict(row.probabilities))
                    self._emit(Row(str(path), status, row.genres, merged, row.previous,
                                   written=row.genres if status == Status.WOULD_TAG else None,
                                   confidence=round(max(merged.values(), default=0.0), 4)))
                    continue
                self._finish(path, st, row.fingerprint, Prediction.from_dict(row.probabilities))
                continue
            try:
                fp = fingerprint(path, st.st_size) if st.st_size else None
            except OSError as e:
                self._emit(Row(str(path), Status.ERROR,
                               error=f"cannot read file: {e.strerror or e}"))
                continue
            moved = self.cache.by_fingerprint(fp, model_id) if fp else None
            if moved is not None:  # same content, new place: no need to hear it again
                self.cache.moved(moved.path, str(path))
                self._finish(path, st, fp, Prediction.from_dict(moved.probabilities))
                continue
            todo.append((path, st, fp))
        self.result.cache_seconds += time.perf_counter() - t0
        return todo

    def _finish(self, path: Path, st: os.stat_result, fp: str | None,
                prediction: Prediction) -> None:
        """Choose, decide and (unless dry) write the genre of one heard track."""
        t0 = time.perf_counter()
        choice = choose(prediction, self.vocab, self.opt.top_k, self.opt.min_confidence,
                        self.opt.parents)
        row = Row(str(path), Status.UNSURE, choice.genres, choice.probabilities,
                  confidence=round(choice.confidence, 4))
        try:
            state = tags.read_state(path)
            row.previous = tags.display(state)
            new = None if choice.unsure else tags.decide(row.previous, choice.genres,
                                                          self.opt.policy)
            if choice.unsure:
                row.status = Status.UNSURE
            elif new is None:
                row.status = Status.KEPT
            elif self.opt.dry_run:
                row.status, row.written = Status.WOULD_TAG, new
            else:
                self._write(path, state, new)
                row.status, row.written = Status.TAGGED, new
                st = path.stat()  # the write changed size and mtime; remember the new ones
                fp = fingerprint(path, st.st_size)
        except tags.TagError as e:
            row.status, row.error = Status.ERROR, str(e)
        except OSError as e:
            row.status, row.error = Status.ERROR, f"{e.strerror or e}"
        self.result.tag_seconds += time.perf_counter() - t0
        self._remember(path, st, fp, prediction, row)  # remembered first: Ctrl-C may come in emit
        self._emit(row)

    def _write(self, path: Path, state: tags.GenreState, new: list[str]) -> None:
        hid = self.cache.begin_write(str(path), self.model.model_id, state.to_dict(), new)
        try:
            tags.write_state(path, tags.GenreState(state.kind, tuple(new)))
        except BaseException:
            self.cache.cancel_write(hid)
            raise

    def _remember(self, path: Path, st: os.stat_result, fp: str | None,
                  prediction: Prediction | None, row: Row, retry: bool = False) -> None:
        t0 = time.perf_counter()
        self.cache.put(TrackRow(
            path=str(path), size=st.st_size, mtime_ns=-1 if retry else st.st_mtime_ns,
            fingerprint=fp,
            model_id=self.model.model_id,
            probabilities=prediction.as_dict() if prediction is not None else None,
            genres=row.written if row.written is not None else row.genres,
            previous=row.previous, status=row.status, error=row.error, options=self.options_key))
        self.result.cache_seconds += time.perf_counter() - t0

    def _emit(self, row: Row) -> None:
        self.result.rows.append(row)
        self.on_row(row)
