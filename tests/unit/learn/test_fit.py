"""``learn.fit`` on generated statistics: genres as clusters, artists as offsets inside
them, and a background of the base model's genres with its own probabilities on them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from genretag.learn import BaseView, Library, Track, fit, label_key, suggest

pytest.importorskip("sklearn")

DIM = 40
GENRES = 8  # g0..g7; the base model knows g0..g5
BASE = [f"g{i}" for i in range(6)]


class World:
    """Generated music: a centre per genre, an offset per artist."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.centres = self.rng.normal(0, 2.0, (GENRES, DIM))
        self.artists = 0

    def artist(self, genre: int, tracks: int) -> tuple[str, np.ndarray]:
        self.artists += 1
        offset = self.rng.normal(0, 0.6, DIM)
        x = self.centres[genre] + offset + self.rng.normal(0, 1.0, (tracks, DIM))
        return f"artist {self.artists}", x.astype(np.float32)

    def base(self, lib: Library, background: bool = True) -> BaseView:
        """A base model fitted on a background of g0..g5 (a logistic regression per
        genre, written at 0.5), with that background."""
        from sklearn.linear_model import LogisticRegression

        xs, ys, groups = [], [], []
        for g in range(len(BASE)):
            for _ in range(8):
                _, x = self.artist(g, 6)
                xs.append(x)
                ys += [g] * len(x)
                groups += [self.artists] * len(x)
        xb, yb = np.concatenate(xs), np.array(ys)
        heads = [LogisticRegression(C=0.1).fit(xb, yb == g) for g in range(len(BASE))]

        def probs(x: np.ndarray) -> np.ndarray:
            if not len(x):
                return np.zeros((0, len(BASE)))
            return np.stack([h.predict_proba(x)[:, 1] for h in heads], 1)

        def stats(tracks):
            return np.stack([t.statistics for t in tracks]) if tracks else np.zeros((0, DIM))

        view = BaseView(
            BASE,
            {"g0": "Jazz", "g1": "Rock"},
            {g: 0.5 for g in BASE},
            probs(stats(lib.tagged)),
            probs(stats(lib.untagged)),
        )
        if background:
            view.background = xb
            view.background_targets = np.eye(len(BASE), dtype=np.int8)[yb]
            view.background_groups = np.array(groups)
            view.background_probs = probs(xb)
        return view


def library(world: World, tagged: dict[str, tuple[int, int]], untagged: dict[int, int]):
    """``tagged``: owner label -> (genre, artists), six tracks each; ``untagged``: genre ->
    artists, four tracks each. Returns the library and each untagged track's genre."""
    lib, truth = Library(), []
    for label, (genre, artists) in tagged.items():
        for _ in range(artists):
            name, x = world.artist(genre, 6)
            for i, row in enumerate(x):
                lib.tagged.append(Track(Path(f"/{name}/{i}"), {label_key(label)}, name, row))
                lib.spellings.setdefault(label_key(label), Counter())[label] += 1
    for genre, artists in untagged.items():
        for _ in range(artists):
            name, x = world.artist(genre, 4)
            for i, row in enumerate(x):
                lib.untagged.append(Track(Path(f"/{name}/{i}"), set(), name, row))
                truth.append(genre)
    return lib, np.array(truth)


def owner_label_written(learnt, view, lib, owner: set[str]) -> np.ndarray:
    """Whether each untagged track gets one of the owner's labels (at its threshold)."""
    x = np.stack([t.statistics for t in lib.untagged])
    p = learnt.probabilities(x, view.untagged if view is not None else None)
    sure = p >= np.array(learnt.thresholds)
    cols = [j for j, k in enumerate(learnt.keys) if k in owner]
    return sure[:, cols].any(1)


def test_an_owner_of_two_labels_gets_them_on_almost_no_music_of_other_genres():
    """Bebop and Classic Rock tagged, nothing else: against the base model's background,
    the learnt labels stay off the untagged music of the other genres, which keeps the
    base model's own genres; learnt from the owner's tracks alone, they do not."""
    world = World(1)
    lib, truth = library(
        world, {"Bebop": (0, 4), "Classic Rock": (1, 4)}, {g: 3 for g in range(GENRES)}
    )
    view = world.base(lib)
    learnt = fit(lib, view, min_tracks=5, min_artists=2)
    others = ~np.isin(truth, [0, 1])
    owner = {"bebop", "classicrock"}
    fired = owner_label_written(learnt, view, lib, owner)
    assert fired[others].mean() <= 0.05, fired[others].mean()
    # Bebop covers Jazz, and Classic Rock Rock: the base model's other genres stand
    assert set(learnt.kept) == set(BASE) - {"g0", "g1"}
    mine = ~others
    assert fired[mine].mean() >= 0.5  # and they still tag the owner's own genres

    # each defence holds alone: without the familiarity gate, the background keeps the
    # labels off other genres; learnt from the owner's tracks alone, without the gate,
    # half the other music is "Bebop" or "Classic Rock" (the Mozart "Bebop 0.88")
    learnt.familiar = None
    assert owner_label_written(learnt, view, lib, owner)[others].mean() <= 0.1
    alone = fit(lib, None, min_tracks=5, min_artists=2)
    alone.familiar = None
    assert owner_label_written(alone, None, lib, owner)[others].mean() > 0.3


def test_each_label_keeps_the_best_of_its_ways_to_be_written():
    """The owner's Jazz is the base model's g0 by name, and the base model is right on it:
    the default is kept (first among equals). g7 the base model does not know: the head
    learnt from the owner's tracks is kept. Every candidate's held-out scores are in the
    table."""
    world = World(2)
    lib, _ = library(world, {"Jazz": (0, 4), "Zydeco": (7, 4), "Rock": (1, 4)}, {2: 2})
    view = world.base(lib)
    learnt = fit(lib, view, min_tracks=5, min_artists=2)
    r = {x.name: x for x in learnt.results}
    assert r["Jazz"].maps_to == "Jazz" and r["Jazz"].source == "default", r["Jazz"]
    assert set(r["Jazz"].candidates) == {"default", "learnt", "stacked"}
    assert r["Zydeco"].maps_to is None and r["Zydeco"].source == "learnt", r["Zydeco"]
    assert "default" not in r["Zydeco"].candidates
    best = r["Zydeco"].candidates["learnt"]
    assert all(best["f1"] >= c["f1"] for c in r["Zydeco"].candidates.values())
    # what the owner calls Jazz is written as Jazz; the base's g0 is not kept beside it
    assert "g0" not in learnt.kept and "jazz" in learnt.keys
    assert set(learnt.heldout) == {"tracks", "learnt", "default"}


def test_an_unknown_owner_label_maps_to_the_base_genre_written_on_most_of_its_tracks():
    world = World(3)
    lib, _ = library(world, {"Hard Bop": (0, 4), "Something": (6, 4)}, {})
    learnt = fit(lib, world.base(lib), min_tracks=5, min_artists=2)
    r = {x.name: x for x in learnt.results}
    assert r["Hard Bop"].maps_to == "Jazz"
    assert r["Something"].maps_to is None


def test_suggestions_are_unsure_or_unlike_the_tagged_tracks_and_spread_over_artists():
    world = World(4)
    lib, truth = library(world, {"Bebop": (0, 4), "Classic Rock": (1, 4)}, {0: 3, 1: 3, 6: 2})
    view = world.base(lib)
    learnt = fit(lib, view, min_tracks=5, min_artists=2)
    found = suggest(lib, learnt, view, 6)
    assert len(found) == 6
    artists = [s.artist for s in found]
    assert len(set(artists)) == 6  # eight artists untagged: one track each first
    # the genre nobody tagged (g6) is the most unlike what is tagged: it comes first
    by_path = {t.path: g for t, g in zip(lib.untagged, truth)}
    assert by_path[found[0].path] == 6 and "unlike every tagged track" in found[0].why
    assert suggest(lib, learnt, view, 0) == []
