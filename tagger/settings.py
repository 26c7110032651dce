"""Every setting of genretag, defined once: :class:`Settings`.

Each field is one setting: its type, its default (written once, as an enum or a typed
value), its help, the command-line flags that set it and the commands that take it. The
command line's options (``cli.options``), the beets plugin's configuration and the config
file are all derived from these fields, under the field's name:

    # ~/.config/genretag/config.toml (platformdirs; GENRETAG_CONFIG names another file)
    min_confidence = 0.4
    policy = "merge"
    coverage = "full"

A value comes from, in order of precedence: a flag, the config file, the default.
:func:`resolve` says which, for ``genretag config``. A ``Settings`` is checked when made;
what cannot work is a :class:`ConfigError` of one line.
"""

from __future__ import annotations

import os
import sys
import typing
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

from genretag.states import CoverageMode, Device, Engine, GroupBy, Policy, Runtime

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_ENV = "GENRETAG_CONFIG"  # names another config file (tests; a second library)

# the commands, by name
SCAN, PREDICT, UNDO, REPORT, LEARN, REVIEW, TRAIN, EVALUATE = (
    "scan",
    "predict",
    "undo",
    "report",
    "learn",
    "review",
    "train",
    "evaluate",
)
HEARS = frozenset({SCAN, PREDICT, LEARN, REVIEW})  # commands that hear audio with a model
VALIDATED = "validated"  # the label set a scan writes by default, where the model names it
ALL_LABELS = "all"


class ConfigError(Exception):
    """A configuration that cannot work; the message is one line for the user."""


@dataclass(frozen=True)
class Option:
    """How a setting meets people: its help, its flags, the commands that take it, its
    bounds, and flags that each set one value (``--merge``: policy merge)."""

    help: str
    flags: tuple[str, ...]
    commands: frozenset[str]
    low: float | None = None
    high: float | None = None
    switches: tuple[tuple[str, str, Any], ...] = ()  # (flag, help, value)


def setting(
    default: Any,
    help: str,
    flags: tuple[str, ...],
    commands: frozenset[str] | set,
    low: float | None = None,
    high: float | None = None,
    switches: tuple[tuple[str, str, Any], ...] = (),
) -> Any:
    return field(
        default=default,
        metadata={"option": Option(help, flags, frozenset(commands), low, high, switches)},
    )


@dataclass(frozen=True)
class Settings:
    """Everything that decides what genretag does besides the audio and the paths it is
    given. Frozen and checked when made; ``replace`` makes a changed copy."""

    # -- the model and where it runs
    model: Path | None = setting(
        None, "Genre model file (default: the shipped model).", ("--model",), HEARS
    )
    device: Device = setting(
        Device.AUTO,
        "Where the model runs: auto (a CUDA GPU when there is one), cpu or cuda.",
        ("--device",),
        HEARS | {TRAIN, EVALUATE},
    )
    runtime: Runtime = setting(
        Runtime.AUTO,
        "What runs the network: auto (ONNX Runtime on a CPU where the model "
        "allows it, else PyTorch), torch or onnx.",
        ("--runtime",),
        HEARS,
    )
    engine: Engine = setting(
        Engine.LOCAL,
        "Where tracks are heard: local, or ray (a Ray cluster; pip install 'genretag[ray]').",
        ("--engine",),
        {SCAN, LEARN, TRAIN, EVALUATE},
    )
    ray_address: str | None = setting(
        None,
        "The Ray cluster to join (default: RAY_ADDRESS, else a Ray runtime started on "
        "this machine).",
        ("--ray-address",),
        {SCAN, LEARN, TRAIN, EVALUATE},
    )
    # -- the cache
    db: Path | None = setting(
        None,
        "Cache file (default: genretag.sqlite in the user cache folder).",
        ("--db",),
        {SCAN, UNDO, REPORT, LEARN, REVIEW},
    )
    # -- what a scan writes
    dry_run: bool = setting(
        False,
        "Show what would change; touch no file.",
        ("--dry-run/--no-dry-run", "--pretend", "-n"),
        {SCAN, UNDO},
    )
    policy: Policy = setting(
        Policy.FILL,
        "What to do with a file's own genres: fill (only files without one), overwrite or merge.",
        ("--policy",),
        {SCAN, REVIEW},
        switches=(
            ("--overwrite", "Replace existing genres (--policy overwrite).", Policy.OVERWRITE),
            ("--merge", "Add to existing genres (--policy merge).", Policy.MERGE),
        ),
    )
    top_k: int = setting(
        1,
        "At most K genres a track (the best, then others at --min-confidence; --parents "
        "adds theirs).",
        ("--top-k",),
        {SCAN, REVIEW},
        low=1,
    )
    min_confidence: float = setting(
        0.3,
        "Least probability a genre needs; a track whose best is lower stays untagged (unsure).",
        ("--min-confidence",),
        {SCAN, REVIEW},
        low=0.0,
        high=1.0,
    )
    genre_map: Path | dict[str, str] | None = setting(
        None,
        'TOML file: label = "Name" (for learn: "owner\'s label" = "Name to learn it as").',
        ("--map",),
        {SCAN, LEARN, REVIEW},
    )
    parents: bool = setting(
        False,
        "Also write the parent genres of each chosen one (House -> Dance -> Electronic).",
        ("--parents/--no-parents",),
        {SCAN, REVIEW},
    )
    labels: str = setting(
        VALIDATED,
        "Which of the model's genres may be written: validated (those the model card "
        "validated on artists it never heard; every genre of a model that names no such "
        "set), all, or another set it names (gtzan: the ten GTZAN genres).",
        ("--labels",),
        {SCAN, REVIEW},
    )
    by: GroupBy = setting(
        GroupBy.ALBUM,
        "Decide by album (tracks sharing album and album artist tags), by "
        "folder (untagged libraries), or track by track.",
        ("--by",),
        {SCAN, REVIEW},
    )
    album_strict: bool = setting(
        False,
        "Give outliers their album's genres too.",
        ("--album-strict/--no-album-strict",),
        {SCAN, REVIEW},
    )
    # -- how much of a track is heard, and how fast
    coverage: CoverageMode = setting(
        CoverageMode.AUTO,
        "full: every window; fast: K windows per track; auto: full on GPU, fast on CPU.",
        ("--coverage",),
        HEARS,
    )
    windows: int = setting(4, "K for --coverage fast.", ("--windows",), HEARS, low=1)
    batch_size: int = setting(
        0,
        "Windows per CNN batch (0: 16 on CPU, 256 on GPU).",
        ("--batch-size",),
        {SCAN, REVIEW},
        low=0,
    )
    workers: int = setting(
        0, "Decode workers (0: one per core).", ("--workers",), {SCAN, LEARN, REVIEW}, low=0
    )
    # -- learn
    min_tracks: int = setting(
        20, "A label needs at least this many tracks...", ("--min-tracks",), {LEARN}, low=2
    )
    min_artists: int = setting(
        3, "...by at least this many artists.", ("--min-artists",), {LEARN}, low=2
    )
    min_precision: float = setting(
        0.7,
        "Cross-validated precision a label must reach.",
        ("--min-precision",),
        {LEARN},
        low=0.0,
        high=1.0,
    )
    fill_in: bool = setting(
        True,
        "Let the base model write its genres where your tags say nothing, and your "
        "labels it writes better (your Bebop as its Jazz).",
        ("--fill-in/--no-fill-in",),
        {LEARN},
    )
    suggest: int = setting(
        0,
        "List this many untagged tracks whose genre would teach the model most (review: "
        "put them in the queue; it learns first).",
        ("--suggest",),
        {LEARN, REVIEW},
        low=0,
    )
    # -- review
    port: int = setting(
        0,
        "The review page's port on 127.0.0.1 (0: a free one).",
        ("--port",),
        {REVIEW},
        low=0,
        high=65535,
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kinds = types_of(f.name)
            if value is None and type(None) in kinds:
                continue
            kind = kinds[0]
            if isinstance(kind, type) and issubclass(kind, Enum):
                try:
                    object.__setattr__(self, f.name, kind(value))
                except ValueError:
                    raise ConfigError(
                        f"{f.name} {value!r}: choose from {', '.join(e.value for e in kind)}"
                    ) from None
            elif kind is int or kind is float:
                _check_number(f, value, whole=kind is int)
            elif kind is bool and not isinstance(value, bool):
                raise ConfigError(f"{f.name} must be true or false, not {value!r}")
            elif kind is str and not isinstance(value, str):
                raise ConfigError(f"{f.name} must be a string, not {value!r}")
            elif kind is Path:
                if isinstance(value, dict) and dict in kinds:  # genre_map given as a table
                    continue
                if not isinstance(value, (str, os.PathLike)):
                    raise ConfigError(f"{f.name} must be a path, not {value!r}")
                object.__setattr__(self, f.name, Path(value).expanduser())
        if self.db is not None and not self.db.absolute().parent.is_dir():
            raise ConfigError(f"{self.db}: no such folder for the cache")

    def decode_workers(self) -> int:
        """How many decoders run: ``workers``, or one per core."""
        return self.workers or os.cpu_count() or 1


_HINTS = typing.get_type_hints(Settings)


def _check_number(f, value: Any, whole: bool) -> None:
    option: Option = f.metadata["option"]
    ok = (isinstance(value, int) if whole else isinstance(value, (int, float))) and not isinstance(
        value, bool
    )
    if ok and option.low is not None and value < option.low:
        ok = False
    if ok and option.high is not None and value > option.high:
        ok = False
    if not ok:
        if whole:
            raise ConfigError(
                f"{f.name} must be a whole number of at least {option.low:g}, not {value!r}"
            )
        raise ConfigError(
            f"{f.name} must be a number from {option.low:g} to {option.high:g}, not {value!r}"
        )


def types_of(name: str) -> tuple[Any, ...]:
    """The types a field takes, the main one first (``X | None``: X, NoneType)."""
    hint = _HINTS[name]
    args = typing.get_args(hint)
    if not args or typing.get_origin(hint) is dict:
        return (hint,)
    return tuple(typing.get_origin(a) or a for a in args)


def options(command: str | None = None) -> list[tuple[str, Any, Option]]:
    """(name, default, option) of each setting, or of those ``command`` takes."""
    return [
        (f.name, f.default, f.metadata["option"])
        for f in fields(Settings)
        if command is None or command in f.metadata["option"].commands
    ]


def config_path() -> Path:
    """Where the config file is: ``GENRETAG_CONFIG``, else config.toml in the user
    config folder (``~/.config/genretag`` on Linux)."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("genretag")) / "config.toml"


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The settings a config file holds (none when there is no file); a ``ConfigError``
    naming the file for one that cannot be read or names an unknown setting."""
    path = path or config_path()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not a TOML file ({e})") from None
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting {unknown[0]!r} (the settings: {', '.join(sorted(known))})"
        )
    # a relative path in the file means one beside it, wherever genretag runs
    for name, value in data.items():
        if Path in types_of(name) and isinstance(value, str) and not value.startswith("~"):
            data[name] = str(path.parent / value)
    return data


DEFAULT, FILE, FLAG = "default", "file", "flag"


def resolve(
    flags: dict[str, Any] | None = None, path: Path | None = None
) -> tuple[Settings, dict[str, str]]:
    """The settings in force, and where each came from (``default``, ``file`` or
    ``flag``): a flag wins over the config file, which wins over the default. A flag given
    as None is not given."""
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    from_file = read_config(path)
    where = path or config_path()
    try:
        Settings(**from_file)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    values = {**from_file, **given}
    sources = {
        f.name: FLAG if f.name in given else FILE if f.name in from_file else DEFAULT
        for f in fields(Settings)
    }
    return Settings(**values), sources


def shown(value: Any) -> str:
    """A value as the config file would hold it."""
    if isinstance(value, Enum):
        return f'"{value.value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "(none)"
    if isinstance(value, (str, Path)):
        return f'"{value}"'
    return f"{value:g}" if isinstance(value, float) else str(value)
