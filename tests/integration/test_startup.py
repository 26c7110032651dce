"""Start-up: commands that hear no audio import nothing heavy.

Each command runs in a fresh interpreter, through the console script's ``main``, and then
reports which heavy modules ``sys.modules`` holds.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from helpers import ROOT, album, scan

HEAVY = ("torch", "librosa", "sklearn", "matplotlib", "numba", "scipy", "ray")
PROBE = """
import sys
from genretag.cli import main
sys.argv = ["genretag"] + sys.argv[1:]
try:
    main()
except SystemExit:
    pass
print("HEAVY", sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


def heavy_imports(*args) -> list[str]:
    r = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("HEAVY")]
    return eval(line[len("HEAVY ") :])


@pytest.fixture
def scanned(library, tiny_model, db):
    folder = album(library)
    assert scan(folder, tiny_model, db).exit_code == 0
    return folder


@pytest.mark.parametrize(
    "command", ["help", "usage-error", "train-help", "rescan", "report", "undo"]
)
def test_commands_that_hear_nothing_import_nothing_heavy(scanned, tiny_model, db, command):
    args = {
        "help": ["--help"],
        "usage-error": ["scan", "--no-such-option"],
        "train-help": ["train", "--help"],
        "rescan": [
            "scan",
            scanned,
            "--model",
            tiny_model,
            "--db",
            db,
            "--dry-run",
            "--min-confidence",
            "0.5",
        ],
        "report": ["report", "--db", db],
        "undo": ["undo", scanned, "--db", db, "--dry-run"],
    }[command]
    assert heavy_imports(*args) == []


def test_the_probe_sees_heavy_imports(tmp_path, tiny_model):
    """The check can fail: a command that hears a track does import torch."""
    from synth import music, write_audio

    track = tmp_path / "one.wav"
    write_audio(track, music(3.0, 16000, seed=1), 16000, "wav")
    assert "torch" in heavy_imports("predict", track, "--model", tiny_model)


def test_a_missing_training_extra_is_said_up_front(monkeypatch, tmp_path):
    import genretag.training.cli

    from helpers import run

    monkeypatch.setattr(
        genretag.training.cli, "find_spec", lambda name: None if name == "matplotlib" else object()
    )
    for command in ("train", "evaluate"):
        extra = ["--out", tmp_path / "m.safetensors"] if command == "train" else []
        r = run(command, tmp_path, *extra)
        assert r.exit_code == 2
        assert f"genretag {command} needs the training extra: pip install " in r.output
    # the hint names the folder it was installed from (pip records it), as a command that
    # works: genretag is on no package index
    root = ROOT
    assert f"pip install -e '{root}[train]'" in " ".join(r.output.split())  # as the tests
    assert "'genretag[train]'" not in r.output


def test_the_help_reads_as_help(tmp_path):
    """typer from 0.27 printed "<bool>" after every flag and "{paths}..." in the
    usage line; pyproject pins a range whose help renders properly."""
    from helpers import run

    for command, usage in (
        ("scan", "Usage: root scan [OPTIONS] PATHS..."),
        ("undo", "Usage: root undo [OPTIONS] [PATHS]..."),
        ("predict", "Usage: root predict [OPTIONS] FILE"),
    ):
        r = run(command, "--help")
        assert r.exit_code == 0 and usage in r.output, r.output
        assert "<bool>" not in r.output and "{" not in r.output.split("Usage:")[1].split()[2]
    assert "--dry-run" in run("scan", "--help").output


def test_version_help_texts_and_a_backbone_given_as_model(library, db):
    import typer

    from helpers import app, run

    r = run("--version")
    assert r.exit_code == 0 and r.output.startswith("genretag ") and "default model" in r.output
    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help, f"genretag {name} {param.opts[0]} has no help text"
    for name in ("musicnn_msd", "musicnn_mtt", "vgg_msd", "vgg_mtt"):  # each shipped one
        backbone = ROOT / "weights" / f"{name}.safetensors"
        r = run("scan", album(library), "--model", backbone, "--db", db, "--dry-run")
        assert r.exit_code == 2 and "not a genre model" in r.output, name


def test_a_cpu_scan_that_hears_audio_imports_nothing_heavy(tmp_path):
    """With the shipped model, whose ONNX graphs ship beside it, the default runtime on a
    CPU hears tracks without torch, librosa or scikit-learn."""
    from synth import music, write_audio

    for i in range(2):
        write_audio(tmp_path / f"{i}.wav", music(4.0, 16000, seed=i), 16000, "wav")
    assert heavy_imports("scan", tmp_path, "--db", tmp_path / "c.sqlite", "--dry-run") == []


def test_every_help_text_prints_its_brackets(monkeypatch):
    """Rich's markup swallowed the "[ray]" of pip install 'genretag[ray]': every option's
    help and every command's text reaches the screen with each bracket it holds."""
    import typer

    from helpers import app, run

    monkeypatch.setenv("COLUMNS", "2000")  # one line per option: no text is folded
    group = typer.main.get_command(app)
    checked = 0
    for name, command in group.commands.items():
        shown = " ".join(run(name, "--help").output.split())
        texts = [p.help for p in command.params if getattr(p, "help", None)]
        texts.append((command.help or "").split("\n\n")[0])
        for text in texts:
            for part in re.findall(r"\S*\[[^\]]*\]\S*", text):
                assert part in shown, (name, part)
                checked += 1
    assert checked >= 3  # scan's, learn's and train's install hints at least
