"""The first run after installing, in a fresh virtual environment, and the run after it.

    python benchmarks/first_run.py [--tracks 10] [--extras torch]

Creates a new venv in a temporary folder, installs genretag into it as a user would
(``pip install REPO``, not editable: the base install, without PyTorch; with ``--extras
torch``, ``pip install torch==2.13.0 'REPO[torch]'``), and gives the install's time and
the venv's size; then makes N synthetic 4-minute MP3s, and
times ``genretag scan LIB --dry-run`` twice from that venv, each time on a fresh cache:
the first run pays for everything that happens once (Python compiling the installed
modules to .pyc, first imports, any just-in-time compilation), the second shows the
steady state. The install itself is timed too, but depends on the network or wheel cache.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: list) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{done.stderr}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tracks", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--extras", default="", help="extras to install, e.g. torch")
    a = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from synth import music, write_audio  # the tests' generated music

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        lib = tmp / "Music"
        lib.mkdir()
        for i in range(a.tracks):
            write_audio(
                lib / f"track{i:02d}.mp3",
                music(a.minutes * 60, 44100, seed=100 + i, channels=2),
                44100,
                "mp3",
            )
        venv = tmp / "venv"
        run([sys.executable, "-m", "venv", venv])
        what = [f"{ROOT}[{a.extras}]"] if a.extras else [ROOT]
        if "torch" in a.extras:
            what.insert(0, "torch==2.13.0")  # the CPU build
        install = run([venv / "bin" / "pip", "install", "-q", *what])
        size = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file()) / 1e9
        exe = venv / "bin" / "genretag"
        first = run([exe, "scan", lib, "--dry-run", "-q", "--db", tmp / "first.sqlite"])
        second = run([exe, "scan", lib, "--dry-run", "-q", "--db", tmp / "second.sqlite"])
        print(
            f"install (pip, into a new venv{', ' + a.extras if a.extras else ''}): "
            f"{install:.0f} s, {size:.2f} GB"
        )
        print(f"first dry run of {a.tracks} tracks after installing: {first:.1f} s")
        print(f"the next dry run, on a fresh cache: {second:.1f} s")


if __name__ == "__main__":
    main()
