"""Albums: which tracks are decided together, and the evidence they pool.

People think in albums: an album of 12 tracks should not get 12 genres. With ``--by album``
the tracks that share an album tag and an album artist (or artist, when that is empty) are
one album; with ``--by folder``, every folder of at least two tracks is. The album's
probabilities are the duration-weighted mean of its tracks' (``pooled``), and every track
gets the genres chosen from them, by the same rules as a single track's.

Decided one by one instead: tracks without an album tag, albums of one track, and
compilations (album artist "Various Artists", the compilation flag, or more than half the
tracks by different artists). A track whose own probability of the album's top genre is
tiny while one of its own genres is confident is an ``outlier``: it keeps its own genres
unless the user asks for strict albums.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genretag.hearing.prediction import Prediction
from genretag.states import GroupBy
from genretag.tags.base import AlbumInfo

VARIOUS_ARTISTS = {
    "various artists",
    "various",
    "va",
    "v.a.",
    "verschiedene interpreten",
    "artistes divers",
    "varios artistas",
}
OUTLIER_P = 0.05  # the track's own probability of the album's top genre, below which...
# ...and with one of its own genres at least --min-confidence, a track is an outlier


@dataclass(frozen=True)
class Member:
    """One track, as grouping needs it."""

    path: Path
    info: AlbumInfo
    duration: float


@dataclass(frozen=True)
class Album:
    """Tracks decided together (indices into the scan's list), and what to call them."""

    title: str
    members: tuple[int, ...]


def is_compilation(infos: Sequence[AlbumInfo]) -> bool:
    """Various artists, the compilation flag, or more than half the tracks by different
    artists."""
    if any(i.compilation or i.album_artist.strip().casefold() in VARIOUS_ARTISTS for i in infos):
        return True
    artists = {i.artist.strip().casefold() for i in infos if i.artist.strip()}
    return len(artists) > len(infos) / 2


def group(
    members: Sequence[Member], by: GroupBy, known: dict[str, object] | None = None
) -> list[Album]:
    """The albums among ``members``: groups of at least two tracks to decide together.
    Tracks in no album are decided one by one. ``known``: album keys by path from a
    program that knows the albums (beets), used instead of the album tags."""
    if by == GroupBy.TRACK:
        return []
    groups: dict[object, list[int]] = {}
    for i, m in enumerate(members):
        key: object
        if by == GroupBy.FOLDER:
            key = m.path.parent
        elif known is not None:
            key = known.get(str(m.path))
        else:
            key = m.info.key()
        if key is not None:
            groups.setdefault(key, []).append(i)
    albums = []
    for key, idx in groups.items():
        if len(idx) < 2:
            continue
        infos = [members[i].info for i in idx]
        if by == GroupBy.ALBUM and is_compilation(infos):
            continue
        title = f"{key.name}/" if isinstance(key, Path) else infos[0].title() or f"album {key}"
        albums.append(Album(title, tuple(idx)))
    return albums


def pooled(predictions: Sequence[Prediction], durations: Sequence[float]) -> Prediction:
    """The album's prediction: its tracks' probabilities, weighted by duration (a track of
    unknown length counts as the mean)."""
    d = np.array([x if x and x > 0 else np.nan for x in durations], dtype=float)
    d = np.where(np.isnan(d), np.nanmean(d) if np.isfinite(d).any() else 1.0, d)
    stacked = np.stack([p.probabilities for p in predictions])
    return Prediction(predictions[0].labels, pool_probabilities(stacked, d))


def pool_probabilities(probs: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(tracks, labels) -> (labels,): the same pooling on a plain array (evaluation)."""
    w = np.ones(len(probs)) if weights is None else np.asarray(weights, dtype=float)
    return (probs * w[:, None]).sum(0) / w.sum()


def is_outlier(own: dict[str, float], album_top: str, min_confidence: float) -> bool:
    """``own``: the track's merged probabilities (name -> p)."""
    best = max(own.values(), default=0.0)
    return own.get(album_top, 0.0) < OUTLIER_P and best >= min_confidence
