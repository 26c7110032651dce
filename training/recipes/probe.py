"""Fitting the track head: linear probes on pooled window outputs of the frozen tagger.

Each clip is pooled exactly as the tagger pools a track (``tagger.pooling.WindowPool`` over
``Model.outputs_of_embeddings``): the backbone's embeddings (mean and max over windows) and
the pretrained tagger's tag logits (mean). Two class-balanced, strongly regularised logistic
regressions classify them; their weighted geometric mean is temperature-scaled
(``tagger.model.TrackHead``).

Every choice is made inside the training clips (nested): the regularisation of each probe and
the weight between them by artist-grouped inner cross-validation (lowest log loss), the
temperature by the lowest log loss of those inner out-of-fold predictions. A test fold never
chooses anything.

The genres the tagger names and the dataset lacks (``TAG_GENRES``) get independent
probabilities. They have no labelled audio here, so their calibration is borrowed: one
logistic map from a genre's tag logit to "the track is of that genre" is fitted on the
dataset's own genres that the tagger also names (``GENRE_TAGS``), and applied to all.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from genretag.models.heads import (
    LinearHead,
    TagGenres,
    TrackHead,
    centre_distance,
    geometric_mix,
)
from genretag.models.pooling import WindowPool, standardiser

# dataset genre -> the pretrained MSD tags that name that same genre (reggae has none)
GENRE_TAGS = {
    "blues": ["blues"],
    "country": ["country"],
    "hiphop": ["Hip-Hop"],
    "jazz": ["jazz"],
    "metal": ["metal", "heavy metal"],
    "pop": ["pop"],
    "rock": ["rock", "classic rock"],
}
# genres GTZAN lacks -> the MSD tags that name them
TAG_GENRES = {
    "electronic": ["electronic", "electronica", "electro"],
    "dance": ["dance", "House"],
    "house": ["House"],
    "ambient": ["ambient", "chillout"],
    "folk": ["folk"],
    "punk": ["punk"],
    "soul": ["soul", "rnb"],
    "funk": ["funk"],
    "indie": ["indie", "alternative", "alternative rock", "indie rock", "indie pop"],
    "indie-rock": ["indie rock"],
    "hard-rock": ["hard rock"],
    "heavy-metal": ["heavy metal"],
}
TAG_GENRE_NAMES = {
    "electronic": "Electronic",
    "dance": "Dance",
    "house": "House",
    "ambient": "Ambient",
    "folk": "Folk",
    "punk": "Punk",
    "soul": "Soul",
    "funk": "Funk",
    "indie": "Indie",
    "indie-rock": "Indie Rock",
    "hard-rock": "Hard Rock",
    "heavy-metal": "Heavy Metal",
}
# label -> its parent labels, written too with --parents
PARENTS = {
    "dance": ["electronic"],
    "house": ["dance"],
    "ambient": ["electronic"],
    "punk": ["rock"],
    "indie-rock": ["rock", "indie"],
    "hard-rock": ["rock"],
    "heavy-metal": ["metal"],
}


@dataclass
class ProbeConfig:
    embedding_c: tuple[float, ...] = (0.001, 0.003, 0.01)
    tag_c: tuple[float, ...] = (0.003, 0.01, 0.03)
    weights: tuple[float, ...] = (0.3, 0.5, 0.7)  # the embedding probe's share
    inner_folds: int = 4
    select_by: str = "log_loss"  # or "macro_recall": what the inner folds choose by
    seed: int = 0


@dataclass
class Pooled:
    """Clips pooled as the tagger pools tracks: embedding stats (clips, 2 * emb) and mean
    tag logits (clips, n_tags)."""

    embedding: np.ndarray
    tags: np.ndarray

    @classmethod
    def of(cls, outputs: list[np.ndarray], emb: int) -> Pooled:
        """From each clip's window outputs (windows, emb + n_tags)."""
        pools = [WindowPool.of(o) for o in outputs]
        return cls(
            np.stack([np.concatenate([p.mean[:emb], p.max[:emb]]) for p in pools]),
            np.stack([p.mean[emb:] for p in pools]),
        )

    def take(self, idx: np.ndarray) -> Pooled:
        return Pooled(self.embedding[idx], self.tags[idx])


@dataclass
class Chosen:
    """What the nested selection chose, and how it scored inside the training clips."""

    embedding_c: float
    tag_c: float
    weight: float
    temperature: float
    inner_macro_recall: float | None = None
    grid: list[dict] = field(default_factory=list)
    calibrated: bool = True  # False: too few held-out errors to fit a temperature (1.0 kept)
    held_out: int = 0  # clips whose held-out predictions the temperature was fitted on


def fit_linear(X: np.ndarray, y: np.ndarray, n_labels: int, c: float) -> LinearHead:
    """A class-balanced logistic regression over standardised columns (rows, columns), as a
    :class:`LinearHead` the tagger runs without scikit-learn. A label without rows gets a
    bias so low that it is never predicted."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    mean, scale = standardiser(X)
    # one BLAS thread: on these small problems more threads spin against each other and
    # against torch's (a fit took 14 times longer with two)
    with threadpool_limits(1):
        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
        clf.fit((X - mean) / scale, y)
    head = LinearHead(X.shape[1], n_labels)
    with torch.no_grad():
        head.mean.copy_(torch.from_numpy(mean))
        head.scale.copy_(torch.from_numpy(scale))
        head.linear.weight.zero_()
        head.linear.bias.fill_(-30.0)
        coef, intercept = clf.coef_, clf.intercept_
        if len(clf.classes_) == 2:  # scikit-learn keeps one row for two classes
            coef = np.vstack([-coef, coef]) / 2
            intercept = np.array([-intercept[0], intercept[0]]) / 2
        head.linear.weight[clf.classes_] = torch.from_numpy(coef).float()
        head.linear.bias[clf.classes_] = torch.from_numpy(intercept).float()
    return head.eval()


@torch.inference_mode()
def log_proba(head: LinearHead, X: np.ndarray) -> np.ndarray:
    return torch.log_softmax(head(torch.from_numpy(X).float()), -1).numpy()


def _fuse(emb_lp: np.ndarray, tag_lp: np.ndarray, w: float, t: float = 1.0) -> np.ndarray:
    """Log-probabilities (clips, n) fused as the shipped ``TrackHead`` fuses them."""
    return geometric_mix(torch.from_numpy(emb_lp), torch.from_numpy(tag_lp), w, t).numpy()


def macro_recall(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean([(pred[y == c] == c).mean() for c in np.unique(y)]))


def log_loss(lp: np.ndarray, y: np.ndarray) -> float:
    return float(-lp[np.arange(len(y)), y].mean())


MIN_CALIBRATION_CLIPS = 50  # held-out predictions a temperature is fitted on, at least...
MIN_CALIBRATION_ERRORS = 3  # ...with this many wrong: with none, the log loss only falls
# as the temperature does, and the fit would make the model sure of everything


def can_calibrate(lp: np.ndarray, y: np.ndarray) -> bool:
    """Whether held-out log-probabilities (clips, n) can fit a temperature."""
    wrong = int((lp.argmax(1) != y).sum())
    return len(y) >= MIN_CALIBRATION_CLIPS and wrong >= MIN_CALIBRATION_ERRORS


def fit_temperature(lp: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the log loss of log-probabilities (clips, n)."""
    grid = np.exp(np.linspace(np.log(0.05), np.log(5.0), 121))
    losses = [log_loss(_fuse(lp, lp, 1.0, t), y) for t in grid]
    return float(grid[int(np.argmin(losses))])


def inner_splits(y: np.ndarray, groups: list[str], k: int, seed: int):
    """Artist-grouped, genre-stratified inner folds; none when the clips are too few."""
    from sklearn.model_selection import StratifiedGroupKFold

    per_label = [len({g for g, yi in zip(groups, y) if yi == c}) for c in np.unique(y)]
    k = min(k, len(set(groups)), max(per_label))
    if k < 2:
        return []
    with warnings.catch_warnings():  # a genre with fewer artists than folds is expected here
        warnings.simplefilter("ignore", UserWarning)
        splits = list(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(y, y, groups))
    # a training side of one genre cannot be fitted: a genre by few artists can leave one
    return [(tr, te) for tr, te in splits if len(te) and len(np.unique(y[tr])) > 1]


def choose(x: Pooled, y: np.ndarray, groups: list[str], n_labels: int, cfg: ProbeConfig) -> Chosen:
    """Nested selection of the probes' regularisation, their weights and the temperature."""
    splits = inner_splits(y, groups, cfg.inner_folds, cfg.seed)
    if not splits:  # too few clips to choose: the middle of each grid, no temperature
        mid = lambda g: g[len(g) // 2]  # noqa: E731
        return Chosen(mid(cfg.embedding_c), mid(cfg.tag_c), mid(cfg.weights), 1.0, calibrated=False)
    held = np.concatenate([te for _, te in splits])
    oof = {}  # (which, C) -> out-of-fold log-probabilities of the held clips
    for which, cs, X in (("embedding", cfg.embedding_c, x.embedding), ("tags", cfg.tag_c, x.tags)):
        for c in cs:
            parts = [log_proba(fit_linear(X[tr], y[tr], n_labels, c), X[te]) for tr, te in splits]
            oof[which, c] = np.concatenate(parts)
    yh = y[held]
    grid, best = [], None
    for ce in cfg.embedding_c:
        for ct in cfg.tag_c:
            for w in cfg.weights:
                lp = _fuse(oof["embedding", ce], oof["tags", ct], w)
                row = {
                    "embedding_c": ce,
                    "tag_c": ct,
                    "weight": w,
                    "macro_recall": macro_recall(lp.argmax(1), yh),
                    "log_loss": log_loss(lp, yh),
                }
                grid.append(row)
                key = (
                    (round(row["macro_recall"], 6), -row["log_loss"])
                    if cfg.select_by == "macro_recall"
                    else (-row["log_loss"],)
                )
                if best is None or key > best[0]:
                    best = (key, row, lp)
    _, row, lp = best
    # a genre none of whose artists was on an inner training side is confidently wrong there
    # whatever the temperature: it would only flatten every other genre's probabilities
    # The temperature is fitted on held-out predictions only, and only where they are
    # enough to fit one; else it stays 1.0 and the model says it is not calibrated.
    seen = np.concatenate([np.isin(y[te], y[tr]) for tr, te in splits])
    ok = can_calibrate(lp[seen], yh[seen])
    return Chosen(
        row["embedding_c"],
        row["tag_c"],
        row["weight"],
        fit_temperature(lp[seen], yh[seen]) if ok else 1.0,
        row["macro_recall"],
        grid,
        calibrated=ok,
        held_out=int(seen.sum()),
    )


# The share of a library's music taken to lie outside the dataset's genres, in fitting the
# familiarity. More finds more of that music unsure, at the cost of more right genres left
# unwritten and of probabilities below the head's own on music of the dataset's genres; the
# model card gives the measured choices (evaluate --hold-out-genres).
OUTSIDE_PRIOR = 0.2


def centre_distances(z: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(rows, dim) standardised points, (n, dim) centres -> (rows,) the distance from the
    nearest centre, by the model's own ``centre_distance``."""
    return centre_distance(torch.from_numpy(z), torch.from_numpy(centres)).numpy()


def genre_centres(z: np.ndarray, y: np.ndarray, n_labels: int) -> np.ndarray:
    """Each label's mean standardised point (n_labels, dim); far away for a label without
    rows, so that it is never the nearest."""
    return np.stack(
        [z[y == c].mean(0) if (y == c).any() else np.full(z.shape[1], 1e4) for c in range(n_labels)]
    )


def familiarity_pairs(
    X: np.ndarray, y: np.ndarray, groups: list[str], k: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Distances from the nearest genre centre of clips a head never heard: each genre held
    out in turn, the others split into artist-grouped folds; the held-out genre's clips are
    outside, the folds' test clips inside. Returns (distances, inside)."""
    dist, inside = [], []
    for g in np.unique(y):
        ins, out = np.flatnonzero(y != g), np.flatnonzero(y == g)
        for tr, te in inner_splits(y[ins], [groups[i] for i in ins], k, seed):
            train = ins[tr]
            mean, scale = standardiser(X[train])
            centres = genre_centres((X[train] - mean) / scale, y[train], int(y.max()) + 1)
            for rows, is_in in ((ins[te], True), (out, False)):
                dist.append(centre_distances((X[rows] - mean) / scale, centres))
                inside.append(np.full(len(rows), is_in))
    if not dist:
        return np.zeros(0), np.zeros(0, dtype=bool)
    return np.concatenate(dist), np.concatenate(inside)


def fit_familiarity(
    head: TrackHead,
    X: np.ndarray,
    y: np.ndarray,
    groups: list[str],
    seed: int = 0,
    prior: float = OUTSIDE_PRIOR,
) -> None:
    """Give ``head`` its :class:`~genretag.models.net.Familiarity`: the genre centres of
    the clips ``X`` (embedding statistics) on the head's standardisation, and the logistic
    map from log distance to "inside", fitted on ``familiarity_pairs`` with the outside
    clips weighted to ``prior``. With fewer than three genres nothing can be held out
    meaningfully, and every track stays familiar."""
    from sklearn.linear_model import LogisticRegression

    fam = head.familiarity
    mean, scale = head.embedding.mean.double().numpy(), head.embedding.scale.double().numpy()
    with torch.no_grad():
        fam.centres.copy_(
            torch.from_numpy(genre_centres((X - mean) / scale, y, fam.centres.shape[0])).float()
        )
    if len(np.unique(y)) < 3:
        return
    dist, inside = familiarity_pairs(X, y, groups, seed=seed)
    if inside.all() or not inside.any():
        return
    weights = np.where(inside, (1 - prior) / inside.sum(), prior / (~inside).sum())
    fit = LogisticRegression(C=1e4).fit(
        np.log(dist)[:, None], inside, sample_weight=weights * len(dist)
    )
    with torch.no_grad():
        fam.slope.fill_(float(fit.coef_[0, 0]))
        fam.bias.fill_(float(fit.intercept_[0]))


@torch.inference_mode()
def head_probabilities(head: TrackHead, x: Pooled) -> np.ndarray:
    """The exclusive genres of clips pooled as ``x`` (clips, n_labels), by the head's own
    forward: its two probes fused, before the familiarity."""
    emb = torch.from_numpy(x.embedding).float()
    half = emb.shape[1] // 2
    return torch.exp(head(emb[:, :half], emb[:, half:], torch.from_numpy(x.tags).float())).numpy()


def fit_track_head(
    x: Pooled, y: np.ndarray, groups: list[str], n_labels: int, cfg: ProbeConfig
) -> tuple[TrackHead, Chosen]:
    """Choose (nested) and fit the track head on clips pooled as ``x``, labelled ``y``."""
    chosen = choose(x, y, groups, n_labels, cfg)
    head = TrackHead(x.embedding.shape[1] // 2, x.tags.shape[1], n_labels)
    with torch.no_grad():
        head.embedding.load_state_dict(
            fit_linear(x.embedding, y, n_labels, chosen.embedding_c).state_dict()
        )
        head.tags.load_state_dict(fit_linear(x.tags, y, n_labels, chosen.tag_c).state_dict())
        head.embedding_weight.fill_(chosen.weight)
        head.temperature.fill_(chosen.temperature)
    fit_familiarity(head, x.embedding, y, groups, cfg.seed)
    return head.eval(), chosen


def tag_scores(tag_means: np.ndarray, tags: list[str], members: list[str]) -> np.ndarray:
    """The highest mean logit (clips,) among ``members`` of the tagger's ``tags``."""
    idx = [tags.index(t) for t in members if t in tags]
    return tag_means[:, idx].max(1)


def calibration_pairs(
    tag_means: np.ndarray, y: np.ndarray, labels: list[str], tags: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each clip and each dataset genre the tagger names: its tag score, whether the
    clip is of that genre, and which genre it was (all (pairs,))."""
    scores, hits, which = [], [], []
    for c, label in enumerate(labels):
        if not [t for t in GENRE_TAGS.get(label, []) if t in tags]:
            continue
        scores.append(tag_scores(tag_means, tags, GENRE_TAGS[label]))
        hits.append(y == c)
        which.append(np.full(len(y), c))
    if not scores:
        return np.zeros(0), np.zeros(0, bool), np.zeros(0, int)
    return np.concatenate(scores), np.concatenate(hits), np.concatenate(which)


def fit_calibration(scores: np.ndarray, hits: np.ndarray) -> tuple[float, float]:
    """(a, b) of P(genre) = sigmoid(a * score + b), by logistic regression; (1, 0), the
    tagger's own scale, when the pairs hold no positive or no negative."""
    from sklearn.linear_model import LogisticRegression

    if len(set(hits.tolist())) < 2:
        return 1.0, 0.0
    clf = LogisticRegression(C=100.0).fit(scores[:, None], hits)
    return float(clf.coef_[0, 0]), float(clf.intercept_[0])


def fit_tag_genres(
    tag_means: np.ndarray, y: np.ndarray, labels: list[str], tags: list[str]
) -> tuple[TagGenres, dict[str, list[str]]] | None:
    """The independent genres the tagger can name, calibrated on the dataset's own genres
    (see the module docstring); None when the tagger names none of them."""
    genres = {
        g: [t for t in members if t in tags] for g, members in TAG_GENRES.items() if g not in labels
    }
    genres = {g: m for g, m in genres.items() if m}
    if not genres:
        return None
    a, b = fit_calibration(*calibration_pairs(tag_means, y, labels, tags)[:2])
    module = TagGenres(len(genres), len(tags))
    with torch.no_grad():
        for i, members in enumerate(genres.values()):
            for t in members:
                module.members[i, tags.index(t)] = 1.0
        module.scale.fill_(a)
        module.bias.fill_(b)
    return module.eval(), genres
