"""``genretag scan``: hear, decide, write, and show what changed."""

from __future__ import annotations

from pathlib import Path

import typer

from genretag.cli.common import err, open_session, out, usage_error
from genretag.cli.options import SETTINGS, takes_settings
from genretag.settings import SCAN, Settings
from genretag.states import SCAN_STATUSES, Status


@takes_settings(SCAN)
def scan(
    paths: list[Path] = typer.Argument(..., help="Folders (or files) to tag."),
    status: str | None = typer.Option(
        None,
        "--status",
        help="Only list rows with these "
        "statuses in the table and report (comma-separated: "
        "conflict,unsure,error...).",
    ),
    report: Path | None = typer.Option(
        None, "--report", help="Also write rows to .json, .csv, .html or .parquet."
    ),
    quiet: bool = typer.Option(
        False,
        "-q",
        "--quiet",
        help="No progress, no table; a real "
        "run prints a summary instead of one line per written file.",
    ),
    verbose: bool = typer.Option(
        False, "-v", "--verbose", help="Under each failed file, what the decoder (ffmpeg) said."
    ),
    settings: Settings = SETTINGS,
) -> None:
    """Classify every track under PATHS and write genre tags (see --dry-run first)."""
    from genretag.render import report as rep
    from genretag.render.progress import ScanProgress

    for p in paths:
        if not p.exists():
            raise usage_error(f"{p}: no such file or folder")
    if report is not None and report.suffix.lower() not in rep.REPORT_SUFFIXES:
        raise usage_error(f"{report}: report must end in .json, .csv, .html or .parquet")
    why = (
        rep.parquet_missing()
        if report is not None and report.suffix.lower() == ".parquet"
        else None
    )
    if why:
        raise usage_error(f"{report}: {why}")
    if report is not None and not report.absolute().parent.is_dir():
        raise usage_error(f"{report}: no such folder for the report")
    shown: set[str] = set(SCAN_STATUSES)
    if status:
        shown = {s.strip() for s in status.split(",") if s.strip()}
        unknown = shown - set(SCAN_STATUSES)
        if unknown:
            raise usage_error(
                f"--status {', '.join(sorted(unknown))}: choose from {', '.join(SCAN_STATUSES)}"
            )
    from genretag.hearing.rayengine import RayError
    from genretag.models.file import ModelFileError
    from genretag.models.loader import RuntimeUnavailable
    from genretag.store.cache import CacheError

    session = open_session(settings)
    dry_run = settings.dry_run
    try:
        with ScanProgress(err, quiet, "dry run" if dry_run else "tagging") as progress:
            result = session.scan(paths, on_progress=progress.advance, on_found=progress.found)
            progress.finish(result.tracks, result.elapsed)
    except (ModelFileError, RuntimeUnavailable) as e:
        raise usage_error(str(e)) from None
    except RayError as e:
        raise usage_error(f"--engine ray: {e}") from None
    finally:
        try:
            session.close()
        except CacheError as e:
            err.print(f"genretag: error: {e}", markup=False, soft_wrap=True)
    folders = [p for p in paths if p.is_dir()]
    listed = [r for r in result.rows if r.status in shown]
    if dry_run and not quiet:
        out.print(rep.rows_table(listed, "what would change", folders))
    elif not dry_run:
        rep.print_changes(
            out, result, folders, quiet, shown if status else set(rep.LISTED_AFTER_A_RUN)
        )
    if not quiet:
        rep.print_skipped(out, result, folders)
        out.print(rep.summary_table(result, dry_run))
        t = result.timings
        out.print(
            f"device {result.device}, coverage {result.coverage}; decoded "
            f"{result.decoded} files; time: decode {t.decode:.1f} s (all workers), "
            f"frontend {t.frontend:.1f} s, CNN {t.cnn:.1f} s, tags "
            f"{result.tag_seconds:.1f} s, cache {result.cache_seconds:.1f} s"
        )
    rep.print_errors(err, result, verbose)
    report_failed = False
    if report is not None:
        try:
            rep.write_report(report, result, dry_run, listed, folders)
            if not quiet:
                out.print(f"report written to {report}", markup=False)
        except OSError as e:  # the scan's work is cached; only the report is lost
            err.print(
                f"{report}: cannot write report ({e.strerror or e})", markup=False, soft_wrap=True
            )
            report_failed = True
    if result.cache_error:
        err.print(
            f"genretag: error: {result.cache_error}; the scan stopped, and no file was "
            "written whose undo history could not be stored",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    if result.interrupted:
        err.print("interrupted: finished tracks are cached; run the same command to resume")
        raise typer.Exit(130)
    raise typer.Exit(1 if result.counts()[Status.ERROR] or report_failed else 0)
