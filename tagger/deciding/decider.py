"""Stage 3 of a track's way: a :class:`Prediction` becomes a verdict, a report :class:`Row`,
and (unless this is a dry run) a genre written safely into the file.

A scan first hears every track and *reads* what its file holds (``Decider.read``: genre,
album, length, beside the prediction) or takes all that from the cache for an unchanged
file, and then *decides* each one (``Decider.decide``), with the album's pooled prediction where
the track belongs to one (``albums``). Deciding never opens an unchanged file unless it
has to write it: the genres a file holds are in the cache.

``deciding.genres.choose`` picks genres from the prediction in the user's vocabulary; a
genre the file holds that the audio contradicts makes the row a ``conflict``;
``deciding.policy.decide`` applies the policy for existing genres (fill / overwrite /
merge); ``tags.write_state`` writes them, after the cache has recorded what undo needs.
Where a person decided about the file in ``genretag review``, their decision replaces all
of that (``Decider.follow``): exactly its genres are written, and never overridden.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path

from genretag import tags
from genretag.deciding.genres import Choice, Vocabulary, choose, contradicted
from genretag.deciding.policy import decide, own_genres
from genretag.hearing.prediction import Prediction
from genretag.hearing.windows import Coverage
from genretag.settings import Settings
from genretag.states import Decided, Policy, Source, Status
from genretag.store.cache import Cache, Decision, TrackRow
from genretag.tags.base import AlbumInfo
from genretag.tags.fingerprint import content as fingerprint


@dataclass(frozen=True)
class ScanOptions:
    """A scan's :class:`Settings`, with what the run itself brings."""

    settings: Settings = field(default_factory=Settings)
    vocab: Vocabulary | None = None
    # albums as another program knows them (beets' album ids), by path: with ``by`` album,
    # they replace what the tags say
    album_keys: dict[str, object] | None = None
    # a file with several hard links is skipped: a write replaces the file, which would
    # split the links (beets writes in place, through its own plugin)
    skip_hard_links: bool = True

    @property
    def coverage(self) -> Coverage:
        return Coverage(self.settings.coverage, self.settings.windows)

    def key(self) -> str:
        """What decides the outcome besides the audio and model (kept with each row)."""
        s = self.settings
        names = sorted((self.vocab.names if self.vocab else {}).items())
        blob = json.dumps(
            [
                s.policy,
                s.top_k,
                s.min_confidence,
                names,
                s.coverage,
                s.windows,
                s.by,
                s.album_strict,
            ]
            + ([True] if s.parents else [])
        )
        return hashlib.sha1(blob.encode()).hexdigest()[:12]


@dataclass
class Row:
    """One file's line in the report."""

    path: str
    status: Status
    genres: list[str] = field(default_factory=list)  # what the model proposes
    probabilities: dict[str, float] = field(default_factory=dict)  # its own audio's
    previous: list[str] = field(default_factory=list)  # the file's genre before this run
    written: list[str] | None = None  # the file's genre after this run, when it changed
    confidence: float | None = None
    error: str | None = None
    # the prediction: heard in this run, or from the cache; None: there is none (an error)
    source: Source | None = None
    album: str | None = None  # the album it was decided with
    # that album's pooled probabilities, which the verdict came from (None: decided alone)
    album_probabilities: dict[str, float] | None = None
    outlier: bool = False  # in an album, but its own audio says otherwise
    album_unnamed: int = 0  # tracks of its album that were not named, heard from the cache
    best: str | None = None  # the best genre, also when unsure (its best guess)
    detail: str = ""  # what the decoder said about an error (--verbose, reports)
    # a person's decision in genretag review, which the verdict follows (stale: not applied)
    decision: Decided | None = None
    proposed: list[str] | None = None  # where a decision replaced it: the model's proposal


@dataclass
class Found:
    """A file as the scan found it: its path, stat, and the fingerprints of its content
    and of its audio alone (``fingerprint``)."""

    path: Path
    stat: os.stat_result
    fingerprint: str | None
    audio: str | None = None


@dataclass
class Heard:
    """A track ready to be decided: its prediction, and what its file holds now."""

    found: Found
    prediction: Prediction
    current: list[str]  # the genres in the file now
    album: AlbumInfo
    duration: float
    source: Source
    state: tags.GenreState | None = None  # read in this run; None: known from the cache
    cached: tuple | None = None  # ``row_key`` of the cache's row: not rewritten if the same


class Decider:
    """Verdicts, tag writes and cache entries for one scan's options and model."""

    def __init__(
        self,
        cache: Cache,
        options: ScanOptions,
        vocab: Vocabulary,
        model_id: str,
        run: str | None = None,
    ):
        self.cache, self.opt, self.vocab, self.model_id = cache, options, vocab, model_id
        self.run = run  # this scan's id in the undo history (undo --last)
        self.options_key = options.key()
        self._written: set[str] | None = None  # paths with writes in the undo history
        self._decisions: dict[str, Decision] | None = None  # genretag review's, by path
        self.tag_seconds = 0.0
        self.cache_seconds = 0.0

    # -- reading what a heard file holds ---------------------------------------------------

    def read(
        self,
        found: Found,
        prediction: Prediction,
        source: Source = Source.HEARD,
        cached: TrackRow | None = None,
    ) -> Heard | Row:
        """Read what the file holds (genre, album, length) beside its prediction, and keep
        the prediction in the cache at once (an interrupted scan resumes without decoding).
        A file whose tags cannot be read is an error row."""
        t0 = time.perf_counter()
        try:
            read = tags.read_track(found.path)
        except (tags.TagError, OSError) as e:
            message = str(e) if isinstance(e, tags.TagError) else f"{e.strerror or e}"
            row = Row(str(found.path), Status.ERROR, error=message, source=source)
            self.remember(found, prediction, row)
            return row
        finally:
            self.tag_seconds += time.perf_counter() - t0
        heard = Heard(
            found,
            prediction,
            tags.display(read.state),
            read.album,
            read.duration,
            source,
            read.state,
            row_key(cached) if cached is not None else None,
        )
        if source == Source.HEARD:
            self.remember(
                found, prediction, Row(str(found.path), Status.HEARD, previous=heard.current), heard
            )
        return heard

    def from_cache(self, found: Found, row: TrackRow) -> Heard | None:
        """An unchanged file, all from its cache row; None when the row predates what a
        decision needs (the file's genre and album: read once, then kept)."""
        if row.current is None or row.album is None or row.probabilities is None:
            return None
        info = AlbumInfo(row.album, row.album_artist or "", row.artist or "", bool(row.compilation))
        return Heard(
            found,
            Prediction.from_dict(row.probabilities),
            list(row.current),
            info,
            row.duration or 0.0,
            Source.CACHE,
            cached=row_key(row),
        )

    def failed(self, found: Found, error: str, retry: bool, detail: str = "") -> Row:
        """A track that could not be heard: its error row, remembered. A file ffmpeg cannot
        decode is not tried again until it changes; with ``retry`` (permissions, I/O) it
        is, next run."""
        row = Row(str(found.path), Status.ERROR, error=error, detail=detail)
        self.remember(found, None, row, retry=retry)
        return row

    def silent(self, found: Found, reason: str) -> Row:
        """A track that is digital silence where it was heard: unsure, with the reason, and
        remembered (not heard again until it changes)."""
        row = Row(str(found.path), Status.UNSURE, error=reason)
        self.remember(found, None, row)
        return row

    # -- deciding --------------------------------------------------------------------------

    def choose(self, prediction: Prediction, among: set[str] | None = None) -> Choice:
        """Genres from ``prediction`` by this scan's options (``deciding.genres.choose``)."""
        s = self.opt.settings
        return choose(prediction, self.vocab, s.top_k, s.min_confidence, s.parents, among)

    def decide(
        self,
        heard: Heard,
        pooled: Prediction | None = None,
        album: str | None = None,
        outlier: bool = False,
        among: set[str] | None = None,
        choice: Choice | None = None,
    ) -> Row:
        """The verdict on one track: from its album's ``pooled`` prediction (``among``: the
        genres its album's tracks rank first), else from its own, or from a ``choice``
        already made (an outlier's own); write it unless this is a dry run; remember it.
        The row holds the track's own probabilities, and its album's apart."""
        t0 = time.perf_counter()
        choice = choice or self.choose(pooled or heard.prediction, among)
        path = heard.found.path
        own = (
            choice.probabilities
            if pooled is None and choice.probabilities
            else self.vocab.merge(heard.prediction)
        )
        row = Row(
            str(path),
            Status.UNSURE,
            choice.genres,
            own,
            list(heard.current),
            confidence=round(choice.confidence, 4),
            source=heard.source,
            album=album,
            outlier=outlier,
            best=choice.best or None,
            album_probabilities=self.vocab.merge(pooled) if pooled else None,
        )
        decision = self._decision(str(path))
        try:
            if decision is not None:
                self.follow(heard, row, decision)
            else:
                self._propose(heard, row, choice)
        except tags.TagError as e:
            row.status, row.error = Status.ERROR, str(e)
        except OSError as e:
            row.status, row.error = Status.ERROR, f"{e.strerror or e}"
        self.tag_seconds += time.perf_counter() - t0
        self.remember(heard.found, heard.prediction, row, heard)
        return row

    def _propose(self, heard: Heard, row: Row, choice: Choice) -> None:
        """The verdict the model's ``choice`` gives under the policy: unsure, a conflict,
        kept, or written (a dry run: would be). Raises what a write raises."""
        mine = self._mine(heard)
        users = [g for g in heard.current if g.casefold() not in mine]
        new = (
            None
            if choice.unsure
            else decide(heard.current, choice.genres, self.opt.settings.policy, mine)
        )
        if choice.unsure:
            row.status = Status.UNSURE
        elif self.opt.settings.policy != Policy.OVERWRITE and contradicted(
            users, choice, self.vocab
        ):
            row.status = Status.CONFLICT  # the user's genre is left alone, and flagged
        elif new is None:
            row.status = Status.KEPT
        elif self.opt.settings.dry_run:
            row.status, row.written = Status.WOULD_TAG, new
        else:
            self._write(heard, new)
            row.status, row.written = Status.TAGGED, new

    def _decision(self, path: str) -> Decision | None:
        if self._decisions is None:
            self._decisions = self.cache.decisions()  # one query per scan
        return self._decisions.get(path)

    def follow(self, heard: Heard, row: Row, decision: Decision) -> None:
        """The verdict a person's decision gives: its genres written exactly (none, and the
        file left as it is, for a rejection), whatever the policy and the model say. A
        decision about a file that changed since it was heard is stale: nothing is
        written, and the row says why. Raises what a write raises."""
        found, st = heard.found, heard.found.stat
        row.proposed, row.decision = row.genres, decision.action
        if not decision.holds(st.st_size, st.st_mtime_ns, found.fingerprint):
            row.status, row.genres, row.decision = Status.KEPT, list(heard.current), Decided.STALE
            row.error = (
                f"decided in review on {decision.when}, but the file changed since: "
                "not applied (review it again)"
            )
            return
        wanted = list(heard.current) if decision.action == Decided.REJECTED else decision.genres
        row.genres = list(wanted)
        if [g.casefold() for g in wanted] == [g.casefold() for g in heard.current]:
            row.status = Status.KEPT
        elif self.opt.settings.dry_run:
            row.status, row.written = Status.WOULD_TAG, list(wanted)
        else:
            self._write(heard, list(wanted))
            row.status, row.written = Status.TAGGED, list(wanted)
            st = heard.found.stat  # the file as the write left it: the decision holds for it
            self.cache.decision_applied(
                str(found.path), st.st_size, st.st_mtime_ns, heard.found.fingerprint
            )

    def _mine(self, heard: Heard) -> frozenset[str]:
        """The genres in the file that genretag added itself (case-folded): they follow the
        new verdict (an album's verdict changed because a track was added); the others are
        the user's (see ``deciding.policy.decide``). The history is asked only about files it has
        writes for, known from one query per scan: a re-scan of a tagged library decides
        every file."""
        path = str(heard.found.path)
        if self._written is None:
            self._written = self.cache.written_paths()
        if not heard.current or path not in self._written:
            return frozenset()
        return genres_written(self.cache, path, heard.current)

    def _write(self, heard: Heard, new: list[str]) -> None:
        """History row first (pending), then the write, then the row confirmed. A
        ``CacheError`` from the history stops the scan: no file is written whose history
        could not be stored."""
        path = heard.found.path
        state = heard.state or tags.read_state(path)
        if heard.state is None and tags.display(state) != heard.current:
            raise tags.TagError(tags.CHANGED)  # changed without its size or mtime changing
        hid = self.cache.begin_write(str(path), self.model_id, state.to_dict(), new, self.run)
        try:
            tags.write_state(path, state.for_writing(new), expect=state)
        except BaseException:
            self.cache.cancel_write(hid)
            raise
        self.cache.confirm_write(hid)
        st = path.stat()  # the write changed size and mtime; remember the new ones
        heard.found = Found(path, st, fingerprint(path, st.st_size), heard.found.audio)

    # -- remembering -----------------------------------------------------------------------

    def remember(
        self,
        found: Found,
        prediction: Prediction | None,
        row: Row,
        heard: Heard | None = None,
        retry: bool = False,
    ) -> None:
        t0 = time.perf_counter()
        st = found.stat
        current = (
            row.written
            if row.written is not None and row.status == Status.TAGGED
            else (heard.current if heard is not None else None)
        )
        info = heard.album if heard is not None else None
        new = TrackRow(
            path=str(found.path),
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            retry=int(retry),
            fingerprint=found.fingerprint,
            audio=found.audio,
            model_id=self.model_id,
            probabilities=None,
            genres=row.written if row.written is not None else row.genres,
            previous=row.previous,
            status=row.status,
            error=row.error,
            options=self.options_key,
            current=current,
            album=info.album if info else None,
            album_artist=info.album_artist if info else None,
            artist=info.artist if info else None,
            compilation=int(info.compilation) if info else 0,
            duration=heard.duration if heard is not None else None,
            dry_run=int(self.opt.settings.dry_run),
        )
        if heard is None or heard.cached != row_key(new):  # an unchanged re-scan writes none
            new.probabilities = prediction.as_dict() if prediction is not None else None
            self.cache.put(new)
        self.cache_seconds += time.perf_counter() - t0


def genres_written(cache: Cache, path: str, current: list[str]) -> frozenset[str]:
    """The genres of ``current`` (what the file at ``path`` holds) that genretag added
    itself, case-folded, by its undo history (``deciding.policy.own_genres``)."""
    writes = [
        (tags.display(tags.GenreState.from_dict(w.before)), w.after) for w in cache.history(path)
    ]
    return own_genres(writes, current)


ROW_KEY = (
    "size",
    "mtime_ns",
    "status",
    "genres",
    "previous",
    "error",
    "options",
    "current",
    "album",
    "album_artist",
    "artist",
    "compilation",
    "model_id",
    "dry_run",
    "audio",
    "retry",
)


_ROW_VALUES = attrgetter(*ROW_KEY)


def row_key(row: TrackRow) -> tuple:
    """What, in a cache row, a new verdict may change (the probabilities come from it)."""
    return tuple(tuple(v) if type(v) is list else v for v in _ROW_VALUES(row))
