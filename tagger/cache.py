"""What genretag remembers, in SQLite (through sqlite-utils).

``tracks``: one row per file: where it is, how big and how old (to skip unchanged files
without reading them), a content fingerprint (to recognise a moved file), which model heard
it, the probabilities, the genres chosen, the status and error of the last run.

``history``: one row per genre write, holding the exact genre state it replaced, so that
``genretag undo`` can put back what was there. A history row is committed *before* its write
happens and removed if the write fails, so a crash between the two can never lose the
original: undo then finds the file unchanged and says so.

The schema is versioned (``PRAGMA user_version``): opening a cache runs the numbered steps in
``MIGRATIONS`` it has not had yet, each in its own transaction with the version it reaches,
so a user's cache and undo history survive every release. A cache written by a newer
release is refused rather than guessed at.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

FINGERPRINT_BLOCK = 1 << 16


def default_db_path() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("genretag")) / "genretag.sqlite"


def fingerprint(path: Path, size: int) -> str:
    """blake2b of the size and three 64 KiB blocks (start, middle, end): cheap to compute
    on a large library, and a file keeps it when it is moved or renamed."""
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as f:
        for offset in sorted({0, max(0, size // 2 - FINGERPRINT_BLOCK // 2),
                              max(0, size - FINGERPRINT_BLOCK)}):
            f.seek(offset)
            h.update(f.read(FINGERPRINT_BLOCK))
    return h.hexdigest()


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

    def to_db(self) -> dict:
        d = dict(self.__dict__)
        for k in ("probabilities", "genres", "previous"):
            d[k] = json.dumps(d[k])
        d["updated"] = d["updated"] or time.time()
        return d

    @classmethod
    def from_db(cls, d: dict) -> "TrackRow":
        d = dict(d)
        for k in ("probabilities", "genres", "previous"):
            d[k] = json.loads(d[k]) if d[k] is not None else None
        d["genres"] = d["genres"] or []
        d["previous"] = d["previous"] or []
        return cls(**d)


class CacheError(Exception):
    """A cache file this release cannot use; the message names the file."""


def _v1_tables(db: sqlite_utils.Database) -> None:
    """Version 1, the schema of release 0.1 (which wrote no version): create what is
    missing, keep what is there."""
    tracks = db["tracks"]
    if not tracks.exists():
        tracks.create({"path": str, "size": int, "mtime_ns": int, "fingerprint": str,
                       "model_id": str, "probabilities": str, "genres": str,
                       "previous": str, "status": str, "error": str, "options": str,
                       "updated": float}, pk="path")
    db.execute("create index if not exists idx_tracks_fingerprint on tracks (fingerprint)")
    history = db["history"]
    if not history.exists():
        history.create({"id": int, "path": str, "time": float, "model_id": str,
                        "before": str, "after": str, "undone": int}, pk="id")
    db.execute("create index if not exists idx_history_path on history (path)")


# MIGRATIONS[i] takes a cache from version i to i + 1; append, never edit a released step.
# A step must be safe to run again (create ... if not exists; copy before drop): a crash
# between its statements leaves the old version number, and the next open runs it again.
MIGRATIONS = [_v1_tables]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite_utils.Database, path: Path) -> int:
    """Bring ``db`` to ``SCHEMA_VERSION``; returns the version it had."""
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise CacheError(f"{path}: written by a newer genretag (cache version {found}, this "
                         f"release reads up to {SCHEMA_VERSION}); use --db for another file")
    for version in range(found, SCHEMA_VERSION):
        with db.conn:
            MIGRATIONS[version](db)
            db.execute(f"PRAGMA user_version = {version + 1}")  # only once the step is done
    return found


class Cache:
    """The SQLite cache; rows are written in batches inside transactions."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(str(self.path))
        self.db.execute("PRAGMA journal_mode=WAL")  # readers (genretag report) never block a scan
        self.db.execute("PRAGMA synchronous=NORMAL")
        migrate(self.db, self.path)
        self._pending: list[dict] = []

    def close(self) -> None:
        self.flush()
        self.db.close()

    # -- tracks ------------------------------------------------------------------------

    def all_tracks(self) -> dict[str, TrackRow]:
        return {r["path"]: TrackRow.from_db(r) for r in self.db["tracks"].rows}

    def get(self, path: str) -> TrackRow | None:
        try:
            return TrackRow.from_db(self.db["tracks"].get(path))
        except sqlite_utils.db.NotFoundError:
            return None

    def by_fingerprint(self, fp: str, model_id: str) -> TrackRow | None:
        for r in self.db["tracks"].rows_where("fingerprint = ? and model_id = ?", [fp, model_id]):
            row = TrackRow.from_db(r)
            if not os.path.exists(row.path) and row.probabilities is not None:
                return row  # a file that left its old place: it was moved or renamed
        return None

    def put(self, row: TrackRow) -> None:
        self._pending.append(row.to_db())
        if len(self._pending) >= 200:
            self.flush()

    def moved(self, old: str, new: str) -> None:
        """A file was moved or renamed: drop its old row, and let its history (for undo)
        follow it to the new place."""
        self.flush()
        with self.db.conn:
            self.db["tracks"].delete_where("path = ?", [old])
            self.db.execute("update history set path = ? where path = ?", [new, old])

    def flush(self) -> None:
        if self._pending:
            with self.db.conn:
                self.db["tracks"].upsert_all(self._pending, pk="path")
            self._pending = []

    # -- history -----------------------------------------------------------------------

    def begin_write(self, path: str, model_id: str, before: dict, after: list[str]) -> int:
        """Record a write about to happen; committed at once (see the module docstring)."""
        with self.db.conn:
            table = self.db["history"].insert({
                "path": path, "time": time.time(), "model_id": model_id,
                "before": json.dumps(before), "after": json.dumps(after), "undone": 0})
        return table.last_pk

    def cancel_write(self, history_id: int) -> None:
        with self.db.conn:
            self.db["history"].delete(history_id)

    def writes(self, paths: Iterable[str] | None = None) -> dict[str, list[dict]]:
        """Not-yet-undone writes per path, oldest first; under ``paths`` (files or folders)."""
        rows = self.db["history"].rows_where("undone = 0", order_by="id")
        wanted = [os.path.abspath(p) for p in paths] if paths else None
        out: dict[str, list[dict]] = {}
        for r in rows:
            if wanted and not any(r["path"] == w or r["path"].startswith(w.rstrip(os.sep) + os.sep)
                                  for w in wanted):
                continue
            r = dict(r, before=json.loads(r["before"]), after=json.loads(r["after"]))
            out.setdefault(r["path"], []).append(r)
        return out

    def mark_undone(self, ids: list[int]) -> None:
        with self.db.conn:
            for i in ids:
                self.db["history"].update(i, {"undone": 1})

    def summary(self) -> dict:
        """Counts for ``genretag report``."""
        t = self.db["tracks"]
        by_status = {r["status"]: r["n"] for r in self.db.query(
            "select status, count(*) n from tracks group by status order by n desc")}
        genres: dict[str, int] = {}
        for r in t.rows_where("status in ('tagged', 'kept', 'would-tag', 'cached')",
                              select="genres"):
            for g in json.loads(r["genres"] or "[]"):
                genres[g] = genres.get(g, 0) + 1
        errors = [(r["path"], r["error"]) for r in t.rows_where("status = 'error'",
                                                                  select="path, error")]
        writes = self.db.execute("select count(*) from history where undone = 0").fetchone()[0]
        return {"tracks": t.count, "by_status": by_status, "genres": genres,
                "errors": errors, "writes": writes}
