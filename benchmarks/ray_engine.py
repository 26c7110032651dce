"""``scan --engine ray`` measured (issue 19): its overhead on one machine, a simulated
multi-node cluster, and how many predictions a second the driver can store.

    python benchmarks/ray_engine.py overhead --coverage fast full --rounds 2
    python benchmarks/ray_engine.py cluster --nodes 3 --sizes 100 200 400
    python benchmarks/ray_engine.py driver --tracks 5000

``overhead``: the 36 four-minute MP3s of ``throughput.py``, scanned with ``--engine local``
and ``--engine ray`` one after the other (alternated ``--rounds`` times), each as a whole
``genretag scan`` process on a fresh cache; then where Ray's extra time goes: starting a
Ray runtime alone, and a Ray scan of one track (runtime, workers, the model actor's load).

``cluster``: ``ray.cluster_utils.Cluster`` with ``--nodes`` nodes of 2 logical CPUs each on
this machine; libraries of ``--sizes`` generated 30-second FLACs scanned by a driver that
joins it by address. Per size: time, tracks/s, the driver's peak RSS, and the tracks each
node decoded and heard (from the JSON report).

``driver``: what the driver does with each prediction (reads the file's tags, stores the
cache row and the statistics, flushes every second), with hearing replaced by results
that are ready at once: the most predictions a second the driver can take, however many
nodes hear. Also the cache alone (rows and statistics, no tag reading).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

# every Ray node here (the scans' runtimes, the simulated cluster) on the loopback, as Ray
# does on a laptop: the benchmark's traffic stays on 127.0.0.1 (the scans inherit it)
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))  # synth: the tests' generated music

from throughput import make_library, timed_scan  # noqa: E402

WORK = ROOT / ".work" / "ray"


def fresh(db: Path) -> Path:
    for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        f.unlink(missing_ok=True)
    return db


def overhead(a) -> None:
    lib = ROOT / ".work" / "bench" / "library-36x4min"
    paths = make_library(lib, 36, 4.0)
    db, report = WORK / "o.sqlite", WORK / "o.json"
    for coverage in a.coverage:
        runs: dict[str, list[float]] = {"local": [], "ray": []}
        for _ in range(a.rounds):
            for engine in ("local", "ray"):
                s, rss, summ = timed_scan(
                    [
                        str(lib),
                        "--db",
                        str(fresh(db)),
                        "--dry-run",
                        "-q",
                        "--coverage",
                        coverage,
                        "--engine",
                        engine,
                        "--report",
                        str(report),
                    ]
                )
                runs[engine].append(s)
                print(
                    f"{coverage:5} {engine:5} {s:6.1f} s  {len(paths) / s:5.2f} tracks/s  "
                    f"driver peak RSS {rss:4.0f} MB  windows {summ['windows']}",
                    flush=True,
                )
        ratios = [(len(paths) / r) / (len(paths) / q) for r, q in zip(runs["ray"], runs["local"])]
        print(
            f"{coverage}: Ray's tracks/s over the local engine's, run by run: "
            + ", ".join(f"{x:.2f}" for x in ratios),
            flush=True,
        )
    starts = []
    for _ in range(a.rounds):
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import ray; ray.init("
                "include_dashboard=False, "
                "log_to_driver=False, logging_level='ERROR'); ray.shutdown()",
            ],
            check=True,
            capture_output=True,
        )
        starts.append(time.perf_counter() - t0)
    one = WORK / "one"
    one.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(paths[0], one / "one.mp3")
    singles = [
        timed_scan(
            [
                str(one),
                "--db",
                str(fresh(db)),
                "--dry-run",
                "-q",
                "--coverage",
                "fast",
                "--engine",
                engine,
            ]
        )[0]
        for engine in ("local", "ray")
        for _ in range(a.rounds)
    ]
    half = len(singles) // 2
    print(
        "a Ray runtime started and stopped alone: " + ", ".join(f"{s:.1f}" for s in starts) + " s"
    )
    print(
        "one track, fast: local "
        + ", ".join(f"{s:.1f}" for s in singles[:half])
        + " s; ray "
        + ", ".join(f"{s:.1f}" for s in singles[half:])
        + " s"
    )


def cluster(a) -> None:
    from ray.cluster_utils import Cluster

    from synth import music, write_audio

    # 20 distinct tracks, copied: the cache knows a file by its path, and making thousands
    # of distinct ones would take longer than hearing them
    src = WORK / f"distinct-{a.seconds:g}s"
    src.mkdir(parents=True, exist_ok=True)
    distinct = [src / f"d{i:02d}.flac" for i in range(20)]
    for i, p in enumerate(distinct):
        if not p.exists():
            write_audio(p, music(a.seconds, 22050, seed=i), 22050, "flac")
    libs = {}
    for n in a.sizes:
        lib = WORK / f"lib-{n}x{a.seconds:g}s"
        lib.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            p = lib / f"t{i:05d}.flac"
            if not p.exists():
                shutil.copyfile(distinct[i % len(distinct)], p)
        libs[n] = lib
    c = Cluster(
        initialize_head=True,  # on the loopback: its traffic stays on this machine
        head_node_args={"num_cpus": 2, "node_ip_address": "127.0.0.1"},
    )
    try:
        for _ in range(a.nodes - 1):
            c.add_node(num_cpus=2, node_ip_address="127.0.0.1")
        c.wait_for_nodes()
        print(f"cluster: {a.nodes} nodes x 2 logical CPUs on this machine, at {c.address}")
        for n, lib in libs.items():
            report = WORK / f"cluster-{n}.json"
            s, rss, summ = timed_scan(
                [
                    str(lib),
                    "--db",
                    str(fresh(WORK / "c.sqlite")),
                    "--dry-run",
                    "-q",
                    "--engine",
                    "ray",
                    "--ray-address",
                    c.address,
                    "--coverage",
                    a.coverage,
                    "--report",
                    str(report),
                ]
            )
            rows = summ["statuses"]
            print(
                f"{n:5} tracks: {s:6.1f} s, {n / s:5.2f} tracks/s, driver peak RSS "
                f"{rss:4.0f} MB; decoded on {sorted(summ['decoded_on'].values())}, heard on "
                f"{sorted(summ['heard_on'].values())}; "
                f"{ {k: v for k, v in rows.items() if v} }",
                flush=True,
            )
    finally:
        c.shutdown()


def driver(a) -> None:
    from dataclasses import replace

    import genretag.scan as scan
    from genretag.api import Session, Settings
    from genretag.hearing.local import Predictor
    from genretag.store.cache import Cache

    from synth import music, write_audio

    lib = WORK / f"driver-{a.tracks}"
    lib.mkdir(parents=True, exist_ok=True)
    src = WORK / "one-second.flac"
    if not src.exists():
        write_audio(src, music(1.0, 22050, seed=1), 22050, "flac")
    for i in range(a.tracks):
        p = lib / f"t{i:05d}.flac"
        if not p.exists():
            shutil.copyfile(src, p)
    timed = {}

    class Ready(Predictor):
        """Hears one track, then gives its result for every path at once, as a cluster
        of any size might."""

        def predict(self, paths):
            (real,) = super().predict(paths[:1])
            t0 = time.perf_counter()
            for key, path in enumerate(paths):
                yield replace(real, key=key, path=Path(path))
            timed["loop"] = time.perf_counter() - t0

    scan.hearer = lambda model, coverage, **kw: Ready(model, coverage)
    db = fresh(WORK / "d.sqlite")
    session = Session(Settings(db=db, dry_run=True))
    t0 = time.perf_counter()
    result = session.scan([lib])
    total = time.perf_counter() - t0
    n, loop = result.decoded, timed["loop"]
    print(
        f"driver: {n} predictions stored in {loop:.2f} s = {n / loop:.0f} a second (the whole "
        f"scan {total:.2f} s: discovery, albums, decisions included)"
    )
    session.close()

    heard = Cache(db)
    rows = list(heard.all_tracks().values())
    known = heard.db.execute("select backbone from statistics limit 1").fetchone()
    stats = next(iter(heard.statistics(known[0]).values()))
    heard.close()
    cache = Cache(fresh(WORK / "raw.sqlite"))
    t0, flushed = time.perf_counter(), time.monotonic()
    for i, row in enumerate(rows):
        cache.put(replace(row, size=row.size + i))
        cache.put_statistics(row.path, stats)
        if time.monotonic() - flushed > 1.0:
            cache.flush()
            flushed = time.monotonic()
    cache.flush()
    raw = time.perf_counter() - t0
    print(
        f"cache alone: {len(rows)} rows and statistics in {raw:.2f} s = "
        f"{len(rows) / raw:.0f} a second"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    o = sub.add_parser("overhead")
    o.add_argument("--coverage", nargs="+", default=["fast", "full"])
    o.add_argument("--rounds", type=int, default=2)
    c = sub.add_parser("cluster")
    c.add_argument("--nodes", type=int, default=3)
    c.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 400])
    c.add_argument("--seconds", type=float, default=30.0)
    c.add_argument("--coverage", default="fast")
    d = sub.add_parser("driver")
    d.add_argument("--tracks", type=int, default=5000)
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    {"overhead": overhead, "cluster": cluster, "driver": driver}[a.what](a)


if __name__ == "__main__":
    main()
