"""The ``genretag`` command line (typer).

Exit status: 0 when every file was handled, 1 when some failed (they are listed), 2 for usage
errors (bad path, unreadable model or map file, unknown or missing device, missing cache)
and for a cache that cannot be written (the scan stops before writing more files), 130 on
Ctrl-C. Every text that comes from files or users is printed with rich markup off.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

import typer

from genretag.cli.common import out


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    from genretag.models.file import ModelFileError, default_model_path, read_metadata

    try:
        release = version("genretag")
    except PackageNotFoundError:
        release = "(not installed)"
    try:
        model = f"default model {read_metadata(default_model_path()).model_id}"
    except ModelFileError as e:
        model = f"default model unusable: {e}"
    out.print(f"genretag {release}, {model}", markup=False)
    raise typer.Exit(0)


def _main_options(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and the default model's id.",
    ),
) -> None:
    """Offline genre tagger for music libraries."""


def _load_plugins(app: typer.Typer) -> None:
    """Commands other packages add (the training package adds train and evaluate)."""
    for ep in entry_points(group="genretag.commands"):
        try:
            ep.load()(app)
        except Exception as e:  # a broken plug-in must not take the tagger down
            print(
                f"genretag: warning: command plug-in {ep.name} failed to load: {e}", file=sys.stderr
            )


def build_app(plugins: bool = True) -> typer.Typer:
    """The command line: the tagger's commands, then those the plug-ins add. Each call
    builds a new one, so nothing is registered into shared state at import time."""
    app = typer.Typer(
        add_completion=False,
        no_args_is_help=True,
        rich_markup_mode=None,
        help="Offline genre tagger for music libraries.",
    )
    app.callback()(_main_options)
    from genretag.cli import config, learn, predict, report, review, scan, undo

    app.command()(scan.scan)
    app.command()(predict.predict)
    app.command()(report.report)
    app.command()(undo.undo)
    app.command()(learn.learn)
    app.command()(review.review)
    app.command()(config.config)
    if plugins:
        _load_plugins(app)
    return app


def set_process_policy() -> None:
    """Once, at the entry point, before torch or numba are imported (start-up stays light;
    a user's own settings win):

    - every core for torch's CNN (decoding runs in ffmpeg processes beside it);
    - numba's compiled code (librosa's, for models with a feature head) cached in the user
      cache folder, so it is compiled once per machine (about 14 s here), not once per run
      wherever the installed package's folder is read-only.
    """
    from platformdirs import user_cache_dir

    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(user_cache_dir("genretag")) / "numba"))


def main() -> None:
    set_process_policy()
    build_app()()
