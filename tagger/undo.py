"""``genretag undo``: put back the genre that was in each file before genretag wrote it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from genretag import tags
from genretag.states import Status, UndoStatus
from genretag.store.cache import Cache, HistoryEntry


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


def undo(
    cache: Cache,
    paths: Sequence[Path] | None,
    dry_run: bool = False,
    force: bool = False,
    run: str | None = None,
) -> list[UndoRow]:
    """Restore every file under ``paths`` (all files when empty) that genretag wrote; with
    ``run``, only the writes of that scan (the latest: ``Cache.last_run``).

    What comes back is what the file held before the latest of genretag's writes that
    followed one another unbroken (``since_the_user``): after writes A→B then B→C, A;
    but after A→B, the user's own edit to U, then U→C, U. A genre the user chose after an
    earlier write is theirs, and an earlier state never silently replaces it (the writes
    before the edit are closed with the rest). With ``run``, only that scan's writes count.
    A file whose genre is no longer what genretag last wrote was edited since, and is left
    alone unless ``force``.
    A file that was deleted (its folder is still there) is reported once as ``gone`` and
    then forgotten; one whose folder is missing (an unmounted drive?) is kept for later.
    """
    settle_pending(cache)
    rows = []
    for path, writes in sorted(cache.writes([str(p) for p in paths] if paths else None).items()):
        start = since_the_user(writes)
        first, last = start, len(writes) - 1
        if run is not None:
            ours = [i for i, w in enumerate(writes) if w.run == run]
            if not ours:
                continue
            first, last = max(start, ours[0]), ours[-1]
        before = tags.GenreState.from_dict(writes[first].before)
        last_written = writes[last].after
        # closed with it: the writes a user's edit replaced, before the unbroken run
        closed = writes[: last + 1] if first == start else writes[first : last + 1]
        row = UndoRow(
            path, UndoStatus.WOULD_RESTORE if dry_run else UndoStatus.RESTORED, tags.display(before)
        )
        try:
            if not os.path.lexists(path):
                _missing(cache, row, writes, dry_run)
                rows.append(row)
                continue
            state = tags.read_state(Path(path))
            now = tags.display(state)
            if now != last_written and not force:
                raise tags.TagError(
                    f"genre changed since genretag wrote it (now {now or 'empty'});"
                    " not restored (use --force to restore anyway)"
                )
            if not dry_run:  # as a scan's write: an edit meanwhile stops it (expect)
                tags.write_state(Path(path), before, expect=state)
                cache.mark_undone([w.id for w in closed])
                _refresh(cache, Path(path), tags.display(before))
        except tags.TagError as e:
            row.status, row.error = UndoStatus.ERROR, str(e)
        except OSError as e:
            row.status, row.error = UndoStatus.ERROR, e.strerror or str(e)
        rows.append(row)
    return rows


def since_the_user(writes: list[HistoryEntry]) -> int:
    """Of a file's writes (oldest first), the index of the first of the unbroken run of
    them that ends with the latest: each found in the file what the one before it wrote.
    Its ``before`` is what undo puts back; the writes before it were replaced by the
    user's own edit."""
    first = len(writes) - 1
    while first > 0 and _genres_of(writes[first].before) == writes[first - 1].after:
        first -= 1
    return first


def _genres_of(before: dict) -> list[str] | None:
    try:
        return tags.display(tags.GenreState.from_dict(before))
    except tags.TagError:
        return None  # an entry this release cannot read: no link in the chain


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
