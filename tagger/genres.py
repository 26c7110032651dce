"""Choosing genres from a track's probabilities, in the user's own vocabulary."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class MapError(Exception):
    """A --map file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Choice:
    genres: list[str]  # empty when unsure
    confidence: float  # probability of the best genre
    unsure: bool
    probabilities: dict[str, float]  # per output name, after merging


@dataclass(frozen=True)
class Vocabulary:
    """Model labels -> the names written into files. Labels mapped to one name are merged
    (their probabilities add up); a label mapped to "" is never written."""

    names: dict[str, str]

    @classmethod
    def default(cls, labels: list[str], display: dict[str, str] | None = None) -> "Vocabulary":
        display = display or {}
        return cls({lab: display.get(lab, lab) for lab in labels})

    def with_map(self, path: Path) -> "Vocabulary":
        """Apply a TOML map: ``label = "Name"`` lines, at the top level or under [genres]."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise MapError(f"{path}: cannot read map file ({e.strerror or e})") from None
        except tomllib.TOMLDecodeError as e:
            raise MapError(f"{path}: not valid TOML ({e})") from None
        table = data.get("genres", data)
        names = dict(self.names)
        for label, name in table.items():
            if label not in names:
                raise MapError(f"{path}: {label!r} is not a label of this model "
                               f"(labels: {', '.join(self.names)})")
            if not isinstance(name, str):
                raise MapError(f"{path}: the name for {label!r} must be a string")
            names[label] = name.strip()
        return Vocabulary(names)

    def merge(self, labels: list[str], probs: np.ndarray) -> dict[str, float]:
        out: dict[str, float] = {}
        for label, p in zip(labels, probs):
            name = self.names.get(label, label)
            if name:
                out[name] = out.get(name, 0.0) + float(p)
        return out


def choose(probs: np.ndarray, labels: list[str], vocab: Vocabulary, top_k: int = 0,
           min_confidence: float = 0.3) -> Choice:
    """The best genre, plus up to ``top_k`` more at or above ``min_confidence``.

    If even the best is below ``min_confidence`` the track is "unsure" and gets no genre.
    """
    merged = vocab.merge(labels, probs)
    ranked = sorted(merged.items(), key=lambda kv: -kv[1])
    if not ranked:
        return Choice([], 0.0, True, merged)
    best_name, best = ranked[0]
    if best < min_confidence:
        return Choice([], best, True, merged)
    extra = [name for name, p in ranked[1:1 + max(0, top_k)] if p >= min_confidence]
    return Choice([best_name, *extra], best, False, merged)
