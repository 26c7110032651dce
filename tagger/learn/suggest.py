"""``learn --suggest N``: the untagged tracks whose genre, once the owner gives it, would
teach the learnt model most.

A track is worth the owner's time when the model is unsure of it (its best label's
probability is near that label's threshold) and when it is unlike every tagged track
(far from them in the main directions of the statistics). Each track is ranked by both,
and the two ranks averaged; the list then takes the best track of each artist before any
artist's second, so that ten suggestions are not ten tracks of one album.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genretag.learn.fit import BaseView, Learnt, sqdist
from genretag.learn.library import Library, statistics_of
from genretag.models.pooling import clipped_logit


@dataclass(frozen=True)
class Suggestion:
    """One untagged track worth tagging, and why."""

    path: Path
    artist: str
    guess: str  # the model's best label (its written name), "" when it has none
    probability: float  # of that label
    why: str

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "artist": self.artist,
            "guess": self.guess,
            "probability": round(self.probability, 3),
            "why": self.why,
        }


def _ranks(values: np.ndarray) -> np.ndarray:
    """Each value's rank among them, scaled to [0, 1] (1: the largest)."""
    if len(values) < 2:
        return np.ones(len(values))
    return np.argsort(np.argsort(values, kind="stable"), kind="stable") / (len(values) - 1)


def suggest(lib: Library, learnt: Learnt, base: BaseView | None, n: int) -> list[Suggestion]:
    """At most ``n`` untagged tracks, the most worth the owner's time first."""
    if n <= 0 or not lib.untagged or not learnt.keys:
        return []
    x = statistics_of(lib.untagged).astype(np.float64)
    p = learnt.probabilities(x, base.untagged if base is not None else None)
    t = np.asarray(learnt.thresholds, dtype=float)
    # unsure: the label nearest its threshold, in logits (a track far above one label's
    # threshold and near another's is still unsure of the second)
    gaps = np.abs(clipped_logit(p) - clipped_logit(t)[None])
    margin, nearest = gaps.min(1), gaps.argmin(1)
    # unlike what is tagged: the distance to the nearest tagged track
    near = learnt.near
    tagged = near(statistics_of(lib.tagged).astype(np.float64))
    mine = near(x)
    d2 = sqdist(mine, tagged)
    distance = np.sqrt(np.maximum(d2, 0.0)).min(1)
    unsure, unlike = _ranks(-margin), _ranks(distance)
    score = (unsure + unlike) / 2
    order = np.argsort(-score, kind="stable")
    seen: dict[str, int] = {}
    rounds = []
    for i in order:  # each artist's best first, then each one's second...
        artist = lib.untagged[i].artist
        rounds.append((seen.get(artist, 0), -score[i], int(i)))
        seen[artist] = seen.get(artist, 0) + 1
    out = []
    names = learnt.names
    for _, _, i in sorted(rounds)[:n]:
        best, closest = int(np.argmax(p[i] - t)), int(nearest[i])
        reasons = []
        if unsure[i] >= 0.5:
            reasons.append(
                f"unsure of {names[closest]} ({p[i, closest]:.2f}, written at {t[closest]:.2f})"
            )
        if unlike[i] >= 0.5:
            reasons.append("unlike every tagged track")
        out.append(
            Suggestion(
                lib.untagged[i].path,
                lib.untagged[i].artist,
                names[best] if p[i, best] >= t[best] else "",
                float(p[i, best]),
                "; ".join(reasons) or "unsure, and unlike the tagged tracks",
            )
        )
    return out
