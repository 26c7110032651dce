"""What genretag remembers, in SQLite (through sqlite-utils).

``tracks``: one row per file: where it is, how big and how old (to skip unchanged files
without reading them), a content fingerprint (to recognise a moved file), which model heard
it, the probabilities, the genres chosen, the status and error of the last run, the genres
the file holds now, and its album tags and length, so that a re-scan regroups albums and
shows every row without opening a single unchanged file.

``statistics``: one row per heard file: its pooled backbone statistics (float16; what
``genretag learn`` learns from), with the backbone that made them, the coverage, and the
file's fingerprints when it was heard (its audio's, where the format says where that is):
a ``learn`` after a scan decodes nothing the scan heard, even after genretag or another
program rewrote the file's tags.

``decisions``: one row per file a person decided in ``genretag review``: accepted, changed
(to genres of their own) or rejected, when, and the file's size, mtime and fingerprints as
they were when it was heard. A decision is the owner's genre: a scan writes exactly it and
never overrides it, ``learn`` reads it as a label, and a decision about a file that has
changed since is *stale* and applied by nothing (``Decision.holds``).

``history``: one row per genre write, holding the exact genre state it replaced, so that
``genretag undo`` can put back what was there. A row is committed as ``pending`` *before*
its write happens, and marked ``done`` after it. A crash between the two leaves it pending:
the next scan or undo looks at the file (``undo.settle_pending``) and keeps the row if the
write happened, or drops it if it did not, so undo restores exactly what the file held
before the write it reverses. A write whose history row cannot be stored is not made.

The schema is versioned (``PRAGMA user_version``): opening a cache runs the numbered steps in
``MIGRATIONS`` it has not had yet, each in its own ``BEGIN IMMEDIATE`` transaction with the
version it reaches, so a user's cache and undo history survive every release, and two
processes opening a new cache at once do not trip over each other (the second waits, then
finds the work done). A cache written by a newer release is refused rather than guessed at.
Every SQLite failure (a full disk, a locked or damaged file) becomes a ``CacheError`` that
names the file.

Paths are stored losslessly (``stored``, ``loaded``): a file name that is not UTF-8 (from
an old Windows or macOS disk, or a zip file) reaches Python with its odd bytes as surrogate
escapes, which SQLite text cannot hold; each such byte is stored as a NUL and two hex
digits, which no real path holds, and every other path is stored as it is.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils

from genretag.library.discover import NOT_UTF8, resolve
from genretag.states import Decided, Status
from genretag.tags.fingerprint import content as fingerprint

if TYPE_CHECKING:
    import numpy as np

BUSY_TIMEOUT = 60.0  # seconds another process may hold the write lock before we give up
PENDING, DONE, GONE = "pending", "done", "gone"  # history.state


_STORED = re.compile("\x00([0-9a-f]{2})")


def stored(path: str) -> str:
    """``path`` as the cache stores it: each undecodable byte as NUL and two hex digits."""
    return NOT_UTF8.sub(lambda m: f"\x00{ord(m[0]) - 0xDC00:02x}", path)


def loaded(text: str) -> str:
    """The path that ``stored`` gave ``text`` for."""
    return _STORED.sub(lambda m: chr(0xDC00 + int(m[1], 16)), text) if "\x00" in text else text


def default_db_path() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("genretag")) / "genretag.sqlite"


@dataclass
class TrackRow:
    path: str
    size: int
    mtime_ns: int
    fingerprint: str | None
    model_id: str | None
    probabilities: dict[str, float] | None
    genres: list[str]
    previous: list[str]
    status: str
    error: str | None
    options: str | None
    updated: float = 0.0
    current: list[str] | None = None  # the file's genres after the run; None: not known
    album: str | None = None  # album tags; None: not read yet (a cache of an earlier release)
    album_artist: str | None = None
    artist: str | None = None
    compilation: int = 0
    duration: float | None = None
    dry_run: int | None = None  # 1: the verdict of a dry run (nothing was written)
    audio: str | None = None  # the audio's own fingerprint (``tags.fingerprint.audio``)
    retry: int = 0  # 1: it failed for a passing reason (permissions, I/O): try again next run

    JSON = ("probabilities", "genres", "previous", "current")

    def to_db(self) -> dict:
        d = dict(self.__dict__)
        for k in self.JSON:
            d[k] = json.dumps(d[k]) if d[k] is not None else None
        d["updated"] = d["updated"] or time.time()
        d["path"] = stored(d["path"])
        return d

    @classmethod
    def from_db(cls, d: dict) -> TrackRow:
        d = dict(d)
        for k in cls.JSON:
            d[k] = json.loads(d[k]) if d.get(k) is not None else None
        d["genres"] = d["genres"] or []
        d["previous"] = d["previous"] or []
        d["compilation"] = d.get("compilation") or 0
        d["path"] = loaded(d["path"])
        return cls(**d)


@dataclass(frozen=True)
class HistoryEntry:
    """One genre write into ``path``: the exact genre state it replaced
    (``tags.GenreState.to_dict``), the genres it wrote, and the scan that made it."""

    id: int
    path: str
    before: dict
    after: list[str]
    run: str | None = None

    @classmethod
    def from_db(cls, r: dict) -> HistoryEntry:
        return cls(
            r["id"],
            loaded(r["path"]),
            json.loads(r["before"]),
            json.loads(r["after"]),
            r.get("run"),
        )


@dataclass(frozen=True)
class ScanRun:
    """A scan as the undo history knows it: its id (``time-pid``, made by ``scan``) and how
    many files it wrote that undo can still restore."""

    id: str
    files: int

    @property
    def started(self) -> str:
        """When it started, in local time, as a person reads it."""
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(self.id.split("-")[0])))


@dataclass(frozen=True)
class Statistics:
    """One heard file's pooled backbone statistics (``Model.statistics``), float16, and
    what they were made from: the backbone, the coverage, and the file's content and audio
    fingerprints when it was heard."""

    backbone: str
    coverage: str
    fingerprint: str | None
    audio: str | None
    data: np.ndarray  # (2 * embedding + n_tags,) float16

    def matches(self, fingerprint: str | None, audio: str | None) -> bool:
        """Whether they are the statistics of a file with these fingerprints now: the same
        audio where the format says where it lies, else the same content."""
        if self.audio is not None and audio is not None:
            return self.audio == audio
        return fingerprint is not None and self.fingerprint == fingerprint


@dataclass(frozen=True)
class Decision:
    """A person's decision about one file: the genres it is to hold (none when rejected),
    when it was made, and the file as it was then (``holds``)."""

    path: str
    action: Decided
    genres: list[str]
    time: float
    size: int
    mtime_ns: int
    fingerprint: str | None
    audio: str | None = None

    def holds(self, size: int, mtime_ns: int, fingerprint: str | None) -> bool:
        """Whether it still holds for the file as it is now: the same size and mtime, or the
        same content (a file copied with a new mtime). Otherwise it is stale."""
        if (size, mtime_ns) == (self.size, self.mtime_ns):
            return True
        return fingerprint is not None and fingerprint == self.fingerprint

    @property
    def when(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.time))


class CacheError(Exception):
    """A cache file this release cannot use; the message names the file."""


def _v1_tables(db: sqlite_utils.Database) -> None:
    """Version 1, the schema of release 0.1 (which wrote no version): create what is
    missing, keep what is there."""
    tracks = db.table("tracks")
    if not tracks.exists():
        tracks.create(
            {
                "path": str,
                "size": int,
                "mtime_ns": int,
                "fingerprint": str,
                "model_id": str,
                "probabilities": str,
                "genres": str,
                "previous": str,
                "status": str,
                "error": str,
                "options": str,
                "updated": float,
            },
            pk="path",
        )
    db.execute("create index if not exists idx_tracks_fingerprint on tracks (fingerprint)")
    history = db.table("history")
    if not history.exists():
        history.create(
            {
                "id": int,
                "path": str,
                "time": float,
                "model_id": str,
                "before": str,
                "after": str,
                "undone": int,
            },
            pk="id",
        )
    db.execute("create index if not exists idx_history_path on history (path)")


def _v2_history_state(db: sqlite_utils.Database) -> None:
    """Version 2: history rows are ``pending`` until their write is confirmed; rows of
    earlier releases were written after their files and count as ``done``."""
    if "state" not in db.table("history").columns_dict:
        db.execute(f"alter table history add column state text not null default '{DONE}'")


def _v3_track_context(db: sqlite_utils.Database) -> None:
    """Version 3: what a re-scan needs without opening unchanged files: the genres a file
    holds now, its album tags and its length (NULL in rows of earlier releases: read once)."""
    have = db.table("tracks").columns_dict
    for name, kind in (
        ("current", "text"),
        ("album", "text"),
        ("album_artist", "text"),
        ("artist", "text"),
        ("compilation", "integer"),
        ("duration", "float"),
    ):
        if name not in have:
            db.execute(f"alter table tracks add column {name} {kind}")


def _v4_albums_and_dry_runs(db: sqlite_utils.Database) -> None:
    """Version 4: an index to find an album's tracks by their album tag (a scan of some of
    its tracks decides it from all that the cache knows), and which rows a dry run left
    (``genretag report`` does not count those as done; NULL in rows of earlier releases,
    which do not say), which scan made each write (``undo --last``; NULL before), the
    fingerprint of each file's audio alone (NULL before: found when it is heard again), and
    whether a file that failed is to be tried again on the next run (earlier releases said
    so with an mtime of -1)."""
    db.execute("create index if not exists idx_tracks_album on tracks (album collate nocase)")
    if "dry_run" not in db.table("tracks").columns_dict:
        db.execute("alter table tracks add column dry_run integer")
    if "run" not in db.table("history").columns_dict:
        db.execute("alter table history add column run text")
    if "audio" not in db.table("tracks").columns_dict:  # a tag edit elsewhere: no decoding again
        db.execute("alter table tracks add column audio text")
    if "retry" not in db.table("tracks").columns_dict:  # was said by an mtime of -1
        db.execute("alter table tracks add column retry integer not null default 0")
        db.execute("update tracks set retry = 1 where mtime_ns = -1")


def _v5_typed_undo_states(db: sqlite_utils.Database) -> None:
    """Version 5: each history row's genre state as its container's own record
    (``tags.state``); the rows of earlier releases held one record for every container."""
    from genretag.tags.state import STATE_FORMAT, TagError, legacy_state  # mutagen: when migrating

    for row_id, before in db.execute("select id, before from history").fetchall():
        old = json.loads(before)
        if old.get("format") == STATE_FORMAT:
            continue  # converted by a run of this step that did not finish
        try:
            new = legacy_state(old).to_dict()
        except TagError:
            continue  # kept as it is: undo names it as an entry it cannot read
        db.execute("update history set before = ? where id = ?", [json.dumps(new), row_id])


def _v6_statistics(db: sqlite_utils.Database) -> None:
    """Version 6: each heard file's pooled backbone statistics (``genretag learn``)."""
    db.execute(
        "create table if not exists statistics (path text primary key, "
        "backbone text not null, coverage text, fingerprint text, audio text, "
        "data blob not null)"
    )


def _v7_decisions(db: sqlite_utils.Database) -> None:
    """Version 7: the decisions of ``genretag review``."""
    db.execute(
        "create table if not exists decisions (path text primary key, action text not null, "
        "genres text not null, time float not null, size integer not null, "
        "mtime_ns integer not null, fingerprint text, audio text)"
    )


# MIGRATIONS[i] takes a cache from version i to i + 1; append, never edit a released step.
# A step must be safe to run again (create ... if not exists; copy before drop): a crash
# between its statements leaves the old version number, and the next open runs it again.
MIGRATIONS = [
    _v1_tables,
    _v2_history_state,
    _v3_track_context,
    _v4_albums_and_dry_runs,
    _v5_typed_undo_states,
    _v6_statistics,
    _v7_decisions,
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite_utils.Database, path: Path) -> int:
    """Bring ``db`` to ``SCHEMA_VERSION``; returns the version it had. Each step runs in an
    immediate transaction that re-reads the version, so of two processes opening a new
    cache at once, one creates the schema and the other finds it made."""
    first = None
    while True:
        db.conn.execute("BEGIN IMMEDIATE")  # waits (busy timeout) for a concurrent creator
        try:
            found = db.execute("PRAGMA user_version").fetchone()[0]
            first = found if first is None else first
            if found > SCHEMA_VERSION:
                raise CacheError(
                    f"{path}: written by a newer genretag (cache version {found}, "
                    f"this release reads up to {SCHEMA_VERSION}); use --db for "
                    "another file"
                )
            if found == SCHEMA_VERSION:
                db.conn.commit()
                return first
            MIGRATIONS[found](db)
            db.execute(f"PRAGMA user_version = {found + 1}")  # only once the step is done
            db.conn.commit()
        except BaseException:
            db.conn.rollback()
            raise


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch a cache to write-ahead logging. SQLite answers "database is locked" at once,
    without waiting, when two processes make the switch on a new file together; the
    switch is kept in the file, so retrying until the other has made it is enough."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class Cache:
    """The SQLite cache; rows are written in batches inside transactions."""

    def __init__(self, path: Path, read_only: bool = False):
        """Open (or create) the cache at ``path``; ``read_only`` (``genretag report``)
        changes nothing, so it works where the cache's folder cannot be written."""
        self.path = Path(path)
        self._pending: list[dict] = []
        self._statistics: list[tuple] = []
        with self._sqlite("cannot open cache"):
            conn = self._read_only() if read_only else None
            if conn is not None:
                self.db = sqlite_utils.Database(conn)
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT)
            self.db = sqlite_utils.Database(conn)
            _use_wal(conn)  # readers (genretag report) never block a scan
            self.db.execute("PRAGMA synchronous=NORMAL")
            migrate(self.db, self.path)

    def _read_only(self) -> sqlite3.Connection | None:
        """A connection that writes nothing; None for a cache of an earlier release, which
        is opened (and migrated) as usual. A cache in write-ahead mode needs its shared
        memory file to be read; where that cannot be made (a folder that cannot be
        written), it is read as a file nobody changes meanwhile."""
        if not self.path.is_file():
            raise CacheError(f"{self.path}: no such cache file")
        for how in ("mode=ro", "immutable=1"):
            conn = sqlite3.connect(
                f"{self.path.absolute().as_uri()}?{how}", uri=True, timeout=BUSY_TIMEOUT
            )
            try:
                found = conn.execute("PRAGMA user_version").fetchone()[0]
                break
            except sqlite3.OperationalError:
                conn.close()
        else:
            raise CacheError(f"{self.path}: cannot read cache{self._folder_cause()}")
        if found == SCHEMA_VERSION:
            return conn
        conn.close()
        if found > SCHEMA_VERSION:
            raise CacheError(
                f"{self.path}: written by a newer genretag (cache version "
                f"{found}, this release reads up to {SCHEMA_VERSION})"
            )
        return None

    def _folder_cause(self) -> str:
        folder = self.path.absolute().parent
        return "" if os.access(folder, os.W_OK) else f" (its folder {folder} cannot be written)"

    @contextmanager
    def _sqlite(self, what: str) -> Iterator[None]:
        """SQLite and file-system failures become one-line ``CacheError``s naming the file,
        and the folder where that is the cause."""
        try:
            yield
        except (sqlite3.Error, OSError) as e:
            raise CacheError(f"{self.path}: {what} ({e}){self._folder_cause()}") from None

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.db.close()

    # -- tracks ------------------------------------------------------------------------

    def all_tracks(self) -> dict[str, TrackRow]:
        return {row.path: row for row in map(TrackRow.from_db, self.db.table("tracks").rows)}

    def rows_with_ids(self) -> dict[str, tuple[int, TrackRow]]:
        """Every track's row with its id (SQLite's rowid: it stays while the row does;
        ``genretag review`` names tracks by it)."""
        cursor = self.db.conn.execute("select rowid, * from tracks")
        names = [c[0] for c in cursor.description][1:]
        return {
            row.path: (rid, row)
            for rid, *values in cursor
            for row in (TrackRow.from_db(dict(zip(names, values))),)
        }

    def get(self, path: str) -> TrackRow | None:
        """One file's row: a direct primary-key lookup (a re-scan makes one per file, so a
        large cache is never loaded whole)."""
        cursor = self.db.conn.execute("select * from tracks where path = ?", [stored(path)])
        found = cursor.fetchone()
        if found is None:
            return None
        return TrackRow.from_db(dict(zip((c[0] for c in cursor.description), found)))

    def album_paths(self, album: str, model_id: str) -> list[str]:
        """The files heard by ``model_id`` whose album tag is ``album`` (ignoring case)."""
        return self._heard_paths("album = ? collate nocase", [album, model_id])

    def folder_paths(self, folder: str, model_id: str) -> list[str]:
        """The files heard by ``model_id`` directly in ``folder``."""
        under = stored(folder.rstrip(os.sep) + os.sep)
        paths = self._heard_paths(
            "path >= ? and path < ?",  # a range on the primary key
            [under, under[:-1] + chr(ord(os.sep) + 1), model_id],
        )
        return [p for p in paths if os.path.dirname(p) == folder.rstrip(os.sep)]

    def _heard_paths(self, where: str, args: list) -> list[str]:
        return [
            loaded(p)
            for (p,) in self.db.conn.execute(
                f"select path from tracks where {where} and model_id = ? and "
                "probabilities is not null",
                args,
            )
        ]

    def by_fingerprint(self, fp: str, model_id: str) -> TrackRow | None:
        for r in self.db.table("tracks").rows_where(
            "fingerprint = ? and model_id = ?", [fp, model_id]
        ):
            row = TrackRow.from_db(r)
            if not os.path.exists(row.path) and row.probabilities is not None:
                return row  # a file that left its old place: it was moved or renamed
        return None

    def retagged(self, path: str, current: list[str]) -> TrackRow | None:
        """Only the tags of ``path`` changed (undo restored them, or beets wrote them): its
        row, if it has one, with the file's new size, time and fingerprint and the genres
        it now holds, ready to ``put``; so a re-scan neither hears the unchanged audio
        again nor decides from stale genres."""
        row = self.get(path)
        if row is None:
            return None
        st = os.stat(path)
        row.size, row.mtime_ns = st.st_size, st.st_mtime_ns
        row.fingerprint, row.current = fingerprint(Path(path), st.st_size), list(current)
        return row

    def put(self, row: TrackRow) -> None:
        self._pending.append(row.to_db())
        if len(self._pending) >= 200:
            self.flush()

    def moved(self, old: str, new: str) -> None:
        """A file was moved, renamed or copied (its old path is gone for now): drop its old
        row, and give the new place a copy of its history for undo. The old path keeps its
        own, since it may be a library that is only away (an unmounted drive) and comes
        back; undo of either restores that file."""
        self.flush()
        with self._sqlite("cannot record a moved file"), self.db.conn:
            self.db.table("tracks").delete_where("path = ?", [stored(old)])
            self.db.execute(  # a decision goes with its file
                "update or replace decisions set path = ? where path = ?",
                [stored(new), stored(old)],
            )
            self.db.execute(
                "insert into history (path, time, model_id, before, after, undone, state) "
                "select ?, time, model_id, before, after, undone, state from history "
                "where path = ? and undone = 0 and state = ? order by id",
                [stored(new), stored(old), DONE],
            )

    def flush(self) -> None:
        if self._pending or self._statistics:
            with self._sqlite("cannot store scan results"), self.db.conn:
                if self._pending:
                    self.db.table("tracks").upsert_all(self._pending, pk="path")
                if self._statistics:
                    self.db.conn.executemany(
                        "insert or replace into statistics (path, backbone, coverage, "
                        "fingerprint, audio, data) values (?, ?, ?, ?, ?, ?)",
                        self._statistics,
                    )
            self._pending, self._statistics = [], []

    # -- statistics --------------------------------------------------------------------

    def put_statistics(self, path: str, stats: Statistics) -> None:
        self._statistics.append(
            (
                stored(path),
                stats.backbone,
                stats.coverage,
                stats.fingerprint,
                stats.audio,
                stats.data.astype("<f2").tobytes(),
            )
        )
        if len(self._statistics) >= 200:
            self.flush()

    def statistics(self, backbone: str) -> dict[str, Statistics]:
        """Every file's statistics made by ``backbone`` (one query: learn asks for a whole
        library at once)."""
        import numpy as np

        self.flush()
        return {
            loaded(path): Statistics(
                backbone, coverage, fp, audio, np.frombuffer(data, dtype="<f2")
            )
            for path, coverage, fp, audio, data in self.db.conn.execute(
                "select path, coverage, fingerprint, audio, data from statistics "
                "where backbone = ?",
                [backbone],
            )
        }

    # -- decisions ---------------------------------------------------------------------

    def decide(self, decisions: list[Decision]) -> None:
        """Store ``decisions`` (replacing earlier ones of the same files) in one
        transaction: all of them, or, if anything fails, none."""
        with self._sqlite("cannot store the decisions"), self.db.conn:
            self.db.conn.executemany(
                "insert or replace into decisions (path, action, genres, time, size, "
                "mtime_ns, fingerprint, audio) values (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        stored(d.path),
                        str(d.action),
                        json.dumps(d.genres),
                        d.time,
                        d.size,
                        d.mtime_ns,
                        d.fingerprint,
                        d.audio,
                    )
                    for d in decisions
                ],
            )

    def forget_decisions(self, paths: list[str]) -> None:
        """Drop the decisions of ``paths``: genretag proposes for them again."""
        with self._sqlite("cannot remove the decisions"), self.db.conn:
            self.db.conn.executemany(
                "delete from decisions where path = ?", [(stored(p),) for p in paths]
            )

    def decisions(self) -> dict[str, Decision]:
        """Every decision, by path (one query: a scan or a page asks for all at once)."""
        return {
            loaded(path): Decision(loaded(path), Decided(action), json.loads(genres), *rest)
            for path, action, genres, *rest in self.db.conn.execute(
                "select path, action, genres, time, size, mtime_ns, fingerprint, audio "
                "from decisions"
            )
        }

    def decision_applied(self, path: str, size: int, mtime_ns: int, fp: str | None) -> None:
        """A scan wrote a decision into ``path``: it holds for the file as it is now."""
        with self._sqlite("cannot update the decision"), self.db.conn:
            self.db.execute(
                "update decisions set size = ?, mtime_ns = ?, fingerprint = ? where path = ?",
                [size, mtime_ns, fp, stored(path)],
            )

    # -- history -----------------------------------------------------------------------

    def begin_write(
        self, path: str, model_id: str, before: dict, after: list[str], run: str | None = None
    ) -> int:
        """Record a write about to happen, as pending; committed at once (see the module
        docstring). A ``CacheError`` here means the write must not happen."""
        with self._sqlite("cannot record the write in the undo history"), self.db.conn:
            table = self.db.table("history").insert(
                {
                    "path": stored(path),
                    "time": time.time(),
                    "model_id": model_id,
                    "before": json.dumps(before),
                    "after": json.dumps(after),
                    "undone": 0,
                    "state": PENDING,
                    "run": run,
                }
            )
        assert table.last_pk is not None  # inserted
        return int(table.last_pk)

    def confirm_write(self, history_id: int) -> None:
        self._set_state([history_id], DONE)

    def cancel_write(self, history_id: int) -> None:
        with self._sqlite("cannot update the undo history"), self.db.conn:
            self.db.table("history").delete(history_id)

    def mark_gone(self, ids: list[int]) -> None:
        """Writes to a file that was deleted: undo reported it once and forgets it."""
        self._set_state(ids, GONE)

    def _set_state(self, ids: list[int], state: str) -> None:
        with self._sqlite("cannot update the undo history"), self.db.conn:
            for i in ids:
                self.db.table("history").update(i, {"state": state})

    def pending_writes(self) -> list[HistoryEntry]:
        """History rows whose writes a crash may have interrupted."""
        return [
            HistoryEntry.from_db(r)
            for r in self.db.table("history").rows_where("state = ?", [PENDING], order_by="id")
        ]

    def writes(self, paths: Iterable[str] | None = None) -> dict[str, list[HistoryEntry]]:
        """Confirmed, not-yet-undone writes per path, oldest first; under ``paths`` (files
        or folders, resolved as scan resolves them)."""
        rows = self.db.table("history").rows_where(
            "undone = 0 and state = ?", [DONE], order_by="id"
        )
        wanted = [resolve(p) for p in paths] if paths else None
        out: dict[str, list[HistoryEntry]] = {}
        for r in rows:
            entry = HistoryEntry.from_db(r)
            if wanted and not any(
                entry.path == w or entry.path.startswith(w.rstrip(os.sep) + os.sep) for w in wanted
            ):
                continue
            out.setdefault(entry.path, []).append(entry)
        return out

    def last_run(self, paths: Iterable[str] | None = None) -> ScanRun | None:
        """The most recent scan that still has writes undo can reverse (under ``paths``,
        as ``writes`` takes them), with how many files it wrote there."""
        writes = self.writes(paths).values()
        dated = [e for entries in writes for e in entries if e.run is not None]
        if not dated:
            return None
        run = max(dated, key=lambda e: e.id).run
        assert run is not None  # dated
        return ScanRun(run, sum(any(e.run == run for e in entries) for entries in writes))

    def written_paths(self) -> set[str]:
        """The files that have writes undo would reverse (one query, rather than one per
        file a re-scan decides)."""
        return {
            loaded(p)
            for (p,) in self.db.execute(
                "select distinct path from history where undone = 0 and state = ?", [DONE]
            )
        }

    def history(self, path: str) -> list[HistoryEntry]:
        """The confirmed writes into ``path`` that undo would reverse, oldest first."""
        return [
            HistoryEntry.from_db(r)
            for r in self.db.table("history").rows_where(
                "path = ? and undone = 0 and state = ?", [stored(path), DONE], order_by="id"
            )
        ]

    def knows(self, path: str) -> bool:
        """Whether any track or write is recorded at or under ``path`` (resolved)."""
        p = stored(resolve(path))
        under = p.rstrip(os.sep) + os.sep
        for table in ("tracks", "history"):  # a range on the path (SQLite's length() ends
            if self.db.execute(
                f"select 1 from {table} where path = ? or "  # at a NUL)
                "(path >= ? and path < ?) limit 1",
                [p, under, under[:-1] + chr(ord(os.sep) + 1)],
            ).fetchone():
                return True
        return False

    def mark_undone(self, ids: list[int]) -> None:
        with self._sqlite("cannot update the undo history"), self.db.conn:
            for i in ids:
                self.db.table("history").update(i, {"undone": 1})

    def summary(self) -> dict:
        """Counts for ``genretag report``: what the files hold and what was written, and
        the verdicts of the last run of each file, those of dry runs apart (nothing was
        written by them)."""
        t = self.db.table("tracks")
        by_status: dict[str, int] = {}
        dry: dict[str, int] = {}
        for status, was_dry, n in self.db.execute(
            "select status, coalesce(dry_run, 0), count(*) n from tracks "
            "group by 1, 2 order by n desc"
        ).fetchall():
            (dry if was_dry else by_status)[status] = n
        genres: dict[str, int] = {}
        for r in t.rows_where("current is not null", select="current"):
            for g in json.loads(r["current"]):
                genres[g] = genres.get(g, 0) + 1
        errors = [
            (loaded(r["path"]), r["error"])
            for r in t.rows_where("status = ?", [Status.ERROR], select="path, error")
        ]
        writes = self.db.execute(
            "select count(*) from history where undone = 0 and state = ?", [DONE]
        ).fetchone()[0]
        decided: dict[str, int] = dict(
            self.db.execute(
                "select action, count(*) from decisions group by 1 order by 2 desc"
            ).fetchall()
        )
        return {
            "tracks": t.count,
            "decisions": decided,
            "by_status": by_status,
            "dry_run": dry,
            "genres": genres,
            "errors": errors,
            "writes": writes,
        }
