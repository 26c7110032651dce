"""Labelled audio for training and evaluation, from the layouts people have.

- a folder per genre: ``DATASET/<label>/*.{mp3,flac,wav,...}`` (nested folders allowed); a
  track's group is its artist: the ``artists.csv`` beside the label folders (columns
  ``clip,artist``, as for GTZAN), else the file's album-artist or artist tag, else its first
  folder below the label folder;
- GTZAN: the same layout with ``<genre>.NNNNN.<ext>`` names and its ``artists.csv``; without
  one, clips with neighbouring numbers (which often share an artist) are grouped by block;
- FMA: ``fma_metadata/tracks.csv`` (``genre_top`` and FMA's own training/validation/test
  split) with the ``fma_*/NNN/NNNNNN.mp3`` tree;
- a CSV manifest with the columns ``path,label[,group]`` (paths relative to the manifest);
- a ``tracks.csv`` beside the audio (MER, Emotify): columns ``id,artist`` and either
  ``genres`` (several per clip, separated by ``; ``: ``<id>.*`` lies beside it) or ``genre``
  (``<genre>/<id>.*``).

Every item has a group (its artist where it can be known; else the file itself), so that
evaluation measures music by artists the model never heard.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from genretag.library.discover import find_audio

# GTZAN clip-number blocks (inclusive ends): neighbours inside a block often share an artist.
GTZAN_BLOCKS = ((0, 7), (8, 12), (13, 29), (30, 49), (50, 69), (70, 79), (80, 99))
GTZAN_NEIGHBOURS = 15  # clip numbers either side of a test clip kept out of table training
_GTZAN_NAME = re.compile(r"^([a-z]+)\.(\d{5})\.[A-Za-z0-9]+$")


class DatasetError(Exception):
    pass


@dataclass(frozen=True)
class Item:
    path: Path
    label: str  # the first of ``genres``: what a one-label recipe learns
    group: str
    split: str | None = None  # a dataset's own split ("training", "validation", "test")
    genres: tuple[str, ...] = ()  # every genre the dataset gives the clip (its label alone: ())
    dataset: str = ""  # the dataset's folder name, when several are loaded together

    @property
    def all_genres(self) -> tuple[str, ...]:
        return self.genres or (self.label,)


def artist_key(name: str) -> str:
    """A group for an artist's name, the same in every dataset (``artist:john lee hooker``),
    so one artist's clips of two datasets land on one side of a fold."""
    return f"artist:{' '.join(name.split()).casefold()}"


def gtzan_block(number: int) -> int:
    for i, (lo, hi) in enumerate(GTZAN_BLOCKS):
        if lo <= number <= hi:
            return i
    return len(GTZAN_BLOCKS)


def gtzan_group(name: str) -> str | None:
    """'blues.00012.opus' -> 'blues:block2' (the block's index), or None for another name."""
    m = _GTZAN_NAME.match(name)
    return f"{m.group(1)}:block{gtzan_block(int(m.group(2)))}" if m else None


def gtzan_number(name: str) -> tuple[str, int] | None:
    """'blues.00012' or 'blues.00012.au' -> ('blues', 12); None for another name."""
    m = _GTZAN_NAME.match(name if name.count(".") >= 2 else f"{name}.x")
    return (m.group(1), int(m.group(2))) if m else None


def read_artists(path: Path) -> dict[str, str]:
    """``artists.csv`` (clip, artist[, ...]): clip name -> artist, for the clips whose
    artist is known."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
    if rows and not {"clip", "artist"} <= set(rows[0]):
        raise DatasetError(f"{path}: needs the columns clip,artist")
    return {r["clip"].strip(): r["artist"].strip() for r in rows if (r["artist"] or "").strip()}


def tagged_artist(path: Path) -> str | None:
    """The album artist, else the artist, of a file's tags (None when it has neither)."""
    import mutagen

    try:
        f = mutagen.File(path, easy=True)
    except Exception:  # an unreadable tag is no artist; decoding will report the file
        return None
    if f is None or f.tags is None:
        return None
    for key in ("albumartist", "artist"):
        values = f.tags.get(key) or []
        if values and str(values[0]).strip():
            return str(values[0]).strip()
    return None


def artist_group(root: Path, label: str, path: Path, artists: dict[str, str]) -> str:
    """Who made ``path``, as well as can be known: see the module docstring."""
    if artists:
        return artist_key(artists[path.stem]) if path.stem in artists else f"clip:{path.stem}"
    block = gtzan_group(path.name)
    if block:
        return block
    artist = tagged_artist(path)
    if artist:
        return artist_key(artist)
    rel = path.relative_to(root / label)
    return f"folder:{label}/{rel.parts[0]}" if len(rel.parts) > 1 else f"file:{label}/{rel}"


def from_folders(root: Path) -> list[Item]:
    """A folder per label, each item grouped by artist (see the module docstring)."""
    root = Path(root)
    labels = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not labels:
        raise DatasetError(f"{root}: no label folders found")
    artists = read_artists(root / "artists.csv") if (root / "artists.csv").is_file() else {}
    items = []
    for label in labels:
        for path in find_audio([root / label]).files:
            items.append(Item(path, label, artist_group(root, label, path, artists)))
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


TRACKS = "tracks.csv"
GENRES_SEPARATOR = "; "


def from_tracks(root: Path) -> list[Item]:
    """A ``tracks.csv`` (id, artist, and genres or genre) and the audio it names: see the
    module docstring. A row whose audio is missing is left out; a clip without an artist is
    its own group."""
    root = Path(root)
    table = root / TRACKS
    try:
        with open(table, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = set(reader.fieldnames or [])
            rows = list(reader)
    except OSError as e:
        raise DatasetError(f"{table}: cannot read ({e.strerror or e})") from None
    several = "genres" in columns
    if not {"id", "artist"} <= columns or not (several or "genre" in columns):
        raise DatasetError(f"{table}: needs the columns id,artist and genres or genre")
    audio, top = {}, root.resolve()
    for path in find_audio([root]).files:
        folder = path.parent.resolve()
        audio.setdefault((folder.name if folder != top else "", path.stem), path)
    items = []
    for row in rows:
        raw = row["genres"] if several else row["genre"]
        genres = tuple(g.strip() for g in (raw or "").split(GENRES_SEPARATOR.strip()) if g.strip())
        where = "" if several else (row["genre"] or "").strip()
        path = audio.get((where, row["id"].strip()))
        if path is None or not genres:
            continue
        artist = (row["artist"] or "").strip()
        group = artist_key(artist) if artist else f"clip:{root.name}/{row['id']}"
        items.append(Item(path, genres[0], group, None, genres if several else (), root.name))
    if not items:
        raise DatasetError(f"{table}: no row names audio found beside it")
    return items


def load(spec: Path) -> list[Item]:
    """Recognise a dataset's layout from what is at ``spec``."""
    spec = Path(spec)
    if spec.is_file() and spec.suffix.lower() == ".csv":
        return from_manifest(spec)
    if (spec / "fma_metadata" / "tracks.csv").exists():
        return from_fma(spec)
    if (spec / TRACKS).is_file():
        return from_tracks(spec)
    if spec.is_dir():
        return from_folders(spec)
    raise DatasetError(f"{spec}: not a dataset folder, FMA tree or CSV manifest")


def load_all(specs: list[Path]) -> list[Item]:
    """Several datasets as one: each item keeps its dataset's folder name (``dataset``), and
    artists are grouped by name across them (``artist_key``)."""
    items = []
    names = [Path(s).resolve().name or str(s) for s in specs]
    for spec, name in zip(specs, names):
        items += [replace(i, dataset=name) for i in load(spec)]
    return items


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
        """A mask (rows,) of the rows that may train when ``groups`` and the clips ``names``
        are a fold's test side: not in those groups, not those clips' own rows, and, for
        GTZAN names, not within ``GTZAN_NEIGHBOURS`` clip numbers of a test clip of the same
        genre. GTZAN keeps an artist's clips in runs, and the table holds rows of clips
        whose artist is not known here: this keeps a test artist's unlisted clips out."""
        near: dict[str, list[int]] = {}
        for n in names:
            if (g := gtzan_number(n)) is not None:
                near.setdefault(g[0], []).append(g[1])
        keep = []
        for g, n in zip(self.groups, self.names):
            num = gtzan_number(n)
            close = num is not None and any(
                abs(num[1] - t) <= GTZAN_NEIGHBOURS for t in near.get(num[0], [])
            )
            keep.append(g not in groups and n not in names and not close)
        return np.array(keep, dtype=bool)


def load_feature_table(
    path: Path, labels: list[str], columns: list[str], artists: dict[str, str] | None = None
) -> FeatureTable:
    """Read ``path`` (CSV with ``filename``, ``label`` and ``columns``). A row's group is
    its artist when ``artists`` knows the clip, as the audio's is, else its GTZAN block, so
    folds keep both sides apart."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"filename", "label", *columns} - set(reader.fieldnames or [])
            if missing:
                raise DatasetError(
                    f"{path}: feature table lacks columns {', '.join(sorted(missing)[:4])}"
                )
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
            raise DatasetError(f"{path}: row {row['filename']!r} has a non-numeric value") from None
        stem = Path(row["filename"]).stem  # 'blues.00000.au' -> 'blues.00000'
        names.append(stem)
        y.append(labels.index(label))
        artist = (artists or {}).get(stem)
        groups.append(artist_key(artist) if artist else gtzan_group(f"{stem}.x") or stem)
    return FeatureTable(
        names,
        np.array(X, dtype=np.float64).reshape(len(X), len(columns)),
        np.array(y, dtype=np.int64),
        groups,
        skipped,
    )
