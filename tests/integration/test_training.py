"""The training package: dataset layouts, grouped folds, train and evaluate end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from genretag.cli import build_app
from genretag.training.data.datasets import DatasetError, from_fma, gtzan_group, load
from genretag.training.evaluation.evaluate import make_folds

from helpers import make_tiny_model
from synth import music, write_audio

app = build_app()  # the tagger's commands and the training plug-in's


def test_gtzan_blocks_keep_neighbours_together():
    assert gtzan_group("blues.00000.opus") == gtzan_group("blues.00007.opus") == "blues:block0"
    assert (
        gtzan_group("rock.00013.wav")
        == gtzan_group("rock.00029.wav")
        != gtzan_group("rock.00030.wav")
    )
    assert gtzan_group("jazz.00000.wav") != gtzan_group("blues.00000.wav")
    assert gtzan_group("my song.mp3") is None


def test_folds_keep_artists_whole_and_spread_genres():
    import numpy as np

    # 3 genres, each with 6 artists of 1-3 clips
    groups, y = [], []
    for genre in range(3):
        for artist in range(6):
            for _ in range(1 + artist % 3):
                groups.append(f"{genre}-{artist}")
                y.append(genre)
    y = np.array(y)
    for seed in (0, 1):
        folds = make_folds(y, groups, 3, seed)
        for g in set(groups):
            assert len({f for f, gg in zip(folds, groups) if gg == g}) == 1
        for genre in range(3):  # stratified: every fold tests every genre
            assert set(folds[y == genre]) == {0, 1, 2}
    assert not np.array_equal(make_folds(y, groups, 3, 0), make_folds(y, groups, 3, 1))


def test_artist_groups_from_csv_tags_or_folders(tmp_path):
    from mutagen.flac import FLAC

    from genretag.training.data.datasets import from_folders

    gtzan = tmp_path / "gtzan"
    (gtzan / "reggae").mkdir(parents=True)
    for name in ("reggae.00000", "reggae.00001", "reggae.00002"):
        write_audio(gtzan / "reggae" / f"{name}.flac", music(0.5, 22050, seed=1), 22050)
    (gtzan / "artists.csv").write_text(
        "clip,genre,artist,title\n"
        "reggae.00000,reggae,Bob Marley,a\n"
        "reggae.00001,reggae,Bob Marley,b\n"
        "reggae.00002,reggae,,c\n"
    )
    groups = {i.path.stem: i.group for i in from_folders(gtzan)}
    assert groups["reggae.00000"] == groups["reggae.00001"] == "artist:bob marley"
    assert groups["reggae.00002"] == "clip:reggae.00002"  # unknown artist: its own group
    mine = tmp_path / "mine"
    (mine / "rock" / "Band").mkdir(parents=True)
    write_audio(mine / "rock" / "Band" / "one.flac", music(0.5, 22050, seed=2), 22050)
    write_audio(mine / "rock" / "loose.flac", music(0.5, 22050, seed=3), 22050)
    write_audio(mine / "rock" / "tagged.flac", music(0.5, 22050, seed=4), 22050)
    f = FLAC(mine / "rock" / "tagged.flac")
    f["ARTIST"] = "The Tagged"
    f.save()
    groups = {i.path.stem: i.group for i in from_folders(mine)}
    assert groups == {
        "one": "folder:rock/Band",
        "loose": "file:rock/loose.flac",
        "tagged": "artist:the tagged",
    }


def test_manifest_and_fma_layouts(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"")
    (tmp_path / "m.csv").write_text("path,label,group\na.wav,jazz,album1\n")
    (item,) = load(tmp_path / "m.csv")
    assert (item.label, item.group, item.path) == ("jazz", "album1", tmp_path / "a.wav")
    (tmp_path / "bad.csv").write_text("file,genre\nx,y\n")
    with pytest.raises(DatasetError):
        load(tmp_path / "bad.csv")
    fma = tmp_path / "fma"
    (fma / "fma_metadata").mkdir(parents=True)
    (fma / "fma_small" / "000").mkdir(parents=True)
    (fma / "fma_small" / "000" / "000002.mp3").write_bytes(b"")
    (fma / "fma_metadata" / "tracks.csv").write_text(
        ",artist,set,track\n"
        "track_id,id,split,genre_top\n"
        "track_id,,,\n"
        "2,7,training,Hip-Hop\n"
        "3,8,test,Rock\n"
    )  # track 3 has no audio: left out
    (item,) = from_fma(fma)
    assert (item.label, item.group, item.split) == ("Hip-Hop", "artist7", "training")


FMA_COLUMNS = {  # tracks.csv of fma_metadata.zip: 52 columns under 4 top-level names
    "album": [
        "comments",
        "date_created",
        "date_released",
        "engineer",
        "favorites",
        "id",
        "information",
        "listens",
        "producer",
        "tags",
        "title",
        "tracks",
        "type",
    ],
    "artist": [
        "active_year_begin",
        "active_year_end",
        "associated_labels",
        "bio",
        "comments",
        "date_created",
        "favorites",
        "id",
        "latitude",
        "location",
        "longitude",
        "members",
        "name",
        "related_projects",
        "tags",
        "website",
        "wikipedia_page",
    ],
    "set": ["split", "subset"],
    "track": [
        "bit_rate",
        "comments",
        "composer",
        "date_created",
        "date_recorded",
        "duration",
        "favorites",
        "genre_top",
        "genres",
        "genres_all",
        "information",
        "interest",
        "language_code",
        "license",
        "listens",
        "lyricist",
        "number",
        "publisher",
        "tags",
        "title",
    ],
}


def test_fma_as_its_metadata_is_shipped(tmp_path):
    """tracks.csv as pandas wrote it for FMA: a two-row column index (top-level name on
    every column, then the field), a third row naming the index, quoted fields holding
    commas and line breaks, lists as text; audio in fma_small/NNN/NNNNNN.mp3."""
    import csv

    fma = tmp_path / "fma"
    (fma / "fma_metadata").mkdir(parents=True)
    columns = [(top, field) for top, fields in FMA_COLUMNS.items() for field in fields]
    tracks = {  # id -> (artist id, genre_top, split, bio)
        2: (1, "Hip-Hop", "training", "A duo from Brooklyn,\nformed in 2005."),
        5: (1, "Hip-Hop", "training", ""),
        10: (6, "Pop", "validation", "<p>Singer, songwriter</p>"),
        140: (54, "Folk", "test", "Three\nlines,\nof bio"),
        141: (54, "", "test", ""),  # no top genre: left out
        148: (60, "Experimental", "training", ""),  # no audio here: left out
    }
    rows = [
        [""] + [top for top, _ in columns],
        [""] + [f for _, f in columns],
        ["track_id"] + [""] * len(columns),
    ]
    for tid, (artist, genre, split, bio) in tracks.items():
        value = {
            ("artist", "id"): str(artist),
            ("track", "genre_top"): genre,
            ("set", "split"): split,
            ("set", "subset"): "small",
            ("artist", "bio"): bio,
            ("track", "genres"): "[21]",
            ("track", "title"): f"Track {tid}, live",
        }
        rows.append([str(tid)] + [value.get(c, "") for c in columns])
    with open(fma / "fma_metadata" / "tracks.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    for tid in (2, 5, 10, 140, 141):
        name = f"{tid:06d}.mp3"
        (fma / "fma_small" / name[:3]).mkdir(parents=True, exist_ok=True)
        (fma / "fma_small" / name[:3] / name).write_bytes(b"")
    items = load(fma)
    got = {i.path.name: (i.label, i.group, i.split) for i in items}
    assert got == {
        "000002.mp3": ("Hip-Hop", "artist1", "training"),
        "000005.mp3": ("Hip-Hop", "artist1", "training"),
        "000010.mp3": ("Pop", "artist6", "validation"),
        "000140.mp3": ("Folk", "artist54", "test"),
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dataset")
    for label, base in (("jazz", 0), ("rock", 100)):
        (root / label).mkdir()
        for i in range(4):
            write_audio(
                root / label / f"{label}.{i * 20:05d}.flac", music(4.0, 22050, seed=base + i), 22050
            )
    (root / "rock" / "broken.mp3").write_text("not audio")
    return root


def test_train_then_scan_with_the_new_model(dataset, tmp_path):
    backbone = tmp_path / "backbone.safetensors"
    make_tiny_model(backbone)
    out = tmp_path / "mine.safetensors"
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "train",
            str(dataset),
            "--arch",
            "musicnn-track",
            "--out",
            str(out),
            "--backbone",
            str(backbone),
            "--epochs",
            "2",
            "--cache",
            str(tmp_path / "emb"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "broken.mp3" in r.output  # listed and skipped, not fatal
    assert "confidences are not calibrated" in r.output  # 8 clips: too few to fit one
    # not a terminal: a line when each step starts and ends
    assert "embeddings: 0/9, started" in r.output and "embeddings: 9/9, done in" in r.output
    from genretag.models.net import load_model

    model = load_model(out)
    assert model.labels == ["jazz", "rock"]
    assert model.metadata.raw["training"]["data"]["per_label"] == {"jazz": 4, "rock": 4}
    assert model.params == load_model(backbone).params  # audio parameters travel with it
    r = runner.invoke(
        app,
        [
            "scan",
            str(dataset / "jazz"),
            "--model",
            str(out),
            "--db",
            str(tmp_path / "db.sqlite"),
            "--dry-run",
            "--min-confidence",
            "0",
        ],
    )
    assert r.exit_code == 0, r.output


def evaluate_tiny(dataset: Path, tmp_path: Path, seeds: int, *extra: str):
    """``genretag evaluate`` with 2 folds on a tiny backbone, into tmp_path/ev."""
    backbone = tmp_path / "backbone.safetensors"
    make_tiny_model(backbone)
    return CliRunner().invoke(
        app,
        [
            "evaluate",
            str(dataset),
            "--arch",
            "musicnn-track",
            "--folds",
            "2",
            "--seeds",
            str(seeds),
            "--backbone",
            str(backbone),
            "--out-dir",
            str(tmp_path / "ev"),
            "--cache",
            str(tmp_path / "emb"),
            *extra,
        ],
    )


def test_evaluate_writes_metrics_and_plots(dataset, tmp_path):
    r = evaluate_tiny(dataset, tmp_path, 2, "--albums")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert report["seeds"] == [0, 1] and report["grouping"].startswith("artist")
    assert "albums whose verdict is their main genre" in r.output
    assert report["albums"]["albums"] >= 2 and "album_verdict" in report["albums"]
    assert set(report["models"]) == {
        "track head",
        "track head before familiarity (part)",
        "embedding probe (part)",
        "tag probe (part)",
        "linear probe",
    }
    assert len(report["chosen"]) == 2 * 2  # nested choices, one per fold and seed
    for m in report["models"].values():
        assert set(m["per_class"]) == {"jazz", "rock"}
        assert sum(map(sum, m["confusion"])) == 2 * 8  # every clip once per seed
        assert sum(b["clips"] for b in m["reliability"]) == 2 * 8
        acc = sum(m["confusion"][i][i] for i in range(2)) / 16
        assert abs(m["accuracy"]["mean"] - acc) < 1e-9
    for png in ("confusion-track-head.png", "reliability.png", "learning-curves.png"):
        assert (tmp_path / "ev" / png).read_bytes()[:4] == b"\x89PNG"
    # the track head trains in no epochs: its curve is accuracy against training artists
    curve = report["learning_curve"]
    assert set(curve) == {"0.25", "0.5", "0.75", "1.0"}
    assert all(point["n"] == 2 * 2 and 0 <= point["mean"] <= 1 for point in curve.values())


def test_evaluate_says_up_front_when_a_genre_has_too_few_artists(dataset, tmp_path):
    """one line naming the genre, not a traceback from the solver. A
    genre by one artist cannot be tested on an artist the model never heard; one by fewer
    artists than folds is tested in fewer folds, and the run says so."""
    import shutil

    backbone = tmp_path / "backbone.safetensors"
    make_tiny_model(backbone)
    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    (data / "artists.csv").write_text(
        "clip,genre,artist,title\n"
        + "".join(f"rock.{i * 20:05d},rock,One Band,t\n" for i in range(4))
    )

    def evaluate(folds: int):
        return CliRunner().invoke(
            app,
            [
                "evaluate",
                str(data),
                "--arch",
                "musicnn-track",
                "--folds",
                str(folds),
                "--seeds",
                "1",
                "--backbone",
                str(backbone),
                "--out-dir",
                str(tmp_path / "ev"),
                "--cache",
                str(tmp_path / "emb"),
            ],
        )

    r = evaluate(2)
    assert r.exit_code == 2, r.output
    assert "genre 'rock' has music by one artist: it cannot be tested" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "ev").exists()
    (data / "artists.csv").write_text(
        "clip,genre,artist,title\n"
        + "".join(f"jazz.{i * 20:05d},jazz,{'AB'[i // 2]},t\n" for i in range(4))
    )  # rock: unknown
    r = evaluate(3)
    assert r.exit_code == 0, r.output
    assert "note: genre 'jazz' has music by 2 artists, fewer than the 3 folds" in r.output


def test_evaluate_without_artists_says_none_were_found_and_where_they_come_from(tmp_path):
    """Four genre folders of untagged clips with GTZAN-like names, and no artists.csv: the
    run does not claim to know who made them."""
    backbone = tmp_path / "backbone.safetensors"
    make_tiny_model(backbone)
    data = tmp_path / "data"
    for g, label in enumerate(("blues", "country", "jazz", "rock")):
        (data / label).mkdir(parents=True)
        for i in range(2):
            write_audio(
                data / label / f"{label}.{i:05d}.flac", music(4.0, 22050, seed=10 * g + i), 22050
            )
    r = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(data),
            "--arch",
            "musicnn-track",
            "--folds",
            "2",
            "--seeds",
            "1",
            "--backbone",
            str(backbone),
            "--out-dir",
            str(tmp_path / "ev"),
            "--cache",
            str(tmp_path / "emb"),
        ],
    )
    out = " ".join(r.output.split())
    assert r.exit_code == 2, r.output
    assert "no artists found (they come from an artists.csv" in out
    assert "the files' artist tags" in out
    assert "is one group of clips, and no artist is known" in out
    assert "music by one artist" not in out


def test_album_report_pools_an_artists_clips_as_the_scan_does():
    import numpy as np

    from genretag.training.evaluation.evaluate import CVResult, album_report

    labels = ["jazz", "rock"]
    y = np.array([0, 0, 0, 1, 1, 1])
    groups = ["a", "a", "a", "b", "b", "b"]
    probs = np.array(
        [
            [0.9, 0.1],
            [0.8, 0.2],
            [0.4, 0.6],  # a: one wrong track, album jazz
            [0.1, 0.9],
            [0.1, 0.9],
            [0.99, 0.01],
        ]
    )  # b: rock; the last, an outlier
    res = CVResult(labels, y, probabilities={"m": [probs]})
    a = album_report(res, "m", groups)
    assert a["albums"] == 2
    assert a["track"]["mean"] == pytest.approx(4 / 6)
    assert a["album_verdict"]["mean"] == pytest.approx(6 / 6)
    assert a["album_verdict_with_outliers"]["mean"] == pytest.approx(5 / 6)
    assert a["albums_right"]["mean"] == pytest.approx(1.0)
    assert a["albums_nobody_ranks_first_any_genre"]["mean"] == 0.0
    # tracks that rank blues and rock first, and jazz second: the pooled vote alone would
    # give the album jazz, which no track ranks first; the scan's rule gives one of theirs
    labels = ["blues", "jazz", "rock"]
    probs = np.array([[0.50, 0.45, 0.05], [0.05, 0.45, 0.50], [0.52, 0.44, 0.04]])
    res = CVResult(labels, np.array([0, 2, 0]), probabilities={"m": [probs]})
    a = album_report(res, "m", ["a"] * 3)
    assert a["albums_nobody_ranks_first_any_genre"]["mean"] == 1.0
    assert a["album_verdict_any_genre"]["mean"] == 0.0
    assert a["album_verdict"]["mean"] == pytest.approx(2 / 3)  # blues, on all three


def test_a_temperature_is_fitted_only_on_enough_held_out_errors():
    """held-out predictions that are all right would drive the
    temperature to its smallest value, and the model would be sure of everything."""
    import numpy as np

    from genretag.training.recipes.probe import can_calibrate, fit_temperature

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    right = np.log(np.full((200, 3), 0.2))
    right[np.arange(200), y] = np.log(0.6)
    assert fit_temperature(right, y) < 0.1  # what the fit alone would do
    assert not can_calibrate(right, y)
    noisy = right.copy()
    flip = rng.choice(200, 40, replace=False)
    noisy[flip] = np.roll(noisy[flip], 1, axis=1)
    assert can_calibrate(noisy, y) and not can_calibrate(noisy[:30], y[:30])


def test_albums_from_every_output_by_the_scans_rule_and_the_rule_before():
    """The pop album voted Soul: its tracks rank Pop, Hip-Hop and
    Reggae first, and all give Soul, an independent genre, 0.45. Ranked alike, the pooled
    Soul beats every pooled exclusive share; by the scan's rule the album is Pop."""
    import numpy as np

    from genretag.training.evaluation.evaluate import CVResult, album_report

    probs = np.array([[0.99, 0.005, 0.005], [0.05, 0.93, 0.02], [0.30, 0.07, 0.63]])
    res = CVResult(
        ["pop", "hiphop", "reggae"],
        np.array([0, 0, 0]),
        probabilities={"m": [probs]},
        tag_genres=["soul"],
        tag_genre_probabilities=[np.array([[0.45], [0.45], [0.45]])],
    )
    both = album_report(res, "m", ["a"] * 3)["with_independent_genres"]
    assert both["rule_before"]["albums_given_an_independent_genre"] == 1.0
    assert both["rule_before"]["albums_no_track_ranks_first"] == 1.0
    assert both["rule_before"]["tracks_given_the_album_verdict"]["mean"] == 0.0
    assert both["rule"]["albums_given_an_independent_genre"] == 0.0
    assert both["rule"]["albums_no_track_ranks_first"] == 0.0
    assert both["rule"]["tracks_given_the_album_verdict"]["mean"] == 1.0


def test_expected_calibration_error_and_temperature():
    import numpy as np

    from genretag.training.evaluation.evaluate import expected_calibration_error
    from genretag.training.recipes.probe import fit_temperature

    # 10 clips at confidence 0.9 of which 6 are right, 10 at 0.6 of which 6 are right
    probs = np.array([[0.9, 0.1]] * 10 + [[0.6, 0.4]] * 10)
    y = np.array([0] * 6 + [1] * 4 + [0] * 6 + [1] * 4)
    assert np.isclose(expected_calibration_error(probs, y), 0.5 * 0.3 + 0.5 * 0.0)
    # labels drawn from softmax(z / 2): the fitted temperature finds about 2
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3.0, size=(4000, 4))
    p = np.exp(z / 2) / np.exp(z / 2).sum(1, keepdims=True)
    y = np.array([rng.choice(4, p=row) for row in p])
    lp = z - np.logaddexp.reduce(z, axis=1, keepdims=True)
    assert 1.8 < fit_temperature(lp, y) < 2.2


def test_one_prediction_path_evaluation_hears_what_scan_hears(dataset, tmp_path):
    """recipe.predict (what evaluate measures) from cached embeddings equals the tagger's
    own Classifier on the file, for the track head with its independent genres."""
    import numpy as np

    from genretag.hearing.local import Predictor
    from genretag.hearing.windows import Coverage
    from genretag.training.cli import _prepare
    from genretag.training.recipes.recipe import Recipe, fit_model, predict

    backbone = tmp_path / "tagger.safetensors"
    make_tiny_model(backbone, labels=["electronic", "House", "jazz", "rock"], activation="sigmoid")
    from genretag.settings import Settings

    settings = Settings(workers=1, device="cpu")
    d = _prepare([dataset], backbone, tmp_path / "emb", settings, None, Recipe(), False)
    built = fit_model(d, np.arange(len(d.y)), Recipe())
    model = built.model
    assert model.labels[:2] == ["jazz", "rock"] and model.independent == [
        "electronic",
        "dance",
        "house",
    ]
    idx = np.array([0, len(d.y) - 1])
    ours = predict(built, d, idx)
    heard = {
        r.key: r.probabilities
        for r in Predictor(model, Coverage("full"), workers=1).predict(
            [d.items[i].path for i in idx]
        )
    }
    assert np.allclose(ours, np.stack([heard[0], heard[1]]), atol=1e-4)
    assert np.allclose(ours[:, :2].sum(1), 1.0, atol=1e-5)  # exclusive genres add up to one
    # the model file keeps all of it: saved, loaded, it hears the same
    from genretag.models.net import load_model
    from genretag.training.recipes.save import save_genre_model

    path = tmp_path / "track.safetensors"
    save_genre_model(path, model, "test", {}, d.summary(), backbone=d.pretrained)
    loaded = load_model(path)
    assert loaded.metadata.parents == {"dance": ("electronic",), "house": ("dance",)}
    assert loaded.metadata.display_names["house"] == "House"
    (again,) = Predictor(loaded, Coverage("full"), workers=1).predict([d.items[0].path])
    assert np.allclose(again.probabilities, ours[0], atol=1e-4)


def test_tag_genres_take_their_best_tag_through_one_calibration():
    import torch

    from genretag.models.heads import TagGenres

    tg = TagGenres(2, 3)
    with torch.no_grad():
        tg.members[0, [0, 2]] = 1  # genre 0 named by tags 0 and 2; genre 1 by tag 1
        tg.members[1, 1] = 1
        tg.scale.fill_(2.0)
        tg.bias.fill_(-1.0)
    logits = torch.tensor([[0.5, -3.0, 1.5]])
    expect = torch.sigmoid(torch.tensor([[2 * 1.5 - 1, 2 * -3.0 - 1]]))
    assert torch.allclose(tg(logits), expect)


def _table(dataset: Path, path: Path, extra_rows: int = 6) -> Path:
    """A GTZAN-style feature table: the clips' own features, plus rows of clips without
    audio (as the real table has), all computed by the tagger's extractor."""
    import csv

    from genretag.models import features

    rows = []
    for label_dir in sorted(p for p in dataset.iterdir() if p.is_dir()):
        for f in sorted(label_dir.glob("*.flac")):
            rows.append(
                {"filename": f.stem + ".wav", **features.of_file(f), "label": label_dir.name}
            )
    for i in range(extra_rows):
        label = ("jazz", "rock")[i % 2]
        y = music(4.0, features.SAMPLE_RATE, seed=500 + i)
        rows.append(
            {"filename": f"{label}.{90 + i:05d}.wav", **features.features(y), "label": label}
        )
    rows.append({**rows[0], "filename": "disco.00001.wav", "label": "disco"})  # not in audio
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, ["filename", *features.COLUMNS, "label"])
        w.writeheader()
        w.writerows(rows)
    return path


def test_features_follow_the_tables_recipe():
    """The columns are librosa's own features with the table's settings (README of the data):
    22.05 kHz, n_fft 2048, hop 512, centred reflect-padded frames, 20 MFCCs of 128 mels."""
    import librosa
    import numpy as np

    from genretag.models import features

    y = music(5.0, features.SAMPLE_RATE, seed=3)
    v = features.features(y)
    kw = dict(n_fft=2048, hop_length=512, center=True, pad_mode="reflect")
    mfcc = librosa.feature.mfcc(y=y, sr=22050, n_mfcc=20, n_mels=128, **kw)
    centroid = librosa.feature.spectral_centroid(y=y, sr=22050, **kw)
    rolloff = librosa.feature.spectral_rolloff(y=y, sr=22050, **kw)
    chroma = librosa.feature.chroma_stft(y=y, sr=22050, **kw)
    rms = librosa.feature.rms(y=y, frame_length=2048, hop_length=512, pad_mode="reflect")
    for name, series in (
        ("mfcc1", mfcc[0]),
        ("mfcc13", mfcc[12]),
        ("spectral_centroid", centroid),
        ("rolloff", rolloff),
        ("chroma_stft", chroma),
        ("rms", rms),
    ):
        assert np.isclose(v[f"{name}_mean"], series.mean(), rtol=1e-4), name
        assert np.isclose(v[f"{name}_var"], series.var(), rtol=1e-3), name
    assert list(features.vector(v, features.COLUMNS)) == [
        np.float32(v[c]) for c in features.COLUMNS
    ]


def test_fused_model_trains_evaluates_and_tags(dataset, tmp_path):
    import numpy as np
    import torch

    from genretag.models.net import load_model
    from genretag.models.pooling import WindowPool

    backbone = tmp_path / "backbone.safetensors"
    make_tiny_model(backbone)
    table = _table(dataset, tmp_path / "features.csv")
    out = tmp_path / "fused.safetensors"
    runner = CliRunner()
    common = [
        "--backbone",
        str(backbone),
        "--cache",
        str(tmp_path / "emb"),
        "--features",
        str(table),
        "--arch",
        "musicnn-track",
    ]
    r = runner.invoke(app, ["train", str(dataset), "--out", str(out), *common])
    assert r.exit_code == 0, r.output
    assert "left out 1 rows" in r.output  # the disco row: a label the audio does not have
    model = load_model(out)
    assert model.net.features is not None and model.feature_columns
    assert model.metadata.raw["training"]["data"]["feature_table_rows"] == 8 + 6
    # fusion is the normalised weighted geometric mean of the two heads
    cnn = torch.tensor([[0.2, 0.8]])
    x = np.random.default_rng(0).normal(size=len(model.feature_columns)).astype(np.float32)
    with torch.inference_mode():
        fp = torch.softmax(model.net.features(torch.from_numpy(x)[None]), -1)[0].numpy()
        fused = model.net.fuse(cnn, torch.from_numpy(x)[None])[0].numpy()
    expect = np.sqrt(cnn[0].numpy() * fp) / np.sqrt(cnn[0].numpy() * fp).sum()
    assert np.allclose(fused, expect, atol=1e-5)
    r = runner.invoke(
        app, ["predict", str(dataset / "jazz" / "jazz.00000.flac"), "--model", str(out)]
    )
    assert r.exit_code == 0, r.output
    # fast coverage: the features come from the K windows' audio, decoded once at 22.05 kHz
    from genretag.hearing.local import Predictor
    from genretag.hearing.windows import Coverage, fast_starts
    from genretag.library.decode import decode
    from genretag.models import features

    long = tmp_path / "long.flac"
    write_audio(long, music(20.0, 44100, seed=9), 44100)
    (fast,) = Predictor(model, Coverage("fast", 4), keep_windows=True).predict([long])
    assert fast.error is None and fast.windows == 4
    seconds = model.params.window_seconds
    heard = np.concatenate(
        [decode(long, features.SAMPLE_RATE, s, seconds) for s in fast_starts(20.0, seconds, 4)]
    )
    x = features.vector(features.features(heard), model.feature_columns)
    pool = WindowPool.of(fast.window_outputs)
    assert np.allclose(fast.probabilities, model.track_probabilities(pool, x), atol=1e-5)
    assert not np.allclose(fast.probabilities, model.track_probabilities(pool), atol=1e-3)
    (full,) = Predictor(model, Coverage("full")).predict([long])
    assert full.error is None and np.isclose(full.probabilities.sum(), 1.0, atol=1e-5)
    r = runner.invoke(
        app,
        [
            "evaluate",
            str(dataset),
            "--arch",
            "musicnn-track",
            "--folds",
            "2",
            "--seeds",
            "1",
            "--out-dir",
            str(tmp_path / "ev"),
            *common,
        ],
    )
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert set(report["models"]) == {
        "track head + feature head",
        "feature head",
        "linear probe",
        "track head before familiarity (part)",
        "embedding probe (part)",
        "tag probe (part)",
    }


def test_a_folds_test_rows_never_train_the_feature_head(tmp_path):
    import numpy as np

    from genretag.models import features
    from genretag.training.data.datasets import load_feature_table

    cols = list(features.COLUMNS)
    lines = ["filename," + ",".join(cols) + ",label"]
    for name, label in (
        ("jazz.00003.au", "jazz"),
        ("jazz.00030.au", "jazz"),
        ("mine.wav", "rock"),
        ("other.wav", "rock"),
    ):
        lines.append(name + "," + ",".join("1.0" for _ in cols) + f",{label}")
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    t = load_feature_table(
        tmp_path / "t.csv", ["jazz", "rock"], cols, artists={"jazz.00030": "Miles"}
    )
    assert t.groups[:2] == ["jazz:block0", "artist:miles"] and t.names[2] == "mine"
    assert list(t.rows_outside({"jazz:block0"}, {"mine"})) == [False, True, False, True]
    assert list(t.rows_outside({"artist:miles"}, set())) == [True, False, True, True]
    # a test clip's unlisted neighbours (GTZAN keeps an artist's clips in runs) stay out
    assert list(t.rows_outside(set(), {"jazz.00010"})) == [False, True, True, True]
    assert list(t.rows_outside(set(), {"rock.00010"})) == [True, True, True, True]
    assert np.array_equal(t.y, [0, 0, 1, 1])
    (tmp_path / "bad.csv").write_text("filename,label\nx.au,jazz\n")
    with pytest.raises(DatasetError):
        load_feature_table(tmp_path / "bad.csv", ["jazz"], cols)


@pytest.mark.slow
@pytest.mark.parametrize(
    "how",
    [
        ["--arch", "mel-cnn", "--epochs", "2", "--patience", "1"],
        ["--arch", "musicnn-finetune", "--finetune-all", "1", "--epochs", "1", "--mixup", "0.4"],
    ],
)
def test_whole_network_training(dataset, tmp_path, how):
    from genretag.models.net import load_model

    backbone = tmp_path / "backbone.safetensors"
    make_tiny_model(backbone)
    out = tmp_path / "net.safetensors"
    common = ["--backbone", str(backbone), "--cache", str(tmp_path / "emb"), *how]
    r = CliRunner().invoke(app, ["train", str(dataset), "--out", str(out), *common])
    assert r.exit_code == 0, r.output
    model = load_model(out)
    assert model.labels == ["jazz", "rock"]
    assert ("backbone" in model.metadata.raw) == ("mel-cnn" not in how)
    if "--finetune-all" in how:  # the whole network moved; what is frozen did not
        import torch

        before = load_model(backbone).net.backbone.state_dict()
        after = model.net.backbone.state_dict()
        for name in ("timbral.0.weight", "temporal.2.weight", "mid.1.weight"):
            assert not torch.equal(before[name], after[name]), name
        frozen = [k for k in before if k.startswith("input_bn.") or "running_" in k]
        assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    r = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(dataset),
            "--arch",
            "musicnn-track",
            "--folds",
            "2",
            "--seeds",
            "1",
            "--out-dir",
            str(tmp_path / "ev"),
            *common,
        ],
    )
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    cnn = "from-scratch CNN" if "mel-cnn" in how else "fine-tuned whole network"
    assert set(report["models"]) == {cnn, "linear probe"}


def test_a_feature_table_without_the_datasets_labels_is_a_usage_error(dataset, tmp_path):
    from genretag.models import features

    backbone = tmp_path / "backbone.safetensors"
    make_tiny_model(backbone)
    cols = list(features.COLUMNS)
    (tmp_path / "t.csv").write_text(
        "filename,"
        + ",".join(cols)
        + ",label\n"
        + "x.wav,"
        + ",".join("1" for _ in cols)
        + ",disco\n"
    )
    r = CliRunner().invoke(
        app,
        [
            "train",
            str(dataset),
            "--arch",
            "musicnn-track",
            "--out",
            str(tmp_path / "m.safetensors"),
            "--backbone",
            str(backbone),
            "--cache",
            str(tmp_path / "emb"),
            "--features",
            str(tmp_path / "t.csv"),
        ],
    )
    assert r.exit_code == 2 and "at least two of the dataset's labels" in r.output
    assert not (tmp_path / "m.safetensors").exists()


def test_track_model_cli_parents_and_label_sets(dataset, tmp_path):
    """The default recipe from the CLI: a track model with tag genres; --parents writes each
    chosen genre's ancestors, --labels gtzan keeps to the dataset's genres."""
    from genretag.deciding.genres import Vocabulary
    from genretag.models.net import load_model

    backbone = tmp_path / "tagger.safetensors"
    make_tiny_model(
        backbone, favourite=1, labels=["electronic", "House", "jazz", "rock"], activation="sigmoid"
    )
    out = tmp_path / "track.safetensors"
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "train",
            str(dataset),
            "--arch",
            "musicnn-track",
            "--out",
            str(out),
            "--backbone",
            str(backbone),
            "--cache",
            str(tmp_path / "emb"),
        ],
    )
    assert r.exit_code == 0, r.output
    model = load_model(out)
    assert model.metadata.label_sets["gtzan"] == ("jazz", "rock")
    assert model.labels == ["jazz", "rock", "electronic", "dance", "house"]

    def scan(*args):
        report = tmp_path / "r.json"
        r = runner.invoke(
            app,
            [
                "scan",
                str(dataset),
                "--model",
                str(out),
                "--db",
                str(tmp_path / "db.sqlite"),
                "--dry-run",
                "--report",
                str(report),
                *args,
            ],
        )
        assert r.exit_code == 1, r.output  # broken.mp3 is an error row; the rest is handled
        return [row for row in json.loads(report.read_text())["rows"] if not row["error"]]

    rows = scan("--top-k", "4", "--min-confidence", "0", "--labels", "gtzan")
    assert rows and all(set(row["genres"]) == {"Jazz", "Rock"} for row in rows)
    vocab = Vocabulary.of_model(model.metadata)
    for row in scan("--min-confidence", "0", "--parents"):
        assert row["genres"] == vocab.with_parents(row["genres"][:1])
    r = runner.invoke(
        app,
        [
            "scan",
            str(dataset),
            "--model",
            str(out),
            "--labels",
            "nope",
            "--db",
            str(tmp_path / "db.sqlite"),
            "--dry-run",
        ],
    )
    assert r.exit_code == 2 and "--labels nope" in r.output


def test_embeddings_do_not_depend_on_batch_neighbours(tmp_path):
    """Training's embeddings are bit for bit the same however tracks interleave, so a model
    trained from scratch on a fresh cache reproduces the shipped one exactly."""
    import shutil

    import numpy as np

    from genretag.hearing.local import Predictor
    from genretag.hearing.windows import Coverage
    from genretag.models.net import load_model

    make_tiny_model(tmp_path / "m.safetensors")
    model = load_model(tmp_path / "m.safetensors")
    paths = []
    for i, seconds in enumerate((20.0, 7.0, 13.0)):
        paths.append(tmp_path / f"t{i}.flac")
        write_audio(paths[-1], music(seconds, 22050, seed=i), 22050)
    shutil.copy(paths[0], tmp_path / "again.flac")
    paths.append(tmp_path / "again.flac")

    def embed(order, workers):
        out = {}
        for r in Predictor(
            model,
            Coverage("full"),
            batch_size=4,
            workers=workers,
            keep_windows=True,
            embeddings=True,
        ).predict(order):
            out[order[r.key].name] = r.window_outputs[np.argsort(r.window_starts, kind="stable")]
        return out

    one = embed(paths, 2)
    other = embed(list(reversed(paths)), 1)
    assert len(one["t0.flac"]) > 4  # several batches of one track
    assert np.array_equal(one["t0.flac"], one["again.flac"])
    for name in one:
        assert np.array_equal(one[name], other[name]), name


def synthetic_genres(
    seed: int = 0, genres: int = 4, artists: int = 4, clips: int = 6, dim: int = 40, tags: int = 6
):
    """Pooled statistics of clips in ``genres`` clusters, each artist a small offset."""
    from genretag.training.recipes.probe import Pooled

    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (genres, dim))
    rows, y, groups = [], [], []
    for g in range(genres):
        for a in range(artists):
            offset = rng.normal(0, 0.5, dim)
            for _ in range(clips):
                rows.append(centres[g] + offset + rng.normal(0, 1, dim))
                y.append(g)
                groups.append(f"{g}-{a}")
    x = np.array(rows)
    return Pooled(x, x[:, :tags].copy()), np.array(y), groups, centres


def test_familiarity_finds_music_far_from_every_genre_unfamiliar():
    """Fitted on genres held out in turn, the familiarity keeps the training genres' music
    familiar and finds a cluster far from all of them unfamiliar; the exclusive genres of a
    track head are multiplied by it."""
    from genretag.training.recipes.probe import ProbeConfig, fit_track_head

    x, y, groups, centres = synthetic_genres()
    head, _ = fit_track_head(x, y, groups, 4, ProbeConfig())
    fam = head.familiarity
    assert float(fam.slope) < 0
    rng = np.random.default_rng(1)
    near = centres[0] + rng.normal(0, 1, (20, centres.shape[1]))
    far = 4 * rng.normal(0, 3, (20, centres.shape[1]))

    def familiar(points):
        half = points.shape[1] // 2
        t = torch.from_numpy(points).float()
        return head.familiar(t[:, :half], t[:, half:]).numpy()

    assert (familiar(near) > 0.8).all() and (familiar(far) < 0.2).all()


def test_hold_out_genres_measures_music_the_head_never_heard():
    from genretag.training.evaluation import ood
    from genretag.training.recipes.probe import ProbeConfig

    x, y, groups, _ = synthetic_genres(genres=3)
    scored = ood.hold_out_each(x, y, ["a", "b", "c"], groups, ProbeConfig(), k=3)
    out = ood.report(scored)
    assert out["clips_outside"] == len(y) and out["clips_inside"] == 2 * len(y)
    assert set(out["per_genre"]) == {"a", "b", "c"}
    assert set(out["scores"]) == set(ood.SCORES)
    # the familiarity can only lower the exclusive genres
    assert (
        out["with_familiarity"]["outside_given_a_genre"]
        <= out["head_alone"]["outside_given_a_genre"]
    )


def test_hold_out_genres_needs_three_genres(dataset, tmp_path):
    r = evaluate_tiny(dataset, tmp_path, 1, "--hold-out-genres")
    assert r.exit_code == 2 and "--hold-out-genres needs at least three genres" in r.output


@pytest.mark.slow
def test_train_on_ray_and_a_fused_model_scans_on_ray_as_here(dataset, tmp_path):
    """``train --engine ray`` hears the dataset on a Ray runtime (the broken file skipped as
    here); the fused model it writes then hears a track on Ray with its table features, as
    the local engine does."""
    pytest.importorskip("ray.data")
    backbone = tmp_path / "backbone.safetensors"
    make_tiny_model(backbone)
    out = tmp_path / "fused.safetensors"
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "train",
            str(dataset),
            "--arch",
            "musicnn-track",
            "--out",
            str(out),
            "--backbone",
            str(backbone),
            "--cache",
            str(tmp_path / "emb"),
            "--features",
            str(_table(dataset, tmp_path / "features.csv")),
            "--engine",
            "ray",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "broken.mp3" in r.output
    lib = tmp_path / "lib"
    lib.mkdir()
    write_audio(lib / "long.flac", music(20.0, 44100, seed=9), 44100)
    reports = {}
    for engine in ("local", "ray"):
        reports[engine] = tmp_path / f"{engine}.json"
        r = runner.invoke(
            app,
            [
                "scan",
                str(lib),
                "--model",
                str(out),
                "--engine",
                engine,
                "--db",
                str(tmp_path / f"{engine}.sqlite"),
                "--dry-run",
                "--min-confidence",
                "0",
                "--report",
                str(reports[engine]),
            ],
        )
        assert r.exit_code == 0, r.output
    here, there = (
        json.loads(reports[e].read_text())["rows"][0]["probabilities"] for e in ("local", "ray")
    )
    assert max(abs(here[k] - there[k]) for k in here) <= 1e-5


def test_features_mlp_trains_evaluates_and_scans_through_the_same_stages(dataset, tmp_path):
    """--arch features-mlp: a model file without musicnn, whose windows a scan hears as
    table features through the model's own frontend, the numbers training saw; evaluate
    runs it on artist-grouped folds; bad combinations are one-line usage errors."""
    import numpy as np

    from genretag.hearing.local import Predictor
    from genretag.hearing.windows import Coverage
    from genretag.models.net import load_model
    from genretag.models.pooling import WindowPool
    from genretag.training.data.datasets import Item
    from genretag.training.recipes.featuremlp import window_features

    out = tmp_path / "mlp.safetensors"
    runner = CliRunner()
    common = ["--cache", str(tmp_path / "emb"), "--backbone", str(tmp_path / "b.safetensors")]
    make_tiny_model(tmp_path / "b.safetensors")
    r = runner.invoke(
        app,
        [
            "train",
            str(dataset),
            "--out",
            str(out),
            "--arch",
            "features-mlp",
            "--epochs",
            "20",
            *common,
        ],
    )
    assert r.exit_code == 0, r.output
    assert "broken.mp3" in r.output  # listed and skipped, not fatal
    model = load_model(out)
    assert model.net.arch.name == "features-mlp" and model.params.sample_rate == 22050
    assert "backbone" not in model.metadata.raw
    long = tmp_path / "long.flac"
    write_audio(long, music(13.0, 44100, seed=9), 44100)
    (heard,) = Predictor(model, Coverage("full")).predict([long])
    assert heard.error is None and heard.windows == 5  # 3 s windows, the last one padded
    (trained_on,) = window_features([Item(long, "jazz", "a")], tmp_path / "emb").windows.values()
    assert trained_on.shape == (5, len(model.net.backbone.mean))
    import torch

    with torch.inference_mode():
        outputs = model.net.window_outputs(model.net.backbone(torch.from_numpy(trained_on)))
    assert np.allclose(
        model.track_probabilities(WindowPool.of(outputs.numpy())), heard.probabilities, atol=1e-5
    )
    report = tmp_path / "r.json"
    r = runner.invoke(
        app,
        [
            "scan",
            str(long),
            "--model",
            str(out),
            "--db",
            str(tmp_path / "c.sqlite"),
            "--dry-run",
            "--report",
            str(report),
        ],
    )
    assert r.exit_code == 0, r.output
    (row,) = json.loads(report.read_text())["rows"]
    assert set(row["probabilities"]) == {"Jazz", "Rock"}  # display names
    r = runner.invoke(
        app,
        [
            "evaluate",
            str(dataset),
            "--arch",
            "features-mlp",
            "--folds",
            "2",
            "--seeds",
            "1",
            "--epochs",
            "10",
            "--out-dir",
            str(tmp_path / "ev"),
            *common,
        ],
    )
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert "features MLP" in metrics["models"]
    r = runner.invoke(app, ["train", str(dataset), "--out", str(out), "--arch", "nope", *common])
    assert r.exit_code == 2 and "'nope' is not one of" in r.output
    r = runner.invoke(
        app,
        [
            "train",
            str(dataset),
            "--out",
            str(out),
            "--arch",
            "features-mlp",
            "--features",
            str(tmp_path / "t.csv"),
            *common,
        ],
    )
    assert r.exit_code == 2 and "--arch features-mlp" in r.output


@pytest.mark.parametrize(
    "arch, method",
    [
        ("musicnn-track", "frozen musicnn tagger"),
        ("musicnn-finetune", "then the whole network 2 epochs"),
        ("mel-cnn", "trained from random weights"),
        ("raw-cnn", "on the raw waveform"),
    ],
)
def test_each_musicnn_arch_trains_and_scans(dataset, tmp_path, arch, method):
    """--arch names the recipes of the reference notebooks that musicnn's code covers; each
    trains on tiny data, saves, and tags with scan --model."""
    from genretag.models.net import load_model

    backbone = tmp_path / "backbone.safetensors"
    make_tiny_model(backbone)
    out = tmp_path / f"{arch}.safetensors"
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "train",
            str(dataset),
            "--out",
            str(out),
            "--arch",
            arch,
            "--epochs",
            "1",
            "--backbone",
            str(backbone),
            "--cache",
            str(tmp_path / "emb"),
        ],
    )
    assert r.exit_code == 0, r.output
    model = load_model(out)
    assert method in model.metadata.raw["training"]["method"]
    # the reference recipe's 64 bands, carried by the model file to the scan
    assert model.params.n_mels == (64 if arch == "mel-cnn" else 96)
    report = tmp_path / "r.json"
    r = runner.invoke(
        app,
        [
            "scan",
            str(dataset / "jazz"),
            "--model",
            str(out),
            "--db",
            str(tmp_path / "c.sqlite"),
            "--dry-run",
            "--min-confidence",
            "0",
            "--report",
            str(report),
        ],
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(report.read_text())["rows"]
    assert len(rows) == 4 and all(row["probabilities"] for row in rows)
