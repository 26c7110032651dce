"""``genretag learn``: a library's own genres, learnt from its tagged tracks.

A track's way: its genres and artist are read as a scan reads them (from the cache where
the file is unchanged), less the genres genretag wrote itself (its undo history knows
which); its pooled backbone statistics come from the cache (a scan stored them) or are
heard now and stored. Each label the owner uses on enough tracks by enough artists gets a
logistic regression on those statistics, checked by artist-grouped cross-validation: its
probability is calibrated on the held-out folds (Platt), and its threshold is the one
with the best held-out F1 among those whose precision reaches ``min_precision``. A label that
never gets there is left out, with the reason. The learnt labels become an ordinary model
file: the default model's frozen backbone and tagger, and one independent probability per
label (``GenreNet`` with a ``library`` head), with each label's threshold.

Where the owner uses a label on too few tracks, or by too few artists, to learn it, and the
default model names it too (the owner's ``Hip Hop``, its ``Hip-Hop``), the default model's
own heads travel in the file and fill that label in, under the owner's spelling, written where
the default model gives it 0.3, as a default scan would (``fill_in``; ``--no-fill-in`` leaves
such labels out).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genretag import tags
from genretag.deciding.decider import genres_written
from genretag.library.discover import find_audio
from genretag.models.pooling import standardiser
from genretag.settings import Settings, tomllib
from genretag.store.cache import Cache, Statistics
from genretag.tags.fingerprint import audio as fingerprint_audio
from genretag.tags.fingerprint import content as fingerprint_content

DEFAULT = Settings()  # min_tracks, min_artists, min_precision; min_confidence: where a
# filled-in label is written (the scan's)
FOLDS = 5
AXES = 256  # the statistics' main directions the regressions run on (principal_axes)
C = 0.05  # the regularisation of every label's regression (standardised inputs)


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
        if current and str(path) in written:
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


@dataclass
class LabelResult:
    """One label's line in the table learn shows."""

    key: str
    name: str
    tracks: int
    artists: int
    learnt: bool = False
    reason: str = ""
    precision: float | None = None  # cross-validated, at the threshold
    recall: float | None = None
    auc: float | None = None
    threshold: float | None = None
    untagged: int = 0  # untagged tracks it would be written on
    few: bool = False  # left out for too few tracks or artists
    filled_by: str | None = None  # the base model's label that fills it in
    filled_name: str | None = None  # that label's name in the base model

    @property
    def written(self) -> bool:
        """Whether the model file writes it: learnt, or filled in."""
        return self.learnt or self.filled_by is not None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Learnt:
    """The learnt labels as one linear layer over standardised statistics:
    p = sigmoid(weights @ ((x - mean) / scale) + bias), calibrated."""

    results: list[LabelResult]
    keys: list[str]
    mean: np.ndarray  # (d,)
    scale: np.ndarray  # (d,)
    weights: np.ndarray  # (n_learnt, d)
    bias: np.ndarray  # (n_learnt,)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        z = ((x - self.mean) / self.scale) @ self.weights.T + self.bias
        return 1.0 / (1.0 + np.exp(-z))


def _threshold(
    y: np.ndarray, p: np.ndarray, min_precision: float
) -> tuple[float, float, float] | None:
    """Of the thresholds whose precision reaches ``min_precision``, the one with the best
    F1 (most recall alone would write a label that most tracks have on every track), the
    lowest of equals, set halfway to the next lower held-out probability (a margin for new
    tracks): (threshold, precision, recall), or None. Every held-out probability is a
    candidate, counted in one pass over them sorted."""
    order = np.argsort(-p, kind="stable")
    ps, hits = p[order], np.cumsum(y[order])
    last = np.r_[ps[1:] != ps[:-1], True]  # the end of each run of equal probabilities
    t, hits, chosen = ps[last], hits[last], np.flatnonzero(last) + 1
    precision, recall = hits / chosen, hits / max(int(y.sum()), 1)
    f1 = np.where(
        precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0
    )
    f1 = np.where(precision >= min_precision, f1, -1.0)
    if f1.max() < 0:
        return None
    i = len(f1) - 1 - int(np.argmax(f1[::-1]))  # the lowest threshold of the best F1
    below = float(t[i + 1]) if i + 1 < len(t) else 0.0
    return (float(t[i]) + below) / 2, float(precision[i]), float(recall[i])


def principal_axes(xs: np.ndarray, seed: int = 0) -> np.ndarray:
    """The main directions (k, d) of the standardised statistics (tracks, d), orthonormal:
    all of them when there are at most ``AXES`` tracks, else the ``AXES`` that hold most of
    the variance. A regularised regression's weights lie in the span of its rows, so on a
    library of a few hundred tracks this changes nothing but the time; on 10,000 tracks each
    regression runs on ``AXES`` columns instead of thousands."""
    if len(xs) <= AXES:
        _, sv, vt = np.linalg.svd(xs, full_matrices=False)
        return vt[sv > sv.max(initial=0.0) * 1e-9]
    from sklearn.utils.extmath import randomized_svd

    return randomized_svd(xs, AXES, random_state=seed)[2]


def fit(
    lib: Library,
    min_tracks: int = DEFAULT.min_tracks,
    min_artists: int = DEFAULT.min_artists,
    min_precision: float = DEFAULT.min_precision,
    seed: int = 0,
) -> Learnt:
    """Every label checked by artist-grouped cross-validation; the ones that pass learnt."""
    from threadpoolctl import threadpool_limits

    # one BLAS thread: these regressions are small, and two threads spun against each
    # other (as in probe.fit_linear)
    with threadpool_limits(1):
        return _fit(lib, min_tracks, min_artists, min_precision, seed)


def _fit(
    lib: Library, min_tracks: int, min_artists: int, min_precision: float, seed: int
) -> Learnt:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    if not lib.tagged:
        raise LearnError("no track with a genre tag to learn from")
    x = statistics_of(lib.tagged).astype(np.float64)
    mean, scale = standardiser(x, float(np.finfo(np.float16).eps))  # the cache's
    basis = principal_axes((x - mean) / scale, seed)
    xs = ((x - mean) / scale) @ basis.T  # every regression runs on these few columns
    groups = np.array([t.artist for t in lib.tagged])
    untagged = (
        statistics_of(lib.untagged).astype(np.float64)
        if lib.untagged
        else np.zeros((0, x.shape[1]))
    )
    results, keys, weights, bias = [], [], [], []
    for key in sorted(lib.spellings, key=lambda k: (-sum(lib.spellings[k].values()), k)):
        y = np.array([key in t.labels for t in lib.tagged])
        r = LabelResult(key, lib.name(key), int(y.sum()), len(set(groups[y])))
        results.append(r)
        if r.tracks < min_tracks:
            r.reason, r.few = f"{r.tracks} tracks, fewer than {min_tracks}", True
            continue
        if r.artists < min_artists:
            r.reason, r.few = f"{r.artists} artists, fewer than {min_artists}", True
            continue
        if len(set(groups[~y])) < 2:
            r.reason = "no other genre by two or more artists to tell it from"
            continue
        folds = min(FOLDS, r.artists, len(set(groups[~y])))
        z = np.zeros(len(y))
        split = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
        for train, test in split.split(xs, y, groups):
            if len(set(y[train])) < 2:
                z[test] = 0.0
                continue
            clf = LogisticRegression(C=C, class_weight="balanced", max_iter=2000)
            clf.fit(xs[train], y[train])
            z[test] = clf.decision_function(xs[test])
        r.auc = round(float(roc_auc_score(y, z)), 3)
        # calibration on the held-out scores; mildly regularised, so that a label told
        # apart perfectly by a few artists does not get probabilities of exactly 0 and 1
        platt = LogisticRegression(C=1.0, max_iter=1000).fit(z[:, None], y)
        a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
        p = 1.0 / (1.0 + np.exp(-(a * z + b)))
        found = _threshold(y, p, min_precision)
        if found is None or a <= 0:
            r.reason = (
                f"cannot be told apart: held-out precision stays below "
                f"{min_precision:g} (AUC {r.auc:.2f})"
            )
            continue
        r.threshold, r.precision, r.recall = found
        clf = LogisticRegression(C=C, class_weight="balanced", max_iter=2000).fit(xs, y)
        # calibrated, and back on the standardised statistics: one linear layer
        w, c = a * (clf.coef_[0] @ basis), a * float(clf.intercept_[0]) + b
        r.learnt = True
        keys.append(key)
        weights.append(w)
        bias.append(c)
        if len(untagged):
            zu = ((untagged - mean) / scale) @ w + c
            r.untagged = int((1.0 / (1.0 + np.exp(-zu)) >= r.threshold).sum())
    d = x.shape[1]
    return Learnt(
        results, keys, mean, scale, np.array(weights).reshape(len(keys), d), np.array(bias)
    )


def fill_in(
    learnt: Learnt, lib: Library, base, min_confidence: float = DEFAULT.min_confidence
) -> list[str]:
    """Let the base model fill in the labels the owner uses on too few tracks or by too
    few artists to learn, where it names them too (``Hip Hop`` and its ``Hip-Hop``): such a
    label is written where the base model gives it ``min_confidence``, as a scan with the
    base model would. Marks each such label's result; returns their keys, in order."""
    if base.metadata.architecture.head not in ("track", "genres"):
        return []
    names = base.metadata.display_names
    known: dict[str, str] = {}
    for label in base.labels:
        for spelling in (label, names.get(label, label)):
            known.setdefault(label_key(spelling), label)
    filled = [r for r in learnt.results if r.few and r.key in known]
    if not filled:
        return []
    untagged = (
        base.probabilities_of_statistics(statistics_of(lib.untagged))
        if lib.untagged
        else np.zeros((0, len(base.labels)))
    )
    for r in filled:
        r.filled_by = known[r.key]
        r.filled_name = names.get(r.filled_by, r.filled_by)
        r.untagged = int((untagged[:, base.labels.index(r.filled_by)] >= min_confidence).sum())
    return [r.key for r in filled]


def save(
    learnt: Learnt, lib: Library, base, base_path: Path, out: Path, filled: Sequence[str] = ()
) -> str:
    """The learnt labels as a genretag model file: the backbone and tagger of ``base`` (the
    model file at ``base_path``), and a ``library`` head, then the ``filled`` labels from
    ``base``'s own heads (``GenreNet`` with a library head reads it); returns the model
    id. Written in numpy, so learn needs no PyTorch."""
    from genretag.models.file import (
        LIBRARY_KEYS,
        MEL_KEY,
        header,
        read_tensors,
        write_model_file,
    )
    from genretag.models.params import Architecture
    from genretag.states import ModelKind

    if not learnt.keys and not filled:
        raise LearnError("no label could be learnt (see the table); nothing written")
    meta = base.metadata
    by_key = {r.key: r for r in learnt.results}
    labels = [*learnt.keys, *filled]
    parts: tuple[str, ...] = ("backbone.", "head.", MEL_KEY)
    own_genres = meta.architecture.head == "genres"  # else a track head and tagger genres
    if filled:  # the base's heads travel with the file, for the labels they fill in
        parts += ("genres.",) if own_genres else ("track.",)
        parts += ("tag_genres.",) if meta.tag_genres else ()
    tensors = read_tensors(base_path, parts)
    head = (learnt.mean, learnt.scale, learnt.weights, learnt.bias)
    tensors.update({k: v.astype(np.float32) for k, v in zip(LIBRARY_KEYS, head)})
    arch = Architecture.from_dict({**meta.architecture.to_dict(), "head": "library"})
    about = {
        **header(ModelKind.GENRE_MODEL, labels, meta.audio, arch),
        "name": f"learnt from a library ({len(lib.tagged)} tagged tracks)",
        "display_names": {k: lib.name(k) for k in labels},
        "thresholds": {k: by_key[k].threshold for k in learnt.keys},
        "tags": list(meta.tags),
        "learnt": {"labels": [r.to_dict() for r in learnt.results], "base_model": base.model_id},
    }
    if filled:
        take = [base.labels.index(by_key[k].filled_by) for k in filled]
        tensors["fill"] = np.asarray(take, dtype=np.int64)
        about["fill_in"] = {
            "take": take,
            "exclusive": 0 if own_genres else len(base.labels) - len(meta.tag_genres),
            "tag_genres": len(meta.tag_genres),
            "genres": len(base.labels) if own_genres else 0,
            "source": {k: by_key[k].filled_by for k in filled},
        }
    return write_model_file(out, tensors, about)


@dataclass
class Learned:
    """What ``Session.learn`` learnt from a library: its tracks (``library``: tagged,
    untagged, errors), the labels (``learnt``, ``filled``), and the base model they were
    learnt on, from which ``save`` writes the model file."""

    library: Library
    learnt: Learnt
    filled: list[str]
    base: Any  # a models.base.Network
    base_path: Path
    seconds: float

    def summary(self) -> str:
        lib = self.library
        return (
            f"{len(lib.tagged)} tagged and {len(lib.untagged)} untagged tracks; "
            f"heard {lib.heard} now, {len(lib.tagged) + len(lib.untagged) - lib.heard} "
            f"from the cache; {lib.own_skipped} genres genretag wrote left out; "
            f"{self.seconds:.1f} s"
        )

    def save(self, out: Path) -> str:
        """The model file (``save``); returns its id. A ``LearnError`` when nothing could
        be learnt."""
        return save(self.learnt, self.library, self.base, self.base_path, out, self.filled)


def learn_library(
    paths: Iterable[Path],
    settings: Settings,
    base,
    base_path: Path,
    cache: Cache,
    on_heard: Callable[[int], None] | None = None,
    on_hearing: Callable[[int], None] | None = None,
) -> Learned:
    """Gather the tracks under ``paths``, hear those the cache cannot answer for (telling
    ``on_hearing`` how many, ``on_heard`` as they are), and fit the labels with the
    settings' thresholds; the base model fills in the thin labels it names too."""
    import time

    from genretag.hearing.windows import Coverage

    t0 = time.perf_counter()
    if not base.pools_statistics:
        raise LearnError(
            f"{base_path}: its head does not pool backbone statistics; learn needs the "
            "shipped model or one like it"
        )
    lib, to_hear = gather(paths, cache, base.backbone_id, read_map(settings.genre_map))
    if to_hear:
        if on_hearing:
            on_hearing(len(to_hear))
        used = Coverage(settings.coverage, settings.windows).resolved(base.device_type)
        hear(lib, to_hear, base, used, cache, on_heard or (lambda n: None), settings, base_path)
    learnt = fit(lib, settings.min_tracks, settings.min_artists, settings.min_precision)
    filled = fill_in(learnt, lib, base) if settings.fill_in else []
    return Learned(lib, learnt, filled, base, base_path, time.perf_counter() - t0)
