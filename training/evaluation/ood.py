"""Out-of-distribution music: how sure the exclusive genres are of a genre they never heard.

For every genre in turn, the track head is fitted without that genre (artist-grouped folds of
the other genres, the recipe's nested choices and its familiarity, all inside the training
clips) and shown the genre's clips. Each clip then gets the scores a simple rule could
threshold:
- ``top``: the highest exclusive probability of the head alone (what ``--min-confidence``
  thresholds, before the familiarity);
- ``familiar_top``: the same, multiplied by the familiarity (what a scan now writes);
- ``tag_max``: the pretrained tagger's highest mean tag logit (does any of its 50 tags hear
  something it knows?);
- ``centroid``: the distance of the track's standardised embedding statistics from the
  nearest genre's centre among the training clips;
- ``neighbours``: the mean distance to its five nearest training clips.

The clips of the held-out genre are out of distribution; the test folds' clips of the other
genres are in it. Each score's AUC says how well it tells them apart, and the shares at the
scan's threshold say what a user would see.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from genretag.models.pooling import standardiser
from genretag.training.evaluation.evaluate import make_folds
from genretag.training.recipes.probe import (
    Pooled,
    ProbeConfig,
    centre_distances,
    fit_track_head,
    genre_centres,
    head_probabilities,
)

SCORES = ("top", "familiar_top", "tag_max", "centroid", "neighbours")
HIGHER_IS_FAMILIAR = {
    "top": True,
    "familiar_top": True,
    "tag_max": True,
    "centroid": False,
    "neighbours": False,
}
NEIGHBOURS = 5


@dataclass
class Scored:
    """One clip heard by a head that never heard the held-out genre."""

    held_out: str  # the genre left out of training
    outside: bool  # the clip is of that genre
    right: bool  # in distribution: its top genre is its own
    scores: dict[str, float]


def _scores(
    x: Pooled, train: np.ndarray, test: np.ndarray, y: np.ndarray, head
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Probabilities (test, n) and each score (test,) of the clips ``test``."""
    p = head_probabilities(head, x.take(test))
    half = x.embedding.shape[1] // 2
    with torch.no_grad():
        emb = torch.from_numpy(x.embedding[test]).float()
        familiar = head.familiar(emb[:, :half], emb[:, half:]).double().numpy()
    mean, scale = standardiser(x.embedding[train])
    z_train = (x.embedding[train] - mean) / scale
    z = (x.embedding[test] - mean) / scale
    d_centre = centre_distances(z, genre_centres(z_train, y[train], int(y[train].max()) + 1))
    d_all = np.sqrt(
        np.maximum((z**2).sum(1)[:, None] + (z_train**2).sum(1)[None] - 2 * z @ z_train.T, 0.0)
        / z.shape[1]
    )
    d_near = np.sort(d_all, 1)[:, :NEIGHBOURS].mean(1)
    return p, {
        "top": p.max(1),
        "familiar_top": p.max(1) * familiar,
        "tag_max": x.tags[test].max(1),
        "centroid": d_centre,
        "neighbours": d_near,
    }


def hold_out_each(
    x: Pooled,
    y: np.ndarray,
    labels: list[str],
    groups: list[str],
    cfg: ProbeConfig,
    k: int = 5,
    seed: int = 0,
    on_genre=None,
) -> list[Scored]:
    """Every genre with clips held out in turn; the others in ``k`` artist-grouped folds."""
    out: list[Scored] = []
    groups_a = np.array(groups)
    for g, name in enumerate(labels):
        inside = np.flatnonzero(y != g)
        outside = np.flatnonzero(y == g)
        if len(outside) == 0:
            continue
        remap = {c: i for i, c in enumerate(sorted(set(y[inside].tolist())))}
        yi = np.array([remap.get(int(c), -1) for c in y])
        folds = make_folds(yi[inside], groups_a[inside].tolist(), k, seed)
        for f in range(k):
            test, train = inside[folds == f], inside[folds != f]
            if len(test) == 0:
                continue
            head, _ = fit_track_head(
                x.take(train),
                yi[train],
                groups_a[train].tolist(),
                len(remap),
                replace(cfg, seed=seed),
            )
            # the held-out genre's clips are spread over the folds, each heard once
            ood = outside[np.arange(len(outside)) % k == f]
            both = np.concatenate([test, ood])
            p, scores = _scores(x, train, both, yi, head)
            for j, i in enumerate(both):
                is_out = bool(y[i] == g)
                out.append(
                    Scored(
                        name,
                        is_out,
                        not is_out and int(p[j].argmax()) == yi[i],
                        {s: float(v[j]) for s, v in scores.items()},
                    )
                )
        if on_genre:
            on_genre(name)
    return out


def auc(familiar: np.ndarray, outside: np.ndarray) -> float:
    """The probability that an in-distribution clip looks more familiar than an outside one
    (scores oriented so that higher is more familiar)."""
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.ones(len(familiar)), np.zeros(len(outside))]
    return float(roc_auc_score(y, np.r_[familiar, outside]))


def report(scored: list[Scored], sure_at: float = 0.3, keep: float = 0.95) -> dict:
    """What a user would see, before and after the familiarity: of the outside clips, the
    share given a genre (top probability at least ``sure_at``) and the share over 0.5 and
    0.8; of the inside clips, the share of right ones left unsure, of wrong ones made
    unsure, and the accuracy of those given a genre; per held-out genre too. And per score,
    its AUC (inside against outside), and the share of outside clips a threshold that keeps
    ``keep`` of the right inside clips would make unsure."""

    def values(name: str, rows: list[Scored]) -> np.ndarray:
        return np.array([r.scores[name] for r in rows])

    def oriented(name: str, rows: list[Scored]) -> np.ndarray:
        v = values(name, rows)
        return v if HIGHER_IS_FAMILIAR[name] else -v

    inside = [r for r in scored if not r.outside]
    outside = [r for r in scored if r.outside]
    right = [r for r in inside if r.right]
    wrong = [r for r in inside if not r.right]

    def seen(name: str) -> dict:
        out, ins = values(name, outside), values(name, inside)
        good = np.array([r.right for r in inside])
        return {
            "outside_given_a_genre": _share(out >= sure_at),
            "outside_over_0.5": _share(out >= 0.5),
            "outside_over_0.8": _share(out >= 0.8),
            "right_left_unsure": _share(ins[good] < sure_at),
            "wrong_made_unsure": _share(ins[~good] < sure_at),
            "accuracy_of_those_given_a_genre": _share(good[ins >= sure_at]),
        }

    rules = {}
    for name in SCORES:
        cut = float(np.quantile(oriented(name, right), 1 - keep))
        rules[name] = {
            "auc_inside_vs_outside": round(auc(oriented(name, inside), oriented(name, outside)), 3),
            "outside_made_unsure": _share(oriented(name, outside) < cut),
            "wrong_made_unsure": _share(oriented(name, wrong) < cut),
        }
    per_genre = {}
    for g in dict.fromkeys(r.held_out for r in outside):
        rows = [r for r in outside if r.held_out == g]
        per_genre[g] = {
            "clips": len(rows),
            **{
                f"{name}_{what}": value
                for name in ("top", "familiar_top")
                for what, value in (
                    ("mean", round(float(values(name, rows).mean()), 3)),
                    ("given_a_genre", _share(values(name, rows) >= sure_at)),
                )
            },
        }
    return {
        "clips_inside": len(inside),
        "clips_outside": len(outside),
        "sure_at": sure_at,
        "head_alone": seen("top"),
        "with_familiarity": seen("familiar_top"),
        "keep_right": keep,
        "scores": rules,
        "per_genre": per_genre,
    }


def _share(mask: np.ndarray) -> float | None:
    return round(float(mask.mean()), 3) if len(mask) else None
