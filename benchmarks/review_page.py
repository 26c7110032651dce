"""The review page at 10,000 tracks: how long `genretag review` takes to start, and how
long its first page and each filter take to answer.

    python benchmarks/review_page.py --tracks 10000 --out benchmarks/results/review_page.json

The library is made as `throughput.py` makes its re-scan library: copies of one short
generated track, and a cache seeded with a real row for each (one track scanned for real
by the shipped model, its row copied with each copy's path, size and mtime). Here the
copies lie in albums of ten (folders), each row gets its own album and artist tags and its
own probabilities (seeded random), and a fifth of the files hold a genre already, so the
page meets every status. `genretag review` then runs as a user runs it (its own process,
a real dry run over the 10,000 cached files), and each request is timed from outside, over
HTTP on 127.0.0.1, as the median of several.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # synth: the tests' generated music

import numpy as np  # noqa: E402

from genretag.store.cache import Cache  # noqa: E402

from synth import music, write_audio  # noqa: E402

PER_ALBUM = 10
REPEATS = 7


def make_library(folder: Path, n: int) -> list[Path]:
    """n copies of one 2-second MP3, ten to a folder."""
    src = folder / "one.mp3"
    folder.mkdir(parents=True, exist_ok=True)
    if not src.exists():
        write_audio(src, music(2.0, 22050, seed=7), 22050, "mp3")
    paths = []
    for i in range(n):
        p = (
            folder
            / "lib"
            / f"Artist {i // 40:03d}"
            / f"Album {i // PER_ALBUM:04d}"
            / f"{i:05d}.mp3"
        )
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, p)
        paths.append(p)
    return paths


def seed(folder: Path, paths: list[Path], db: Path) -> None:
    """A cache holding a real row for every copy, each with its own tags and probabilities."""
    one = folder / "seed"
    one.mkdir(exist_ok=True)
    shutil.copyfile(folder / "one.mp3", one / "one.mp3")
    if db.exists():
        db.unlink()
    subprocess.run(
        [sys.executable, "-m", "genretag", "scan", str(one), "--db", str(db), "--dry-run", "-q"],
        check=True,
    )
    cache = Cache(db)
    (row,) = cache.all_tracks().values()
    assert row.probabilities is not None
    labels = list(row.probabilities)
    rng = np.random.default_rng(0)
    centre = np.zeros(len(labels))
    for i, p in enumerate(paths):
        st = p.stat()
        album = i // PER_ALBUM
        if i % PER_ALBUM == 0:  # an album's tracks lean the same way
            centre = rng.dirichlet(np.full(len(labels), 0.05))
        probs = 0.85 * centre + 0.15 * rng.dirichlet(np.full(len(labels), 0.5))
        current = [labels[int(rng.integers(len(labels)))].title()] if i % 5 == 0 else []
        cache.put(
            replace(
                row,
                path=str(p),
                size=st.st_size,
                mtime_ns=st.st_mtime_ns,
                fingerprint=None,
                probabilities=dict(zip(labels, map(float, probs))),
                current=current,
                previous=current,
                album=f"Album {album:04d}",
                artist=f"Artist {i // 40:03d}",
                album_artist="",
            )
        )
    cache.close()


def ask(port: int, path: str, token: str, cookie: bool = True) -> tuple[float, int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Cookie": f"genretag_review={token}"} if cookie else {}
    t0 = time.perf_counter()
    conn.request("GET", path, headers=headers)
    answer = conn.getresponse()
    body = answer.read()
    seconds = time.perf_counter() - t0
    conn.close()
    assert answer.status == 200, (path, answer.status, body[:200])
    return seconds, answer.status, body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=10_000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/genretag-review-bench"))
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    t0 = time.perf_counter()
    paths = make_library(a.work, a.tracks)
    db = a.work / "cache.sqlite"
    seed(a.work, paths, db)
    made = time.perf_counter() - t0
    env = {**os.environ, "GENRETAG_CONFIG": os.devnull}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "genretag", "review", str(a.work / "lib"), "--db", str(db),
         "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)", line)
        if m:
            break
    else:
        raise SystemExit("genretag review printed no address")
    port, token = int(m[1]), m[2]
    first, _, body = ask(port, f"/?token={token}", token, cookie=False)
    started = time.perf_counter() - start
    shown = body.decode()
    assert f"{a.tracks} tracks" in shown, "the page does not list the whole library"
    requests = {
        "page (all albums)": "/",
        "page 50": "/?page=50",
        "filter: status conflict": "/?status=conflict",
        "filter: genre": "/?genre=Rock",
        "filter: confidence below 0.4": "/?below=0.4",
        "filter: artist": "/?artist=Artist%20123",
        "search": "/?q=album%200042",
        "queue (worth your time first)": "/?queue=1",
        "api: unsure tracks as JSON": "/api/tracks?status=unsure",
    }
    timings = {}
    for name, path in requests.items():
        answers = [ask(port, path, token) for _ in range(REPEATS)]
        times = [seconds for seconds, _, _ in answers]
        body = answers[-1][2].decode()
        found = re.search(r'"total":(\d+)', body) or re.search(r"(\d+) tracks in \d+ group", body)
        timings[name] = {
            "median_s": round(statistics.median(times), 4),
            "max_s": round(max(times), 4),
            "tracks_matching": int(found[1]) if found else None,
        }
    proc.send_signal(2)
    code = proc.wait(timeout=30)
    results = {
        "tracks": a.tracks,
        "albums": -(-a.tracks // PER_ALBUM),
        "library_made_and_seeded_s": round(made, 1),
        "start_to_first_page_s": round(started, 2),
        "first_page_s": round(first, 4),
        "requests": timings,
        "exit_on_sigint": code,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    print(json.dumps(results, indent=1))
    if a.out:
        a.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
