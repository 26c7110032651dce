"""``genretag undo``: put back what genretag replaced."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from genretag.cli import common
from genretag.cli.common import err, open_session, out, usage_error
from genretag.cli.options import SETTINGS, takes_settings
from genretag.settings import UNDO, Settings
from genretag.states import UndoStatus


@takes_settings(UNDO)
def undo(
    paths: list[Path] | None = typer.Argument(None, help="Files or folders to restore."),
    every: bool = typer.Option(
        False, "--all", help="Restore every file genretag wrote, in every library the cache knows."
    ),
    last: bool = typer.Option(
        False,
        "--last",
        help="Restore what the most recent scan that "
        "still has writes to undo wrote (under PATHS, if given).",
    ),
    force: bool = typer.Option(False, "--force", help="Restore even files edited since."),
    yes: bool = typer.Option(
        False,
        "--yes",
        "-y",
        help="Do not ask first (on a terminal, "
        "--all and --last ask before restoring more than PATHS).",
    ),
    settings: Settings = SETTINGS,
) -> None:
    """Restore the genre each file had before genretag wrote it."""
    from genretag.api import ConfigError
    from genretag.render import report as rep
    from genretag.store.cache import CacheError

    for p in paths or []:
        if not os.path.lexists(p):
            raise usage_error(f"{p}: no such file or folder")
    if not paths and not every and not last:
        if not common.on_terminal():
            raise usage_error(
                "name the files or folders to restore, or use --all for every "
                "library the cache knows, or --last for the most recent scan"
            )
        every = True  # asked below, as --all is
    dry_run = settings.dry_run
    session = open_session(settings, must_exist=True)
    try:
        scan = session.last_scan(paths) if last else None
        if last and scan is not None:
            out.print(
                f"the most recent scan with writes to undo: {scan.started}, {scan.files} file(s)",
                markup=False,
            )
        if (
            (every or last)
            and not (yes or dry_run)
            and common.on_terminal()
            and (not last or scan is not None)
        ):
            question = (
                f"Restore what the scan of {scan.started} wrote ({scan.files} file(s))?"
                if last and scan
                else "Restore every file genretag wrote, in every library the cache knows?"
            )
            if not typer.confirm(question, default=False):
                session.close()
                out.print("nothing restored")
                raise typer.Exit(0)
        rows = session.undo(paths, last=last, force=force, scan=scan)
        session.close()
    except (ConfigError, CacheError) as e:
        raise usage_error(
            f"{e} (use --db for another cache)" if isinstance(e, ConfigError) else str(e)
        ) from None
    folders = [p for p in paths or [] if p.is_dir()]
    for r in rows:
        path = rep.shown_path(r.path, folders)
        if r.status == UndoStatus.ERROR:
            err.print(f"{path}: {r.error}", markup=False, soft_wrap=True)
        elif r.status == UndoStatus.GONE:
            out.print(f"{r.status}: {path}: {r.error}", markup=False, soft_wrap=True)
        else:
            out.print(
                f"{r.status}: {path} → {'; '.join(r.restored) or '(no genre)'}",
                markup=False,
                soft_wrap=True,
            )
    failed = sum(r.status == UndoStatus.ERROR for r in rows)
    done = sum(r.status in (UndoStatus.RESTORED, UndoStatus.WOULD_RESTORE) for r in rows)
    gone = sum(r.status == UndoStatus.GONE for r in rows)
    out.print(
        f"{done} {'would be restored' if dry_run else 'restored'}, {failed} failed"
        + (f", {gone} deleted since (history closed)" if gone and not dry_run else "")
        + (f", {gone} deleted since" if gone and dry_run else "")
    )
    raise typer.Exit(1 if failed else 0)
