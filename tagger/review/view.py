"""What the review page shows and changes, apart from HTTP: every track of a dry run, in
groups (albums, or folders for untagged files), filtered, ordered and paged on the server,
and the decisions a person makes about them (stored in the cache at once, through the
:class:`Session`).

A track's id is its row's id in the cache: the page names tracks by it, never by a path,
and the audio of a track is served only for an id this view holds.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from genretag.library.discover import printable
from genretag.states import Decided, Status
from genretag.store.cache import Decision

if TYPE_CHECKING:
    from genretag.api import Session

GROUPS_PER_PAGE = 20
TRACKS_PER_PAGE = 200  # rows a page shows at most: a larger group goes on over pages
TRACKS_PER_API_PAGE = 200
MAX_GENRES = 8  # genres one decision may give a track
MAX_GENRE_LENGTH = 80
# what is worth a person's time first, most first (the queue)
WORTH = {"conflict": 0, "unsure": 1, "outlier": 2, "suggested": 3}
STATUS_FILTERS = (
    "would-tag",
    "kept",
    "unsure",
    "conflict",
    "outlier",
    "error",
    "decided",
    "undecided",
    "stale",
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ReviewError(Exception):
    """A request the view refuses; the message is one line for the page."""


@dataclass
class Track:
    """One file as the page shows it: what the dry run proposed, what the file holds, and
    the file as it was when heard (a decision is stored against that)."""

    id: int
    path: str
    shown: str  # relative to the folder named, printable
    group: str  # the album's title, else the folder's
    artist: str
    album: str
    status: Status
    proposed: list[str]  # the model's proposal (a decision does not change it)
    current: list[str]  # the genres the file holds now
    confidence: float | None
    best: str | None
    probabilities: dict[str, float]
    album_probabilities: dict[str, float] | None
    outlier: bool
    error: str | None
    size: int
    mtime_ns: int
    fingerprint: str | None
    audio: str | None
    duration: float | None
    suggested: bool = False
    search: str = field(default="", repr=False)  # what the search box looks in, folded

    @property
    def key(self) -> str:
        """The status a person filters by: an outlier apart from its album's verdict."""
        return "outlier" if self.outlier and self.status != Status.ERROR else str(self.status)

    @property
    def decidable(self) -> bool:
        return self.status != Status.ERROR

    def accepted(self) -> list[str]:
        """What accepting the proposal gives: its genres, or an unsure track's best guess."""
        if self.proposed:
            return list(self.proposed)
        return [self.best] if self.best else []

    def worth(self) -> int | None:
        """Its place in the queue (lower first), or None: not worth a look."""
        places = [WORTH[k] for k in (self.key, str(self.status)) if k in WORTH]
        if self.suggested:
            places.append(WORTH["suggested"])
        return min(places) if places else None


@dataclass(frozen=True)
class Filters:
    """What the page asks for: a status, a genre, a confidence below which, an artist, a
    search, the queue (worth your time first) and a page. Unknown values are refused."""

    status: str = ""
    genre: str = ""
    below: float | None = None  # confidence under this
    artist: str = ""
    q: str = ""
    queue: bool = False
    page: int = 1

    @classmethod
    def parse(cls, params: dict[str, str]) -> Filters:
        status = params.get("status", "")
        if status and status not in STATUS_FILTERS:
            raise ReviewError(f"status {status!r}: choose from {', '.join(STATUS_FILTERS)}")
        below = params.get("below") or None
        try:
            page = int(params.get("page") or 1)
            limit = float(below) if below is not None else None
        except ValueError:
            raise ReviewError("page and below must be numbers") from None
        if page < 1 or (limit is not None and not 0 <= limit <= 1):
            raise ReviewError("page counts from 1; below is between 0 and 1")
        return cls(
            status,
            params.get("genre", "")[:200],
            limit,
            params.get("artist", "")[:200],
            params.get("q", "")[:200],
            params.get("queue") in ("1", "on", "true"),
            page,
        )

    def query(self, **changed) -> str:
        """These filters as a query string, with ``changed`` (for links)."""
        from urllib.parse import urlencode

        values = dataclasses.asdict(dataclasses.replace(self, **changed))
        kept = {
            k: ("1" if v is True else v)
            for k, v in values.items()
            if v not in ("", None, False) and not (k == "page" and v == 1)
        }
        return urlencode(kept)


@dataclass
class Group:
    """An album (or folder) as a page lists it: its tracks that the filters let through,
    and how many it has in all."""

    title: str
    artist: str
    tracks: list[Track]
    total: int
    part: int = 0  # 1, 2...: the parts after the first of a group larger than a page

    @property
    def first(self) -> Track:
        return self.tracks[0]

    @property
    def proposed(self) -> list[str]:
        """The album's verdict: the proposal most of its tracks share."""
        counts: dict[tuple[str, ...], int] = {}
        for t in self.tracks:
            key: tuple[str, ...] = tuple(t.proposed)
            counts[key] = counts.get(key, 0) + 1
        if not counts:
            return []
        best, _ = max(counts.items(), key=lambda kv: (kv[1], bool(kv[0])))
        return list(best)

    @property
    def current(self) -> list[str]:
        seen = dict.fromkeys(g for t in self.tracks for g in t.current)
        return list(seen)

    @property
    def statuses(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for t in self.tracks:
            counts[t.key] = counts.get(t.key, 0) + 1
        return sorted(counts.items(), key=lambda kv: -kv[1])

    @property
    def confidence(self) -> float | None:
        known = [t.confidence for t in self.tracks if t.confidence is not None]
        return min(known) if known else None


@dataclass
class Listing:
    """One page of groups, and how many groups and tracks the filters let through."""

    groups: list[Group]
    groups_total: int
    tracks_total: int
    page: int
    pages: int


class Review:
    """Every track of a dry run over ``paths``, and the decisions about them."""

    def __init__(self, session: Session, paths: Sequence[Path]):
        self.session, self.paths = session, [Path(p) for p in paths]
        self.tracks: dict[int, Track] = {}
        self.genres: list[str] = sorted(
            {n for n in session.vocab.names.values() if n}, key=str.casefold
        )
        self.errors: list[tuple[str, str]] = []  # files the dry run could not hear
        self.suggested: set[str] = set()  # learn --suggest's tracks (the queue)

    # -- hearing ---------------------------------------------------------------------------

    def hear(
        self,
        on_progress: Callable[[], None] | None = None,
        on_found: Callable[[int], None] | None = None,
        suggested: Iterable[str] = (),
        session: Session | None = None,
    ) -> None:
        """Run the dry run (what is cached is not heard again) and take its rows, through
        ``session`` (default: the page's; another thread needs its own, with its own
        connection to the cache)."""
        from genretag.render.report import shown_path

        session = session or self.session
        result = session.scan(self.paths, on_progress=on_progress, on_found=on_found)
        rows = session.cache.rows_with_ids()
        folders = [p for p in self.paths if p.is_dir()]
        wanted = set(suggested)
        tracks: dict[int, Track] = {}
        self.errors = []
        for r in result.rows:
            known = rows.get(r.path)
            if known is None:  # never reached the cache (a file that cannot be read)
                self.errors.append((printable(r.path), r.error or str(r.status)))
                continue
            rid, row = known
            shown = shown_path(r.path, folders)
            track = Track(
                id=rid,
                path=r.path,
                shown=shown,
                group=r.album or _folder_title(r.path, folders),
                artist=(row.album_artist or row.artist or "").strip(),
                album=row.album or "",
                status=r.status,
                proposed=list((r.proposed or []) if r.decision is not None else r.genres),
                current=list(r.previous),
                confidence=r.confidence,
                best=r.best,
                probabilities=dict(r.probabilities),
                album_probabilities=r.album_probabilities,
                outlier=r.outlier,
                error=r.error if r.status == Status.ERROR else None,
                size=row.size,
                mtime_ns=row.mtime_ns,
                fingerprint=row.fingerprint,
                audio=row.audio,
                duration=row.duration,
                suggested=r.path in wanted or r.path in self.suggested,
            )
            track.search = " ".join(
                [shown, track.artist, track.album, *track.proposed, *track.current]
            ).casefold()
            tracks[rid] = track
        self.tracks = tracks  # one assignment: a request sees the old tracks or the new
        self.suggested |= wanted

    # -- listing ---------------------------------------------------------------------------

    def decisions(self) -> dict[str, Decision]:
        return self.session.decisions()

    def state(self, track: Track, decisions: dict[str, Decision]) -> str:
        """``undecided``, a decision's action, or ``stale``: the file on disk is no longer
        the one decided about (a scan that wrote the decision keeps it holding)."""
        d = decisions.get(track.path)
        if d is None:
            return "undecided"
        try:
            st = os.stat(track.path)
        except OSError:
            return "stale"
        return str(d.action) if d.holds(st.st_size, st.st_mtime_ns, None) else "stale"

    def matching(self, f: Filters, decisions: dict[str, Decision]) -> list[Track]:
        """The tracks the filters let through, in the page's order."""
        genre, artist, q = f.genre.casefold(), f.artist.casefold(), f.q.casefold()
        out = []
        for t in self.tracks.values():
            if f.status:
                state = self.state(t, decisions)
                if f.status == "decided":
                    if state in ("undecided", "stale"):
                        continue
                elif f.status in ("undecided", "stale"):
                    if state != f.status:
                        continue
                elif t.key != f.status and not (f.status == str(t.status) and t.outlier):
                    continue
            if genre and genre not in (g.casefold() for g in (*t.proposed, *t.current)):
                continue
            if f.below is not None and (t.confidence is None or t.confidence >= f.below):
                continue
            if artist and t.artist.casefold() != artist:
                continue
            if q and q not in t.search:
                continue
            if f.queue and (t.worth() is None or self.state(t, decisions) != "undecided"):
                continue
            out.append(t)
        return out

    def listing(self, f: Filters, decisions: dict[str, Decision]) -> Listing:
        """One page of groups: by artist and title, or, in the queue, the groups holding
        what is most worth a look first (then the least confident). A page holds at most
        ``GROUPS_PER_PAGE`` groups and ``TRACKS_PER_PAGE`` tracks; a larger group (a
        folder of a thousand untagged files) goes on over the pages after."""
        found = self.matching(f, decisions)
        by_group: dict[tuple[str, str], list[Track]] = {}
        for t in found:
            by_group.setdefault(self._group_key(t), []).append(t)
        totals = self._group_sizes()
        groups = [
            Group(title, artist, sorted(ts, key=lambda t: t.shown), totals[(title, artist)])
            for (title, artist), ts in by_group.items()
        ]
        if f.queue:
            groups.sort(
                key=lambda g: (
                    min(t.worth() or 0 for t in g.tracks),
                    g.confidence if g.confidence is not None else 1.0,
                    g.title.casefold(),
                )
            )
        else:
            groups.sort(key=lambda g: (g.artist.casefold(), g.title.casefold()))
        pages: list[list[Group]] = [[]]
        rows = 0
        for g in groups:
            for part in _parts(g):
                if pages[-1] and (
                    len(pages[-1]) >= GROUPS_PER_PAGE or rows + len(part.tracks) > TRACKS_PER_PAGE
                ):
                    pages.append([])
                    rows = 0
                pages[-1].append(part)
                rows += len(part.tracks)
        page = min(f.page, len(pages))
        return Listing(pages[page - 1], len(groups), len(found), page, len(pages))

    def group_of(self, track: Track, decisions: dict[str, Decision], f: Filters) -> Group:
        """The group (the part of it) ``track`` is in, as the page shows it under ``f``."""
        key = self._group_key(track)
        mine = [t for t in self.matching(f, decisions) if self._group_key(t) == key] or [track]
        whole = Group(key[0], key[1], sorted(mine, key=lambda t: t.shown), self._group_sizes()[key])
        return next((p for p in _parts(whole) if track in p.tracks), whole)

    def _group_key(self, t: Track) -> tuple[str, str]:
        # an album is its title and album artist (a compilation: its title alone)
        return (t.group, "" if t.album and t.group == t.album and not t.artist else t.artist)

    def _group_sizes(self) -> dict[tuple[str, str], int]:
        sizes: dict[tuple[str, str], int] = {}
        for t in self.tracks.values():
            k = self._group_key(t)
            sizes[k] = sizes.get(k, 0) + 1
        return sizes

    def artists(self) -> list[str]:
        return sorted({t.artist for t in self.tracks.values() if t.artist}, key=str.casefold)

    # -- deciding --------------------------------------------------------------------------

    def track(self, track_id: int) -> Track:
        t = self.tracks.get(track_id)
        if t is None:
            raise ReviewError(f"no track {track_id} in this review")
        return t

    def scope(self, track: Track, scope: str) -> list[Track]:
        """The tracks a decision about ``track`` covers: itself, its album (or folder), or
        every track of its artist."""
        if scope == "track":
            return [track]
        if scope == "album":
            key = self._group_key(track)
            return [t for t in self.tracks.values() if self._group_key(t) == key]
        if scope == "artist":
            if not track.artist:
                raise ReviewError(f"{track.shown}: no artist tag, so no artist to decide for")
            return [
                t for t in self.tracks.values() if t.artist.casefold() == track.artist.casefold()
            ]
        raise ReviewError(f"scope {scope!r}: choose track, album or artist")

    def genres_given(self, given: object) -> list[str]:
        """The genres a person typed or chose, checked, in the vocabulary's spelling where
        it has the name."""
        if not isinstance(given, list) or not all(isinstance(g, str) for g in given):
            raise ReviewError("genres must be a list of names")
        names = {n.casefold(): n for n in self.genres}
        out: list[str] = []
        for g in given:
            g = " ".join(g.split())
            if not g:
                continue
            if len(g) > MAX_GENRE_LENGTH or _CONTROL.search(g):
                raise ReviewError(f"{g[:40]!r}: a genre is at most {MAX_GENRE_LENGTH} characters")
            g = names.get(g.casefold(), g)
            if g.casefold() not in (o.casefold() for o in out):
                out.append(g)
        if not out or len(out) > MAX_GENRES:
            raise ReviewError(f"give between 1 and {MAX_GENRES} genres")
        return out

    def decide(
        self,
        track_id: int,
        action: str,
        scope: str = "track",
        genres: object = None,
        seen: dict[str, float] | None = None,
    ) -> tuple[list[Track], list[tuple[Track, str]]]:
        """Store a decision (``accepted``, ``changed`` with ``genres``, ``rejected``, or
        ``clear`` to take one back) for a track, its album or its artist, in one
        transaction. ``seen``: the decision time of each track as the page showed it (0:
        none); if another tab decided one of them since, nothing is stored. Returns the
        tracks decided and those refused, each with the reason (an error track, a file
        changed or deleted since it was heard)."""
        if action not in ("accepted", "changed", "rejected", "clear"):
            raise ReviewError(f"action {action!r}: choose accepted, changed, rejected or clear")
        track = self.track(track_id)
        targets = self.scope(track, scope)
        decisions = self.decisions()
        for t in targets:
            if seen is None or str(t.id) not in seen:
                continue
            d = decisions.get(t.path)
            if abs((d.time if d else 0.0) - float(seen[str(t.id)])) > 1e-6:
                raise Conflict(f"{t.shown}: decided in another tab meanwhile")
        chosen = self.genres_given(genres) if action == "changed" else None
        done: list[Track] = []
        refused: list[tuple[Track, str]] = []
        now = time.time()
        stored: list[Decision] = []
        for t in targets:
            why = self._cannot(t)
            if why is None and action == "accepted" and not t.accepted():
                why = "genretag proposes nothing for it (change it instead)"
            if why is not None:
                refused.append((t, why))
                continue
            done.append(t)
            if action != "clear":
                genres_of = (
                    chosen if chosen is not None else t.accepted() if action == "accepted" else []
                )
                stored.append(
                    Decision(
                        t.path,
                        Decided(action),
                        genres_of,
                        now,
                        t.size,
                        t.mtime_ns,
                        t.fingerprint,
                        t.audio,
                    )
                )
        if action == "clear":
            self.session.forget_decisions([t.path for t in done])
        elif stored:
            self.session.decide(stored)
        return done, refused

    def _cannot(self, t: Track) -> str | None:
        """Why ``t`` cannot be decided now, or None."""
        if not t.decidable:
            return "genretag could not hear it"
        disk = self.changed_on_disk(t)
        if disk == "deleted":
            return "deleted since it was heard"
        return f"{disk} since it was heard (hear the library again)" if disk else None

    def changed_on_disk(self, t: Track) -> str | None:
        """What the page says of a file that is not as it was heard, or None."""
        try:
            st = os.stat(t.path)
        except OSError:
            return "deleted"
        if (st.st_size, st.st_mtime_ns) != (t.size, t.mtime_ns):
            return "changed on disk"
        return None

    def track_data(self, t: Track, decisions: dict[str, Decision]) -> dict:
        """A track as ``GET /api/tracks`` gives it."""
        d = decisions.get(t.path)
        return {
            "id": t.id,
            "path": t.shown,
            "group": t.group,
            "artist": t.artist,
            "status": t.key,
            "proposed": t.proposed,
            "current": t.current,
            "confidence": t.confidence,
            "decision": self.state(t, decisions),
            "decided": d.genres if d else None,
            "decided_at": d.time if d else 0.0,
        }


def _parts(g: Group) -> list[Group]:
    """``g`` in pieces of at most ``TRACKS_PER_PAGE`` tracks."""
    return [
        Group(g.title, g.artist, g.tracks[i : i + TRACKS_PER_PAGE], g.total, i // TRACKS_PER_PAGE)
        for i in range(0, len(g.tracks), TRACKS_PER_PAGE)
    ] or [g]


class Conflict(ReviewError):
    """Another tab decided a track since this one was shown."""


def _folder_title(path: str, roots: list[Path]) -> str:
    """An untagged track's group: its folder, relative to the folder named."""
    from genretag.render.report import shown_path

    folder = os.path.dirname(path)
    rel = shown_path(folder, roots)
    return rel if rel not in ("", ".") else printable(Path(folder).name or folder)
