"""``genretag scan``: a thin loop over a track's way from path to tag.

1. ``library.discover.find_audio`` lists the audio files under the given folders. Writes a crash
   interrupted are settled (``undo.settle_pending``), and the temporary files it left are
   removed (on a real run).
2. The cache says which files are unchanged since the last run (same size, mtime and
   model): their predictions, genres and album tags come from it, and they are not opened.
   A file the cache does not know by path is fingerprinted, and a moved or renamed file is
   recognised by its fingerprint; a file whose tags another program edited, by the
   fingerprint of its audio alone (its tags are read again, its audio is not).
3. The rest are heard: ``hearing.source.TrackSource`` opens each as windows (stage 1), and
   ``hearing.local.Predictor`` batches them through the model into a ``Prediction`` (stage 2);
   ``deciding.decider.Decider.read`` reads what its tags hold.
4. ``deciding.albums.group`` finds the albums among all the tracks, and each album's pooled
   prediction is what its tracks are decided with (outliers keep their own).
5. ``deciding.decider.Decider.decide`` turns each prediction into a verdict and a report
   :class:`Row`, writes the genre unless this is a dry run, and fills the cache (stage 3).
   Every file ends as one row, whatever happened to it.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from genretag.deciding import albums
from genretag.deciding.decider import Decider, Found, Heard, Row, ScanOptions
from genretag.deciding.genres import Choice, Vocabulary
from genretag.hearing.base import hearer
from genretag.hearing.local import Timings
from genretag.hearing.prediction import Prediction
from genretag.library.discover import find_audio
from genretag.library.safewrite import remove_leftover
from genretag.states import SCAN_STATUSES, GroupBy, Source, Status
from genretag.store.cache import Cache, CacheError, Statistics
from genretag.tags.fingerprint import audio as fingerprint_audio
from genretag.tags.fingerprint import content as fingerprint
from genretag.undo import settle_pending

if TYPE_CHECKING:
    from genretag.models.loader import LazyModel

__all__ = ["Row", "ScanOptions", "ScanResult", "Scanner"]


@dataclass
class ScanResult:
    rows: list[Row] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    albums: dict[str, list[str]] = field(default_factory=dict)  # title -> its verdict
    timings: Timings = field(default_factory=Timings)
    tag_seconds: float = 0.0
    cache_seconds: float = 0.0
    decoded: int = 0  # files that went through the decoder this run (heard, or failed)
    elapsed: float = 0.0
    interrupted: bool = False
    undecided: Counter = field(default_factory=Counter)  # interrupted: heard, not decided
    cache_error: str | None = None  # the cache failed: the scan stopped writing files
    leftovers: int = 0  # temporary files of crashed writes removed (dry run: found)
    device: str = ""
    coverage: str = ""
    decoded_on: Counter = field(default_factory=Counter)  # Ray node -> tracks it decoded
    heard_on: Counter = field(default_factory=Counter)  # Ray node -> tracks it heard

    @property
    def tracks(self) -> int:
        """The tracks this run saw: rows, and those heard but not decided."""
        return len(self.rows) + sum(self.undecided.values())

    def counts(self) -> dict[Status, int]:
        out = dict.fromkeys(SCAN_STATUSES, 0)
        for r in self.rows:
            out[r.status] += 1
        return out


def hard_links(n: int) -> str:
    return (
        f"has {n} hard links: not tagged, since replacing it would split them (give "
        "each link its own copy to tag it)"
    )


FLUSH_SECONDS = 1.0  # the longest a heard track waits in memory for the cache file


class Scanner:
    """``model``'s weights are loaded only if some track has to be heard, so a re-scan of an
    unchanged library never pays for them."""

    def __init__(
        self,
        model: LazyModel,
        cache: Cache,
        options: ScanOptions,
        on_progress: Callable[[], None] | None = None,
    ):
        self.model, self.cache, self.opt = model, cache, options
        self.vocab = options.vocab or Vocabulary.of_model(model.metadata)
        run = f"{time.time():.6f}-{os.getpid()}"  # this scan's writes, for undo --last
        self.decider = Decider(cache, options, self.vocab, model.model_id, run)
        self.on_progress = on_progress or (lambda: None)
        self.result = ScanResult(device="none (nothing to decode)", coverage=options.coverage.mode)
        self.heard: list[Heard | None] = []

    def run(
        self, paths: Sequence[Path], on_found: Callable[[int], None] | None = None
    ) -> ScanResult:
        t_start = time.perf_counter()
        res = self.result
        walk = find_audio(paths)
        res.skipped = [(str(p), why) for p, why in walk.skipped]
        res.leftovers = (
            len(walk.leftovers)
            if self.opt.settings.dry_run
            else sum(remove_leftover(p) for p in walk.leftovers)
        )
        if on_found:
            on_found(len(walk.files) + len(walk.errors))
        for p, why in walk.errors:
            self._emit(Row(str(p), Status.ERROR, error=why))
        try:
            settle_pending(self.cache)
            todo = self._reuse_cached(walk.files)
            if todo:
                self._hear(todo)
            self._decide()
        except KeyboardInterrupt:
            res.interrupted = True  # what was heard is cached; nothing more is written
            res.undecided = Counter(h.source for h in self.heard if h is not None)
        except CacheError as e:
            res.cache_error = str(e)
        finally:
            t0 = time.perf_counter()
            try:
                self.cache.flush()
            except CacheError as e:
                res.cache_error = res.cache_error or str(e)
            res.cache_seconds += time.perf_counter() - t0 + self.decider.cache_seconds
            res.tag_seconds = self.decider.tag_seconds
            res.rows.sort(key=lambda r: r.path)
            res.elapsed = time.perf_counter() - t_start
        return res

    def _hear(self, todo: list[Found]) -> None:
        """Stages 1 and 2 for the files the cache cannot answer for."""
        res = self.result
        model = self.model.load()
        res.device = model.device_type
        coverage = self.opt.coverage.resolved(model.device_type)
        res.coverage = coverage.mode
        todo = self._from_statistics(model, coverage.mode.value, todo)
        if not todo:
            return
        # on a Ray cluster (engine "ray") only the hearing runs there; the rest stays here
        predictor = hearer(model, coverage, self.opt.settings, model_path=self.model.path)
        res.timings = predictor.timings
        res.decoded_on, res.heard_on = predictor.decoded_on, predictor.heard_on
        results = predictor.predict([f.path for f in todo])
        flushed = time.monotonic()
        try:
            for result in results:
                # what was heard reaches the cache file within a second, whatever stops the
                # run after (Ctrl-C, a lost driver of a Ray run, a crash)
                if time.monotonic() - flushed > FLUSH_SECONDS:
                    self.cache.flush()
                    flushed = time.monotonic()
                found = todo[result.key]  # the key is the index in the list given
                res.decoded += 1
                if result.silent:
                    self._emit(self.decider.silent(found, result.error or "silent"))
                elif result.error is not None:
                    self._emit(
                        self.decider.failed(found, result.error, result.transient, result.detail)
                    )
                else:
                    if result.statistics is not None:  # what genretag learn learns from
                        self.cache.put_statistics(
                            str(found.path),
                            Statistics(
                                model.backbone_id,
                                coverage.mode.value,
                                found.fingerprint,
                                found.audio,
                                result.statistics,
                            ),
                        )
                    assert result.prediction is not None  # heard, without an error
                    self._take(self.decider.read(found, result.prediction))
        finally:
            results.close()  # stops the decoders and their ffmpeg processes at once

    def _from_statistics(self, model, coverage: str, todo: list[Found]) -> list[Found]:
        """Predict the tracks whose pooled backbone statistics the cache holds (a scan with
        another model of the same backbone heard them at this coverage: the default model
        before an upgrade, or the one ``genretag learn`` started from) from those, without
        decoding them; returns the others. Statistics are kept in float16: probabilities
        from them differ from hearing the track again by well under 1e-3."""
        if not model.pools_statistics or model.feature_columns:
            return todo
        known = self.cache.statistics(model.backbone_id)
        cached: list[tuple[Found, Statistics]] = []
        rest: list[Found] = []
        for found in todo:
            stats = known.get(str(found.path))
            if (
                stats is not None
                and stats.coverage == coverage
                and stats.matches(found.fingerprint, found.audio)
            ):
                cached.append((found, stats))
            else:
                rest.append(found)
        if cached:
            import numpy as np

            probs = model.probabilities_of_statistics(np.stack([s.data for _, s in cached]))
            for (found, _), p in zip(cached, probs):  # predicted now, heard before
                self._take(
                    self.decider.read(found, Prediction(tuple(model.labels), p), Source.CACHE)
                )
        return rest

    def _decide(self) -> None:
        """Albums first, then every heard track's verdict (stage 3). An album is decided
        from all of its tracks that the cache knows, named or not; its verdict is chosen
        from their pooled probabilities, among the genres its tracks rank first."""
        named = len(self.heard)
        tracks = self._all_heard() + self._unnamed_companions()
        members = [albums.Member(h.found.path, h.album, h.duration) for h in tracks]
        album_of: dict[int, albums.Album] = {}
        for album in albums.group(members, self.opt.settings.by, self.opt.album_keys):
            if min(album.members) < named:  # an album of unnamed tracks alone: not ours
                for i in album.members:
                    album_of[i] = album
        verdicts: dict[albums.Album, tuple[Prediction, set[str], str]] = {}
        own: dict[int, Choice] = {}  # a named album track's own choice, made once
        for album in set(album_of.values()):
            of = [tracks[j] for j in album.members]
            pooled = albums.pooled([h.prediction for h in of], [h.duration for h in of])
            choices = {j: self.decider.choose(tracks[j].prediction) for j in album.members}
            firsts = {c.best for c in choices.values()}
            verdicts[album] = pooled, firsts, self.decider.choose(pooled, firsts).best
            own.update((j, c) for j, c in choices.items() if j < named)
        del tracks, members
        for i in range(named):
            # each track is let go once decided: a large library never holds both its
            # heard tracks and its rows in full
            heard, self.heard[i] = self.heard[i], None
            assert heard is not None  # each is decided once
            its = album_of.get(i)
            if its is None:
                self._emit(self.decider.decide(heard))
                continue
            pooled, firsts, top = verdicts[its]
            mine = own.pop(i)
            outlier = albums.is_outlier(mine.probabilities, top, self.opt.settings.min_confidence)
            keeps_own = outlier and not self.opt.settings.album_strict
            row = (
                self.decider.decide(heard, pooled, its.title, True, choice=mine)
                if keeps_own
                else self.decider.decide(heard, pooled, its.title, outlier, firsts)
            )
            row.album_unnamed = sum(j >= named for j in its.members)
            if not keeps_own:
                self.result.albums[its.title] = row.genres
            self._emit(row)
        self.heard = []

    def _all_heard(self) -> list[Heard]:
        """The heard tracks, before any is decided (and let go)."""
        return [h for h in self.heard if h is not None]

    def _unnamed_companions(self) -> list[Heard]:
        """Tracks the cache knows, unchanged since it heard them, that share an album (or,
        by folder, a folder) with a heard track but were not named in this scan: an
        album's verdict must not depend on which of its paths were named."""
        if self.opt.settings.by == GroupBy.TRACK or self.opt.album_keys is not None:
            return []
        heard = self._all_heard()
        model_id, seen = self.model.model_id, {str(h.found.path) for h in heard}
        if self.opt.settings.by == GroupBy.FOLDER:
            lookups = {str(h.found.path.parent) for h in heard}
            paths = (p for folder in lookups for p in self.cache.folder_paths(folder, model_id))
        else:
            lookups = {h.album.album for h in heard if h.album.key() is not None}
            paths = (p for album in lookups for p in self.cache.album_paths(album, model_id))
        out = []
        for path in paths:  # usually all named: a whole library, an album, a folder
            if path in seen:
                continue
            seen.add(path)
            row = self.cache.get(path)
            try:
                st = os.stat(path)
            except OSError:
                continue  # gone, or not reachable now
            if row is None or (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
                continue  # changed since it was heard: what the cache knows is stale
            known = self.decider.from_cache(Found(Path(path), st, row.fingerprint, row.audio), row)
            if known is not None:
                out.append(known)
        return out

    def _reuse_cached(self, files: list[Path]) -> list[Found]:
        """Take what the cache knows; return the files to decode."""
        t0 = time.perf_counter()
        model_id = self.model.model_id
        todo = []
        for path in files:
            try:
                st = path.stat()
            except OSError as e:
                self._emit(
                    Row(str(path), Status.ERROR, error=f"cannot read file: {e.strerror or e}")
                )
                continue
            if st.st_nlink > 1 and self.opt.skip_hard_links:
                self.result.skipped.append((str(path), hard_links(st.st_nlink)))
                continue
            row = self.cache.get(str(path))
            unchanged = (
                row is not None
                and not row.retry
                and row.size == st.st_size
                and row.mtime_ns == st.st_mtime_ns
                and row.model_id == model_id
            )
            if (
                row is not None
                and unchanged
                and row.probabilities is None
                and row.status in (Status.ERROR, Status.UNSURE)
            ):
                # it could not be decoded (or was silent) last time and has not changed:
                # don't try again
                if row.dry_run and not self.opt.settings.dry_run:  # a real run has now seen it
                    row.dry_run = 0
                    self.cache.put(row)
                self._emit(Row(str(path), Status(row.status), error=row.error, source=Source.CACHE))
                continue
            if row is not None and unchanged and row.probabilities:
                found = Found(path, st, row.fingerprint, row.audio)
                self._take(
                    self.decider.from_cache(found, row)
                    or self.decider.read(
                        found, Prediction.from_dict(row.probabilities), Source.CACHE, row
                    )
                )
                continue
            try:
                fp = fingerprint(path, st.st_size) if st.st_size else None
            except OSError as e:
                self._emit(
                    Row(str(path), Status.ERROR, error=f"cannot read file: {e.strerror or e}")
                )
                continue
            audio = fingerprint_audio(path)
            found = Found(path, st, fp, audio)
            if (
                row is not None
                and row.model_id == model_id
                and row.probabilities
                and audio is not None
                and row.audio == audio
            ):
                # another program edited its tags: read them again, not the audio
                self._take(
                    self.decider.read(
                        found, Prediction.from_dict(row.probabilities), Source.CACHE, row
                    )
                )
                continue
            moved = self.cache.by_fingerprint(fp, model_id) if fp else None
            if moved is not None:  # same content, new place: no need to hear it again
                assert moved.probabilities is not None  # by_fingerprint finds heard rows
                self.cache.moved(moved.path, str(path))
                self._take(
                    self.decider.read(
                        found, Prediction.from_dict(moved.probabilities), Source.CACHE
                    )
                )
                continue
            todo.append(found)
        self.result.cache_seconds += time.perf_counter() - t0
        return todo

    def _take(self, heard: Heard | Row) -> None:
        """A heard track waits for its verdict; an error row is final at once."""
        if isinstance(heard, Row):
            self._emit(heard)
        else:
            self.heard.append(heard)
            self.on_progress()

    def _emit(self, row: Row) -> None:
        if row.status == Status.ERROR:
            self.on_progress()
        self.result.rows.append(row)
