"""``genretag scan``: a thin loop over a track's way from path to tag.

1. ``discover.find_audio`` lists the audio files under the given folders. Writes a crash
   interrupted are settled (``undo.settle_pending``), and the temporary files it left are
   removed (on a real run).
2. The cache says which are unchanged since the last run (same size, mtime and model): their
   predictions are reused and they are not decoded. A file the cache does not know by path
   is fingerprinted, and a moved or renamed file is recognised by its fingerprint.
3. The rest are heard: ``source.TrackSource`` opens each as windows (stage 1), and
   ``predictor.Predictor`` batches them through the model into a ``Prediction`` (stage 2).
4. ``tagging.Tagger`` turns each prediction into a row, writes the genre unless this is a
   dry run, and fills the cache (stage 3).
5. Every file ends as one :class:`Row` of the report, whatever happened to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import Cache, CacheError, fingerprint
from .discover import find_audio
from .genres import Vocabulary
from .prediction import Prediction
from .predictor import Predictor, Timings
from .states import SCAN_STATUSES, SETTLED, Status
from .tagging import Found, Row, ScanOptions, Tagger
from .tags import remove_leftover
from .undo import settle_pending

if TYPE_CHECKING:
    from .loader import LazyModel

__all__ = ["Row", "ScanOptions", "ScanResult", "Scanner"]


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
    cache_error: str | None = None  # the cache failed: the scan stopped writing files
    leftovers: int = 0  # temporary files of crashed writes removed (dry run: found)
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
        self.vocab = options.vocab or Vocabulary.of_model(model.labels, model.metadata)
        self.tagger = Tagger(cache, options, self.vocab, model.model_id)
        self.on_row = on_row or (lambda row: None)
        self.result = ScanResult(device="none (nothing to decode)",
                                 coverage=options.coverage.mode)

    def run(self, paths: Sequence[Path],
            on_found: Callable[[int], None] | None = None) -> ScanResult:
        t_start = time.perf_counter()
        res = self.result
        found = find_audio(paths)
        res.skipped = [(str(p), why) for p, why in found.skipped]
        res.leftovers = (len(found.leftovers) if self.opt.dry_run
                         else sum(remove_leftover(p) for p in found.leftovers))
        if on_found:
            on_found(len(found.files) + len(found.errors))
        for p, why in found.errors:
            self._emit(Row(str(p), Status.ERROR, error=why))
        try:
            settle_pending(self.cache)
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
            results = predictor.predict([f.path for f in todo])
            try:
                for result in results:
                    found = todo[result.key]
                    if result.error is not None:
                        self._emit(self.tagger.failed(found, result.error, result.transient))
                    else:
                        self._emit(self.tagger.tag(found, result.prediction))
            finally:
                results.close()  # stops the decoders and their ffmpeg processes at once
        except KeyboardInterrupt:
            res.interrupted = True
        except CacheError as e:
            res.cache_error = str(e)
        finally:
            t0 = time.perf_counter()
            try:
                self.cache.flush()
            except CacheError as e:
                res.cache_error = res.cache_error or str(e)
            res.cache_seconds += time.perf_counter() - t0 + self.tagger.cache_seconds
            res.tag_seconds = self.tagger.tag_seconds
            res.elapsed = time.perf_counter() - t_start
        return res

    def _reuse_cached(self, files: list[Path]) -> list[Found]:
        """Settle what the cache already knows; return the files to decode."""
        t0 = time.perf_counter()
        key, model_id = self.tagger.options_key, self.model.model_id
        todo = []
        for path in files:
            try:
                st = path.stat()
            except OSError as e:
                self._emit(Row(str(path), Status.ERROR,
                               error=f"cannot read file: {e.strerror or e}"))
                continue
            row = self.cache.get(str(path))
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
                self._emit(self.tagger.tag(Found(path, st, row.fingerprint),
                                           Prediction.from_dict(row.probabilities)))
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
                self._emit(self.tagger.tag(Found(path, st, fp),
                                           Prediction.from_dict(moved.probabilities)))
                continue
            todo.append(Found(path, st, fp))
        self.result.cache_seconds += time.perf_counter() - t0
        return todo

    def _emit(self, row: Row) -> None:
        self.result.rows.append(row)
        self.on_row(row)
