"""``genretag report``: what the cache knows."""

from __future__ import annotations

from genretag.cli.common import open_cache, out
from genretag.cli.options import SETTINGS, takes_settings
from genretag.library.discover import printable
from genretag.settings import REPORT, Settings


@takes_settings(REPORT)
def report(settings: Settings = SETTINGS) -> None:
    """Summarise what the cache knows: statuses, genres, errors, undoable writes."""
    from rich.table import Table
    from rich.text import Text

    cache = open_cache(settings.db, must_exist=settings.db is not None, read_only=True)
    s = cache.summary()
    cache.close()
    out.print(f"cache: {printable(cache.path)}", markup=False, soft_wrap=True)  # a path is no title
    t = Table(show_header=False)
    t.add_column("what")
    t.add_column("n", justify="right")
    t.add_row("tracks", str(s["tracks"]))
    for status, n in s["by_status"].items():
        t.add_row(f"  {status}", str(n))
    if s["dry_run"]:
        t.add_row("last seen by a dry run (nothing written)", str(sum(s["dry_run"].values())))
        for status, n in s["dry_run"].items():
            t.add_row(f"  {status} (dry run)", str(n))
    for genre, n in sorted(s["genres"].items(), key=lambda kv: -kv[1]):
        t.add_row(Text(f"  in the files: {genre}"), str(n))
    for action, n in s["decisions"].items():
        t.add_row(f"decided in review: {action}", str(n))
    t.add_row("writes that undo can restore", str(s["writes"]))
    out.print(t)
    for path, error in s["errors"]:
        out.print(f"error: {printable(path)}: {error}", markup=False, soft_wrap=True)
