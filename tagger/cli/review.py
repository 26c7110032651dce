"""``genretag review``: hear what is not yet heard (a dry run), then serve the review page
until Ctrl-C."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from genretag.cli.common import err, open_session, out, usage_error
from genretag.cli.options import SETTINGS, takes_settings
from genretag.settings import REVIEW, Settings


@takes_settings(REVIEW)
def review(
    paths: list[Path] = typer.Argument(..., help="Folders (or files) to review."),
    no_browser: bool = typer.Option(
        False, "--no-browser", help="Print the page's address; do not open a browser."
    ),
    settings: Settings = SETTINGS,
) -> None:
    """See, hear and decide every proposal in a local page; nothing is written into a file
    (genretag scan then writes exactly what you decided)."""
    from genretag.models.file import ModelFileError
    from genretag.models.loader import RuntimeUnavailable
    from genretag.render.progress import ScanProgress
    from genretag.review.view import Review
    from genretag.store.cache import CacheError

    for p in paths:
        if not p.exists():
            raise usage_error(f"{p}: no such file or folder")
    try:
        from genretag.review.server import bind, serve
    except ImportError as e:  # pragma: no cover - the base install has them
        raise usage_error(f"genretag review needs starlette and uvicorn ({e})") from None
    try:  # the port first: a busy one is an error of one line before anything is heard
        bind(settings.port).close()
    except OSError as e:
        raise usage_error(
            f"--port {settings.port}: cannot listen on 127.0.0.1 ({e.strerror or e})"
        ) from None
    session = open_session(dataclasses.replace(settings, dry_run=True))
    page = Review(session, paths)
    try:
        suggested = _suggested(session, paths) if settings.suggest else []
        with ScanProgress(err, False, "hearing") as progress:
            page.hear(progress.advance, progress.found, suggested)
            progress.finish(len(page.tracks), 0.0)
    except (ModelFileError, RuntimeUnavailable, CacheError) as e:
        raise usage_error(str(e)) from None
    except KeyboardInterrupt:
        session.close()
        raise typer.Exit(130) from None
    for path, why in page.errors:
        err.print(f"{path}: {why}", markup=False, soft_wrap=True)

    def ready(url: str) -> None:
        out.print(f"genretag review: {len(page.tracks)} tracks at", markup=False)
        out.print(url, markup=False, soft_wrap=True)
        out.print("Ctrl-C stops it; decisions are kept in the cache as you make them", markup=False)
        if not no_browser:
            import webbrowser

            webbrowser.open(url)

    try:
        serve(page, settings.port, ready)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    finally:
        session.close()


def _suggested(session, paths: list[Path]) -> list[str]:
    """The tracks ``learn --suggest`` would ask about (none, with a warning, where nothing
    can be learnt from the library's tags)."""
    from genretag.learn import LearnError

    try:
        learned = session.learn(paths)
    except LearnError as e:
        err.print(f"genretag: warning: --suggest: {e}", markup=False, soft_wrap=True)
        return []
    return [str(s.path) for s in learned.suggestions]
