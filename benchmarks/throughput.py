"""Throughput of `genretag scan` against the decoding floor, in one run.

    python benchmarks/throughput.py --tracks 24

Makes (once, then reuses) a library of N synthetic 4-minute MP3s (stereo, 44.1 kHz,
192 kbps, musical content) and a one-hour MP3, then measures side by side:

1. the floor: plain ffmpeg decoding of every file to PCM, with the same number of parallel
   workers as the scan, using the fastest ffmpeg on the machine: a system ``ffmpeg`` on
   PATH when there is one (often faster than the bundled build), else the one the
   imageio-ffmpeg wheel ships; the benchmark prints which;
2. `genretag scan --dry-run` on a fresh cache: tracks/s and its ratio to the floor;
3. the same scan again with everything cached: files/s (on the N tracks, and on a library
   of `--rescan-files` copies whose cache is seeded, see below);
4. peak RSS of the scan process, for the library and for the one-hour track;
5. the device and the time split (decode / frontend / CNN / tags / cache).

Every scan runs as its own `genretag` process, timed from start to exit (imports included).
For the large re-scan library the cache is seeded by scanning one track for real and copying
its row for each copy (with that copy's path, size and mtime): classifying 10,000 files
first would take the better part of an hour on a CPU, and a re-scan never looks past size,
mtime and model id. The re-scan itself is a real `genretag scan`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # synth: the tests' generated music

from genretag.library.decode import ffmpeg_path  # noqa: E402
from genretag.states import CoverageMode  # noqa: E402
from genretag.store.cache import Cache  # noqa: E402

from synth import music, write_audio  # noqa: E402


def make_library(folder: Path, n: int, minutes: float) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"track{i:04d}.mp3"
        if not p.exists():
            write_audio(p, music(minutes * 60, 44100, seed=1000 + i, channels=2), 44100, "mp3")
        paths.append(p)
    return paths


def make_hour(src: Path, out: Path) -> Path:
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                ffmpeg_path(),
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-stream_loop",
                "14",
                "-i",
                str(src),
                "-c",
                "copy",
                str(out),
            ],
            check=True,
        )
    return out


def floor_ffmpeg() -> tuple[str, str]:
    """The ffmpeg the floor uses, and which one it is."""
    system = shutil.which("ffmpeg")
    return (system, "system ffmpeg on PATH") if system else (ffmpeg_path(), "bundled ffmpeg")


def floor(paths: list[Path], workers: int) -> float:
    """Seconds for plain ffmpeg to decode every file to PCM, `workers` at a time."""
    binary = floor_ffmpeg()[0]

    def one(p: Path) -> None:
        subprocess.run(
            [binary, "-nostdin", "-loglevel", "error", "-i", str(p), "-f", "s16le", "-"],
            stdout=subprocess.DEVNULL,
            check=True,
        )

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, paths))
    return time.perf_counter() - t0


def timed_scan(args: list[str]) -> tuple[float, float, dict]:
    """Run `genretag scan ...` in a fresh process: (seconds, peak RSS MB, JSON summary, or
    {} when the command writes no report)."""
    report = Path(args[args.index("--report") + 1]) if "--report" in args else None
    wrapper = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "rc = subprocess.run(sys.argv[1:]).returncode; "
        "print(time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(0)"
    )
    cmd = [sys.executable, "-c", wrapper, sys.executable, "-m", "genretag", "scan", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    seconds, rss_kb = out.stdout.strip().splitlines()[-1].split()
    summary = json.loads(report.read_text())["summary"] if report else {}
    return float(seconds), int(rss_kb) / 1024, summary


def seed_copies(src: Path, folder: Path, n: int, db: Path, model_args: list[str]) -> None:
    """n copies of one track, and a cache holding a real row for each (see module doc)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        p = folder / f"copy{i:05d}.mp3"
        if not p.exists():
            shutil.copyfile(src, p)
    seed_lib = folder.parent / "seed"
    seed_lib.mkdir(exist_ok=True)
    shutil.copyfile(src, seed_lib / "one.mp3")
    if db.exists():
        db.unlink()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "genretag",
            "scan",
            str(seed_lib),
            "--db",
            str(db),
            "--dry-run",
            "-q",
            *model_args,
        ],
        check=False,
    )
    cache = Cache(db)
    (row,) = cache.all_tracks().values()
    for p in sorted(folder.iterdir()):
        st = p.stat()
        cache.put(
            replace(row, path=str(p), size=st.st_size, mtime_ns=st.st_mtime_ns, fingerprint=None)
        )
    cache.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tracks", type=int, default=24)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--coverage", default=CoverageMode.AUTO, choices=list(CoverageMode))
    ap.add_argument("--windows", type=int, default=None, help="K for --coverage fast")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--runtime", default="auto", choices=["auto", "torch", "onnx"])
    ap.add_argument("--engine", default="local", choices=["local", "ray"])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--rescan-files", type=int, default=10_000)
    ap.add_argument(
        "--work",
        type=Path,
        default=ROOT / ".work" / "bench",
        help="where the generated libraries and caches live (reused)",
    )
    ap.add_argument("--no-hour", action="store_true", help="skip the one-hour track")
    a = ap.parse_args()

    lib = a.work / f"library-{a.tracks}x{a.minutes:g}min"
    t0 = time.perf_counter()
    paths = make_library(lib, a.tracks, a.minutes)
    print(
        f"library: {len(paths)} x {a.minutes:g}-minute MP3 (stereo 44.1 kHz 192 kbps) in "
        f"{lib} (made in {time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    model_args = ["--device", a.device, "--runtime", a.runtime, "--workers", str(a.workers)]
    if a.model:
        model_args += ["--model", str(a.model)]
    scan_args = [*model_args, "--coverage", a.coverage, "--engine", a.engine]
    if a.windows:
        scan_args += ["--windows", str(a.windows)]

    floor_s = floor(paths, a.workers)
    floor_rate = len(paths) / floor_s
    db = a.work / "bench.sqlite"
    for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        f.unlink(missing_ok=True)
    report = a.work / "report.json"
    common = [str(lib), "--db", str(db), "--dry-run", "-q", "--report", str(report)]
    scan_s, scan_rss, first = timed_scan([*common, *scan_args])
    rescan_s, _, second = timed_scan([*common, *scan_args])
    scan_rate = len(paths) / scan_s

    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"device {first['device']}, runtime {a.runtime}, engine {a.engine}, "
        f"coverage {first['coverage']}, "
        f"{a.workers} workers"
    )
    print(f"{'':34}{'seconds':>9}{'tracks/s':>10}{'vs floor':>10}")
    print(f"floor: {floor_ffmpeg()[1]} ({floor_ffmpeg()[0]})")
    print(f"{'1. floor: ffmpeg decode to PCM':34}{floor_s:9.1f}{floor_rate:10.2f}{1:10.2f}")
    print(
        f"{'2. scan --dry-run, fresh cache':34}{scan_s:9.1f}{scan_rate:10.2f}"
        f"{scan_rate / floor_rate:10.2f}"
    )
    print(
        f"{'3. same scan again, all cached':34}{rescan_s:9.1f}{len(paths) / rescan_s:10.1f}"
        f"   (decoded {second['decoded']} files)"
    )
    split = first["time_split"]
    print(
        f"5. time split of scan 2 (s): decode {split['decode_all_workers']:.1f} "
        f"(summed over workers), frontend {split['frontend']:.1f}, CNN {split['cnn']:.1f}, "
        f"tags {split['tags']:.1f}, cache {split['cache']:.1f}; "
        f"{first['windows']} windows; scan's own wall time {first['seconds']:.1f} s"
    )
    print(f"4. peak RSS of the scan: {scan_rss:.0f} MB ({len(paths)} tracks)", flush=True)

    if not a.no_hour:
        hour = make_hour(paths[0], a.work / "hour" / "one-hour.mp3")
        hdb = a.work / "hour.sqlite"
        hdb.unlink(missing_ok=True)
        for cov in (CoverageMode.FULL, CoverageMode.FAST):
            hs, hrss, _ = timed_scan(
                [
                    str(hour.parent),
                    "--db",
                    str(hdb),
                    "--dry-run",
                    "-q",
                    "--report",
                    str(a.work / "hour.json"),
                    *model_args,
                    "--coverage",
                    cov,
                ]
            )
            hdb.unlink(missing_ok=True)
            print(
                f"4. peak RSS, one one-hour track, coverage {cov}: {hrss:.0f} MB ({hs:.1f} s)",
                flush=True,
            )

    if a.rescan_files:
        big = a.work / f"copies-{a.rescan_files}" / "lib"
        bdb = a.work / "copies.sqlite"
        t0 = time.perf_counter()
        short = make_library(a.work / "short", 1, 10 / 60)[0]  # 10 s: 10,000 copies fit a disk
        seed_copies(short, big, a.rescan_files, bdb, model_args)
        seeded = time.perf_counter() - t0
        # as a user runs it (no report), timed; then once more with a report, to show that
        # nothing was decoded and what the rows say
        bs, brss, _ = timed_scan([str(big), "--db", str(bdb), "--dry-run", "-q", *model_args])
        rs, rrss, summ = timed_scan(
            [
                str(big),
                "--db",
                str(bdb),
                "--dry-run",
                "-q",
                "--report",
                str(a.work / "copies.json"),
                *model_args,
            ]
        )
        print(
            f"3. re-scan of an unchanged {a.rescan_files}-file library: {bs:.2f} s, "
            f"{a.rescan_files / bs:.0f} files/s end to end, peak RSS {brss:.0f} MB; "
            f"with a JSON report {rs:.2f} s ({a.rescan_files / rs:.0f} files/s), peak RSS "
            f"{rrss:.0f} MB; decoded {summ['decoded']}; "
            f"statuses { {k: v for k, v in summ['statuses'].items() if v} } "
            f"(library made and cache seeded in {seeded:.0f} s)"
        )


if __name__ == "__main__":
    main()
