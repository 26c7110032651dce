"""The default model's recipe end to end: several datasets learnt as one, the model a scan
then uses on both runtimes, and the evaluation that writes the model card's tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from genretag.cli import build_app

from helpers import make_tiny_model
from synth import music, write_audio

app = build_app()


def hiss(seconds: float, sr: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * sr)) * 0.3).astype(np.float32)


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A GTZAN-like folder set (jazz, rock; artists.csv) and a MER-like tracks.csv set
    (several genres per clip), tonal music for jazz and hiss for rock."""
    root = tmp_path_factory.mktemp("sets")
    gtzan, mer = root / "gtzan", root / "mer"
    rows = ["clip,genre,artist,title"]
    for label, sound in (("jazz", music), ("rock", hiss)):
        (gtzan / label).mkdir(parents=True)
        for i in range(6):
            name = f"{label}.{i * 20:05d}"
            write_audio(gtzan / label / f"{name}.flac", sound(3.0, 16000, seed=i), 16000)
            rows.append(f"{name},{label},{label} artist {i % 3},t")
    (gtzan / "artists.csv").write_text("\n".join(rows) + "\n")
    mer.mkdir()
    rows = ["id,artist,title,genres"]
    for i in range(12):
        tonal = i % 2 == 1
        sound = music(3.0, 16000, seed=100 + i) if tonal else hiss(3.0, 16000, 100 + i)
        write_audio(mer / f"MT{i}.flac", sound, 16000)
        # one artist of the folder set is in this set too
        artist = "Jazz Artist 0" if i == 1 else f"m{i % 4}"
        rows.append(f"MT{i},{artist},t,{'Jazz' if tonal else 'Pop/Rock; Electronic'}")
    (mer / "tracks.csv").write_text("\n".join(rows) + "\n")
    backbone = root / "backbone.safetensors"
    make_tiny_model(backbone)
    return gtzan, mer, backbone


def test_train_learns_several_datasets_as_one_and_a_scan_writes_only_validated_genres(
    sets, tmp_path
):
    gtzan, mer, backbone = sets
    out = tmp_path / "v3.safetensors"
    common = ["--backbone", str(backbone), "--cache", str(tmp_path / "emb")]
    r = CliRunner().invoke(app, ["train", str(gtzan), str(mer), "--out", str(out), *common])
    assert r.exit_code == 0, r.output
    from genretag.models.file import read_metadata
    from genretag.models.loader import LazyModel

    meta = read_metadata(out)
    assert meta.architecture.head == "genres"
    assert list(meta.labels) == ["jazz", "rock", "electronic", "poprock"]
    assert meta.independent == list(meta.labels)  # every genre stands alone
    assert meta.display_names["poprock"] == "Pop/Rock"
    validated = meta.label_sets["validated"]
    assert "jazz" in validated and set(meta.thresholds) == set(validated)
    assert "poprock" not in validated  # an umbrella of sub-genres is never written alone
    data = meta.raw["training"]["data"]
    assert data["datasets"] == {
        "gtzan": {"clips": 12, "artists": 6},
        "mer": {"clips": 12, "artists": 5},
    }
    assert data["artists"] == 10  # one artist in both sets is one group
    # beside it, its background: every training clip, pooled as a fast scan pools a track,
    # for learn to fit an owner's labels against
    from genretag.models import background

    bg = background.load(out, meta.model_id, list(meta.labels))
    assert bg is not None and len(bg) == 24 and len(set(bg.groups.tolist())) == 10
    assert bg.targets[:, 0].tolist().count(1) >= 6  # the jazz clips are jazz
    # one prediction path: the file's head gives what the recipe's head gave, on both runtimes
    torch_model = LazyModel(out, "cpu", "torch").load()
    onnx_model = LazyModel(out, "cpu", "onnx").load()
    stats = np.random.default_rng(0).normal(
        size=(3, 2 * torch_model.net.embedding_dim + len(meta.tags))
    )
    np.testing.assert_allclose(
        onnx_model.probabilities_of_statistics(stats.astype(np.float32)),
        torch_model.probabilities_of_statistics(stats),
        atol=1e-5,
    )
    db = tmp_path / "db.sqlite"
    report = tmp_path / "scan.json"
    scan = ["scan", str(mer), "--model", str(out), "--db", str(db), "--dry-run", "--by", "track"]
    r = CliRunner().invoke(app, [*scan, "--report", str(report)])
    assert r.exit_code == 0, r.output
    rows = json.loads(report.read_text())["rows"]
    written = {g for row in rows for g in row.get("genres") or []}
    shown = {meta.display_names[lab] for lab in validated}
    assert written and written <= shown, (written, shown)
    r = CliRunner().invoke(app, [*scan, "--labels", "nope"])
    assert r.exit_code == 2 and "validated, all" in r.output, r.output


def test_evaluate_reports_every_dataset_and_label_and_the_targets(sets, tmp_path):
    gtzan, mer, backbone = sets
    r = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(gtzan),
            str(mer),
            "--backbone",
            str(backbone),
            "--cache",
            str(tmp_path / "emb"),
            "--folds",
            "2",
            "--seeds",
            "1",
            "--hold-out-genres",
            "--out-dir",
            str(tmp_path / "ev"),
        ],
    )
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    rep = m["candidates"]["backbone"]
    assert set(rep["datasets"]) == {"gtzan", "mer"}
    g = rep["datasets"]["gtzan"]
    assert g["clips"] == 12 and "accuracy" in g  # one genre per clip: accuracy too
    assert "accuracy" not in rep["datasets"]["mer"]  # several per clip: what is written
    outcomes = g["written_probability"]
    total = sum(outcomes[k]["mean"] for k in ("right", "wrong", "unsure"))
    assert abs(total - 1) < 1e-9
    assert set(rep["per_label"]) == {"jazz", "rock", "electronic", "poprock"}
    assert m["targets"]["gtzan accuracy"]["measured"] == g["accuracy"]["mean"]
    assert set(m["learning_curve"]) == {"0.25", "0.5", "1.0"}
    tables = (tmp_path / "ev" / "tables.md").read_text()
    assert "## Targets" in tables and "### mer: per label" in tables
    # one artist in both sets: never on both sides of a fold
    assert "held_out_labels" in m
