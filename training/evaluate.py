"""Grouped k-fold cross-validation of what ``train`` builds, and of a linear probe beside it.

Folds are made of whole groups (GTZAN clip-number blocks, artists, albums or files), so that
no recording or near-duplicate sits on both sides. All models see exactly the same folds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .recipe import Labelled, Recipe, fit_model, predict_cnn, predict_fused
from .train import fit_feature_head


@dataclass
class CVResult:
    labels: list[str]
    y: np.ndarray
    folds: np.ndarray  # fold index of every clip
    probabilities: dict[str, np.ndarray] = field(default_factory=dict)  # model -> (clips, C)
    curves: list[list[float]] = field(default_factory=list)  # head loss per epoch, per fold


def make_folds(groups: list[str], k: int) -> np.ndarray:
    """Assign whole groups to ``k`` folds: each group its own fold when there are ``k``
    groups, else largest groups first into the smallest fold."""
    names = sorted(set(groups))
    sizes = {g: groups.count(g) for g in names}
    fold_of: dict[str, int] = {}
    if len(names) == k:
        fold_of = {g: i for i, g in enumerate(names)}
    else:
        load = [0] * k
        for g in sorted(names, key=lambda n: (-sizes[n], n)):
            i = int(np.argmin(load))
            fold_of[g] = i
            load[i] += sizes[g]
    return np.array([fold_of[g] for g in groups])


def probe_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                  n_classes: int) -> np.ndarray:
    """A linear probe: class-balanced logistic regression on standardised mean window
    embeddings (the same fit as the feature head's, on other inputs)."""
    import torch

    probe = fit_feature_head(train_x, train_y, n_classes, c=0.1)
    with torch.inference_mode():
        return torch.softmax(probe(torch.from_numpy(test_x).float()), -1).numpy()


def cross_validate(d: Labelled, k: int, recipe: Recipe, on_fold=None,
                   on_epoch=None) -> CVResult:
    """Out-of-fold probabilities of the recipe's CNN and of a linear probe on the frozen
    backbone's embeddings; with a feature table also of the feature head alone and of the
    fused model (what ``train`` ships). The test side of a fold (its groups, and its clips'
    own table rows) never reaches training."""
    folds = make_folds(d.groups, k)
    res = CVResult(d.labels, d.y, folds)
    n, c = len(d.y), len(d.labels)
    names = [recipe.cnn_name, "linear probe"]
    if d.table is not None:
        names[1:1] = ["feature head", "fused"]
    p = {name: np.zeros((n, c)) for name in names}
    means = np.stack([w.mean(0) for w in d.windows])
    for f in range(k):
        test, train = np.where(folds == f)[0], np.where(folds != f)[0]
        if len(test) == 0:
            continue
        built = fit_model(d, train, recipe, on_epoch,
                          exclude_names={d.names[i] for i in test},
                          exclude_groups={d.groups[i] for i in test})
        res.curves.append(built.losses)
        p[recipe.cnn_name][test] = predict_cnn(built, d, test)
        p["linear probe"][test] = probe_predict(means[train], d.y[train], means[test], c)
        if d.table is not None:
            p["feature head"][test], p["fused"][test] = predict_fused(
                built, p[recipe.cnn_name][test], d.clip_features[test])
        if on_fold:
            on_fold(f)
    res.probabilities = p
    return res


def metrics(res: CVResult, name: str) -> dict:
    from sklearn.metrics import precision_recall_fscore_support

    pred = res.probabilities[name].argmax(1)
    p, r, f1, support = precision_recall_fscore_support(
        res.y, pred, labels=range(len(res.labels)), zero_division=0)
    fold_acc = [float((pred[res.folds == f] == res.y[res.folds == f]).mean())
                for f in sorted(set(res.folds))]
    fold_macro = []
    for f in sorted(set(res.folds)):
        sel = res.folds == f
        present = sorted(set(res.y[sel]))
        fold_macro.append(float(np.mean([(pred[sel][res.y[sel] == c] == c).mean()
                                         for c in present])))
    return {
        "accuracy": float((pred == res.y).mean()),
        "macro_recall": float(r.mean()),
        "fold_accuracy": fold_acc,
        "fold_macro_recall": fold_macro,
        "per_class": {lab: {"precision": float(p[i]), "recall": float(r[i]),
                            "f1": float(f1[i]), "support": int(support[i])}
                      for i, lab in enumerate(res.labels)},
    }


def confusion_png(res: CVResult, name: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(res.y, res.probabilities[name].argmax(1),
                          labels=range(len(res.labels)))
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(cm / np.maximum(cm.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(res.labels)), res.labels, rotation=45, ha="right")
    ax.set_yticks(range(len(res.labels)), res.labels)
    for i in range(len(res.labels)):
        for j in range(len(res.labels)):
            if cm[i, j]:
                ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{name}: grouped {len(set(res.folds))}-fold CV")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def curves_png(res: CVResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, losses in enumerate(res.curves):
        ax.plot(range(1, len(losses) + 1), losses, marker="o", label=f"fold {i}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (class-weighted CE)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
