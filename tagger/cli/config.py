"""``genretag config``: every setting in force, and where its value came from."""

from __future__ import annotations

from dataclasses import fields

from rich.table import Table
from rich.text import Text

from genretag.cli.common import out, usage_error
from genretag.settings import ConfigError, config_path, resolve, shown


def config() -> None:
    """Show every setting's value and where it came from: default or the config file
    (flags override both, command by command)."""
    path = config_path()
    try:
        settings, sources = resolve({})
    except ConfigError as e:
        raise usage_error(str(e)) from None
    state = "" if path.is_file() else " (none: every value is the default)"
    out.print(f"config file: {path}{state}", markup=False, soft_wrap=True)
    table = Table()
    for column in ("setting", "value", "from"):
        table.add_column(column)
    for f in fields(settings):
        table.add_row(f.name, Text(shown(getattr(settings, f.name))), sources[f.name])
    out.print(table)
