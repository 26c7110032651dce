"""Stage 3 of a track's way: a :class:`Prediction` and the user's options become a report
:class:`Row`; the genre is written (unless this is a dry run), safely, after the cache has
recorded what was there before, so ``genretag undo`` can put it back; and the cache
remembers the track.

``genres.choose`` picks genres from the prediction in the user's vocabulary;
``tags.decide`` applies the policy for existing genres (fill / overwrite / merge);
``tags.write_state`` writes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import tags
from .cache import Cache, TrackRow, fingerprint
from .genres import Vocabulary, choose
from .prediction import Prediction
from .segments import Coverage
from .states import Policy, Status


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
class Found:
    """A file as the scan found it: its path, stat and content fingerprint."""

    path: Path
    stat: os.stat_result
    fingerprint: str | None


class Tagger:
    """Rows, tag writes and cache entries for one scan's options and model."""

    def __init__(self, cache: Cache, options: ScanOptions, vocab: Vocabulary, model_id: str):
        self.cache, self.opt, self.vocab, self.model_id = cache, options, vocab, model_id
        self.options_key = options.key()
        self.tag_seconds = 0.0
        self.cache_seconds = 0.0

    def tag(self, found: Found, prediction: Prediction) -> Row:
        """Choose, decide and (unless dry) write the genre of one heard track; remember it."""
        t0 = time.perf_counter()
        path, st, fp = found.path, found.stat, found.fingerprint
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
        self.tag_seconds += time.perf_counter() - t0
        self.remember(Found(path, st, fp), prediction, row)
        return row

    def failed(self, found: Found, error: str, retry: bool) -> Row:
        """A track that could not be heard: its error row, remembered. A file ffmpeg cannot
        decode is not tried again until it changes; with ``retry`` (permissions, I/O) it
        is, next run."""
        row = Row(str(found.path), Status.ERROR, error=error)
        self.remember(found, None, row, retry)
        return row

    def _write(self, path: Path, state: tags.GenreState, new: list[str]) -> None:
        """History row first (pending), then the write, then the row confirmed. A
        ``CacheError`` from the history stops the scan: no file is written whose history
        could not be stored."""
        hid = self.cache.begin_write(str(path), self.model_id, state.to_dict(), new)
        try:
            tags.write_state(path, tags.GenreState(state.kind, tuple(new)), expect=state)
        except BaseException:
            self.cache.cancel_write(hid)
            raise
        self.cache.confirm_write(hid)

    def remember(self, found: Found, prediction: Prediction | None, row: Row,
                 retry: bool = False) -> None:
        t0 = time.perf_counter()
        st = found.stat
        self.cache.put(TrackRow(
            path=str(found.path), size=st.st_size, mtime_ns=-1 if retry else st.st_mtime_ns,
            fingerprint=found.fingerprint, model_id=self.model_id,
            probabilities=prediction.as_dict() if prediction is not None else None,
            genres=row.written if row.written is not None else row.genres,
            previous=row.previous, status=row.status, error=row.error,
            options=self.options_key))
        self.cache_seconds += time.perf_counter() - t0
