"""Fitting an owner's labels, each checked on artists held out, and never worse than the
base model where the base model covers it.

For each label the owner uses on enough tracks by enough artists:

1. **What the base model calls it.** By name (``Hip Hop`` and ``Hip-Hop``, or through
   ``--map``), else the base genre with the best F1 on its tracks, if it is written on at
   least ``MAP_SHARE`` of them (``Bebop`` -> Jazz, ``Classic Rock`` -> Rock).
2. **Three ways to write it**, measured on the same artist-grouped held-out tracks:
   - ``learnt``: a logistic regression on the backbone statistics, against the owner's
     other tracks *and* the base model's background (the music it was trained on, less
     the clips that are or may be the base genre it maps to). Its familiarity gate keeps
     it off music unlike its own tracks: a track farther from every one of them than
     ``FAMILIAR`` of its held-out tracks were gets probability 0.
   - ``stacked``: a logistic regression on the base model's genre logits, against the
     same tracks (the background's logits are the base model's own, held out).
   - ``default``: the base genre it maps to, at the base model's threshold.
   Each learnt or stacked candidate is calibrated on the held-out folds (Platt) and gets
   the threshold with the best held-out F1 whose precision reaches ``min_precision``, and
   which writes it on at most ``BACKGROUND_FPR`` of the held-out background and
   ``GENRE_FPR`` of any one base genre's clips there.
3. **The best candidate by held-out F1 is kept.** The base genre needs a precision of
   ``DEFAULT_PRECISION`` only (the owner gets it anyway without learn), and a learnt or
   stacked head must beat it by ``DEFAULT_MARGIN``: a few points of F1 on a few artists
   are a track or two, and the base model heard far more artists.

Every base genre with a threshold of its own that no written owner label covers (written
on ``MASK_SHARE`` of its tracks, and mostly on them) is kept under its own name: where the
owner's tags say nothing, the base model's verdict stands, and the owner's labels compete
with it by probability. All of it is one layer:
``p = sigmoid(W_s ((x - mean) / scale) + W_b logit(p_base) + b)``, gated by familiarity
(``Learnt``; ``heads.StackedHead`` in the model file).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from genretag.learn.library import LearnError, Library, statistics_of
from genretag.models.pooling import clipped_logit as logit
from genretag.models.pooling import standardiser
from genretag.settings import Settings

DEFAULT = Settings()  # min_tracks, min_artists, min_precision; min_confidence
FOLDS = 5
AXES = 256  # the statistics' main directions the regressions run on (principal_axes)
C = 0.05  # the regularisation of every learnt regression (standardised inputs)
STACK_C = 0.1  # ...and of every stacked one (standardised base logits)
BACKGROUND_WEIGHT = 0.5  # the background's share of a label's negative weight
BACKGROUND_FPR = 0.02  # the most of the held-out background a label may be written on...
GENRE_FPR = 0.1  # ...and of the held-out clips of any one of the base model's genres
GENRE_CLIPS = 10  # (of those with at least this many held-out clips)
FAMILIAR_AXES = 32  # the main directions familiarity measures distances in
FAMILIAR = 0.95  # the share of a label's held-out tracks its familiarity admits
DEFAULT_MARGIN = 0.05  # the held-out F1 by which a learnt or stacked head must beat it
DEFAULT_PRECISION = 0.5  # the held-out precision the base genre a label maps to needs
MAP_SHARE = 0.5  # a base genre written on this share of a label's tracks is what it maps to
MASK_SHARE = 0.5  # background clips of a base genre written this often may be the label
SOURCES = ("default", "stacked", "learnt")  # the order of preference among equals


@dataclass
class BaseView:
    """What learn uses of its base model: its labels, written names and thresholds, its
    probabilities on the library's tracks, and its background (``models.background``)
    with the base model's probabilities on it. ``stacks``: the base has a ``genres`` head,
    so its probabilities may feed the learnt head (a ``track`` head base only fills in)."""

    labels: list[str]
    names: dict[str, str]
    thresholds: dict[str, float]
    tagged: np.ndarray  # (tagged, labels)
    untagged: np.ndarray  # (untagged, labels)
    stacks: bool = True
    min_confidence: float = DEFAULT.min_confidence
    fills_in: bool = True  # the base's genres may be written (``--fill-in``)
    background: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (clips, stats)
    background_targets: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    background_groups: np.ndarray = field(default_factory=lambda: np.zeros(0))
    background_probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def by_name(self, key: str) -> str | None:
        from genretag.learn.library import label_key

        for label in self.labels:
            if key in (label_key(label), label_key(self.names.get(label, label))):
                return label
        return None

    def threshold(self, label: str) -> float:
        """Where the base writes ``label``: its own threshold, else ``min_confidence``."""
        return self.thresholds.get(label, self.min_confidence)

    def written(self, probs: np.ndarray) -> np.ndarray:
        """(tracks, labels) -> where each label would be written (``threshold``)."""
        return probs >= np.array([self.threshold(lab) for lab in self.labels])


@dataclass
class LabelResult:
    """One label's line in the table learn shows."""

    key: str
    name: str
    tracks: int
    artists: int
    learnt: bool = False  # written by a head fitted on the owner's tags
    reason: str = ""
    precision: float | None = None  # held out by artist, of the kept candidate
    recall: float | None = None
    auc: float | None = None  # of the learnt regression's held-out scores
    threshold: float | None = None
    untagged: int = 0  # untagged tracks it would be written on
    few: bool = False  # left out for too few tracks or artists
    filled_by: str | None = None  # the base label written under this label's name
    filled_name: str | None = None  # that label's name in the base model
    source: str | None = None  # the candidate kept: learnt, stacked or default
    maps_to: str | None = None  # the base genre it is (its name in the base model)
    candidates: dict[str, dict] = field(default_factory=dict)  # source -> P, R, F1

    @property
    def written(self) -> bool:
        """Whether the model file writes it."""
        return self.source is not None or self.filled_by is not None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Familiar:
    """Each learnt label's own tracks as points in the main directions of the statistics
    (standardised): a track farther than ``radius`` from every point of a label gets
    probability 0 for it (``radius`` inf: no gate)."""

    basis: np.ndarray  # (axes, stats)
    spread: np.ndarray  # (axes,)
    points: np.ndarray  # (points, axes)
    owner: np.ndarray  # (points,) the output label each point belongs to
    radius: np.ndarray  # (labels,)

    def coords(self, xs: np.ndarray) -> np.ndarray:
        """Standardised statistics (tracks, stats) -> (tracks, axes)."""
        return (xs @ self.basis.T) / self.spread

    def gate(self, xs: np.ndarray) -> np.ndarray:
        """(tracks, stats) standardised -> (tracks, labels): whether each label may fire."""
        out = np.ones((len(xs), len(self.radius)), dtype=bool)
        if not len(self.points):
            return out
        c = self.coords(xs)
        d = np.sqrt(np.maximum(sqdist(c, self.points), 0.0))
        for j in np.unique(self.owner):
            out[:, j] = d[:, self.owner == j].min(1) <= self.radius[j]
        return out


def sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Points (n, k) and (m, k) -> their squared distances (n, m), one matrix product."""
    return (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None]


@dataclass
class Learnt:
    """Every written label as one layer (module docstring): ``keys`` are the owner's
    labels kept, then the base genres kept under their own names (``kept``)."""

    results: list[LabelResult]
    keys: list[str]
    mean: np.ndarray  # (stats,)
    scale: np.ndarray  # (stats,)
    weights: np.ndarray  # (labels, stats)
    bias: np.ndarray  # (labels,)
    thresholds: list[float] = field(default_factory=list)
    base_weights: np.ndarray | None = None  # (labels, base labels): on the base's logits
    familiar: Familiar | None = None
    kept: list[str] = field(default_factory=list)  # base labels kept under their own names
    heldout: dict = field(default_factory=dict)  # learnt and default: right, wrong, tracks
    names: list[str] = field(default_factory=list)  # each label's written name
    near_basis: np.ndarray | None = None  # (axes, stats): where distances are measured
    near_spread: np.ndarray | None = None  # (axes,)

    def near(self, x: np.ndarray) -> np.ndarray:
        """Statistics (tracks, stats) -> (tracks, axes): the coordinates in which
        familiarity and ``suggest`` measure how alike tracks are."""
        assert self.near_basis is not None and self.near_spread is not None
        return (((x - self.mean) / self.scale) @ self.near_basis.T) / self.near_spread

    def probabilities(self, x: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
        """Statistics (tracks, stats) and the base's probabilities (tracks, base labels)
        -> (tracks, labels)."""
        xs = (x - self.mean) / self.scale
        z = xs @ self.weights.T + self.bias
        if self.base_weights is not None and base is not None:
            z = z + logit(base) @ self.base_weights.T
        p = 1.0 / (1.0 + np.exp(-z))
        if self.familiar is not None:
            p = np.where(self.familiar.gate(xs), p, 0.0)
        return p


def threshold(
    y: np.ndarray,
    p: np.ndarray,
    min_precision: float,
    background: np.ndarray | None = None,
    genres: Sequence[np.ndarray] = (),
) -> tuple[float, float, float] | None:
    """Of the thresholds whose precision reaches ``min_precision`` (and which write the
    label on at most ``BACKGROUND_FPR`` of ``background``, the held-out background's
    probabilities), the one with the best F1 (most recall alone would write a label that
    most tracks have on every track), the lowest of equals, set halfway to the next lower
    held-out probability (a margin for new tracks): (threshold, precision, recall), or
    None. Every held-out probability is a candidate, counted in one pass over them sorted."""
    order = np.argsort(-p, kind="stable")
    ps, hits = p[order], np.cumsum(y[order])
    last = np.r_[ps[1:] != ps[:-1], True]  # the end of each run of equal probabilities
    t, hits, chosen = ps[last], hits[last], np.flatnonzero(last) + 1
    precision, recall = hits / chosen, hits / max(int(y.sum()), 1)
    f1 = np.where(
        precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0
    )
    ok = (precision >= min_precision) & (t > 0)
    for held, most in ((background, BACKGROUND_FPR), *((g, GENRE_FPR) for g in genres)):
        if held is not None and len(held):
            fires = np.sort(held)[::-1]
            ok &= np.searchsorted(-fires, -t, side="right") / len(held) <= most
    f1 = np.where(ok, f1, -1.0)
    if f1.max() < 0:
        return None
    i = len(f1) - 1 - int(np.argmax(f1[::-1]))  # the lowest threshold of the best F1
    below = float(t[i + 1]) if i + 1 < len(t) else 0.0
    return (float(t[i]) + below) / 2, float(precision[i]), float(recall[i])


def principal_axes(xs: np.ndarray, seed: int = 0) -> np.ndarray:
    """The main directions (k, d) of the standardised statistics (tracks, d), orthonormal:
    all of them when there are at most ``AXES`` tracks, else the ``AXES`` that hold most of
    the variance. A regularised regression's weights lie in the span of its rows, so on a
    library of a few hundred tracks this changes nothing but the time; on 10,000 tracks each
    regression runs on ``AXES`` columns instead of thousands."""
    if len(xs) <= AXES:
        _, sv, vt = np.linalg.svd(xs, full_matrices=False)
        return vt[sv > sv.max(initial=0.0) * 1e-9]
    from sklearn.utils.extmath import randomized_svd

    return randomized_svd(xs, AXES, random_state=seed)[2]


def _scores(y: np.ndarray, p: np.ndarray, t: float) -> dict:
    hit = p >= t
    tp = int((hit & y).sum())
    precision = tp / max(int(hit.sum()), 1)
    recall = tp / max(int(y.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "threshold": t}


def _platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """A calibration of held-out scores; mildly regularised, so that a label told apart
    perfectly by a few artists does not get probabilities of exactly 0 and 1."""
    from sklearn.linear_model import LogisticRegression

    platt = LogisticRegression(C=1.0, max_iter=1000).fit(z[:, None], y)
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass
class _Space:
    """The tracks and the background in the coordinates every regression runs on."""

    mean: np.ndarray
    scale: np.ndarray
    basis: np.ndarray  # (k, stats)
    tagged: np.ndarray  # (tagged, k)
    background: np.ndarray  # (clips, k)
    spread: np.ndarray  # (FAMILIAR_AXES,): familiarity's units

    def near(self, coords: np.ndarray) -> np.ndarray:
        return coords[:, : len(self.spread)] / self.spread


def _space(x: np.ndarray, xb: np.ndarray, seed: int) -> _Space:
    both = np.concatenate([x, xb]) if len(xb) else x
    mean, scale = standardiser(both, float(np.finfo(np.float16).eps))  # the cache's
    basis = principal_axes((both - mean) / scale, seed)
    c = [((a - mean) / scale) @ basis.T for a in (x, xb)]
    near = np.concatenate([c[0], c[1]])[:, :FAMILIAR_AXES]
    spread = np.maximum(near.std(0), 1e-9)
    return _Space(mean, scale, basis, c[0], c[1], spread)


def _weights(y: np.ndarray, background: int) -> np.ndarray:
    """Class-balanced sample weights for the owner's tracks (``y``) then ``background``
    negatives: positives half the weight, the negatives the other half, of which the
    background holds ``BACKGROUND_WEIGHT`` (all of it when the owner has no others)."""
    n = len(y) + background
    pos, neg = max(int(y.sum()), 1), max(int((~y).sum()), 0)
    share = BACKGROUND_WEIGHT if neg else 1.0
    w = np.where(y, 0.5 * n / pos, 0.5 * n * (1 - share) / max(neg, 1))
    return np.r_[w, np.full(background, 0.5 * n * share / max(background, 1))]


def fit(
    lib: Library,
    base: BaseView | None = None,
    min_tracks: int = DEFAULT.min_tracks,
    min_artists: int = DEFAULT.min_artists,
    min_precision: float = DEFAULT.min_precision,
    seed: int = 0,
) -> Learnt:
    """Every label checked by artist-grouped cross-validation, the best way to write each
    kept (module docstring)."""
    from threadpoolctl import threadpool_limits

    # one BLAS thread: these regressions are small, and two threads spun against each
    # other (as in probe.fit_linear)
    with threadpool_limits(1):
        return _Fitter(lib, base, min_tracks, min_artists, min_precision, seed).run()


class _Fitter:
    def __init__(self, lib, base, min_tracks, min_artists, min_precision, seed):
        if not lib.tagged:
            raise LearnError("no track with a genre tag to learn from")
        self.lib, self.base, self.seed = lib, base, seed
        self.min_tracks, self.min_artists, self.min_precision = (
            min_tracks,
            min_artists,
            min_precision,
        )
        x = statistics_of(lib.tagged).astype(np.float64)
        has_bg = base is not None and len(base.background) > 0
        xb = base.background.astype(np.float64) if has_bg else np.zeros((0, x.shape[1]))
        self.space = _space(x, xb, seed)
        self.groups = np.array([t.artist for t in lib.tagged])
        self.mapped: dict[str, str] = {}  # owner label -> the base label it maps to
        self.stacks = base is not None and base.stacks
        if has_bg:
            uniq = np.unique(base.background_groups)
            order = np.random.default_rng(seed).permutation(len(uniq))
            fold_of = dict(zip(uniq.tolist(), (order % FOLDS).tolist()))
            self.bg_fold = np.array([fold_of[g] for g in base.background_groups.tolist()])
        else:
            self.bg_fold = np.zeros(0, dtype=int)
        if self.stacks:
            lt = logit(base.tagged)
            lb = logit(base.background_probs) if has_bg else np.zeros((0, lt.shape[1]))
            both = np.concatenate([lt, lb]) if len(lb) else lt
            self.l_mean, self.l_std = both.mean(0), np.maximum(both.std(0), 1e-6)
            self.logits = [(a - self.l_mean) / self.l_std for a in (lt, lb)]

    # -- one label
    def shares(self, y: np.ndarray) -> np.ndarray:
        """The share of the label's tracks on which the base writes each of its genres."""
        return self.base.written(self.base.tagged[y]).mean(0)

    def maps_to(self, key: str, y: np.ndarray) -> str | None:
        base = self.base
        named = base.by_name(key)
        if named is not None:
            return named
        share = self.shares(y)
        sure = [j for j, lab in enumerate(base.labels) if lab in base.thresholds]
        if not sure:
            return None
        written = base.written(base.tagged)
        f1 = [
            2 * (written[y, j]).sum() / max(written[:, j].sum() + y.sum(), 1) if share[j] else 0
            for j in sure
        ]
        best = sure[int(np.argmax(f1))]
        return base.labels[best] if share[best] >= MAP_SHARE else None

    def negatives(self, maps_to: str | None, y: np.ndarray) -> np.ndarray:
        """The background clips that are surely not the label: all but those that are (or
        may be) the base genre it maps to; for a label that maps to none, all but those of
        the base genres written on ``MASK_SHARE`` of its tracks (a Zydeco is bluesy)."""
        base = self.base
        if base is None or not len(base.background):
            return np.zeros(0, dtype=bool)
        if maps_to is not None:
            related = np.array([lab == maps_to for lab in base.labels])
        else:
            related = self.shares(y) >= MASK_SHARE
        return ~(base.background_targets[:, related] != 0).any(1)

    def run(self) -> Learnt:
        lib, sp = self.lib, self.space
        d = sp.mean.shape[0]
        # per written label: key, statistics weights, base weights, bias, threshold, and
        # its own tracks with its familiarity radius (or None)
        rows: list[tuple] = []
        results, held = [], {}
        order = sorted(lib.spellings, key=lambda k: (-sum(lib.spellings[k].values()), k))
        for key in order:
            r, row, heldout = self.label(key)
            results.append(r)
            if row is not None:
                rows.append(row)
                held[key] = heldout
        kept = self.kept_base(results)
        for label in kept:
            j = self.base.labels.index(label)
            eye = np.eye(len(self.base.labels))[j]
            rows.append((label, np.zeros(d), eye, 0.0, self.base.thresholds[label], None))
        keys = [r[0] for r in rows]
        n = len(rows)
        base_w = None
        if self.stacks:
            base_w = np.array(
                [r[2] if r[2] is not None else np.zeros(len(self.base.labels)) for r in rows]
            ).reshape(n, len(self.base.labels))
        familiar = self.familiar(rows)
        learnt = Learnt(
            results,
            keys,
            sp.mean,
            sp.scale,
            np.array([r[1] for r in rows]).reshape(n, d),
            np.array([r[3] for r in rows], dtype=float),
            [r[4] for r in rows],
            base_w,
            familiar,
            kept,
        )
        if lib.untagged:
            xu = statistics_of(lib.untagged).astype(np.float64)
            pu = learnt.probabilities(xu, self.base.untagged if self.base else None)
            by_key = {r.key: r for r in results}
            for j, key in enumerate(keys[: n - len(kept)]):
                by_key[key].untagged = int((pu[:, j] >= learnt.thresholds[j]).sum())
        learnt.heldout = self.heldout(results, held, kept)
        learnt.names = [lib.name(k) for k in keys[: n - len(kept)]] + [
            self.base.names.get(k, k) for k in kept
        ]
        learnt.near_basis, learnt.near_spread = sp.basis[:FAMILIAR_AXES], sp.spread
        return learnt

    def label(self, key: str):
        """One label's result, its row of the layer (key, stats weights, base weights,
        bias, threshold, familiar points and radius) or None, and its held-out
        probabilities of the kept candidate (tagged,) with its threshold."""
        lib, base = self.lib, self.base
        y = np.array([key in t.labels for t in lib.tagged])
        groups = self.groups
        r = LabelResult(key, lib.name(key), int(y.sum()), len(set(groups[y])))
        maps_to = self.maps_to(key, y) if base is not None else None
        if maps_to is not None:
            r.maps_to = base.names.get(maps_to, maps_to)
        if maps_to is not None:
            self.mapped[key] = maps_to
        sure_default = maps_to is not None and self.stacks and base.fills_in
        if r.tracks < self.min_tracks or r.artists < self.min_artists:
            r.few = True
            r.reason = (
                f"{r.tracks} tracks, fewer than {self.min_tracks}"
                if r.tracks < self.min_tracks
                else f"{r.artists} artists, fewer than {self.min_artists}"
            )
            if sure_default and maps_to is not None and base.by_name(key) is not None:
                return self.default_row(r, maps_to, y)
            return r, None, None
        if len(set(groups[~y])) < 2 and not len(self.bg_fold):
            r.reason = "no other genre by two or more artists to tell it from"
            return r, None, None
        found = self.candidates(key, y, maps_to)
        if sure_default:
            t = base.threshold(maps_to)
            p = base.tagged[:, base.labels.index(maps_to)]
            found["default"] = (_scores(y, p, t), p, None)
        for source, (s, *_) in found.items():
            r.candidates[source] = {k: round(v, 3) for k, v in s.items() if k != "threshold"}
        # the base genre is what the owner gets anyway: it is held to a lower bar, more
        # often right than wrong on the owner's tracks, than a head learnt from them
        bar = {"default": DEFAULT_PRECISION}
        valid = [
            s
            for s in SOURCES
            if s in found
            and found[s][0]["precision"] >= bar.get(s, self.min_precision)
            and found[s][0]["f1"] > 0
        ]
        if not valid:
            r.reason = (
                f"cannot be told apart: held-out precision stays below "
                f"{self.min_precision:g}" + (f" (AUC {r.auc:.2f})" if r.auc is not None else "")
            )
            return r, None, None
        # a head fitted on the owner's few artists must beat the base genre clearly: a
        # point of F1 on them is one track, and the base heard far more artists
        margin = {s: 0.0 if s == "default" else DEFAULT_MARGIN for s in valid}
        if "default" not in valid:
            margin = dict.fromkeys(valid, 0.0)
        best = max(valid, key=lambda s: (found[s][0]["f1"] - margin[s], -SOURCES.index(s)))
        if best == "default":
            assert maps_to is not None  # a default candidate is the genre it maps to
            return self.default_row(r, maps_to, y)
        return self.fitted_row(r, best, found[best], y, maps_to)

    def default_row(self, r: LabelResult, maps_to: str, y: np.ndarray):
        base = self.base
        j = base.labels.index(maps_to)
        t = base.threshold(maps_to)
        s = _scores(y, base.tagged[:, j], t)
        r.source, r.threshold = "default", t
        r.precision, r.recall = (None, None) if r.few else (s["precision"], s["recall"])
        r.filled_by, r.filled_name = maps_to, base.names.get(maps_to, maps_to)
        row = (r.key, np.zeros(len(self.space.mean)), np.eye(len(base.labels))[j], 0.0, t, None)
        return r, row, (base.tagged[:, j], t)

    def candidates(self, key: str, y: np.ndarray, maps_to: str | None) -> dict:
        """Learnt and stacked, cross-validated: source -> (scores, held-out p (tagged,))."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedGroupKFold

        sp, groups = self.space, self.groups
        neg_b = self.negatives(maps_to, y)
        artists = len(set(groups[y]))
        others = len(set(groups[~y]))
        folds = max(2, min(FOLDS, artists, others if others >= 2 else FOLDS))
        bg_fold = self.bg_fold % folds
        kinds = {"learnt": (sp.tagged, sp.background)}
        if self.stacks:
            kinds["stacked"] = (self.logits[0], self.logits[1])
        z = {k: np.zeros(len(y)) for k in kinds}
        zb = {k: np.full(len(neg_b), np.nan) for k in kinds}
        near_t, near_b = sp.near(sp.tagged), sp.near(sp.background)
        dist, dist_b = np.full(len(y), np.inf), np.full(len(neg_b), np.inf)
        strata = y if others >= 2 else np.zeros(len(y), dtype=int)
        if others >= 2:
            splits = StratifiedGroupKFold(folds, shuffle=True, random_state=self.seed).split(
                sp.tagged, strata, groups
            )
        else:  # only the background to tell it from: folds over its own artists
            from sklearn.model_selection import GroupKFold

            splits = GroupKFold(folds).split(sp.tagged, y, groups)
        for f, (train, test) in enumerate(splits):
            bg_train, bg_test = neg_b & (bg_fold != f), neg_b & (bg_fold == f)
            yt = np.r_[y[train], np.zeros(int(bg_train.sum()), dtype=bool)]
            if len(set(yt)) < 2:
                continue
            w = _weights(y[train], int(bg_train.sum()))
            for kind, (a, b) in kinds.items():
                c = C if kind == "learnt" else STACK_C
                clf = LogisticRegression(C=c, max_iter=2000)
                clf.fit(np.concatenate([a[train], b[bg_train]]), yt, sample_weight=w)
                z[kind][test] = clf.decision_function(a[test])
                if bg_test.any():
                    zb[kind][bg_test] = clf.decision_function(b[bg_test])
            own = near_t[train][y[train]]
            dist[test] = np.sqrt(np.maximum(sqdist(near_t[test], own), 0).min(1))
            if bg_test.any():
                dist_b[bg_test] = np.sqrt(np.maximum(sqdist(near_b[bg_test], own), 0).min(1))
        self._auc = float(roc_auc_score(y, z["learnt"])) if 0 < y.sum() < len(y) else None
        radius = float(np.quantile(dist[y], FAMILIAR)) if np.isfinite(dist[y]).any() else np.inf
        out = {}
        for kind in kinds:
            a, b = _platt(z[kind], y)
            if a <= 0:
                continue
            p = _sigmoid(a * z[kind] + b)
            held_b = zb[kind][~np.isnan(zb[kind])]
            pb = _sigmoid(a * held_b + b)
            if kind == "learnt":
                p = np.where(dist <= radius, p, 0.0)
                pb = np.where(dist_b[~np.isnan(zb[kind])] <= radius, pb, 0.0)
            genres = []
            if len(pb):  # the held-out clips of each base genre, apart
                rows = np.flatnonzero(~np.isnan(zb[kind]))
                of_genre = self.base.background_targets[rows] == 1
                genres = [pb[c] for c in of_genre.T if c.sum() >= GENRE_CLIPS]
            found = threshold(y, p, self.min_precision, pb, genres)
            if found is None:
                continue
            t = found[0]
            out[kind] = (_scores(y, p, t), p, (a, b, radius, neg_b))
        return out

    def fitted_row(self, r: LabelResult, kind: str, found, y: np.ndarray, maps_to):
        from sklearn.linear_model import LogisticRegression

        scores, p_held, (a, b, radius, neg_b) = found
        sp = self.space
        r.auc = round(self._auc, 3) if self._auc is not None else None
        r.source, r.learnt = kind, True
        r.threshold, r.precision, r.recall = (
            scores["threshold"],
            scores["precision"],
            scores["recall"],
        )
        w = _weights(y, int(neg_b.sum()))
        yt = np.r_[y, np.zeros(int(neg_b.sum()), dtype=bool)]
        n_base = len(self.base.labels) if self.stacks else 0
        if kind == "learnt":
            clf = LogisticRegression(C=C, max_iter=2000)
            clf.fit(np.concatenate([sp.tagged, sp.background[neg_b]]), yt, sample_weight=w)
            ws = a * (clf.coef_[0] @ sp.basis)
            bias = a * float(clf.intercept_[0]) + b
            points = sp.near(sp.tagged)[y]
            base_w = np.zeros(n_base) if self.stacks else None
            learnt_row = (r.key, ws, base_w, bias, r.threshold, (points, radius))
            return r, learnt_row, (p_held, r.threshold)
        lt, lb = self.logits[0], self.logits[1]
        clf = LogisticRegression(C=STACK_C, max_iter=2000)
        clf.fit(np.concatenate([lt, lb[neg_b]]), yt, sample_weight=w)
        coef = clf.coef_[0] / self.l_std
        wb = a * coef
        bias = a * (float(clf.intercept_[0]) - float(coef @ self.l_mean)) + b
        stacked_row = (r.key, np.zeros(len(sp.mean)), wb, bias, r.threshold, None)
        return r, stacked_row, (p_held, r.threshold)

    def familiar(self, rows) -> Familiar | None:
        gated = [(j, r[5]) for j, r in enumerate(rows) if r[5] is not None]
        if not gated:
            return None
        sp = self.space
        radius = np.full(len(rows), np.inf)
        points, owner = [], []
        for j, (pts, rad) in gated:
            radius[j] = rad
            points.append(pts)
            owner.append(np.full(len(pts), j))
        return Familiar(
            sp.basis[:FAMILIAR_AXES],
            sp.spread,
            np.concatenate(points),
            np.concatenate(owner),
            radius,
        )

    def kept_base(self, results: list[LabelResult]) -> list[str]:
        """The base genres with thresholds that no written owner label covers."""
        if not self.stacks or not self.base.fills_in:
            return []
        base = self.base
        covered = set()
        written = base.written(base.tagged)  # (tagged, base labels)
        for r in results:
            if not r.written:
                continue
            y = np.array([r.key in t.labels for t in self.lib.tagged])
            share = self.shares(y)
            # of the owner's tracks the base writes a genre on, how many are this label's
            purity = (written & y[:, None]).sum(0) / np.maximum(written.sum(0), 1)
            covered |= {
                lab for lab, s, q in zip(base.labels, share, purity) if s >= MASK_SHARE and q >= 0.5
            }
            named = base.by_name(r.key)
            covered |= {named} if named else set()
            covered |= {r.filled_by} if r.filled_by else set()
        keys = {r.key for r in results}
        return [
            lab
            for lab in base.labels
            if lab in base.thresholds and lab not in covered and lab not in keys
        ]

    def heldout(self, results, held: dict, kept: list[str]) -> dict:
        """On the owner's tagged tracks, held out by artist: the share whose first written
        genre is one of theirs (right) or another (wrong), by the learnt model and by the
        base model alone (its genres in the owner's words where a label maps to one)."""
        lib, base = self.lib, self.base
        n = len(lib.tagged)
        own = [t.labels for t in lib.tagged]
        out: dict = {"tracks": n}
        keys = list(held)
        if base is not None:
            cols = [held[k][0] for k in keys] + [base.tagged[:, base.labels.index(b)] for b in kept]
            ts = [held[k][1] for k in keys] + [base.thresholds[b] for b in kept]
            names = keys + [f"base:{b}" for b in kept]
        else:
            cols, ts, names = [held[k][0] for k in keys], [held[k][1] for k in keys], keys
        out["learnt"] = _first_scores(np.array(cols).T.reshape(n, len(cols)), ts, names, own)
        if base is not None and base.thresholds:
            words: dict[str, str] = {}
            for key, lab in self.mapped.items():
                words.setdefault(lab, key)
            sure = [lab for lab in base.labels if lab in base.thresholds]
            p = base.tagged[:, [base.labels.index(lab) for lab in sure]]
            names = [words.get(lab, f"base:{lab}") for lab in sure]
            out["default"] = _first_scores(p, [base.thresholds[s] for s in sure], names, own)
        return out


def _first_scores(p: np.ndarray, ts: list[float], names: list[str], own: list[set]) -> dict:
    right = wrong = 0
    t = np.array(ts, dtype=float)
    for i, labels in enumerate(own):
        if not len(names):
            continue
        sure = p[i] >= t
        if not sure.any():
            continue
        first = names[int(np.argmax(np.where(sure, p[i], -1.0)))]
        right += first in labels
        wrong += first not in labels
    n = max(len(own), 1)
    return {"right": right / n, "wrong": wrong / n}
