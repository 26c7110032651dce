"""Start-up time of commands that hear no audio, each in a fresh process.

    python benchmarks/startup.py [--runs 5]

Runs the installed ``genretag`` console script (as a user would) for ``--help``,
``--version``, a usage error, ``report`` and ``undo --dry-run`` on an empty cache, and
prints the median wall time and the peak RSS of each. Targets (issue 10): ``--help``
within 0.3 s. The 10,000-file re-scan is in ``throughput.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS MB) of one run of ``cmd`` in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
    seconds = time.perf_counter() - t0
    proc.returncode = 0  # reaped above
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    exe = shutil.which("genretag")
    if exe is None:
        sys.exit("genretag is not installed (pip install torch==2.13.0 .)")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "empty.sqlite"
        subprocess.run([exe, "report", "--db", str(db)], capture_output=True)  # absent: exit 2
        from genretag.store.cache import Cache

        Cache(db).close()
        cases = {
            "genretag --help": [exe, "--help"],
            "genretag --version": [exe, "--version"],
            "usage error (scan --no-such-option)": [exe, "scan", "--no-such-option"],
            "genretag report (empty cache)": [exe, "report", "--db", str(db)],
            "genretag undo -n (empty cache)": [exe, "undo", "-n", "--db", str(db)],
        }
        print(f"{os.cpu_count()} cores; median of {a.runs} runs after one warm-up run")
        for name, cmd in cases.items():
            timed(cmd)  # warm-up: file-system caches, .pyc files
            runs = [timed(cmd) for _ in range(a.runs)]
            print(
                f"{name:40} {statistics.median(r[0] for r in runs):6.2f} s   "
                f"peak RSS {max(r[1] for r in runs):5.0f} MB"
            )


if __name__ == "__main__":
    main()
