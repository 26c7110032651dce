"""``genretag config``: every setting in force, and where its value came from."""

from __future__ import annotations

from dataclasses import fields

from genretag.cli.common import out
from genretag.cli.options import SETTINGS, takes_settings
from genretag.settings import Settings, config_path, shown


@takes_settings(None)  # every setting's flag: to see what a command line would change
def config(settings: Settings = SETTINGS, sources: dict[str, str] | None = None) -> None:
    """Show every setting's value and where it came from: default, the config file, or a
    flag given here (any command's)."""
    from rich.table import Table
    from rich.text import Text

    path = config_path()
    state = "" if path.is_file() else " (none: every value is the default)"
    out.print(f"config file: {path}{state}", markup=False, soft_wrap=True)
    table = Table()
    for column in ("setting", "value", "from"):
        table.add_column(column)
    for f in fields(settings):
        table.add_row(f.name, Text(shown(getattr(settings, f.name))), (sources or {})[f.name])
    out.print(table)
