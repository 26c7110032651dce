"""``genretag learn`` on a library made in the test: two kinds of music
(tonal, and bursts of noise), tagged in an owner's spellings, by several artists each."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mutagen.flac import FLAC

from genretag import tags

from helpers import make_tiny_tagger, run
from synth import music, write_audio

pytest.importorskip("sklearn")

NOISE_SPELLINGS = ["Hip Hop", "Hip Hop", "hip-hop", "HIPHOP"]  # one label, four spellings


def noise(seconds: float, sr: int, seed: int) -> np.ndarray:
    """Bursts of filtered noise at a steady pulse: the other "genre"."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    out = rng.standard_normal(n) * 0.3
    pulse = (np.arange(n) // int(sr * rng.uniform(0.2, 0.4))) % 2
    return (out * pulse).astype(np.float32)


def html_rows(page: str) -> list[list[str]]:
    """The cells of every row of a page's table, its heading first."""
    from html.parser import HTMLParser

    rows: list[list[str]] = []
    inside = []

    class Cells(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                rows.append([])
            elif tag in ("td", "th"):
                rows[-1].append("")
                inside.append(tag)

        def handle_endtag(self, tag):
            if tag in ("td", "th"):
                inside.pop()

        def handle_data(self, data):
            if inside:
                rows[-1][-1] += data

    Cells().feed(page)
    return rows


def track(path: Path, audio: np.ndarray, artist: str, genre: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_audio(path, audio, 16000, "flac")
    f = FLAC(path)
    f["artist"] = artist
    if genre:
        f["genre"] = genre
    f.save()


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("learn-lib")
    model = root / "tagger.safetensors"
    make_tiny_tagger(model)
    lib = root / "lib"
    seed = 0
    for a in range(4):  # four artists of each, six tracks each
        for t in range(6):
            seed += 1
            track(
                lib / f"noise{a}" / f"{t}.flac",
                noise(3.0, 16000, seed),
                f"Noise {a}",
                NOISE_SPELLINGS[a],
            )
            track(
                lib / f"tonal{a}" / f"{t}.flac",
                music(3.0, 16000, seed=seed),
                f"Tonal {a}",
                "Chiptune",
            )
    for t in range(12):  # a label of one artist (a hum of its own): refused
        hum = 0.5 * np.sin(2 * np.pi * (100 + 5 * t) * np.arange(48000) / 16000)
        track(lib / "zydeco" / f"{t}.flac", hum.astype(np.float32), "Zed", "Zydeco")
    for t in range(4):  # untagged: what learn's model is for
        track(lib / "new" / f"n{t}.flac", noise(3.0, 16000, 200 + t), "New Noise", None)
        track(lib / "new" / f"t{t}.flac", music(3.0, 16000, seed=300 + t), "New Tonal", None)
    return lib, model


def test_learn_learns_the_owners_labels_refuses_a_thin_one_and_decodes_nothing_twice(
    library, tmp_path, monkeypatch
):
    lib, model = library
    db = tmp_path / "cache.sqlite"
    # a scan hears every track and keeps its statistics; it tags the untagged ones with
    # the tagger's own labels (genres genretag wrote: learn must leave them out)
    r = run(
        "scan", lib / "new", "--model", model, "--db", db, "--min-confidence", "0", "--workers", "1"
    )
    assert r.exit_code == 0, r.output
    written = {p.name: tags.read_genres(p) for p in (lib / "new").iterdir()}
    assert all(written.values()), written
    r = run("scan", lib, "--model", model, "--db", db, "--dry-run", "--workers", "2")
    assert r.exit_code in (0, 1), r.output

    import genretag.hearing.source as source

    monkeypatch.setattr(source, "stream", lambda *a, **k: pytest.fail("decoded again"))
    monkeypatch.setattr(source, "decode_spans", lambda *a, **k: pytest.fail("decoded again"))
    out, report = tmp_path / "mine.safetensors", tmp_path / "learn.json"
    r = run(
        "learn",
        lib,
        "--model",
        model,
        "--db",
        db,
        "--out",
        out,
        "--min-tracks",
        "10",
        "--report",
        report,
    )
    assert r.exit_code == 0, r.output
    labels = {x["name"]: x for x in json.loads(report.read_text())["labels"]}
    assert set(labels) == {"Hip Hop", "Chiptune", "Zydeco"}  # spellings folded; no jazz
    assert labels["Hip Hop"]["tracks"] == 24 and labels["Hip Hop"]["learnt"], labels
    assert labels["Chiptune"]["learnt"] and labels["Chiptune"]["auc"] > 0.9, labels
    assert not labels["Zydeco"]["learnt"]
    assert labels["Zydeco"]["reason"] == "1 artists, fewer than 3"
    assert "heard 0 now" in r.output and "8 genres genretag wrote left out" in r.output
    assert "hearing:" not in r.output  # all from the cache: no "hearing: 0/0, started"
    # the same table as a page
    page = tmp_path / "learn.html"
    r = run(
        "learn",
        lib,
        "--model",
        model,
        "--db",
        db,
        "--out",
        out,
        "--min-tracks",
        "10",
        "--report",
        page,
    )
    assert r.exit_code == 0, r.output
    table = html_rows(page.read_text(encoding="utf-8"))
    assert table[0] == [
        "label",
        "tracks",
        "artists",
        "base genre",
        "learnt P/R",
        "stacked P/R",
        "default P/R",
        "kept",
        "threshold",
        "untagged it tags",
    ]
    cells = {row[0]: row for row in table[1:]}
    assert cells["Hip Hop"][1:3] == ["24", "4"], cells
    assert cells["Hip Hop"][7] in ("learnt", "stacked"), cells
    assert cells["Zydeco"][7] == "no: 1 artists, fewer than 3", cells
    assert cells["Zydeco"][9] == "—", cells
    monkeypatch.undo()

    # the learnt model is an ordinary model file: a scan with it tags the untagged tracks
    for p in (lib / "new").iterdir():
        tags.write_genres(p, [])
    scanned = tmp_path / "scan.json"
    r = run(
        "scan",
        lib / "new",
        "--model",
        out,
        "--db",
        tmp_path / "2.sqlite",
        "--dry-run",
        "--report",
        scanned,
    )
    assert r.exit_code == 0, r.output
    rows = {Path(x["path"]).name: x for x in json.loads(scanned.read_text())["rows"]}
    got = {n: x["genres"] for n, x in rows.items()}
    # each label is written at the threshold its cross-validation found: no track gets a
    # wrong genre, the noise all gets its own, and a tonal track may be left unsure
    assert all(got[n] == ["Hip Hop"] for n in got if n.startswith("n")), got
    assert all(got[n] in (["Chiptune"], []) for n in got if n.startswith("t")), got
    assert sum(got[n] == ["Chiptune"] for n in got) >= 2, got

    # where the first scan cached the tracks' statistics, a scan with the learnt model
    # predicts from them: nothing is decoded, and the same genres come out
    monkeypatch.setattr(source, "stream", lambda *a, **k: pytest.fail("decoded again"))
    monkeypatch.setattr(source, "decode_spans", lambda *a, **k: pytest.fail("decoded again"))
    again = tmp_path / "again.json"
    r = run("scan", lib / "new", "--model", out, "--db", db, "--dry-run", "--report", again)
    assert r.exit_code == 0, r.output
    report = json.loads(again.read_text())
    assert report["summary"]["decoded"] == 0
    # predicted from cached statistics: from the cache, not heard now
    assert report["summary"]["sources"] == {"heard": 0, "cache": 8}, report["summary"]
    assert {Path(x["path"]).name: x["genres"] for x in report["rows"]} == got
    # a track whose tag its audio contradicts (noise tagged Chiptune) is a conflict
    tags.write_genres(lib / "new" / "n0.flac", ["Chiptune"])
    r = run("scan", lib / "new", "--model", out, "--db", db, "--dry-run", "--report", again)
    assert r.exit_code == 0, r.output
    rows = {Path(x["path"]).name: x for x in json.loads(again.read_text())["rows"]}
    assert rows["n0.flac"]["status"] == "conflict", rows["n0.flac"]
    tags.write_genres(lib / "new" / "n0.flac", [])


def test_an_empty_file_reads_the_same_to_learn_as_to_scan(library, tmp_path):
    lib, model = library
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "empty.mp3").write_bytes(b"")
    db = tmp_path / "c.sqlite"
    r = run(
        "learn",
        lib,
        extra,
        "--model",
        model,
        "--db",
        db,
        "--out",
        tmp_path / "m.safetensors",
        "--min-tracks",
        "10",
    )
    assert r.exit_code == 0, r.output
    assert "empty.mp3: empty file (0 bytes)" in r.output, r.output
    r = run("scan", extra, "--model", model, "--db", db, "--dry-run")
    assert "empty.mp3: empty file (0 bytes)" in r.output, r.output


def test_learn_says_what_is_wrong_in_one_line(library, tmp_path):
    lib, model = library
    r = run(
        "learn",
        lib / "new",
        "--model",
        model,
        "--db",
        tmp_path / "c.sqlite",
        "--out",
        tmp_path / "x.safetensors",
    )
    assert r.exit_code == 2 and "no track with a genre tag to learn from" in r.output
    r = run("learn", lib, "--out", tmp_path / "nowhere" / "x.safetensors")
    assert r.exit_code == 2 and "no such folder" in r.output


def test_the_base_model_fills_in_a_label_used_too_rarely_to_learn(library, tmp_path):
    """The owner's "JAZZ" on three tracks by one artist cannot be learnt, but the base
    model names jazz: its own probability fills the label in, under the owner's spelling;
    Zydeco, which the base model does not name, stays out; --no-fill-in leaves both out."""
    from genretag.models.net import load_model
    from genretag.models.pooling import WindowPool

    lib, model = library
    extra = tmp_path / "extra"
    for t in range(3):
        track(extra / f"j{t}.flac", music(3.0, 16000, seed=500 + t), "Jay", "JAZZ")
    db, out, report = tmp_path / "c.sqlite", tmp_path / "mine.safetensors", tmp_path / "l.json"
    r = run(
        "learn",
        lib,
        extra,
        "--model",
        model,
        "--db",
        db,
        "--out",
        out,
        "--min-tracks",
        "10",
        "--report",
        report,
    )
    assert r.exit_code == 0, r.output
    assert "1 written as the base model's genres" in r.output
    labels = {x["name"]: x for x in json.loads(report.read_text())["labels"]}
    assert labels["JAZZ"]["filled_by"] == "jazz" and not labels["JAZZ"]["learnt"]
    assert labels["JAZZ"]["source"] == "default"
    assert labels["Zydeco"]["filled_by"] is None and labels["Zydeco"]["source"] is None
    mine, base = load_model(out), load_model(model)
    assert mine.metadata.display_names["jazz"] == "JAZZ"
    # written where a scan with the base model writes it: the tiny base has no thresholds
    assert "zydeco" not in mine.labels and mine.metadata.thresholds["jazz"] == 0.3
    audio = torch_audio(music(3.0, 16000, seed=900))
    pool = WindowPool.of(base.window_outputs(base.frontend(audio)).numpy())
    assert np.isclose(
        mine.track_probabilities(pool)[mine.labels.index("jazz")],
        base.track_probabilities(pool)[base.labels.index("jazz")],
        atol=1e-5,
    )
    # the statistics a scan caches give the same probabilities as the pool they came from
    stats = mine.statistics(pool).astype(np.float32)
    assert np.allclose(
        mine.probabilities_of_statistics(stats[None])[0], mine.track_probabilities(pool), atol=2e-3
    )
    r = run(
        "learn",
        lib,
        extra,
        "--model",
        model,
        "--db",
        db,
        "--out",
        out,
        "--min-tracks",
        "10",
        "--no-fill-in",
    )
    assert r.exit_code == 0, r.output
    assert sorted(load_model(out).labels) == ["chiptune", "hiphop"] and "heard 0 now" in r.output


def torch_audio(samples: np.ndarray):
    import torch

    return torch.from_numpy(samples[: 3 * 16000].astype(np.float32))[None]


@pytest.mark.slow
def test_learn_hears_on_ray_what_it_hears_here(library, tmp_path):
    """learn --engine ray hears the tracks the cache lacks through the scan's Ray pipeline
    and learns the same labels, with the same table, as learn on this machine."""
    pytest.importorskip("ray.data")
    lib, model = library
    reports = {}
    for engine in ("local", "ray"):
        reports[engine] = tmp_path / f"{engine}.json"
        r = run(
            "learn",
            lib,
            "--model",
            model,
            "--db",
            tmp_path / f"{engine}.sqlite",
            "--out",
            tmp_path / f"{engine}.safetensors",
            "--min-tracks",
            "10",
            "--report",
            reports[engine],
            "--engine",
            engine,
        )
        assert r.exit_code == 0, r.output
        assert "heard 68 now" in r.output, r.output
    here, there = (
        {x["name"]: x for x in json.loads(reports[e].read_text())["labels"]}
        for e in ("local", "ray")
    )
    assert here.keys() == there.keys()
    for name, x in here.items():
        y = there[name]
        assert (x["learnt"], x["tracks"], x["artists"], x["untagged"]) == (
            y["learnt"],
            y["tracks"],
            y["artists"],
            y["untagged"],
        ), name
        if x["auc"] is not None:
            assert abs(x["auc"] - y["auc"]) <= 1e-3, name


# a Python in which PyTorch is not installed, as in the base install: importing it fails,
# and importlib finds no such module
NO_TORCH = """
import importlib.util, sys
found = importlib.util.find_spec
def find_spec(name, package=None):
    return None if name.split(".")[0] == "torch" else found(name, package)
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}")
importlib.util.find_spec = find_spec
sys.meta_path.insert(0, NoTorch())
from genretag.cli import main
sys.argv[0] = "genretag"
main()
"""


def without_torch(*args):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-c", NO_TORCH, *map(str, args)], capture_output=True, text=True
    )


@pytest.mark.slow
def test_learn_and_a_scan_with_what_it_learnt_need_no_torch(library, tmp_path):
    """The base install has no PyTorch: learn hears on ONNX Runtime and writes its model
    in numpy, and a scan runs that model on the shipped model's graphs with the learnt
    head in numpy, giving what PyTorch gives for the same file."""
    lib, _ = library
    db, out = tmp_path / "cache.sqlite", tmp_path / "mine.safetensors"
    # three artists of each kind, and the untagged tracks: enough to learn both labels
    folders = [lib / f"{kind}{a}" for kind in ("noise", "tonal") for a in range(3)]
    r = without_torch(
        "learn",
        *folders,
        lib / "new",
        "-o",
        out,
        "--db",
        db,
        "--min-tracks",
        "6",
        "--min-artists",
        "3",
        "--workers",
        "2",
        "--coverage",
        "full",
    )
    assert r.returncode == 0, r.stderr + r.stdout
    assert "wrote" in r.stdout and out.is_file()
    report = tmp_path / "scan.json"
    r = without_torch(
        "scan",
        lib / "new",
        "--model",
        out,
        "--db",
        db,
        "--dry-run",
        "--coverage",
        "full",
        "--report",
        report,
        "--min-confidence",
        "0",
    )
    assert r.returncode == 0, r.stderr + r.stdout
    rows = {Path(row["path"]).name: row for row in json.loads(report.read_text())["rows"]}
    assert len(rows) == 8 and all(row["status"] != "error" for row in rows.values())

    # the same model on PyTorch: the file loads whole (every tensor where GenreNet wants
    # it) and gives the same probabilities
    from genretag.models.loader import LazyModel
    from genretag.models.pooling import WindowPool

    onnx = LazyModel(out, "cpu", "onnx").load()
    torch_model = LazyModel(out, "cpu", "torch").load()
    assert onnx.library is not None  # the base's graphs, the learnt head in numpy
    rng = np.random.default_rng(0)
    windows = onnx.window_outputs_of(
        rng.standard_normal((3, onnx.params.window_samples)).astype(np.float32) * 0.1
    )[0]
    pool = WindowPool.of(windows)
    # the learnt head reads synthetic audio's statistics many standard deviations from
    # the background's, so the two runtimes' float32 rounding of them shows at 1e-4
    np.testing.assert_allclose(
        onnx.track_probabilities(pool), torch_model.track_probabilities(pool), atol=1e-3
    )
    best = {
        name: max(row["probabilities"], key=row["probabilities"].get) for name, row in rows.items()
    }
    assert best == {
        f"{kind}{t}.flac": label
        for t in range(4)
        for kind, label in (("n", "Hip Hop"), ("t", "Chiptune"))
    }


@pytest.mark.parametrize(
    "min_precision, expected",
    [
        (0.7, (0.55, 0.75, 1.0)),  # the best F1 among those precise enough: the top four
        (0.8, (0.75, 1.0, 2 / 3)),  # the top four are not: the top two
        (1.0, (0.75, 1.0, 2 / 3)),
    ],
)
def test_a_labels_threshold_is_the_best_f1_at_the_precision_asked_for(min_precision, expected):
    from genretag.learn import threshold

    y = np.array([1, 1, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert threshold(y, p, min_precision) == pytest.approx(expected)
    assert threshold(np.array([0, 1]), np.array([0.9, 0.1]), 0.9) is None  # never precise


def test_min_precision_comes_from_the_flag_else_the_config_file(library, tmp_path, monkeypatch):
    """--min-precision reaches the fit (and a config file's value does, without the flag);
    out of 0..1 it is a usage error before anything is heard."""
    import genretag.learn

    lib, model = library
    seen = []

    def fit(lib, base, min_tracks, min_artists, min_precision, seed=0):
        seen.append(min_precision)
        raise genretag.learn.LearnError("stopped here by the test")

    monkeypatch.setattr(genretag.learn, "fit", fit)
    args = [
        "learn",
        lib / "tonal0",
        "--model",
        model,
        "--db",
        tmp_path / "c.sqlite",
        "--out",
        tmp_path / "m.safetensors",
    ]
    r = run(*args, "--min-precision", "0.95")
    assert r.exit_code == 2 and "stopped here by the test" in r.output and seen == [0.95]
    config = tmp_path / "config.toml"
    config.write_text("min_precision = 0.85\n")
    monkeypatch.setenv("GENRETAG_CONFIG", str(config))
    assert run(*args).exit_code == 2 and seen == [0.95, 0.85]
    r = run(*args, "--min-precision", "1.5")
    assert r.exit_code == 2 and "--min-precision" in r.output and seen == [0.95, 0.85]
