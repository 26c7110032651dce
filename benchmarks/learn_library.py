"""A user's library made from the labelled GTZAN clips in ../shared/data, for
``genretag learn`` (issue 18): genre, artist and title tags in the owner's vocabulary
(hip-hop renamed ``Hip Hop``, jazz and blues merged into ``Jazz & Blues``, Clifton
Chenier's zydeco split from blues), some artists
fully tagged and the others untagged (no artist on both sides), and the truth for the
untagged side in a CSV.

    python benchmarks/learn_library.py make ../shared/data/gtzan /tmp/lib \\
        --genres blues jazz classical rock hiphop
    genretag learn /tmp/lib --out /tmp/mine.safetensors --report /tmp/learn.json
    genretag scan /tmp/lib --model /tmp/mine.safetensors --dry-run --report /tmp/mine.json
    genretag scan /tmp/lib --dry-run --report /tmp/default.json
    python benchmarks/learn_library.py score /tmp/lib/truth.csv /tmp/mine.json /tmp/default.json

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

OWNER = {"hiphop": "Hip Hop", "jazz": "Jazz & Blues", "blues": "Jazz & Blues",
         "metal": "Metal", "rock": "Rock", "pop": "Pop", "disco": "Disco",
         "country": "Country", "reggae": "Reggae", "classical": "Classical"}
SPLIT = {"Clifton Chenier": "Zydeco"}  # one artist's music under a label of its own


def score(truth_csv: Path, reports: list[Path]) -> None:
    import json

    truth = {r["path"]: r["genre"] for r in csv.DictReader(open(truth_csv))}
    owner = {k.casefold(): v for k, v in OWNER.items()} | {v.casefold(): v for v in OWNER.values()}
    for report in reports:
        rows = {r["path"]: r for r in json.loads(report.read_text())["rows"]}
        right = unsure = wrong = 0
        for path, genre in truth.items():
            row = rows.get(path)
            got = row["genres"] if row else []
            first = owner.get(got[0].casefold(), got[0]) if got else None
            if first is None:
                unsure += 1
            elif first == genre:
                right += 1
            else:
                wrong += 1
        n = len(truth)
        print(f"{report}: {n} untagged tracks: right {right / n:.1%}, unsure "
              f"{unsure / n:.1%}, wrong {wrong / n:.1%}")


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
    a = ap.parse_args()
    if a.what == "score":
        score(a.truth, a.reports)
        return
    rows = [r for r in csv.DictReader(open(a.gtzan / "artists.csv")) if r["genre"] in a.genres]
    artists = sorted({(r["genre"], r["artist"]) for r in rows})
    rng = random.Random(a.seed)
    untagged = set()
    for genre in a.genres:  # a share of each genre's artists, whole, on the untagged side
        of = [ar for g, ar in artists if g == genre]
        rng.shuffle(of)
        untagged |= set(of[:max(1, round(len(of) * a.untagged_share))])
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
    print(f"{len(rows)} clips, {len(truth)} untagged ({len(untagged)} artists); "
          f"truth in {a.out / 'truth.csv'}")


if __name__ == "__main__":
    main()
