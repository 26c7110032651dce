"""What every command shares: the two consoles, one-line usage errors, opening a session,
a model or the cache."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console, ConsoleDimensions

from genretag.settings import ConfigError, Settings
from genretag.states import Device, Runtime

PIPED_WIDTH = 1 << 16  # columns of output that is piped or redirected


class Screen(Console):
    """rich's console, except that output piped or redirected is never folded to a
    terminal's width: every row is one line, for grep and less."""

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)  # type: ignore[attr-defined]  # rich's own property
        return size if self.is_terminal else ConsoleDimensions(PIPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


out = Screen(highlight=False)
err = Screen(stderr=True, highlight=False)


def usage_error(message: str) -> typer.Exit:
    err.print(f"genretag: error: {message}", markup=False, soft_wrap=True)
    return typer.Exit(2)


def open_model(path: Path | None, device: Device, genre_model: bool = True):
    """Load the model in PyTorch on the chosen device (training and learn need its
    network); exits with 2 if the file or the device is unusable, or (``genre_model``) if
    the file is a pretrained backbone."""
    from genretag.api import open_model_file
    from genretag.models.file import ModelFileError
    from genretag.models.loader import RuntimeUnavailable

    try:
        return open_model_file(path, device, genre_model, Runtime.TORCH).load()
    except (ConfigError, ModelFileError, RuntimeUnavailable) as e:
        raise usage_error(str(e)) from None


def open_session(settings: Settings, must_exist: bool = False):
    """A library ``Session`` with these settings, its cache opened; exits with 2 and one
    line when either cannot work. With ``must_exist`` (undo), a missing cache is an error
    rather than a new, empty one."""
    from genretag.api import Session
    from genretag.store.cache import CacheError

    if must_exist:
        cache_must_exist(settings.db)
    try:
        session = Session(settings)
        _ = session.cache  # opened now: a cache that cannot be used stops the run up front
    except (ConfigError, CacheError) as e:
        raise usage_error(str(e)) from None
    return session


def cache_must_exist(db: Path | None) -> None:
    """Report and undo read a cache: a missing one is a usage error, not a new, empty one."""
    from genretag.store.cache import default_db_path

    path = db or default_db_path()
    if not path.is_file():
        raise usage_error(f"{path}: no such cache file")


def open_cache(db: Path | None, must_exist: bool = False, read_only: bool = False):
    """The cache; with ``must_exist`` (report, undo), a missing file is a usage error
    rather than a new, empty cache; ``read_only`` (report) changes nothing in it."""
    from genretag.store.cache import Cache, CacheError, default_db_path

    path = db or default_db_path()
    if must_exist:
        cache_must_exist(db)
    if db is not None and not db.absolute().parent.is_dir():
        raise usage_error(f"{db}: no such folder for the cache (--db)")
    try:
        return Cache(path, read_only=read_only and path.is_file())
    except CacheError as e:
        raise usage_error(str(e)) from None


def on_terminal() -> bool:
    """Whether a person can answer a question (standard input is a terminal)."""
    return sys.stdin.isatty()
