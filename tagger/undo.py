"""``genretag undo``: put back the genre that was in each file before genretag wrote it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import tags
from .cache import Cache, HistoryEntry
from .states import Status, UndoStatus


@dataclass
class UndoRow:
    path: str
    status: UndoStatus
    restored: list[str]
    error: str | None = None


def settle_pending(cache: Cache) -> None:
    """Decide the history rows whose writes a crash interrupted (see ``cache``): the write
    happened if the file holds what it was to write; otherwise it never did, and its row
    goes. A file that cannot be read now is decided on a later run."""
    for entry in cache.pending_writes():
        try:
            now = tags.read_genres(Path(entry.path))
        except (tags.TagError, OSError):
            continue
        if now == entry.after:
            cache.confirm_write(entry.id)
        else:
            cache.cancel_write(entry.id)


def undo(cache: Cache, paths: Sequence[Path] | None, dry_run: bool = False,
         force: bool = False, run: str | None = None) -> list[UndoRow]:
    """Restore every file under ``paths`` (all files when empty) that genretag wrote; with
    ``run``, only the writes of that scan (the latest: ``Cache.last_run``).

    The oldest write's "before" is what the file held originally (with ``run``, the
    oldest of that scan's). A file whose genre is no
    longer what genretag last wrote was edited since, and is left alone unless ``force``.
    A file that was deleted (its folder is still there) is reported once as ``gone`` and
    then forgotten; one whose folder is missing (an unmounted drive?) is kept for later.
    """
    settle_pending(cache)
    rows = []
    for path, writes in sorted(cache.writes([str(p) for p in paths] if paths else None).items()):
        if run is not None:
            writes = [w for w in writes if w.run == run]
            if not writes:
                continue
        before = tags.GenreState.from_dict(writes[0].before)
        last_written = writes[-1].after
        row = UndoRow(path, UndoStatus.WOULD_RESTORE if dry_run else UndoStatus.RESTORED,
                      tags.display(before))
        try:
            if not os.path.lexists(path):
                _missing(cache, row, writes, dry_run)
                rows.append(row)
                continue
            state = tags.read_state(Path(path))
            now = tags.display(state)
            if now != last_written and not force:
                raise tags.TagError(f"genre changed since genretag wrote it (now {now or 'empty'});"
                                    " not restored (use --force to restore anyway)")
            if not dry_run:  # as a scan's write: an edit meanwhile stops it (expect)
                tags.write_state(Path(path), before, expect=state)
                cache.mark_undone([w.id for w in writes])
                _refresh(cache, Path(path), tags.display(before))
        except tags.TagError as e:
            row.status, row.error = UndoStatus.ERROR, str(e)
        except OSError as e:
            row.status, row.error = UndoStatus.ERROR, e.strerror or str(e)
        rows.append(row)
    return rows


def _missing(cache: Cache, row: UndoRow, writes: list[HistoryEntry], dry_run: bool) -> None:
    if os.path.isdir(os.path.dirname(row.path)):
        row.status, row.error = UndoStatus.GONE, "file was deleted; nothing to restore"
        if not dry_run:
            cache.mark_gone([w.id for w in writes])
    else:
        row.status = UndoStatus.ERROR
        row.error = "folder not found (a drive not mounted?); kept for a later undo"


def _refresh(cache: Cache, path: Path, restored: list[str]) -> None:
    """Keep the track's probabilities but mark it undone, with its new size, mtime and
    genres (a re-scan decides from them without opening the file)."""
    known = cache.retagged(str(path), restored)
    if known is None:
        return
    known.status, known.genres, known.updated = Status.UNDONE, known.previous, 0.0
    cache.put(known)
    cache.flush()
