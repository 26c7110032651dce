"""The genre rule: top K, thresholds, merges, independent genres and parents, maps."""

from __future__ import annotations

import numpy as np
import pytest

from genretag.deciding.genres import Vocabulary, choose
from genretag.hearing.prediction import Prediction


def P(labels: list[str], probabilities: list[float]) -> Prediction:
    return Prediction(tuple(labels), np.array(probabilities))


GTZAN = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae"]
TAG_GENRES = ["electronic", "dance", "house", "ambient", "folk", "punk", "soul", "funk", "indie"]
TAG_GENRES += ["indie-rock", "hard-rock", "heavy-metal"]


def track_head_vocabulary() -> Vocabulary:
    """A model of ``--arch musicnn-track`` (the default model before v3): ten exclusive
    GTZAN genres, then twelve independent genres named by the tagger's tags, in a
    hierarchy."""
    labels = [*GTZAN, "rock", *TAG_GENRES]
    names = {lab: lab.replace("-", " ").title().replace("Hiphop", "Hip-Hop") for lab in labels}
    parents = {
        "house": ["dance"],
        "dance": ["electronic"],
        "ambient": ["electronic"],
        "punk": ["rock"],
        "hard-rock": ["rock"],
        "indie-rock": ["rock", "indie"],
        "heavy-metal": ["metal"],
    }
    return Vocabulary.default(labels, names, TAG_GENRES, parents)


def shipped_vocabulary() -> Vocabulary:
    return track_head_vocabulary()


def shipped(**p: float) -> Prediction:
    """Such a model's 22 outputs: the ten exclusive shares given (the rest of the share
    spread evenly), and the independent probabilities given (others 0.01)."""
    vocab = shipped_vocabulary()
    labels = tuple(vocab.names)
    exclusive = [lab for lab in labels if lab not in vocab.independent]
    rest = (1.0 - sum(p.get(lab, 0.0) for lab in exclusive)) / sum(
        lab not in p for lab in exclusive
    )
    return Prediction(
        labels,
        np.array(
            [p.get(lab.replace("-", "_"), rest if lab in exclusive else 0.01) for lab in labels]
        ),
    )


def test_choose_top_k_threshold_and_merge():
    labels = ["a", "b", "c"]
    vocab = Vocabulary.default(labels)
    c = choose(P(labels, [0.5, 0.35, 0.15]), vocab, top_k=2, min_confidence=0.3)
    assert c.genres == ["a", "b"] and not c.unsure
    c = choose(P(labels, [0.25, 0.4, 0.35]), vocab, top_k=0, min_confidence=0.5)
    assert c.unsure and c.genres == []
    merged = Vocabulary({"a": "X", "b": "X", "c": ""})
    c = choose(P(labels, [0.3, 0.3, 0.4]), merged, min_confidence=0.5)
    assert c.genres == ["X"] and c.probabilities == {"X": pytest.approx(0.6)}


def test_independent_genres_merge_as_independent_events_and_bring_parents():
    labels = ["rock", "pop", "indie", "indie-rock", "house", "dance", "electronic"]
    vocab = Vocabulary.default(
        labels,
        {
            "rock": "Rock",
            "pop": "Pop",
            "indie": "Indie",
            "indie-rock": "Indie Rock",
            "house": "House",
            "dance": "Dance",
            "electronic": "Electronic",
        },
        independent=["indie", "indie-rock", "house", "dance", "electronic"],
        parents={"indie-rock": ["rock", "indie"], "house": ["dance"], "dance": ["electronic"]},
    )
    probs = P(labels, [0.7, 0.3, 0.6, 0.5, 0.1, 0.2, 0.4])
    c = choose(probs, vocab, top_k=3, min_confidence=0.45)
    assert c.genres == ["Rock", "Indie", "Indie Rock"]  # a track can be Rock and Indie
    assert choose(probs, vocab, top_k=2, min_confidence=0.45).genres == ["Rock", "Indie"]
    c = choose(probs, vocab, top_k=3, min_confidence=0.45, parents=True)
    assert c.genres == ["Rock", "Indie", "Indie Rock"]  # its parents are already there
    assert vocab.with_parents(["House"]) == ["House", "Dance", "Electronic"]
    # mapped together: exclusive labels add up, independent ones combine as noisy-or
    both = Vocabulary(
        {**vocab.names, "pop": "Rock", "indie": "Rock"}, vocab.independent, vocab.parents
    )
    merged = both.merge(probs)
    assert merged["Rock"] == pytest.approx(1 - (1 - 1.0) * (1 - 0.6))
    assert vocab.merge(probs)["Indie"] == pytest.approx(0.6)
    # --labels: a set of the model's labels, the others never written
    only = vocab.only(["rock", "pop"])
    assert choose(probs, only, top_k=5, min_confidence=0.0).genres == ["Rock", "Pop"]


def test_the_first_genre_is_exclusive_and_a_child_comes_only_beside_its_parent():
    vocab = shipped_vocabulary()
    # the pop album that was voted Soul: Pop leads the exclusive share
    album = shipped(pop=0.36, hiphop=0.31, reggae=0.21, soul=0.43)
    assert choose(album, vocab).genres == ["Pop"]
    assert choose(album, vocab, top_k=3).genres == ["Pop", "Soul", "Hip-Hop"]
    # the metal track written Hard Rock: Hard Rock's parent is Rock, not Metal
    metal = shipped(metal=0.81, hard_rock=0.87, heavy_metal=0.5)
    assert choose(metal, vocab).genres == ["Metal"]
    assert choose(metal, vocab, top_k=3).genres == ["Metal", "Heavy Metal"]
    rock = shipped(rock=0.7, hard_rock=0.87, metal=0.1)
    assert choose(rock, vocab, top_k=2).genres == ["Rock", "Hard Rock"]
    # no exclusive genre is sure: an independent genre without a parent may be first,
    # and House comes only beside Dance
    electronic = shipped(disco=0.2, electronic=0.9, house=0.8, dance=0.2)
    c = choose(electronic, vocab, top_k=3)
    assert c.genres == ["Electronic"] and c.confidence == pytest.approx(0.9)
    c = choose(shipped(disco=0.2, electronic=0.2, hard_rock=0.9), vocab)
    assert c.unsure and c.best == "Disco"  # Hard Rock alone, without Rock, is no verdict
    # an album: its first genre is one that a track ranks first
    assert choose(
        shipped(blues=0.3, jazz=0.45, rock=0.3), vocab, among={"Blues", "Rock"}
    ).genres == ["Blues"]


def test_a_map_takes_the_names_shown_and_reports_every_bad_key():
    from genretag.deciding.genres import MapError

    vocab = shipped_vocabulary()
    mapped = vocab.with_names({"Hip-Hop": "Rap", "hard rock": "Rock", "jazz": "Jazz & Blues"})
    assert mapped.names["hiphop"] == "Rap" and mapped.names["hard-rock"] == "Rock"
    assert mapped.names["jazz"] == "Jazz & Blues"
    with pytest.raises(MapError) as e:
        vocab.with_names({"polka": "Polka", "Hip-Hop": 3, "zydeco": "Z", "rock": "a\0b"}, "m")
    message = str(e.value)
    assert "'polka', 'zydeco': not labels of this model" in message
    assert "the name for 'Hip-Hop' must be a string" in message
    assert "the name for 'rock' must be one line" in message and "\n" not in message
