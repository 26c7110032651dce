"""A user's library made from the labelled GTZAN clips in ../shared/data, for
``genretag learn`` (issue 18): genre, artist and title tags in the owner's vocabulary
(hip-hop renamed ``Hip Hop``, classical renamed ``Orchestral``, jazz and blues merged into
``Jazz & Blues``, Clifton Chenier's zydeco split from blues), some artists fully tagged and
the others untagged (no artist on both sides), and the truth for the untagged side in a CSV.

    python benchmarks/learn_library.py make ../shared/data/gtzan /tmp/lib \\
        --genres blues jazz classical rock hiphop --fair-base /tmp/base
    genretag train /tmp/base --out /tmp/base.safetensors
    genretag scan /tmp/lib --model /tmp/base.safetensors --db /tmp/lib.sqlite \\
        --dry-run --report /tmp/default.json
    genretag learn /tmp/lib --model /tmp/base.safetensors --db /tmp/lib.sqlite \\
        --out /tmp/mine.safetensors --report /tmp/learn.json
    genretag scan /tmp/lib --model /tmp/mine.safetensors --db /tmp/lib.sqlite \\
        --dry-run --report /tmp/mine.json
    python benchmarks/learn_library.py score /tmp/lib/truth.csv /tmp/mine.json /tmp/default.json

The default model compared is trained like the shipped one on every GTZAN clip except the
untagged artists' (``--fair-base``): the shipped model heard those clips. The scan with the
learnt model decodes nothing: it predicts from the statistics the first scan cached.

    python benchmarks/learn_library.py big /tmp/big --tracks 10000

``big`` times ``genretag learn`` on a library of that many tracks whose statistics a scan
already cached: every file is a copy of one short WAV, and the cache holds a row and
generated statistics for each (labels by artist, 30% untagged), so that learn decodes
nothing. It prints the wall time and the cache's size per track.

``score`` gives, on the untagged tracks, the share whose first genre is right, the share
left unsure and the share given a wrong genre. The default model's labels are put in the
owner's vocabulary first (jazz and blues -> Jazz & Blues, hiphop -> Hip Hop...).
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
from pathlib import Path

from mutagen.oggopus import OggOpus

OWNER = {
    "hiphop": "Hip Hop",
    "jazz": "Jazz & Blues",
    "blues": "Jazz & Blues",
    "metal": "Metal",
    "rock": "Rock",
    "pop": "Pop",
    "disco": "Disco",
    "country": "Country",
    "reggae": "Reggae",
    "classical": "Orchestral",
}
SPLIT = {"Clifton Chenier": "Zydeco"}  # one artist's music under a label of its own


def score(truth_csv: Path, reports: list[Path]) -> None:
    import json

    from genretag.learn import label_key

    truth = {
        r["path"]: r["genre"] for r in csv.DictReader(Path(truth_csv).read_text().splitlines())
    }
    owner = {label_key(k): v for k, v in OWNER.items()} | {label_key(v): v for v in OWNER.values()}
    for report in reports:
        rows = {r["path"]: r for r in json.loads(report.read_text())["rows"]}
        right = unsure = wrong = 0
        for path, genre in truth.items():
            row = rows.get(path)
            got = row["genres"] if row else []
            first = owner.get(label_key(got[0]), got[0]) if got else None
            if first is None:
                unsure += 1
            elif first == genre:
                right += 1
            else:
                wrong += 1
        n = len(truth)
        print(
            f"{report}: {n} untagged tracks: right {right / n:.1%}, unsure "
            f"{unsure / n:.1%}, wrong {wrong / n:.1%}"
        )
        for genre in sorted(set(truth.values())):
            paths = [p for p, g in truth.items() if g == genre]
            firsts = [(rows[p]["genres"] if p in rows else [])[:1] for p in paths]
            hits = sum(1 for f in firsts if f and owner.get(label_key(f[0]), f[0]) == genre)
            print(f"  {genre}: {hits}/{len(paths)} right, {sum(1 for f in firsts if not f)} unsure")


def big(work: Path, n: int, labels: int = 12, artists: int = 600, seed: int = 0) -> None:
    """A cached library of ``n`` tracks, then ``genretag learn`` on it, timed."""
    import subprocess
    import sys
    import time
    import wave

    import numpy as np

    from genretag.models.file import default_model_path
    from genretag.models.net import load_model
    from genretag.store.cache import Cache, Statistics, TrackRow
    from genretag.tags.fingerprint import audio as fingerprint_audio
    from genretag.tags.fingerprint import content as fingerprint_content

    model = load_model(default_model_path())
    dim = 2 * model.net.embedding_dim + len(model.metadata.tags)
    shutil.rmtree(work, ignore_errors=True)
    lib = work / "lib"
    lib.mkdir(parents=True)
    src = work / "one.wav"
    with wave.open(str(src), "wb") as w:  # 1 s of a tone: only its bytes are ever read
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        t = np.arange(8000) / 8000
        w.writeframes((3000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes())
    fp, audio = fingerprint_content(src, src.stat().st_size), fingerprint_audio(src)
    rng = np.random.default_rng(seed)
    names = [f"Genre {i}" for i in range(labels)]
    centres = rng.normal(0, 1, (labels, dim))
    artist_label = rng.integers(0, labels, artists)
    artist_offset = rng.normal(0, 1, (artists, dim))
    untagged_artist = rng.random(artists) < 0.3
    db = work / "cache.sqlite"
    cache = Cache(db)
    t0 = time.perf_counter()
    for i in range(n):
        a = int(rng.integers(0, artists))
        path = lib / f"artist{a:03d}" / f"track{i:05d}.wav"
        path.parent.mkdir(exist_ok=True)
        shutil.copyfile(src, path)
        st = path.stat()
        genre = names[artist_label[a]]
        current = [] if untagged_artist[a] else [genre]
        cache.put(
            TrackRow(
                str(path),
                st.st_size,
                st.st_mtime_ns,
                fp,
                model.model_id,
                None,
                [],
                [],
                "unchanged",
                None,
                None,
                current=current,
                artist=f"Artist {a}",
                album=f"Album {a}",
                audio=audio,
            )
        )
        x = 0.05 * centres[artist_label[a]] + 0.3 * artist_offset[a] + rng.normal(0, 1, dim)
        cache.put_statistics(
            str(path), Statistics(model.backbone_id, "fast", fp, audio, x.astype(np.float16))
        )
    cache.flush()
    cache.close()
    made = time.perf_counter() - t0
    size = db.stat().st_size
    t0 = time.perf_counter()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "genretag",
            "learn",
            str(lib),
            "--db",
            str(db),
            "--out",
            str(work / "mine.safetensors"),
        ],
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - t0
    print(run.stdout[-1500:], run.stderr[-1500:])
    print(
        f"learn on {n} cached tracks ({labels} labels, {artists} artists): {took:.1f} s "
        f"wall, exit {run.returncode}; cache {size / n:,.0f} bytes per track "
        f"(statistics {dim * 2:,} bytes of float16); library made in {made:.0f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    sc = sub.add_parser("score")
    sc.add_argument("truth", type=Path)
    sc.add_argument("reports", type=Path, nargs="+")
    mk = sub.add_parser("make")
    mk.add_argument("gtzan", type=Path)
    mk.add_argument("out", type=Path)
    mk.add_argument("--genres", nargs="+", default=sorted(OWNER))
    mk.add_argument("--untagged-share", type=float, default=0.4)
    mk.add_argument("--seed", type=int, default=0)
    mk.add_argument(
        "--fair-base",
        type=Path,
        help="Also lay out every GTZAN clip but the "
        "untagged artists' here (links, with artists.csv), to train a default "
        "model that never heard the untagged side: genretag train DIR --out F",
    )
    bg = sub.add_parser("big")
    bg.add_argument("work", type=Path)
    bg.add_argument("--tracks", type=int, default=10_000)
    a = ap.parse_args()
    if a.what == "score":
        score(a.truth, a.reports)
        return
    if a.what == "big":
        big(a.work, a.tracks)
        return
    rows = [
        r
        for r in csv.DictReader((a.gtzan / "artists.csv").read_text().splitlines())
        if r["genre"] in a.genres
    ]
    artists = sorted({(r["genre"], r["artist"]) for r in rows})
    rng = random.Random(a.seed)
    untagged = set()
    for genre in a.genres:  # a share of each genre's artists, whole, on the untagged side
        of = [ar for g, ar in artists if g == genre]
        rng.shuffle(of)
        untagged |= set(of[: max(1, round(len(of) * a.untagged_share))])
    shutil.rmtree(a.out, ignore_errors=True)
    truth = []
    for r in rows:
        src = a.gtzan / r["genre"] / f"{r['clip']}.opus"
        folder = a.out / r["artist"].replace("/", "_")
        folder.mkdir(parents=True, exist_ok=True)
        dst = folder / src.name
        shutil.copy(src, dst)
        f = OggOpus(dst)
        f["artist"], f["title"] = r["artist"], r["title"] or r["clip"]
        genre = SPLIT.get(r["artist"], OWNER[r["genre"]])
        if r["artist"] in untagged:
            truth.append((str(dst), genre))
        else:
            f["genre"] = genre
        f.save()
    with open(a.out / "truth.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "genre"), *truth])
    if a.fair_base:
        everything = list(csv.DictReader((a.gtzan / "artists.csv").read_text().splitlines()))
        kept = [r for r in everything if r["artist"] not in untagged]
        shutil.rmtree(a.fair_base, ignore_errors=True)
        for r in kept:
            (a.fair_base / r["genre"]).mkdir(parents=True, exist_ok=True)
            name = f"{r['clip']}.opus"
            (a.fair_base / r["genre"] / name).symlink_to((a.gtzan / r["genre"] / name).resolve())
        with open(a.fair_base / "artists.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(everything[0]))
            w.writeheader()
            w.writerows(kept)
        print(f"fair base: {len(kept)} clips in {a.fair_base} (none by an untagged artist)")
    print(
        f"{len(rows)} clips, {len(truth)} untagged ({len(untagged)} artists); "
        f"truth in {a.out / 'truth.csv'}"
    )


if __name__ == "__main__":
    main()
