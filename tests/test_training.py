"""The training package: dataset layouts, grouped folds, train and evaluate end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_tiny_model
from typer.testing import CliRunner

from tagger.cli import app
from training.cli import register
from training.datasets import DatasetError, from_fma, gtzan_group, load
from training.evaluate import make_folds
from training.synth import music, write_audio

register(app)


def test_gtzan_blocks_keep_neighbours_together():
    assert gtzan_group("blues.00000.opus") == gtzan_group("blues.00007.opus") == "block0"
    assert gtzan_group("rock.00013.wav") == gtzan_group("rock.00029.wav") != gtzan_group(
        "rock.00030.wav")
    assert gtzan_group("my song.mp3") is None


def test_folds_never_split_a_group():
    groups = [f"g{i % 7}" for i in range(70)]
    folds = make_folds(groups, 3)
    for g in set(groups):
        assert len({f for f, gg in zip(folds, groups) if gg == g}) == 1
    assert set(folds) == {0, 1, 2}
    assert list(make_folds(["a", "b", "a", "c"], 3)) == [0, 1, 0, 2]


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
        "3,8,test,Rock\n")  # track 3 has no audio: left out
    (item,) = from_fma(fma)
    assert (item.label, item.group, item.split) == ("Hip-Hop", "artist7", "training")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dataset")
    for label, base in (("jazz", 0), ("rock", 100)):
        (root / label).mkdir()
        for i in range(4):
            write_audio(root / label / f"{label}.{i * 20:05d}.flac",
                        music(4.0, 22050, seed=base + i), 22050)
    (root / "rock" / "broken.mp3").write_text("not audio")
    return root


def test_train_then_scan_with_the_new_model(dataset, tmp_path):
    backbone = tmp_path / "backbone.safetensors"
    make_tiny_model(backbone)
    out = tmp_path / "mine.safetensors"
    runner = CliRunner()
    r = runner.invoke(app, ["train", str(dataset), "--out", str(out), "--backbone",
                            str(backbone), "--epochs", "2", "--cache", str(tmp_path / "emb")])
    assert r.exit_code == 0, r.output
    assert "broken.mp3" in r.output  # listed and skipped, not fatal
    from tagger.model import load_model

    model = load_model(out)
    assert model.labels == ["jazz", "rock"]
    assert model.metadata["training"]["data"]["per_label"] == {"jazz": 4, "rock": 4}
    assert model.params == load_model(backbone).params  # audio parameters travel with it
    r = runner.invoke(app, ["scan", str(dataset / "jazz"), "--model", str(out), "--db",
                            str(tmp_path / "db.sqlite"), "--dry-run", "--min-confidence", "0"])
    assert r.exit_code == 0, r.output


def test_evaluate_writes_metrics_and_plots(dataset, tmp_path):
    backbone = tmp_path / "backbone.safetensors"
    make_tiny_model(backbone)
    r = CliRunner().invoke(app, ["evaluate", str(dataset), "--folds", "2", "--backbone",
                                 str(backbone), "--epochs", "2", "--out-dir",
                                 str(tmp_path / "ev"), "--cache", str(tmp_path / "emb")])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    for name in ("fine-tuned head", "linear probe"):
        m = report["models"][name]
        assert 0.0 <= m["accuracy"] <= 1.0 and len(m["fold_accuracy"]) == 2
        assert set(m["per_class"]) == {"jazz", "rock"}
    for png in ("confusion-fine-tuned-head.png", "learning-curves.png"):
        assert (tmp_path / "ev" / png).read_bytes()[:4] == b"\x89PNG"
