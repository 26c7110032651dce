"""Labelled audio for training and evaluation, from the layouts people have.

- a folder per genre: ``DATASET/<label>/*.{mp3,flac,wav,...}`` (nested folders allowed);
- GTZAN: the same layout with ``<genre>.NNNNN.<ext>`` names; clips with neighbouring numbers
  often share an artist or album, so the group of a clip is its block of clip numbers;
- FMA: ``fma_metadata/tracks.csv`` (``genre_top`` and FMA's own training/validation/test
  split) with the ``fma_*/NNN/NNNNNN.mp3`` tree;
- a CSV manifest with the columns ``path,label[,group]`` (paths relative to the manifest).

Every item has a group (artist, album or block; else the file itself), so that windows of one
recording, or near-duplicate recordings, never sit on both sides of a split.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagger.discover import find_audio

# GTZAN clip-number blocks (inclusive ends): neighbours inside a block often share an artist.
GTZAN_BLOCKS = ((0, 7), (8, 12), (13, 29), (30, 49), (50, 69), (70, 79), (80, 99))
_GTZAN_NAME = re.compile(r"^([a-z]+)\.(\d{5})\.[A-Za-z0-9]+$")


class DatasetError(Exception):
    pass


@dataclass(frozen=True)
class Item:
    path: Path
    label: str
    group: str
    split: str | None = None  # a dataset's own split ("training", "validation", "test")


def gtzan_block(number: int) -> int:
    for i, (lo, hi) in enumerate(GTZAN_BLOCKS):
        if lo <= number <= hi:
            return i
    return len(GTZAN_BLOCKS)


def gtzan_group(name: str) -> str | None:
    """'blues.00012.opus' -> 'block2' (the block's index), or None for another name."""
    m = _GTZAN_NAME.match(name)
    return f"block{gtzan_block(int(m.group(2)))}" if m else None


def from_folders(root: Path) -> list[Item]:
    """A folder per label; GTZAN-named files are grouped by block, others by file."""
    root = Path(root)
    labels = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not labels:
        raise DatasetError(f"{root}: no label folders found")
    items = []
    for label in labels:
        for path in find_audio([root / label]).files:
            group = gtzan_group(path.name) or str(path.relative_to(root))
            items.append(Item(path, label, group))
    return items


def from_manifest(path: Path) -> list[Item]:
    path = Path(path)
    items = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
            raise DatasetError(f"{path}: a manifest needs the columns path,label[,group]")
        for row in reader:
            p = Path(row["path"])
            p = p if p.is_absolute() else path.parent / p
            items.append(Item(p, row["label"].strip(), (row.get("group") or str(p)).strip()))
    return items


def from_fma(root: Path) -> list[Item]:
    """FMA: genre_top per track from tracks.csv (two header rows), audio in fma_*/NNN/."""
    root = Path(root)
    meta = root / "fma_metadata" / "tracks.csv"
    audio_dirs = sorted(p for p in root.glob("fma_*") if p.is_dir() and p.name != "fma_metadata")
    if not meta.exists() or not audio_dirs:
        raise DatasetError(f"{root}: expected fma_metadata/tracks.csv and an fma_* audio folder")
    with open(meta, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    top, sub = rows[0], rows[1]
    cols = {(a, b): i for i, (a, b) in enumerate(zip(top, sub))}
    genre_col, split_col = cols[("track", "genre_top")], cols[("set", "split")]
    artist_col = cols.get(("artist", "id"))
    items = []
    for row in rows[3:]:
        if not row or not row[genre_col]:
            continue
        tid = int(row[0])
        name = f"{tid:06d}.mp3"
        for d in audio_dirs:
            p = d / name[:3] / name
            if p.exists():
                group = f"artist{row[artist_col]}" if artist_col is not None else name
                items.append(Item(p, row[genre_col], group, row[split_col]))
                break
    return items


def load(spec: Path) -> list[Item]:
    """Recognise a dataset's layout from what is at ``spec``."""
    spec = Path(spec)
    if spec.is_file() and spec.suffix.lower() == ".csv":
        return from_manifest(spec)
    if (spec / "fma_metadata" / "tracks.csv").exists():
        return from_fma(spec)
    if spec.is_dir():
        return from_folders(spec)
    raise DatasetError(f"{spec}: not a dataset folder, FMA tree or CSV manifest")


@dataclass
class FeatureTable:
    """Rows of a GTZAN-style feature table (``filename,...,label``): values (rows, columns)
    of the named columns, label indices and groups, for the labels of the audio dataset."""

    names: list[str]
    X: np.ndarray
    y: np.ndarray
    groups: list[str]
    skipped: int = 0  # rows whose label the audio dataset does not have

    def rows_outside(self, groups: set[str], names: set[str]) -> np.ndarray:
        """A mask (rows,) of the rows neither in ``groups`` nor named in ``names``: what may
        train when those are a fold's test side (a test clip's own row included)."""
        return np.array([g not in groups and n not in names
                         for g, n in zip(self.groups, self.names)], dtype=bool)


def load_feature_table(path: Path, labels: list[str], columns: list[str]) -> FeatureTable:
    """Read ``path`` (CSV with ``filename``, ``label`` and ``columns``). A GTZAN file name
    gets its clip-number block as group, like the audio, so folds keep both sides apart."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"filename", "label", *columns} - set(reader.fieldnames or [])
            if missing:
                raise DatasetError(f"{path}: feature table lacks columns "
                                   f"{', '.join(sorted(missing)[:4])}")
            rows = list(reader)
    except OSError as e:
        raise DatasetError(f"{path}: cannot read feature table ({e.strerror or e})") from None
    names, X, y, groups, skipped = [], [], [], [], 0
    for row in rows:
        label = row["label"].strip()
        if label not in labels:
            skipped += 1
            continue
        try:
            X.append([float(row[c]) for c in columns])
        except ValueError:
            raise DatasetError(f"{path}: row {row['filename']!r} has a non-numeric value"
                               ) from None
        stem = Path(row["filename"]).stem  # 'blues.00000.au' -> 'blues.00000'
        names.append(stem)
        y.append(labels.index(label))
        groups.append(gtzan_group(f"{stem}.x") or stem)
    return FeatureTable(names, np.array(X, dtype=np.float64).reshape(len(X), len(columns)),
                        np.array(y, dtype=np.int64), groups, skipped)
