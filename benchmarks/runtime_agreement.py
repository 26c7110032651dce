"""Do PyTorch and ONNX Runtime write the same genres? A dry-run scan of a folder on each.

    python benchmarks/runtime_agreement.py ../shared/data/gtzan --coverage full

Scans FOLDER twice with the shipped model (or --model), `--runtime torch` then
`--runtime onnx`, each on a fresh cache, and prints the largest difference of any
probability, how many files got different genres or statuses, and each scan's wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def scan(folder: Path, runtime: str, work: Path, extra: list[str]) -> tuple[dict, float]:
    report = work / f"{runtime}.json"
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "genretag",
            "scan",
            str(folder),
            "--runtime",
            runtime,
            "--db",
            str(work / f"{runtime}.sqlite"),
            "--dry-run",
            "-q",
            "--report",
            str(report),
            *extra,
        ],
        check=False,
    )
    took = time.perf_counter() - t0
    return {r["path"]: r for r in json.loads(report.read_text())["rows"]}, took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--coverage", default="fast", choices=["fast", "full"])
    a = ap.parse_args()
    extra = ["--coverage", a.coverage] + (["--model", str(a.model)] if a.model else [])
    with tempfile.TemporaryDirectory() as tmp:
        rows, took = {}, {}
        for runtime in ("torch", "onnx"):
            rows[runtime], took[runtime] = scan(a.folder, runtime, Path(tmp), extra)
    t, o = rows["torch"], rows["onnx"]
    diff, genres, statuses = 0.0, [], []
    for path, a_row in t.items():
        b_row = o[path]
        if a_row["probabilities"] and b_row["probabilities"]:
            diff = max(
                diff,
                max(
                    abs(a_row["probabilities"][k] - b_row["probabilities"][k])
                    for k in a_row["probabilities"]
                ),
            )
        if a_row["genres"] != b_row["genres"]:
            genres.append(path)
        if a_row["status"] != b_row["status"]:
            statuses.append(path)
    print(
        f"{len(t)} files, coverage {a.coverage}: largest probability difference "
        f"{diff:.1e}; different genres on {len(genres)}, different status on "
        f"{len(statuses)}; torch {took['torch']:.1f} s, onnx {took['onnx']:.1f} s"
    )
    for path in genres[:10]:
        print(f"  {path}: torch {t[path]['genres']}, onnx {o[path]['genres']}")


if __name__ == "__main__":
    main()
