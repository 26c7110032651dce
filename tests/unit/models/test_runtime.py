"""The CPU runtime: ONNX Runtime gives the probabilities and genres of PyTorch,
for the shipped model and for a user's own, and a scan on it imports no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genretag.models.file import default_model_path, read_metadata
from genretag.models.onnx import files_of

from helpers import ROOT, make_tiny_tagger, run

GTZAN = ROOT.parent / "shared" / "data" / "gtzan"


def scan_rows(folder: Path, runtime: str, tmp_path: Path, *model: str) -> dict[str, dict]:
    report = tmp_path / f"{runtime}.json"
    r = run(
        "scan",
        folder,
        *model,
        "--runtime",
        runtime,
        "--db",
        tmp_path / f"{runtime}.sqlite",
        "--dry-run",
        "--report",
        report,
        "--workers",
        "2",
    )
    assert r.exit_code in (0, 1), r.output
    return {row["path"]: row for row in json.loads(report.read_text())["rows"]}


def assert_same(torch_rows: dict, onnx_rows: dict) -> None:
    """Every file: each probability within 1e-4, and the same genres written."""
    assert torch_rows.keys() == onnx_rows.keys()
    heard = 0
    for path, a in torch_rows.items():
        b = onnx_rows[path]
        assert a["status"] == b["status"] and a["genres"] == b["genres"], (path, a, b)
        if a["probabilities"]:
            heard += 1
            diff = max(
                abs(a["probabilities"][k] - b["probabilities"][k]) for k in a["probabilities"]
            )
            assert diff <= 1e-4, (path, diff)
    assert heard >= 1


def test_the_shipped_model_gives_the_same_on_onnx_as_on_torch(library, tmp_path):
    """Every format of the test library, and its bad files: the same rows."""
    assert_same(scan_rows(library, "torch", tmp_path), scan_rows(library, "onnx", tmp_path))


@pytest.mark.skipif(not GTZAN.is_dir(), reason="../shared/data/gtzan is not here")
def test_the_same_written_genres_on_real_music(tmp_path):
    """Three clips of each GTZAN genre (real music, not generated)."""
    clips = tmp_path / "clips"
    clips.mkdir()
    for genre in sorted(p for p in GTZAN.iterdir() if p.is_dir()):
        for clip in sorted(genre.glob("*.opus"))[:3]:
            os.symlink(clip, clips / clip.name)
    assert_same(scan_rows(clips, "torch", tmp_path), scan_rows(clips, "onnx", tmp_path))


def test_the_shipped_graphs_are_the_shipped_models():
    """A retrained default model must be exported again (weights/<id>.*.onnx)."""
    meta = read_metadata(default_model_path())
    assert files_of(default_model_path(), meta.model_id) is not None


def test_auto_chooses_onnx_on_a_cpu_for_the_shipped_model_torch_for_a_window_head(tiny_model):
    from genretag.api import Session, Settings

    # on a CPU: the one asked for, so that a runner with a GPU checks the same
    assert Session(Settings(device="cpu")).model.load().runtime == "onnx"
    assert Session(Settings(model=tiny_model, device="cpu")).model.load().runtime == "torch"


def test_onnx_refused_in_one_line_for_a_model_it_cannot_run(library, tiny_model, tmp_path):
    r = run(
        "scan",
        library,
        "--model",
        tiny_model,
        "--runtime",
        "onnx",
        "--db",
        tmp_path / "c.sqlite",
        "--dry-run",
    )
    assert r.exit_code == 2
    assert "--runtime onnx: " in r.output and "its head is per window" in r.output


PROBE = """
import sys
from genretag.cli import main
sys.argv = ["genretag"] + sys.argv[1:]
try:
    main()
except SystemExit as e:
    print("EXIT", e.code, file=sys.stderr)
print("TORCH", "torch" in sys.modules, file=sys.stderr)
"""


def probe(*args, env: dict) -> tuple[bool, str]:
    r = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    return "TORCH True" in r.stderr, r.stderr


def test_a_users_model_is_exported_once_then_a_scan_imports_no_torch(library, tmp_path):
    """A model of the user's own (learn's base shape: a track head) is exported into the
    user cache folder on its first ONNX scan; later scans hear audio without torch, and
    give what PyTorch gives."""
    model = tmp_path / "mine.safetensors"
    make_tiny_tagger(model)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    folder = library / "Artist" / "Album"
    common = ["scan", folder, "--model", model, "--runtime", "onnx", "--dry-run"]
    imported, said = probe(*common, "--db", tmp_path / "1.sqlite", env=env)
    assert imported and "EXIT 0" in said, said  # the export needs torch, once
    model_id = read_metadata(model).model_id
    assert (tmp_path / "cache" / "genretag" / "onnx" / f"{model_id}.windows.onnx").is_file()
    report = tmp_path / "onnx.json"
    imported, said = probe(*common, "--db", tmp_path / "2.sqlite", "--report", report, env=env)
    assert not imported and "EXIT 0" in said, said
    torch_rows = scan_rows(folder, "torch", tmp_path, "--model", str(model))
    onnx_rows = {row["path"]: row for row in json.loads(report.read_text())["rows"]}
    assert_same(torch_rows, onnx_rows)


def test_window_outputs_match_within_float_rounding():
    """The graph's STFT (a convolution with the DFT basis) and network against PyTorch's."""
    import torch

    from genretag.models.loader import LazyModel

    onnx = LazyModel(default_model_path(), "cpu", "onnx").load()
    torch_model = LazyModel(default_model_path(), "cpu", "torch").load()
    rng = np.random.default_rng(0)
    samples = (rng.standard_normal((5, torch_model.params.window_samples)) * 0.2).astype(np.float32)
    with torch.inference_mode():
        ref = torch_model.window_outputs(torch_model.frontend(torch.from_numpy(samples)))
    out = onnx.window_outputs_of(samples)[0]
    assert np.abs(out - ref.numpy()).max() <= 1e-5 * np.abs(ref.numpy()).max() * 100


def test_an_export_that_fails_keeps_pytorch_with_auto_and_says_why_with_onnx(
    library, tmp_path, monkeypatch
):
    """A model whose export fails (here: a cache folder that cannot be written) is heard
    by PyTorch under auto, with the same rows; --runtime onnx stops in one line."""
    model = tmp_path / "mine.safetensors"
    make_tiny_tagger(model)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    folder = library / "Artist" / "Album"
    rows = scan_rows(folder, "auto", tmp_path, "--model", str(model))
    assert any(r["probabilities"] for r in rows.values())
    r = run(
        "scan",
        folder,
        "--model",
        model,
        "--runtime",
        "onnx",
        "--db",
        tmp_path / "x.sqlite",
        "--dry-run",
    )
    assert r.exit_code == 2 and "could not export it" in r.output, r.output


@pytest.mark.parametrize("runtime", ["auto", "onnx", "torch"])
def test_a_truncated_or_damaged_model_file_is_refused_by_every_runtime(library, tmp_path, runtime):
    """A copy of the shipped model (its graphs beside it) cut at several places, or with
    one byte flipped in its weights or its header's JSON: scan and predict stop in one line
    naming the file, before anything is heard or written."""
    import shutil

    good = default_model_path()
    folder = tmp_path / "models"
    folder.mkdir()
    for f in good.parent.glob(f"{read_metadata(good).model_id}.*"):
        shutil.copy(f, folder)  # the graphs a scan would otherwise take on trust
    data = good.read_bytes()
    header = 8 + int.from_bytes(data[:8], "little")
    cases = {f"cut at {n}": data[:n] for n in (100_000, header + 10, len(data) - 1)}
    cases["one byte longer"] = data + b"\0"
    for where in (header + 1000, len(data) - 1000):
        flipped = bytearray(data)
        flipped[where] ^= 0x01
        cases[f"flipped at {where}"] = bytes(flipped)
    track = library / "Artist" / "Album" / "plain.mp3"
    for case, content in cases.items():
        model = folder / good.name
        model.write_bytes(content)
        r = run("predict", track, "--model", model, "--runtime", runtime)
        assert r.exit_code == 2, (case, r.output)
        assert str(model) in r.output and ("truncated" in r.output or "damaged" in r.output), (
            case,
            r.output,
        )
        r = run(
            "scan",
            track.parent,
            "--model",
            model,
            "--runtime",
            runtime,
            "--db",
            tmp_path / "c.sqlite",
            "--dry-run",
        )
        assert r.exit_code == 2 and "damaged" in r.output, (case, r.output)
        assert "tracks/s" not in r.output, case


def test_a_swapped_or_damaged_graph_is_never_used(tmp_path, monkeypatch):
    """The graphs are found by model id: another model's graphs under this id, or a graph
    with a flipped byte, do not match the sidecar's digests; the model is exported again
    and gives what PyTorch gives."""
    import torch

    from genretag.models.loader import LazyModel

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mine, other = tmp_path / "mine.safetensors", tmp_path / "other.safetensors"
    make_tiny_tagger(mine, seed=1)
    make_tiny_tagger(other, seed=2)
    for m in (mine, other):
        LazyModel(m, "cpu", "onnx").load()  # exported into the cache
    cache = tmp_path / "cache" / "genretag" / "onnx"
    ids = {m: read_metadata(m).model_id for m in (mine, other)}
    files = files_of(mine, ids[mine])
    assert files is not None
    samples = (
        np.random.default_rng(0)
        .standard_normal((2, read_metadata(mine).audio.window_samples))
        .astype(np.float32)
        * 0.2
    )
    ref = LazyModel(mine, "cpu", "torch").load()
    with torch.inference_mode():
        expected = ref.window_outputs(ref.frontend(torch.from_numpy(samples))).numpy()

    swapped = cache / f"{ids[mine]}.windows.onnx"
    swapped.write_bytes((cache / f"{ids[other]}.windows.onnx").read_bytes())
    assert files_of(mine, ids[mine]) is None  # not vouched for: passed over
    got = LazyModel(mine, "cpu", "onnx").load().window_outputs_of(samples)[0]
    assert np.abs(got - expected).max() < 1e-4  # exported again, from mine
    assert files_of(mine, ids[mine]) is not None

    graph = bytearray(swapped.read_bytes())
    graph[len(graph) // 2] ^= 0x01
    swapped.write_bytes(bytes(graph))
    assert files_of(mine, ids[mine]) is None
    got = LazyModel(mine, "cpu", "onnx").load().window_outputs_of(samples)[0]
    assert np.abs(got - expected).max() < 1e-4


def test_without_torch_what_needs_it_says_so_in_one_line(
    library, tiny_model, tmp_path, monkeypatch
):
    """The base install has no PyTorch: the shipped model scans on ONNX Runtime, and what
    needs torch (a window head, --runtime torch, --device cuda) stops in one line naming
    the torch extra, before anything is heard."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.split(".")[0] == "torch" else find_spec(name, *a),
    )
    folder = library / "Artist" / "Album"
    common = ["--db", tmp_path / "c.sqlite", "--dry-run"]
    for extra, says in (
        (["--model", tiny_model], "its head is per window"),
        (["--runtime", "torch"], "--runtime torch needs PyTorch"),
        (["--device", "cuda"], "--device cuda needs PyTorch"),
    ):
        r = run("scan", folder, *extra, *common)
        assert r.exit_code == 2, (extra, r.output)
        assert says in r.output and "pip install 'genretag[torch]'" in r.output, r.output
    r = run("predict", folder / "plain.mp3", "--model", tiny_model)
    assert r.exit_code == 2 and "pip install 'genretag[torch]'" in r.output, r.output
