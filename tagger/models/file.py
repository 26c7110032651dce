"""Reading what a model file says about itself, without loading torch or the weights.

A re-scan of an unchanged library needs only the model's id and labels; reading them from
the safetensors header (8 bytes of length, then JSON) keeps such a run free of torch's
start-up cost. The weights are loaded (``models.loader.LazyModel.load``) only when a track must be
heard. ``read_metadata`` returns a typed, frozen :class:`ModelMeta`, validated once; this
module imports nothing of genretag's but its plain values (``params``, ``states``), so
``model`` and ``loader`` build on it without it pulling torch in.

A model file is input like any other: its metadata is checked against ``SCHEMA`` (types
and bounds) before anything is built from it, so a crafted file is refused with one line
rather than a traceback or an attempt to allocate absurd amounts of memory.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from genretag.models.params import Architecture, AudioParams
from genretag.states import ModelKind

if TYPE_CHECKING:  # numpy is imported where tensors are written: start-up reads headers
    import numpy as np

FORMAT = "genretag-model"
FORMAT_VERSION = 2  # 2: an explicit "kind" (files of version 1 are migrated when read)
# a learnt model's own head (GenreNet's ``library``): its standardisation and its weights
LIBRARY_KEYS = ("library.mean", "library.scale", "library.linear.weight", "library.linear.bias")
MEL_KEY = "frontend.mel_basis"  # the mel filterbank's name among a model file's tensors
MAX_HEADER = 100 << 20


class ModelFileError(Exception):
    """A model file that cannot be read or does not describe a genretag model."""


DEFAULT_MODEL = "genretag-v3.safetensors"


def shipped(name: str) -> Path:
    """A file shipped in ``genretag.weights`` (the repository's ``weights/`` folder), found
    through the import system, so it is the same in a checkout, an editable install and a
    wheel."""
    from importlib.resources import files

    return Path(str(files("genretag.weights") / name))


def default_model_path() -> Path:
    """The shipped genre model."""
    return shipped(DEFAULT_MODEL)


@dataclass(frozen=True)
class FeatureHead:
    """The table features a model's feature head takes, and the CNN's share beside it."""

    columns: tuple[str, ...] = ()
    cnn_weight: float = 1.0


@dataclass(frozen=True)
class FillIn:
    """In a model ``genretag learn`` made: the labels that its base model's own heads fill in
    (labels the owner uses on too few tracks to learn). ``take``: which of the base model's
    outputs, in order, each an output after the learnt ones; ``exclusive`` and
    ``tag_genres``: how many exclusive and tagger genres the base model has;
    ``source``: each filled label's name in the base model."""

    take: tuple[int, ...]
    exclusive: int
    tag_genres: int
    source: dict[str, str] = field(default_factory=dict)
    genres: int = 0  # a base model with a ``genres`` head: how many it names

    @property
    def outputs(self) -> int:
        """How many outputs the base model has."""
        return self.exclusive + self.tag_genres + self.genres


@dataclass(frozen=True)
class Stacking:
    """In a model ``genretag learn`` made over a base with a ``genres`` head: how its head
    (``heads.StackedHead``) is shaped. ``base``: how many genres the base names (its logits
    are inputs); ``points`` and ``axes``: the learnt labels' own tracks its familiarity
    measures distances to, and in how many directions."""

    base: int
    points: int
    axes: int


@dataclass(frozen=True)
class ModelMeta:
    """What a model file says about itself, validated once (``SCHEMA``) and typed.

    ``labels``: the outputs in order; ``tag_genres``: the labels read from the pretrained
    tagger's ``tags`` (label -> tags), whose probabilities stand alone (a track can have
    several); the others are exclusive. ``parents``: the genre hierarchy (label -> parent
    labels); ``label_sets``: named subsets (``--labels gtzan``). ``raw``: the metadata as
    the file holds it (after migration), for what a newer writer adds.
    """

    model_id: str
    kind: ModelKind
    labels: tuple[str, ...]
    audio: AudioParams
    architecture: Architecture
    name: str = ""
    display_names: dict[str, str] = field(default_factory=dict)
    label_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    tag_genres: dict[str, tuple[str, ...]] = field(default_factory=dict)
    features: FeatureHead | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    fill_in: FillIn | None = None
    stacking: Stacking | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def independent(self) -> list[str]:
        """Labels whose probability stands alone; the others add up to one. Every label of
        a ``genres`` head (the default model) or of a model learnt from a library
        (``genretag learn``) stands alone."""
        if self.architecture.head in ("library", "genres"):
            return list(self.labels)
        return list(self.tag_genres)

    @property
    def is_genre_model(self) -> bool:
        return self.kind == ModelKind.GENRE_MODEL

    @classmethod
    def from_dict(cls, meta: dict, where: str = "model") -> ModelMeta:
        """Validate (``SCHEMA``), migrate an older format, and type ``meta``; a
        ``ModelFileError`` naming ``where`` if it is unusable."""
        if meta.get("format") != FORMAT:
            raise ModelFileError(f"{where}: unknown model format {meta.get('format')!r}")
        meta = migrate(meta)
        problem = check(meta, SCHEMA)
        if problem:
            raise ModelFileError(f"{where}: not a usable genretag model ({problem})")
        feats = meta.get("features")
        return cls(
            model_id=meta["model_id"],
            kind=ModelKind(meta["kind"]),
            labels=tuple(meta["labels"]),
            audio=AudioParams.from_dict(meta["audio"]),
            architecture=Architecture.from_dict(meta["architecture"]),
            name=meta.get("name", ""),
            display_names=dict(meta.get("display_names") or {}),
            label_sets=_tuples(meta.get("label_sets")),
            parents=_tuples(meta.get("parents")),
            tags=tuple(meta.get("tags") or ()),
            tag_genres=_tuples(meta.get("tag_genres")),
            features=FeatureHead(
                tuple(feats.get("columns", ())), float(feats.get("cnn_weight", 1.0))
            )
            if feats
            else None,
            thresholds={k: float(v) for k, v in (meta.get("thresholds") or {}).items()},
            fill_in=_fill_in(meta.get("fill_in"), len(meta["labels"]), where),
            stacking=Stacking(**meta["stacking"]) if meta.get("stacking") else None,
            raw=meta,
        )


def _fill_in(table: dict | None, n_labels: int, where: str) -> FillIn | None:
    if not table:
        return None
    fill = FillIn(
        tuple(table["take"]),
        table["exclusive"],
        table["tag_genres"],
        dict(table.get("source") or {}),
        table.get("genres", 0),
    )
    if len(fill.take) >= n_labels or max(fill.take) >= fill.outputs:
        raise ModelFileError(
            f"{where}: not a usable genretag model ('fill_in' names outputs "
            "its base model does not have)"
        )
    return fill


def _tuples(table: dict | None) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v) for k, v in (table or {}).items()}


def migrate(meta: dict) -> dict:
    """Bring the metadata of an older format to this one (a copy). Version 1 had no
    ``kind``: the pretrained taggers ported from musicnn are the files that name their
    ``source``; every other file of that version is a genre model."""
    meta = dict(meta)
    if "kind" not in meta:
        meta["kind"] = ModelKind.BACKBONE.value if "source" in meta else ModelKind.GENRE_MODEL.value
    return meta


def read_metadata(path: Path) -> ModelMeta:
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
        raise ModelFileError(
            f"{path}: not a usable genretag model (metadata is not JSON)"
        ) from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: not a usable genretag model (metadata is not an object)")
    return ModelMeta.from_dict(meta, str(path))


# -- the weights, whole ---------------------------------------------------------------------

MEANING = ("labels", "audio", "architecture", "features", "tags", "tag_genres")
DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}


def weights_id(meta: dict, tensors: Iterable[tuple[str, bytes | memoryview]]) -> str:
    """A model's id: a digest of what its outputs mean (``MEANING``) and of its weights,
    ``(name, little-endian C-order bytes)`` in name order. It changes whenever the model
    does, so it is also the checksum that ``check_whole`` verifies."""
    h = hashlib.sha256()
    h.update(json.dumps({k: meta[k] for k in MEANING if k in meta}, sort_keys=True).encode())
    for name, data in tensors:
        h.update(name.encode())
        h.update(data)
    return h.hexdigest()[:16]


def header(
    kind: ModelKind, labels: list[str], audio: AudioParams, architecture: Architecture
) -> dict:
    """What every model file says about itself first (``SCHEMA``'s required fields, but the
    id, which ``write_model_file`` adds); a writer adds its own keys after."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": ModelKind(kind).value,
        "labels": list(labels),
        "audio": audio.to_dict(),
        "architecture": architecture.to_dict(),
    }


def write_model_file(path: Path, tensors: dict[str, np.ndarray], meta: dict) -> str:
    """Write ``tensors`` with ``meta`` (``genretag`` metadata, less its ``model_id``) as a
    model file at ``path``; returns the model id (``weights_id``). PyTorch's
    ``models.net.save_model`` and ``learn`` both write through it, without pickle."""
    import numpy as np
    from safetensors.numpy import save_file

    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    meta = {
        **meta,
        "model_id": weights_id(meta, ((name, tensors[name].tobytes()) for name in sorted(tensors))),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"genretag": json.dumps(meta)})
    os.chmod(path, 0o644)  # safetensors creates it private; a model is meant to be shared
    return meta["model_id"]


def read_tensors(path: Path, prefixes: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The tensors of a model file whose names start with one of ``prefixes``."""
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        names = f.keys()  # safe_open is no mapping: keys() is its only listing
        return {k: f.get_tensor(k) for k in names if k.startswith(prefixes)}


def check_whole(path: Path) -> None:
    """Refuse a model file that is not whole, before any runtime uses it: the safetensors
    header must cover the file exactly, each tensor's bytes must fit its shape, and the
    weights must give the model id the file claims (a truncated copy or a flipped byte
    does not). A ``ModelFileError`` says which, in one line."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read model file ({e.strerror or e})") from None
    size = struct.unpack("<Q", data[:8])[0] if len(data) >= 8 else 0
    try:
        if not 0 < size <= MAX_HEADER:
            raise ValueError("no safetensors header")
        header = json.loads(data[8 : 8 + size])
        meta = json.loads(header["__metadata__"]["genretag"])
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        header = meta = None
    if not isinstance(header, dict) or not isinstance(meta, dict):
        raise ModelFileError(f"{path}: not a readable model file (bad header)")
    body = memoryview(data)[8 + size :]
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    try:
        spans = {
            name: (*t["data_offsets"], DTYPE_BYTES[t["dtype"]] * math.prod(t["shape"]))
            for name, t in tensors.items()
        }
        end = max((stop for _, stop, _ in spans.values()), default=0)
    except (KeyError, TypeError, ValueError):
        raise ModelFileError(
            f"{path}: damaged model file (a tensor is not described whole)"
        ) from None
    if end != len(body):
        raise ModelFileError(
            f"{path}: truncated or damaged model file (its header describes "
            f"{8 + size + end:,} bytes; the file has {len(data):,})"
        )
    for name, (start, stop, expected) in spans.items():
        if not 0 <= start <= stop or stop - start != expected:
            raise ModelFileError(
                f"{path}: damaged model file (tensor {name!r} holds "
                f"{stop - start} bytes; its shape needs {expected})"
            )
    found = weights_id(
        meta,
        (
            (name, body[t["data_offsets"][0] : t["data_offsets"][1]])
            for name, t in sorted(tensors.items())
        ),
    )
    if found != meta.get("model_id"):
        raise ModelFileError(
            f"{path}: damaged model file (its weights do not give its model "
            f"id {meta.get('model_id')}; re-download or re-train it)"
        )


# -- the metadata schema: key -> (type, bounds or nested schema, required) ------------------

SCHEMA: dict = {
    "kind": ("choice", tuple(k.value for k in ModelKind), True),
    "labels": ("strs", (1, 1000), True),
    "model_id": ("str", (1, 64), True),
    "audio": (
        "dict",
        {
            "sample_rate": ("int", (1000, 192_000), True),
            "n_fft": ("int", (16, 16_384), True),
            "hop_length": ("int", (1, 16_384), True),
            "n_mels": ("int", (1, 512), True),
            "window_frames": ("int", (2, 10_000), True),
            "window_hop_frames": ("int", (1, 10_000), True),
            "log_scale": ("num", (1e-6, 1e9), False),
        },
        True,
    ),
    "architecture": (
        "dict",
        {
            "name": ("str", (1, 32), False),
            "frontend_filters": ("num", (0.01, 16), True),
            "midend_filters": ("int", (1, 1024), True),
            "backend_units": ("int", (1, 4096), True),
            "activation": ("str", (1, 16), False),
            "head": ("str", (1, 16), False),
        },
        True,
    ),
    "display_names": ("strmap", (0, 1000), False),
    "label_sets": ("listmap", (0, 100), False),
    "parents": ("listmap", (0, 1000), False),
    "tags": ("strs", (0, 1000), False),
    "tag_genres": ("listmap", (0, 1000), False),
    "features": (
        "dict",
        {
            "columns": ("strs", (0, 1000), False),
            "cnn_weight": ("num", (0, 1), False),
        },
        False,
    ),
    "thresholds": ("nummap", (0, 1), False),  # label -> the probability that makes it sure
    "stacking": (
        "dict",
        {
            "base": ("int", (1, 1000), True),
            "points": ("int", (0, 1_000_000), True),
            "axes": ("int", (1, 4096), True),
        },
        False,
    ),
    "fill_in": (
        "dict",
        {
            "take": ("ints", (1, 1000), True),
            "exclusive": ("int", (0, 1000), True),
            "tag_genres": ("int", (0, 1000), True),
            "source": ("strmap", (0, 1000), False),
            "genres": ("int", (0, 1000), False),
        },
        False,
    ),
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
        if kind == "choice":
            if v not in bounds:
                return f"{name!r} must be one of {', '.join(bounds)}"
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
        elif kind == "ints":  # output indices
            ok = (
                isinstance(v, list)
                and lo <= len(v) <= hi
                and all(
                    isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 10_000 for x in v
                )
            )
        elif kind == "nummap":
            ok = isinstance(v, dict) and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and lo <= x <= hi
                for x in v.values()
            )
        elif kind == "strmap":
            ok = (
                isinstance(v, dict) and len(v) <= hi and all(isinstance(x, str) for x in v.values())
            )
        else:  # listmap: name -> list of names
            ok = isinstance(v, dict) and len(v) <= hi and all(_is_strs(x) for x in v.values())
        if not ok:
            return f"{name!r} must be {DESCRIBE[kind]} within {lo}..{hi}"
    return None


DESCRIBE = {
    "int": "a whole number",
    "num": "a number",
    "str": "a string (length)",
    "strs": "a list of strings (count)",
    "ints": "a list of output indices (count)",
    "strmap": "an object of strings (count)",
    "listmap": "an object of string lists (count)",
    "nummap": "an object of numbers",
}
