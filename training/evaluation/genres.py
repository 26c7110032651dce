"""Cross-validation of the default model's recipe (``--arch musicnn-genres``) over several
datasets at once, the way users meet the model: on artists it has never heard.

- Folds are grouped by artist across datasets (``datasets.artist_key``) and stratified by
  dataset and first genre; the whole is repeated over seeds for a spread.
- Each fold runs ``fit_genres`` on its training side (inner folds choose the regularisation,
  calibration and thresholds there) and predicts its test side.
- Every table is given per dataset and per label; what a scan would write (``written``) uses
  each fold's own thresholds and the scan's rule (``first_written``).

The scan's rule and the held-out measurements live here, so ``genretag evaluate`` is the one
command that reproduces the model card's figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from genretag.training.data.datasets import Item
from genretag.training.data.labelspace import NAMES, is_right, source, targets, vocabulary
from genretag.training.evaluation.evaluate import ECE_BINS, make_folds
from genretag.training.recipes.genres import GenresConfig, fit_genres

SURE = 0.5  # "confidently wrong": a wrong first genre at this probability or more
LEARNING_SHARES = (0.25, 0.5, 1.0)


@dataclass
class Clips:
    """Several datasets' clips, ready for the recipe: statistics (clips, stats) as a scan
    pools them, targets (clips, labels) in {0, 1, NaN} (``labelspace.targets``)."""

    items: list[Item]
    x: np.ndarray
    labels: list[str] = field(default_factory=list)
    y: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def __post_init__(self) -> None:
        if not self.labels:
            self.labels = vocabulary([i.all_genres for i in self.items])
        if self.y.size == 0:
            self.y = targets([i.all_genres for i in self.items], self.labels)

    @property
    def groups(self) -> list[str]:
        return [i.group for i in self.items]

    @property
    def datasets(self) -> np.ndarray:
        return np.array([i.dataset for i in self.items])

    def strata(self) -> np.ndarray:
        """Dataset and first genre, as one integer per clip, for stratified folds."""
        keys = [f"{i.dataset}|{i.label}" for i in self.items]
        index = {k: n for n, k in enumerate(sorted(set(keys)))}
        return np.array([index[k] for k in keys])


@dataclass
class Heldout:
    """One seed's cross-validation: each clip's probabilities and the thresholds of the
    fold that held it out (inf where that fold left a label unvalidated)."""

    folds: np.ndarray
    probabilities: np.ndarray  # (clips, labels)
    thresholds: np.ndarray  # (clips, labels)
    chosen_c: list[float]


def cross_validate(
    clips: Clips, k: int, seeds: list[int], cfg: GenresConfig, on_fold=None, train_mask=None
) -> list[Heldout]:
    """``fit_genres`` on each fold's training side, its test side predicted; per seed.
    ``train_mask`` (clips,) limits which clips may train (a learning curve's subset)."""
    out = []
    for seed in seeds:
        folds = make_folds(clips.strata(), clips.groups, k, seed)
        probs = np.zeros(clips.y.shape)
        ths = np.full(clips.y.shape, np.inf)
        cs = []
        for f in range(k):
            test = np.flatnonzero(folds == f)
            train = np.flatnonzero((folds != f) & (True if train_mask is None else train_mask))
            head = fit_genres(
                clips.x[train],
                clips.y[train],
                [clips.groups[i] for i in train],
                clips.labels,
                cfg,
            )
            probs[test] = head.probabilities(clips.x[test])
            for j, lab in enumerate(clips.labels):
                ths[test, j] = head.thresholds.get(lab, np.inf)
            cs.append(head.c)
            if on_fold:
                on_fold()
        out.append(Heldout(folds, probs, ths, cs))
    return out


# --- the scan's rule ---------------------------------------------------------------------

RULES = ("probability", "margin")


def first_written(
    p: np.ndarray, thresholds: np.ndarray, labels: list[str], rule: str = "probability"
) -> tuple[np.ndarray, np.ndarray]:
    """Per clip, the genre a scan writes first and its probability: among the labels that
    reach their threshold (a label without one is never written), the most probable
    (``probability``) or the one furthest above its threshold (``margin``, ``p / t``).
    -> (clips,) label index or -1 when unsure, (clips,) its probability (the best guess's
    when unsure)."""
    sure = p >= thresholds
    score = p / np.where(np.isfinite(thresholds), thresholds, 1.0) if rule == "margin" else p
    pick = np.full(len(p), -1)
    for i in range(len(p)):
        if sure[i].any():
            pick[i] = int(np.flatnonzero(sure[i])[np.argmax(score[i][sure[i]])])
    best = np.where(pick >= 0, p[np.arange(len(p)), pick.clip(min=0)], p.max(1))
    return pick, best


def written_outcomes(clips: Clips, h: Heldout, rule: str = "probability") -> dict[str, np.ndarray]:
    """Per clip: whether the first written genre is right, wrong, or absent (unsure), and
    whether it is wrong at ``SURE`` or more (confidently wrong)."""
    pick, best = first_written(h.probabilities, h.thresholds, clips.labels, rule)
    right = np.array(
        [k >= 0 and is_right(clips.labels[k], it.all_genres) for k, it in zip(pick, clips.items)]
    )
    wrong = (pick >= 0) & ~right
    return {
        "right": right,
        "wrong": wrong,
        "unsure": pick < 0,
        "sure_wrong": wrong & (best >= SURE),
    }


# --- the tables ---------------------------------------------------------------------------


def ece_binary(p: np.ndarray, t: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error of independent probabilities against 0/1 outcomes."""
    if p.size == 0:
        return float("nan")
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    return float(
        sum(
            abs(p[idx == b].mean() - t[idx == b].mean()) * (idx == b).mean()
            for b in range(bins)
            if (idx == b).any()
        )
    )


def per_label(clips: Clips, runs: list[Heldout], rows: np.ndarray) -> dict[str, dict]:
    """Precision, recall, F1 and support of each label on ``rows`` (a mask), written where
    it reaches its fold's threshold, pooled over seeds; the median threshold."""
    out = {}
    for j, lab in enumerate(clips.labels):
        known = rows & ~np.isnan(clips.y[:, j])
        t = clips.y[known, j]
        if t.sum() == 0:
            continue
        tp = fp = fn = 0
        for h in runs:
            said = h.probabilities[known, j] >= h.thresholds[known, j]
            tp += int((said & (t == 1)).sum())
            fp += int((said & (t == 0)).sum())
            fn += int((~said & (t == 1)).sum())
        prec = tp / (tp + fp) if tp + fp else None
        rec = tp / (tp + fn)
        f1 = 2 * prec * rec / (prec + rec) if prec and rec else 0.0
        th = np.concatenate([h.thresholds[known, j] for h in runs])
        out[lab] = {
            "precision": prec,
            "recall": rec,
            "f1": f1,
            "support": int(t.sum()),
            "negatives": int((t == 0).sum()),
            "threshold": float(np.median(th)),
            "folds_validated": float(np.isfinite(th).mean()),
        }
    return out


def _spread(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def dataset_report(clips: Clips, runs: list[Heldout], name: str) -> dict:
    """One dataset's figures, mean ± std over seeds where they are rates."""
    rows = clips.datasets == name
    labels = clips.labels
    out: dict = {
        "clips": int(rows.sum()),
        "artists": len({g for g, r in zip(clips.groups, rows) if r}),
    }
    for rule in RULES:
        outcomes = [written_outcomes(clips, h, rule) for h in runs]
        out[f"written_{rule}"] = {
            k: _spread([float(o[k][rows].mean()) for o in outcomes])
            for k in ("right", "wrong", "unsure", "sure_wrong")
        }
    # a dataset of one genre per clip (a folder each): also the accuracy of the best of its
    # own genres, as GTZAN has always been measured
    mine = [it for it, r in zip(clips.items, rows) if r]
    if all(not it.genres for it in mine):
        own = sorted({source(it.label).is_[0] for it in mine}, key=labels.index)
        cols = [labels.index(lab) for lab in own]
        truth = np.array([own.index(source(it.label).is_[0]) for it in mine])
        acc, mrec = [], []
        for h in runs:
            pred = h.probabilities[rows][:, cols].argmax(1)
            acc.append(float((pred == truth).mean()))
            mrec.append(float(np.mean([(pred[truth == c] == c).mean() for c in np.unique(truth)])))
        out["accuracy"] = _spread(acc)
        out["macro_recall"] = _spread(mrec)
        out["confusion"] = confusion(runs[0].probabilities[rows][:, cols].argmax(1), truth, own)
    table = per_label(clips, runs, rows)
    out["per_label"] = table
    known = ~np.isnan(clips.y[rows])
    out["ece"] = _spread(
        [ece_binary(h.probabilities[rows][known], clips.y[rows][known]) for h in runs]
    )
    return out


def confusion(pred: np.ndarray, truth: np.ndarray, labels: list[str]) -> dict[str, dict[str, int]]:
    return {
        labels[t]: {
            labels[p]: int(((truth == t) & (pred == p)).sum())
            for p in range(len(labels))
            if ((truth == t) & (pred == p)).any()
        }
        for t in range(len(labels))
    }


def report(clips: Clips, runs: list[Heldout], min_precision: float) -> dict:
    """Every dataset's figures, each label's pooled over all of them, and which labels are
    validated: held-out precision at least ``min_precision`` at the folds' thresholds."""
    names = sorted(set(clips.datasets.tolist()), key=lambda n: (n != "gtzan", n))
    pooled = per_label(clips, runs, np.ones(len(clips.items), dtype=bool))
    validated = [
        lab
        for lab, r in pooled.items()
        if r["precision"] is not None and r["precision"] >= min_precision
    ]
    datasets = {n: dataset_report(clips, runs, n) for n in names}
    f1 = {
        n: [r["f1"] for lab, r in d["per_label"].items() if lab in validated]
        for n, d in datasets.items()
    }
    return {
        "datasets": datasets,
        "per_label": pooled,
        "validated": validated,
        "macro_f1_validated": {n: float(np.mean(v or [0.0])) for n, v in f1.items()},
        "chosen_c": [c for h in runs for c in h.chosen_c],
    }


# --- music outside the vocabulary ---------------------------------------------------------


def held_out_labels(
    clips: Clips, cfg: GenresConfig, labels: list[str], min_clips: int = 20, on_label=None
) -> dict:
    """Leave each label out of training in turn: drop it from the vocabulary and every clip
    by an artist who has a clip of it; then predict its clips. How often is the first written
    genre wrong, and wrong at ``SURE`` or more (confidently wrong)? A clip's other genres
    still count as right (a MER Folk clip that is also Country may be written Country)."""
    out = {}
    for lab in labels:
        j = clips.labels.index(lab)
        has = clips.y[:, j] == 1
        if has.sum() < min_clips:
            continue
        artists = {g for g, h in zip(clips.groups, has) if h}
        train = np.array([g not in artists for g in clips.groups])
        keep = [k for k in range(len(clips.labels)) if k != j]
        kept = [clips.labels[k] for k in keep]
        head = fit_genres(
            clips.x[train],
            clips.y[train][:, keep],
            [g for g, t in zip(clips.groups, train) if t],
            kept,
            cfg,
        )
        test = np.flatnonzero(has)
        p = head.probabilities(clips.x[test])
        th = np.array([head.thresholds.get(k, np.inf) for k in kept])
        pick, best = first_written(p, np.broadcast_to(th, p.shape), kept)
        right = np.array(
            [k >= 0 and is_right(kept[k], clips.items[i].all_genres) for k, i in zip(pick, test)]
        )
        wrong = (pick >= 0) & ~right
        out[lab] = {
            "clips": len(test),
            "right_other_genre": float(right.mean()),
            "unsure": float((pick < 0).mean()),
            "wrong": float(wrong.mean()),
            "sure_wrong": float((wrong & (best >= SURE)).mean()),
            "written_as": _counts([kept[k] for k, w in zip(pick, wrong) if w]),
        }
        if on_label:
            on_label()
    total = sum(r["clips"] for r in out.values())
    out_all = {
        "clips": total,
        "sure_wrong": sum(r["sure_wrong"] * r["clips"] for r in out.values()) / max(total, 1),
        "wrong": sum(r["wrong"] * r["clips"] for r in out.values()) / max(total, 1),
        "unsure": sum(r["unsure"] * r["clips"] for r in out.values()) / max(total, 1),
    }
    return {"labels": out, "all": out_all}


def _counts(names: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in names:
        out[NAMES.get(n, n)] = out.get(NAMES.get(n, n), 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def learning_curve(
    clips: Clips, k: int, seed: int, cfg: GenresConfig, whole: Heldout, on_point=None
) -> dict:
    """Held-out figures against the share of each training side's artists kept (one seed;
    ``whole`` is that seed's cross-validation with every artist)."""
    rng = np.random.default_rng(seed)
    artists = sorted(set(clips.groups))
    out = {}
    for share in LEARNING_SHARES:
        keep = set(rng.permutation(artists)[: max(2, round(share * len(artists)))].tolist())
        mask = np.array([g in keep for g in clips.groups])
        runs = [whole] if share == 1.0 else cross_validate(clips, k, [seed], cfg, train_mask=mask)
        r = report(clips, runs, cfg.min_precision)
        out[str(share)] = {
            "training_artists": round(len(keep) * (k - 1) / k),
            **{
                n: {
                    "right": d["written_probability"]["right"]["mean"],
                    "wrong": d["written_probability"]["wrong"]["mean"],
                    **({"accuracy": d["accuracy"]["mean"]} if "accuracy" in d else {}),
                }
                for n, d in r["datasets"].items()
            },
        }
        if on_point:
            on_point()
    return out
