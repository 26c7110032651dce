"""What `--coverage fast` costs in accuracy, on labelled 4-minute tracks.

    python benchmarks/fast_accuracy.py --data ../shared/data/gtzan --windows 2 4 8

Joins the 30-second clips of one genre, 8 at a time in clip-number order, into 4-minute MP3s
(192 kbps, under .work/, never in the repository), classifies each with full coverage (every
window, 50% overlap) and with fast coverage (K windows spread over the track, each decoded
by seeking), and prints accuracy and agreement with full coverage for every K.

The shipped model was trained on these clips, so absolute accuracy here is optimistic; the
point is the difference between full and fast coverage on the same tracks.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from genretag.hearing.local import Predictor  # noqa: E402
from genretag.hearing.windows import Coverage  # noqa: E402
from genretag.library.decode import ffmpeg_path  # noqa: E402
from genretag.models.file import default_model_path  # noqa: E402
from genretag.models.loader import LazyModel  # noqa: E402
from genretag.training.data.datasets import load  # noqa: E402


def joined_tracks(data: Path, out: Path, per_track: int = 8) -> list[tuple[Path, str]]:
    by_label: dict[str, list[Path]] = defaultdict(list)
    for item in load(data):
        by_label[item.label].append(item.path)
    out.mkdir(parents=True, exist_ok=True)
    tracks = []
    for label, clips in sorted(by_label.items()):
        clips.sort()
        for i in range(0, len(clips) - per_track + 1, per_track):
            dst = out / f"{label}-{i // per_track:02d}.mp3"
            if not dst.exists():
                inputs = [a for c in clips[i : i + per_track] for a in ("-i", str(c))]
                graph = (
                    "".join(f"[{k}:a]" for k in range(per_track)) + f"concat=n={per_track}:v=0:a=1"
                )
                subprocess.run(
                    [
                        ffmpeg_path(),
                        "-nostdin",
                        "-loglevel",
                        "error",
                        "-y",
                        *inputs,
                        "-filter_complex",
                        graph,
                        "-ac",
                        "2",
                        "-ar",
                        "44100",
                        "-c:a",
                        "libmp3lame",
                        "-b:a",
                        "192k",
                        str(dst),
                    ],
                    check=True,
                )
            tracks.append((dst, label))
    return tracks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "gtzan")
    ap.add_argument("--model", type=Path, default=default_model_path())
    ap.add_argument("--windows", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=Path, default=ROOT / ".work" / "joined")
    a = ap.parse_args()

    tracks = joined_tracks(a.data, a.work)
    model = LazyModel(a.model).load()
    print(
        f"{len(tracks)} joined 4-minute tracks; model {model.model_id}; device {model.device.type}",
        flush=True,
    )
    preds: dict[str, list[int]] = {}
    for name, cov in [("full", Coverage("full"))] + [
        (f"fast K={k}", Coverage("fast", k)) for k in a.windows
    ]:
        t0 = time.perf_counter()
        clf = Predictor(model, cov, workers=a.workers)
        out = [None] * len(tracks)
        for res in clf.predict([p for p, _ in tracks]):
            out[res.key] = int(res.probabilities.argmax())
        preds[name] = out
        seconds = time.perf_counter() - t0
        truth = [model.labels.index(lab) for _, lab in tracks]
        acc = sum(p == t for p, t in zip(out, truth)) / len(tracks)
        agree = sum(p == f for p, f in zip(out, preds["full"])) / len(tracks)
        print(
            f"{name:10} accuracy {acc:.3f}  agreement with full {agree:.3f}  "
            f"{clf.timings.windows / len(tracks):6.1f} windows/track  {seconds:6.1f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
