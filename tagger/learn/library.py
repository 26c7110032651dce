"""A library as ``learn`` reads it: each file's genres (less those genretag wrote itself;
its undo history knows which; a decision of ``genretag review`` instead, where one holds for
the file) and artist, read as a scan reads them (from the cache where
the file is unchanged), and its pooled backbone statistics, from the cache where a scan
stored them, else heard now and stored."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genretag import tags
from genretag.deciding.decider import genres_written
from genretag.library.discover import find_audio
from genretag.settings import Settings, tomllib
from genretag.states import Decided
from genretag.store.cache import Cache, Statistics
from genretag.tags.fingerprint import audio as fingerprint_audio
from genretag.tags.fingerprint import content as fingerprint_content


class LearnError(Exception):
    """A learn that cannot go on; the message is one line for the user."""


def label_key(name: str) -> str:
    """One key for every spelling of a label: ``Hip Hop``, ``Hip-Hop`` and ``hiphop``."""
    return re.sub(r"[\W_]+", "", name.casefold())


def read_map(path: Path | dict[str, str] | None) -> dict[str, str]:
    """A ``--map`` TOML file: ``"owner's label" = "Name to learn it as"`` (or that table)."""
    if path is None:
        return {}
    if isinstance(path, dict):
        return dict(path)
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise LearnError(f"{path}: not a usable map ({e})") from None
    bad = [k for k, v in table.items() if not isinstance(v, str) or not label_key(v)]
    if bad:
        raise LearnError(f"{path}: every label must map to a name (not {bad[0]!r})")
    return {label_key(k): v for k, v in table.items()}


@dataclass
class Track:
    """One file as learn sees it: the owner's labels (keys), its artist, its statistics."""

    path: Path
    labels: set[str]
    artist: str
    statistics: np.ndarray | None = None


@dataclass
class Library:
    """What learn found: tagged and untagged tracks, the owner's spellings of each label
    (key -> Counter of spellings), and the files it could not use (path, reason)."""

    tagged: list[Track] = field(default_factory=list)
    untagged: list[Track] = field(default_factory=list)
    spellings: dict[str, Counter] = field(default_factory=dict)
    errors: list[tuple[Path, str]] = field(default_factory=list)
    own_skipped: int = 0  # genres left out because genretag wrote them
    heard: int = 0  # tracks decoded now (the rest came from the cache)

    def name(self, key: str) -> str:
        """The owner's most common spelling of a label."""
        return self.spellings[key].most_common(1)[0][0]


def gather(
    paths: Iterable[Path], cache: Cache, backbone: str, genre_map: dict[str, str]
) -> tuple[Library, list[tuple[Track, str | None, str | None]]]:
    """Read every file's labels and artist, and take its statistics from the cache where
    they are those of its audio now. Returns the library and the tracks still to hear
    (with their content and audio fingerprints)."""
    lib = Library()
    walk = find_audio(list(paths))
    lib.errors.extend(walk.errors)
    known = cache.statistics(backbone)
    written = cache.written_paths()
    decided = cache.decisions()
    to_hear = []
    for path in walk.files:
        try:
            st = path.stat()
            row = cache.get(str(path))
            if (
                row is not None
                and row.size == st.st_size
                and row.mtime_ns == st.st_mtime_ns
                and row.current is not None
            ):
                current, artist = list(row.current), row.album_artist or row.artist or ""
                fp, audio = row.fingerprint, row.audio
            else:
                read = tags.read_track(path)
                current = tags.display(read.state)
                artist = read.album.album_artist or read.album.artist
                fp, audio = fingerprint_content(path, st.st_size), fingerprint_audio(path)
        except (tags.TagError, OSError) as e:
            lib.errors.append(
                (
                    path,
                    str(e)
                    if isinstance(e, tags.TagError)
                    else f"cannot read file: {e.strerror or e}",
                )
            )
            continue
        decision = decided.get(str(path))
        if (
            decision is not None
            and decision.action != Decided.REJECTED
            and decision.holds(st.st_size, st.st_mtime_ns, fp)
        ):
            current = list(decision.genres)  # the owner's, said in review (genretag wrote them)
        elif current and str(path) in written:
            mine = genres_written(cache, str(path), current)
            lib.own_skipped += sum(1 for g in current if g.casefold() in mine)
            current = [g for g in current if g.casefold() not in mine]
        labels = set()
        for genre in current:
            named = genre_map.get(label_key(genre), genre)
            key = label_key(named)
            if key:
                labels.add(key)
                lib.spellings.setdefault(key, Counter())[named] += 1
        track = Track(path, labels, artist.strip() or f"(no artist: {path.parent})")
        stats = known.get(str(path))
        if stats is not None and stats.matches(fp, audio):
            track.statistics = stats.data.astype(np.float32)
        else:
            to_hear.append((track, fp, audio))
        (lib.tagged if labels else lib.untagged).append(track)
    return lib, to_hear


def statistics_of(tracks: list[Track]) -> np.ndarray:
    """The tracks' backbone statistics, stacked (tracks, stats); every one is known by now
    (cached, or heard)."""
    stats = [t.statistics for t in tracks]
    assert all(s is not None for s in stats)
    return np.stack(stats)  # type: ignore[arg-type]


def hear(
    lib: Library,
    to_hear: list[tuple[Track, str | None, str | None]],
    model,
    coverage,
    cache: Cache,
    progress: Callable[[int], None] = lambda n: None,
    settings: Settings | None = None,
    model_path: Path | None = None,
) -> None:
    """Decode and hear the tracks the cache could not answer for, here or on a Ray cluster
    (the engine in ``settings``, whose workers load ``model_path``); store their statistics."""
    from genretag.hearing.base import hearer

    if not to_hear:
        return
    results = hearer(model, coverage, settings or Settings(), model_path=model_path).predict(
        [t.path for t, _, _ in to_hear]
    )
    for res in results:
        track, fp, audio = to_hear[res.key]
        progress(1)
        if res.statistics is None:
            lib.errors.append((track.path, res.error or "no audio decoded"))
            continue
        track.statistics = res.statistics.astype(np.float32)
        cache.put_statistics(
            str(track.path),
            Statistics(model.backbone_id, coverage.mode.value, fp, audio, res.statistics),
        )
        lib.heard += 1
    cache.flush()
    for side in (lib.tagged, lib.untagged):
        side[:] = [t for t in side if t.statistics is not None]
