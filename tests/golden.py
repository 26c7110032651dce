"""Golden outputs: what genretag answers today, kept so that a restructuring can prove it
changed nothing a user sees.

Three records, each a JSON file in ``tests/fixtures/golden/``:

- ``dry_run.json``: the JSON report of a dry run of the shipped model over the test
  library (every format, the bad files, a skipped AppleDouble file), paths made relative
  and timings left out;
- ``model_ids.json``: the id each shipped model file gives (its weights' digest);
- ``predict.json``: ``predict --json`` on generated clips, and ``predict_real.json`` on
  real clips from ``../shared/data`` (recorded only where that folder is).

``python tests/golden.py`` records them again; do so only when a change of output is
meant, and say why in the commit. ``same`` compares a record with a fresh run: every
value equal, probabilities within ``TOLERANCE``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from genretag.models.file import read_metadata

from helpers import make_library, run
from synth import music, write_audio

HERE = Path(__file__).parent / "fixtures" / "golden"
WEIGHTS = Path(__file__).parent.parent / "weights"
SHARED = Path(__file__).parent.parent.parent / "shared" / "data"
REAL_CLIPS = [
    "gtzan/rock/rock.00000.opus",
    "gtzan/jazz/jazz.00000.opus",
    "gtzan/classical/classical.00000.opus",
    "mer/MT0000004637.opus",
    "mer/MT0000011357.opus",
    "emotify/pop/pop-1.opus",
    "emotify/classical/classical-1.opus",
]
TOLERANCE = 1e-6
# a run's timings, and ffmpeg's own words (they hold memory addresses), not its outcome
VOLATILE = {"seconds", "time_split", "error_detail"}


def _relative(value, root: str):
    if isinstance(value, str):
        return value.replace(root, "<library>")
    if isinstance(value, list):
        return [_relative(v, root) for v in value]
    if isinstance(value, dict):
        return {k: _relative(v, root) for k, v in value.items() if k not in VOLATILE}
    return value


def dry_run(base: Path) -> dict:
    """The test library made under ``base`` and dry-run with the shipped model, in full
    coverage (so every window counts, whatever the machine)."""
    root = make_library(base / "Music")
    report = base / "report.json"
    result = run(
        "scan",
        root,
        "--dry-run",
        "--db",
        base / "cache.sqlite",
        "--report",
        report,
        "--coverage",
        "full",
        "--device",
        "cpu",  # a runner with a GPU gives what was recorded on a CPU
        "--workers",
        "2",
        "-q",
    )
    assert result.exit_code == 1, result.output  # the three bad files fail, as they must
    data = _relative(json.loads(report.read_text()), str(root))
    data["rows"].sort(key=lambda r: r["path"])
    return data


def model_ids() -> dict[str, str]:
    """Every shipped file's id: each model's, and the default model's background's (a file
    of the same format, checked whole, whose id is its checksum)."""
    from genretag.models.background import SUFFIX
    from genretag.models.file import check_whole

    ids = {}
    for p in sorted(WEIGHTS.glob("*.safetensors")):
        if p.name.endswith(SUFFIX):
            check_whole(p)
            from safetensors import safe_open

            with safe_open(str(p), "np") as f:
                ids[p.name] = json.loads(f.metadata()["genretag"])["model_id"]
        else:
            ids[p.name] = read_metadata(p).model_id
    return ids


def predictions(files: list[Path], root: Path) -> dict[str, dict]:
    out = {}
    for f in files:
        result = run("predict", f, "--json", "--coverage", "full", "--device", "cpu")
        assert result.exit_code == 0, result.output
        answer = json.loads(result.output)
        answer["path"] = str(f.relative_to(root))
        out[answer["path"]] = answer
    return out


def write_clips(folder: Path) -> list[Path]:
    """Three generated clips of 12 s (several windows each), in three formats."""
    folder.mkdir(parents=True)
    clips = []
    for seed, fmt in enumerate(("mp3", "flac", "ogg")):
        clips.append(folder / f"clip{seed}.{fmt}")
        write_audio(clips[-1], music(12.0, 44100, seed=100 + seed, channels=2), 44100, fmt)
    return clips


def real_clips() -> list[Path]:
    return [SHARED / c for c in REAL_CLIPS if (SHARED / c).is_file()]


def load(name: str):
    return json.loads((HERE / name).read_text())


def same(expected, actual, where: str = "") -> list[str]:
    """Where ``actual`` differs from ``expected``: floats within ``TOLERANCE``, everything
    else equal."""
    if isinstance(expected, float) and isinstance(actual, (int, float)):
        return [] if abs(expected - actual) <= TOLERANCE else [f"{where}: {expected} != {actual}"]
    if isinstance(expected, dict) and isinstance(actual, dict):
        if expected.keys() != actual.keys():
            return [f"{where}: keys {sorted(expected)} != {sorted(actual)}"]
        return [d for k in expected for d in same(expected[k], actual[k], f"{where}.{k}")]
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: {len(expected)} items != {len(actual)}"]
        return [
            d for i, (e, a) in enumerate(zip(expected, actual)) for d in same(e, a, f"{where}[{i}]")
        ]
    return [] if expected == actual else [f"{where}: {expected!r} != {actual!r}"]


def record(base: Path) -> None:
    HERE.mkdir(parents=True, exist_ok=True)

    def save(name: str, data) -> None:
        (HERE / name).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    save("dry_run.json", dry_run(base / "dry"))
    save("model_ids.json", model_ids())
    clips = write_clips(base / "clips")
    save("predict.json", predictions(clips, base / "clips"))
    if real_clips():
        save("predict_real.json", predictions(real_clips(), SHARED))


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        record(Path(tmp))
    print(f"recorded in {HERE}", file=sys.stderr)
