"""The default model's recipe: how datasets' labels meet, tracks.csv datasets, the masked
fits, thresholds, and the scan's rule for the first genre."""

from __future__ import annotations

import numpy as np
import pytest

from genretag.training.data.datasets import DatasetError, artist_key, load, load_all
from genretag.training.data.labelspace import is_right, targets, vocabulary
from genretag.training.evaluation.genres import first_written, make_folds
from genretag.training.recipes.genres import (
    GenresConfig,
    choose_threshold,
    fit_genres,
    fit_masked,
    row_space,
)

from synth import music, write_audio

NAN = np.nan


def test_each_dataset_teaches_what_it_can_tell_and_masks_the_rest():
    labels = ["rock", "pop", "metal", "jazz", "electronic", "poprock", "world"]
    y = targets([("rock",), ("Pop/Rock",), ("Jazz", "Electronic"), ("Holiday",)], labels)
    # GTZAN rock: Rock and Pop/Rock; it may be metal, pop; it is not Jazz or Electronic
    np.testing.assert_array_equal(y[0], [1, NAN, NAN, 0, 0, 1, 0])
    # AllMusic's Pop/Rock says nothing of Pop, Rock or Metal alone
    np.testing.assert_array_equal(y[1], [NAN, NAN, NAN, 0, 0, 1, 0])
    # several genres: each is a yes, whatever another one allows
    np.testing.assert_array_equal(y[2], [0, NAN, 0, 1, 1, NAN, 0])
    # a label the table does not carry over teaches no negatives
    assert np.isnan(y[3]).all()
    assert vocabulary([("Rap",), ("techno",), ("rock",)]) == ["hiphop", "rock", "poprock", "techno"]


def test_a_sub_genre_is_right_for_an_umbrella_label_and_not_across_exclusive_ones():
    assert is_right("rock", ("Pop/Rock",)) and is_right("metal", ("Pop/Rock", "Electronic"))
    assert is_right("hiphop", ("Rap",)) and is_right("poprock", ("rock",))
    assert not is_right("metal", ("rock",))  # GTZAN's genres are exclusive
    assert not is_right("jazz", ("Pop/Rock",)) and not is_right("rock", ("Holiday",))


def test_tracks_csv_datasets_with_several_genres_or_one_folder_each(tmp_path):
    mer, emo = tmp_path / "mer", tmp_path / "emotify"
    (emo / "rock").mkdir(parents=True)
    mer.mkdir()
    for i in range(2):
        write_audio(mer / f"MT{i}.wav", music(1.0, 22050, seed=i), 22050)
        write_audio(emo / "rock" / f"rock-{i}.wav", music(1.0, 22050, seed=i), 22050)
    (mer / "tracks.csv").write_text(
        "id,artist,title,genres\nMT0,Miles  Davis,So What,Jazz; Pop/Rock\n"
        "MT1,,x,Rap\nMT9,Nobody,missing audio,Jazz\n"
    )
    (emo / "tracks.csv").write_text(
        "id,genre,artist,title\nrock-0,rock,miles davis,a\nrock-1,rock,B,b\n"
    )
    items = load_all([mer, emo])
    assert [(i.path.name, i.all_genres, i.dataset) for i in items] == [
        ("MT0.wav", ("Jazz", "Pop/Rock"), "mer"),
        ("MT1.wav", ("Rap",), "mer"),
        ("rock-0.wav", ("rock",), "emotify"),
        ("rock-1.wav", ("rock",), "emotify"),
    ]
    # one artist across datasets, spelled with other spaces and case: one group
    assert items[0].group == items[2].group == artist_key("Miles Davis")
    assert items[1].group.startswith("clip:")  # no artist: its own group
    (mer / "tracks.csv").write_text("id,title\nMT0,x\n")
    with pytest.raises(DatasetError, match=r"tracks\.csv: needs the columns"):
        load(mer)


def test_row_space_fits_give_the_full_fits_model():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(30, 80))
    y = (rng.random((30, 3)) < 0.4).astype(float)
    y[rng.random(y.shape) < 0.2] = NAN
    y[0] = [1, 0, 1]
    y[1] = [0, 1, 0]
    basis = row_space(z)
    assert basis.shape == (80, 30)
    w_full, b_full = fit_masked(z, y, 0.1, iters=300)
    w, b = fit_masked(z @ basis, y, 0.1, iters=300)
    np.testing.assert_allclose(z @ (w @ basis.T).T + b, z @ w_full.T + b_full, atol=1e-4)


def test_masked_labels_do_not_teach():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(40, 5))
    y = (z[:, :1] > 0).astype(float)
    flipped = y.copy()
    flipped[:20] = NAN  # the first half cannot tell
    w1, b1 = fit_masked(z[20:], y[20:], 1.0)
    w2, b2 = fit_masked(z, flipped, 1.0)
    np.testing.assert_allclose(w1, w2, atol=1e-5)
    np.testing.assert_allclose(b1, b2, atol=1e-5)


def test_a_threshold_is_the_lowest_that_reaches_the_precision():
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    t = np.array([1, 1, 1, 0, 1, 0])
    th, prec, rec = choose_threshold(p, t, 0.75, 2)
    assert th == 0.425 and prec == 0.8 and rec == 1.0  # the grid step above 0.4, a miss
    assert choose_threshold(p, t, 0.99, 4) == (None, None, None)


def test_fit_genres_validates_a_learnable_genre_and_not_noise():
    rng = np.random.default_rng(2)
    n = 240
    groups = [f"artist{i // 4}" for i in range(n)]
    x = rng.normal(size=(n, 12))
    signal = (x[:, 0] > 0).astype(float)
    noise = (rng.random(n) < 0.5).astype(float)
    y = np.stack([signal, noise], 1)
    head = fit_genres(x, y, groups, ["signal", "noise"], GenresConfig(c=(0.1,)))
    assert "signal" in head.thresholds and "noise" not in head.thresholds
    p = head.probabilities(x)
    assert ((p[:, 0] >= 0.5) == (signal == 1)).mean() > 0.9


def test_folds_keep_each_artist_on_one_side_across_datasets():
    groups = [f"a{i % 30}" for i in range(120)]
    strata = np.arange(120) % 4
    folds = make_folds(strata, groups, 5, seed=0)
    for g in set(groups):
        assert len({f for f, gg in zip(folds, groups) if gg == g}) == 1


def test_the_first_genre_is_the_surest_validated_one_and_unsure_below_every_threshold():
    labels = ["rock", "jazz", "poprock"]
    th = np.array([[0.5, 0.6, np.inf]] * 3)  # the umbrella Pop/Rock is never written
    p = np.array([[0.7, 0.65, 0.95], [0.4, 0.55, 0.9], [0.1, 0.2, 0.3]])
    pick, best = first_written(p, th, labels)
    assert pick.tolist() == [0, -1, -1]
    assert best[0] == 0.7 and best[2] == 0.3
    pick, _ = first_written(p, th, labels, rule="margin")
    assert pick[0] == 0  # 0.7 / 0.5 beats 0.65 / 0.6
