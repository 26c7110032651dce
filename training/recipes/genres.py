"""The default model's recipe (``--arch musicnn-genres``): independent genres learnt from
several datasets at once, on the frozen pretrained tagger.

Per clip, the tagger's pooled window outputs (``GenreNet.statistics``: the embedding's mean and
max, the tag logits' mean) are standardised, and one logistic regression per genre is fitted
on the clips whose dataset can tell that genre (``labelspace.targets``: the others are
masked), all genres at once by L-BFGS on the masked, class-balanced log loss. Then, inside
the training clips only, artist-grouped inner folds choose the regularisation, fit each
genre's calibration (``sigmoid(a * logit + b)``) and the threshold at which it is written:
the lowest at which its held-out precision surely reaches ``min_precision`` (the lower end of
its Wilson interval: a few lucky clips validate nothing). A genre whose inner
precision never gets there, or an umbrella (``labelspace.UMBRELLAS``), has no threshold: it
is not validated, and a scan does not write it by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from genretag.models.pooling import standardiser
from genretag.training.data.labelspace import UMBRELLAS
from genretag.training.recipes.probe import inner_splits

THRESHOLDS = np.round(np.arange(0.3, 0.951, 0.025), 3)  # where a genre may become sure


@dataclass(frozen=True)
class GenresConfig:
    # inverse L2 strengths, chosen inside; over 0.0003-0.03 the folds chose 0.003 (see the
    # model card), so the grid is kept about it
    c: tuple[float, ...] = (0.001, 0.003)
    inner_folds: int = 4
    min_precision: float = 0.7  # a genre's held-out precision at its threshold...
    # ...as the lower end of its Wilson interval at this many standard errors: a precision
    # seen on few held-out clips does not validate a genre (inner folds are optimistic)
    confidence_z: float = 1.0
    min_positives: int = 5  # held-out positives a threshold is chosen from
    seed: int = 0


@dataclass
class GenresHead:
    """One calibrated logistic regression per genre over standardised statistics:
    ``p = sigmoid(a * (w @ ((x - mean) / scale) + b0) + b)``, folded into one linear layer
    (``weight``, ``bias``) as the model file holds it (``GenreNet.genres``)."""

    labels: list[str]
    mean: np.ndarray  # (stats,)
    scale: np.ndarray  # (stats,)
    weight: np.ndarray  # (labels, stats)
    bias: np.ndarray  # (labels,)
    thresholds: dict[str, float] = field(default_factory=dict)  # validated genres only
    c: float = 0.0
    inner: dict = field(default_factory=dict)  # per genre: inner precision, recall, support

    def logits(self, x: np.ndarray) -> np.ndarray:
        """(clips, stats) -> (clips, labels)."""
        return ((x - self.mean) / self.scale) @ self.weight.T + self.bias

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(x)))


def row_space(z: np.ndarray) -> np.ndarray:
    """An orthonormal basis (d, rank) of the span of the rows of ``z`` (clips, d). An L2-
    regularised linear model's weights lie in it, so fitting on ``z @ basis`` (clips, rank)
    gives the same model with fewer columns (there are fewer clips than statistics)."""
    gram = z @ z.T
    values, vectors = np.linalg.eigh(gram)
    keep = values > values.max() * 1e-10
    return (z.T @ vectors[:, keep]) / np.sqrt(values[keep])


def fit_masked(
    z: np.ndarray, y: np.ndarray, c: float, iters: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Standardised inputs (clips, d) and targets (clips, labels) in {0, 1, NaN} -> weights
    (labels, d) and biases (labels,) of the logistic regressions that minimise each
    label's class-balanced log loss over its known clips plus ``|w|^2 / (2 c n)``."""
    known = ~np.isnan(y)
    t = np.nan_to_num(y)
    pos = (t * known).sum(0)
    neg = known.sum(0) - pos
    n = known.sum(0).clip(min=1)
    # class-balanced weights per label: each class weighs half
    w_pos = np.where(pos > 0, n / (2 * pos.clip(min=1)), 0.0)
    w_neg = np.where(neg > 0, n / (2 * neg.clip(min=1)), 0.0)
    sample_w = known * (t * w_pos + (1 - t) * w_neg)
    Z = torch.from_numpy(z.astype(np.float64))
    T = torch.from_numpy(t)
    SW = torch.from_numpy(sample_w)
    N = torch.from_numpy(n.astype(np.float64))
    W = torch.zeros(y.shape[1], z.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(y.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1, max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = Z @ W.T + b
        loss_each = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, T, weight=SW, reduction="none"
        ).sum(0)
        loss = (loss_each / N + (W * W).sum(1) / (2 * c * N)).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return W.detach().numpy(), b.detach().numpy()


def _log_loss(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean over labels of each label's class-balanced log loss on its known clips."""
    out = []
    for j in range(y.shape[1]):
        k = ~np.isnan(y[:, j]) & ~np.isnan(logits[:, j])
        t, s = y[k, j], logits[k, j]
        if t.size == 0 or t.min() == t.max():
            continue
        ll = np.logaddexp(0, -s) * t + np.logaddexp(0, s) * (1 - t)
        out.append(0.5 * ll[t == 1].mean() + 0.5 * ll[t == 0].mean())
    return float(np.mean(out)) if out else float("inf")


def fit_calibration(s: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """Platt scaling: held-out logits and 0/1 outcomes -> (a, b) of ``sigmoid(a s + b)``."""
    from sklearn.linear_model import LogisticRegression

    if t.size < 4 or t.min() == t.max():
        return 1.0, 0.0
    lr = LogisticRegression(C=100.0).fit(s[:, None], t)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def wilson_lower(hits: int, n: int, z: float) -> float:
    """The lower end of the Wilson score interval of a proportion ``hits / n``."""
    if n == 0:
        return 0.0
    p = hits / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float((centre - spread) / (1 + z * z / n))


def choose_threshold(
    p: np.ndarray, t: np.ndarray, want: float, min_pos: int, z: float = 0.0
) -> tuple:
    """The lowest threshold of ``THRESHOLDS`` at which held-out probabilities ``p`` of
    outcomes ``t`` reach precision ``want`` (the lower end of its Wilson interval at ``z``;
    at least ``min_pos`` hits above it): (threshold or None, its precision, its recall)."""
    total = t.sum()
    for th in THRESHOLDS:
        above = p >= th
        hits = int((t[above] == 1).sum())
        if hits >= min_pos and wilson_lower(hits, int(above.sum()), z) >= want:
            return float(th), float(hits / above.sum()), float(hits / max(total, 1))
    return None, None, None


def fit_genres(
    x: np.ndarray, y: np.ndarray, groups: list[str], labels: list[str], cfg: GenresConfig
) -> GenresHead:
    """The recipe (module docstring) on statistics (clips, stats) and targets (clips,
    labels) in {0, 1, NaN}; ``groups`` (artists) keep inner folds apart."""
    mean, scale = standardiser(x)
    basis = row_space((x - mean) / scale)
    z = ((x - mean) / scale) @ basis  # (clips, rank): the same fits, faster
    strata = np.nan_to_num(y).argmax(1) + y.shape[1] * np.isnan(y).any(1)
    splits = list(inner_splits(strata, groups, cfg.inner_folds, cfg.seed))
    oof = {c: np.full(y.shape, np.nan) for c in cfg.c}
    for train, test in splits:
        for c in cfg.c:
            w, b = fit_masked(z[train], y[train], c)
            oof[c][test] = z[test] @ w.T + b
    scores = {c: _log_loss(oof[c], y) for c in cfg.c}
    c = min(cfg.c, key=lambda k: scores[k])
    w, b = fit_masked(z, y, c)
    w = w @ basis.T
    held = oof[c]
    weight, bias, thresholds, inner = np.zeros_like(w), np.zeros_like(b), {}, {}
    for j, label in enumerate(labels):
        k = ~np.isnan(y[:, j]) & ~np.isnan(held[:, j])
        a, b0 = fit_calibration(held[k, j], y[k, j])
        weight[j], bias[j] = a * w[j], a * b[j] + b0
        p = 1.0 / (1.0 + np.exp(-(a * held[k, j] + b0)))
        th, prec, rec = choose_threshold(
            p, y[k, j], cfg.min_precision, cfg.min_positives, cfg.confidence_z
        )
        inner[label] = {"precision": prec, "recall": rec, "support": int(y[k, j].sum())}
        if th is not None and label not in UMBRELLAS:
            thresholds[label] = th
    return GenresHead(labels, mean, scale, weight, bias, thresholds, c, inner)


def genres_model(pretrained, head: GenresHead):
    """The pretrained tagger whole (backbone and tag layer) with ``head`` as its ``genres``
    head: a ``Model`` that hears a track as a scan does."""
    from dataclasses import replace

    from genretag.models.net import GenreNet
    from genretag.training.recipes.recipe import as_model

    src = pretrained.net
    arch = replace(src.arch, head="genres", activation="sigmoid")
    net = GenreNet(arch, pretrained.params, len(head.labels), n_tags=len(pretrained.labels))
    net.backbone.load_state_dict(src.backbone.state_dict())
    net.head.load_state_dict(src.head.state_dict())
    assert net.genres is not None
    with torch.no_grad():
        for name, value in (("mean", head.mean), ("scale", head.scale)):
            getattr(net.genres, name).copy_(torch.from_numpy(value.astype(np.float32)))
        net.genres.linear.weight.copy_(torch.from_numpy(head.weight.astype(np.float32)))
        net.genres.linear.bias.copy_(torch.from_numpy(head.bias.astype(np.float32)))
    return as_model(net.eval(), pretrained, head.labels, tuple(pretrained.labels))
