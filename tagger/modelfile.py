"""Reading what a model file says about itself, without loading torch or the weights.

A re-scan of an unchanged library needs only the model's id and labels; reading them from
the safetensors header (8 bytes of length, then JSON) keeps such a run free of torch's
start-up cost. The weights are loaded (``loader.LazyModel.load``) only when a track must be
heard. This module imports nothing of genretag's: ``model`` and ``loader`` build on it.
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


def default_model_path() -> Path:
    """The shipped model, in ``weights/`` beside the ``tagger`` package."""
    return Path(__file__).resolve().parent.parent / "weights" / "genretag-gtzan.safetensors"


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
    raw = (header.get("__metadata__") or {}).get("genretag")
    if raw is None:
        raise ModelFileError(f"{path}: not a genretag model (no 'genretag' metadata)")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: unknown model format {meta.get('format')!r}")
    return meta
