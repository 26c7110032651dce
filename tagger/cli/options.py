"""The command line's options, derived from :class:`Settings`.

:func:`takes_settings` gives a command an option for each setting it takes, with the
setting's own flags, help, bounds and default; the command receives one ``settings`` that
holds the flags given, over the config file, over the defaults. A flag that is not given
reaches typer as None, so a config file's value is never hidden by a default.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from enum import Enum
from typing import Any

import typer

from genretag.settings import ConfigError, Option, options, resolve, shown

SWITCH = "{}__is_{}"  # the hidden parameter name of a switch (--merge: policy__is_merge)


def _typer_option(name: str, default: Any, option: Option) -> tuple[Any, Any]:
    """(annotation, typer.Option) of one setting, not given: None."""
    annotation = _ANNOTATIONS[name]
    shown_default = _default_text(default)
    text = f"{option.help}  [default: {shown_default}]" if shown_default else option.help
    return annotation, typer.Option(
        None, *option.flags, help=text, show_default=False, min=option.low, max=option.high
    )


def _default_text(default: Any) -> str:
    if default is None:
        return ""
    if isinstance(default, Enum):
        return default.value
    if isinstance(default, bool):
        return ""  # a flag: given or not
    return default if isinstance(default, str) else shown(default)


def _annotations() -> dict[str, Any]:
    """What typer parses each setting as: its enum, int, float, bool, str or path."""
    from pathlib import Path

    from genretag.settings import types_of

    out = {}
    for name, _, _ in options():
        kind = types_of(name)[0]
        parsed = (
            kind
            if kind in (int, float, bool, str, Path)
            or (isinstance(kind, type) and issubclass(kind, Enum))
            else str
        )
        out[name] = parsed | None
    return out


_ANNOTATIONS = _annotations()


def takes_settings(command: str | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate ``fn(..., settings: Settings)``, a typer command: its options gain one per
    setting that ``command`` takes (``settings.options``), and ``fn`` gets the settings
    in force. A setting that cannot work is a usage error (exit 2) of one line."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn)
        # ``sources`` (where each value came from), for a command that shows them
        wants_sources = "sources" in signature.parameters
        own = [p for p in signature.parameters.values() if p.name not in ("settings", "sources")]
        added, annotations = [], {}
        for name, default, option in options(command):
            annotation, typer_default = _typer_option(name, default, option)
            added.append(
                inspect.Parameter(
                    name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=typer_default,
                    annotation=annotation,
                )
            )
            annotations[name] = annotation
            for flag, help_text, value in option.switches:
                hidden = SWITCH.format(name, value.value)
                added.append(
                    inspect.Parameter(
                        hidden,
                        inspect.Parameter.KEYWORD_ONLY,
                        default=typer.Option(False, flag, help=help_text),
                        annotation=bool,
                    )
                )
                annotations[hidden] = bool
        names = [(name, option) for name, _, option in options(command)]

        @functools.wraps(fn)
        def run(**kwargs: Any) -> Any:
            from genretag.cli.common import usage_error

            flags = {}
            for name, option in names:
                flags[name] = kwargs.pop(name)
                set_by = option.flags[0] if flags[name] is not None else None
                for flag, _, value in option.switches:
                    if kwargs.pop(SWITCH.format(name, value.value)):
                        if set_by:
                            raise usage_error(f"{set_by} and {flag} cannot be used together")
                        flags[name], set_by = value, flag
            try:
                settings, sources = resolve(flags)
            except ConfigError as e:
                raise usage_error(str(e)) from None
            if wants_sources:
                kwargs["sources"] = sources
            return fn(**kwargs, settings=settings)

        run.__signature__ = signature.replace(parameters=own + added)  # type: ignore[attr-defined]
        run.__annotations__ = {
            **{k: v for k, v in fn.__annotations__.items() if k not in ("settings", "sources")},
            **annotations,
        }
        return run

    return wrap


# the default of a command's ``settings`` parameter; ``takes_settings`` replaces it
SETTINGS: Any = None
