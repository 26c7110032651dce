"""``genretag undo``: put back the genre that was in each file before genretag wrote it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import tags
from .cache import Cache, fingerprint
from .states import Status, UndoStatus


@dataclass
class UndoRow:
    path: str
    status: UndoStatus
    restored: list[str]
    error: str | None = None


def undo(cache: Cache, paths: Sequence[Path] | None, dry_run: bool = False,
         force: bool = False) -> list[UndoRow]:
    """Restore every file under ``paths`` (all files when empty) that genretag wrote.

    The oldest write's "before" is what the file held originally. A file whose genre is no
    longer what genretag last wrote was edited since, and is left alone unless ``force``.
    """
    rows = []
    for path, writes in sorted(cache.writes([str(p) for p in paths] if paths else None).items()):
        before = tags.GenreState.from_dict(writes[0]["before"])
        last_written = writes[-1]["after"]
        row = UndoRow(path, UndoStatus.WOULD_RESTORE if dry_run else UndoStatus.RESTORED,
                      tags.display(before))
        try:
            now = tags.read_genres(Path(path))
            if now != last_written and not force:
                raise tags.TagError(f"genre changed since genretag wrote it (now {now or 'empty'});"
                                    " not restored (use --force to restore anyway)")
            if not dry_run:
                tags.write_state(Path(path), before)
                cache.mark_undone([w["id"] for w in writes])
                _refresh(cache, Path(path))
        except FileNotFoundError:
            row.status, row.error = UndoStatus.ERROR, "file no longer exists"
        except tags.TagError as e:
            row.status, row.error = UndoStatus.ERROR, str(e)
        except OSError as e:
            row.status, row.error = UndoStatus.ERROR, e.strerror or str(e)
        rows.append(row)
    return rows


def _refresh(cache: Cache, path: Path) -> None:
    """Keep the track's probabilities but mark it undone, with its new size and mtime."""
    known = cache.get(str(path))
    if known is None:
        return
    st = os.stat(path)
    known.size, known.mtime_ns = st.st_size, st.st_mtime_ns
    known.fingerprint = fingerprint(path, st.st_size)
    known.status, known.genres, known.updated = Status.UNDONE, known.previous, 0.0
    cache.put(known)
    cache.flush()
