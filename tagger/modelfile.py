"""Reading what a model file says about itself, without loading torch or the weights.

A re-scan of an unchanged library needs only the model's id and labels; reading them from
the safetensors header (8 bytes of length, then JSON) keeps such a run free of torch's
start-up cost. The weights are loaded (``loader.LazyModel.load``) only when a track must be
heard. This module imports nothing of genretag's: ``model`` and ``loader`` build on it.

A model file is input like any other: its metadata is checked against ``SCHEMA`` (types
and bounds) before anything is built from it, so a crafted file is refused with one line
rather than a traceback or an attempt to allocate absurd amounts of memory.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

FORMAT = "genretag-model"
FORMAT_VERSION = 1
MAX_HEADER = 100 << 20


class ModelFileError(Exception):
    """A model file that cannot be read or does not describe a genretag model."""


DEFAULT_MODEL = "genretag-gtzan.safetensors"


def shipped(name: str) -> Path:
    """A file shipped in ``genretag.weights`` (the repository's ``weights/`` folder), found
    through the import system, so it is the same in a checkout, an editable install and a
    wheel."""
    from importlib.resources import files

    return Path(str(files("genretag.weights") / name))


def default_model_path() -> Path:
    """The shipped genre model."""
    return shipped(DEFAULT_MODEL)


def read_metadata(path: Path) -> dict:
    """The genretag metadata of a model file (labels, audio, architecture, model id...)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            size = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            if not 0 < size <= MAX_HEADER:
                raise ModelFileError(f"{path}: not a readable model file (no safetensors header)")
            header = json.loads(f.read(size))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model file not found") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read model file ({e.strerror or e})") from None
    except (ValueError, UnicodeDecodeError):
        raise ModelFileError(f"{path}: not a readable model file (bad header)") from None
    extra = header.get("__metadata__") if isinstance(header, dict) else None
    raw = extra.get("genretag") if isinstance(extra, dict) else None
    if not isinstance(raw, str):
        raise ModelFileError(f"{path}: not a genretag model (no 'genretag' metadata)")
    try:
        meta = json.loads(raw)
    except ValueError:
        raise ModelFileError(f"{path}: not a usable genretag model "
                             "(metadata is not JSON)") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: not a usable genretag model (metadata is not an object)")
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: unknown model format {meta.get('format')!r}")
    problem = check(meta, SCHEMA)
    if problem:
        raise ModelFileError(f"{path}: not a usable genretag model ({problem})")
    return meta


# -- the metadata schema: key -> (type, bounds or nested schema, required) ------------------

SCHEMA: dict = {
    "labels": ("strs", (1, 1000), True),
    "model_id": ("str", (1, 64), True),
    "audio": ("dict", {
        "sample_rate": ("int", (1000, 192_000), True),
        "n_fft": ("int", (16, 16_384), True),
        "hop_length": ("int", (1, 16_384), True),
        "n_mels": ("int", (1, 512), True),
        "window_frames": ("int", (2, 10_000), True),
        "window_hop_frames": ("int", (1, 10_000), True),
        "log_scale": ("num", (1e-6, 1e9), False),
    }, True),
    "architecture": ("dict", {
        "name": ("str", (1, 32), False),
        "frontend_filters": ("num", (0.01, 16), True),
        "midend_filters": ("int", (1, 1024), True),
        "backend_units": ("int", (1, 4096), True),
        "activation": ("str", (1, 16), False),
        "head": ("str", (1, 16), False),
    }, True),
    "display_names": ("strmap", (0, 1000), False),
    "label_sets": ("listmap", (0, 100), False),
    "parents": ("listmap", (0, 1000), False),
    "tags": ("strs", (0, 1000), False),
    "tag_genres": ("listmap", (0, 1000), False),
    "features": ("dict", {
        "columns": ("strs", (0, 1000), False),
        "cnn_weight": ("num", (0, 1), False),
    }, False),
}


def _is_strs(v, n: int = 10_000) -> bool:
    return isinstance(v, list) and len(v) <= n and all(isinstance(x, str) for x in v)


def check(meta: dict, schema: dict, where: str = "") -> str | None:
    """The first way ``meta`` breaks ``schema``, in words, or None."""
    for key, (kind, bounds, required) in schema.items():
        name = f"{where}{key}"
        if key not in meta:
            if required:
                return f"no {name!r}"
            continue
        v = meta[key]
        if kind == "dict":
            if not isinstance(v, dict):
                return f"{name!r} must be an object"
            problem = check(v, bounds, f"{name}.")
            if problem:
                return problem
            continue
        lo, hi = bounds
        if kind == "int":
            ok = isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi
        elif kind == "num":
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi
        elif kind == "str":
            ok = isinstance(v, str) and lo <= len(v) <= hi
        elif kind == "strs":
            ok = _is_strs(v) and lo <= len(v) <= hi
        elif kind == "strmap":
            ok = (isinstance(v, dict) and len(v) <= hi
                  and all(isinstance(x, str) for x in v.values()))
        else:  # listmap: name -> list of names
            ok = isinstance(v, dict) and len(v) <= hi and all(_is_strs(x) for x in v.values())
        if not ok:
            return f"{name!r} must be {DESCRIBE[kind]} within {lo}..{hi}"
    return None


DESCRIBE = {"int": "a whole number", "num": "a number", "str": "a string (length)",
            "strs": "a list of strings (count)", "strmap": "an object of strings (count)",
            "listmap": "an object of string lists (count)"}
