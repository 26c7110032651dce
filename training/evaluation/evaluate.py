"""Cross-validation the way users meet the model: on artists it has never heard.

Folds are grouped by artist and stratified by genre (scikit-learn's ``StratifiedGroupKFold``),
and the whole cross-validation is repeated over several seeds to give a spread. Every
candidate sees exactly the same folds. What is measured is what ships: each fold trains
with ``recipe.fit_model`` and hears its test clips through ``recipe.predict``, the tagger's
own path. Every choice of hyper-parameter is made inside the training side of a fold.

Reported per candidate: accuracy and macro recall (mean and spread over seeds), per-genre
precision, recall and F1, the confusion matrix, and calibration (expected calibration error
and a reliability plot), since ``--min-confidence`` is a probability threshold.
"""

from __future__ import annotations

import itertools
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from genretag.training.recipes.probe import (
    _fuse,
    calibration_pairs,
    fit_calibration,
    fit_linear,
    head_probabilities,
    log_proba,
)
from genretag.training.recipes.recipe import Labelled, Recipe, fit_model, predict

BASELINE_C = 0.01  # the linear probe the model must beat: mean+max embeddings, C = 0.01
ECE_BINS = 10
TAG_GENRE_THRESHOLD = 0.3  # --min-confidence's default: how often a tag genre would be written


class EvaluationError(Exception):
    """Data that cannot be evaluated as asked; the message is one line for the user."""


@dataclass
class CVResult:
    labels: list[str]
    y: np.ndarray
    folds: list[np.ndarray] = field(default_factory=list)  # per seed: fold index of each clip
    probabilities: dict[str, list[np.ndarray]] = field(default_factory=dict)  # per seed (clips, C)
    tag_genres: list[str] = field(default_factory=list)
    tag_genre_probabilities: list[np.ndarray] = field(default_factory=list)  # per seed
    curves: list[list[float]] = field(default_factory=list)  # training loss per epoch, per fold
    chosen: list[dict] = field(default_factory=list)  # the nested choices, per fold
    # closed-form heads: held-out accuracy per share of the training artists, per fold
    learning: dict[float, list[float]] = field(default_factory=dict)
    fit_seconds: list[float] = field(default_factory=list)  # training the recipe, per fold


LEARNING_SHARES = (0.25, 0.5, 0.75, 1.0)


def artist_subset(
    y: np.ndarray, groups: list[str], idx: np.ndarray, share: float, seed: int
) -> np.ndarray:
    """The clips of ``idx`` by a random ``share`` of each genre's artists (at least one)."""
    rng = np.random.default_rng(seed)
    keep: set[str] = set()
    for c in np.unique(y[idx]):
        artists = sorted({groups[i] for i in idx if y[i] == c})
        n = max(1, round(share * len(artists)))
        keep.update(rng.choice(artists, n, replace=False).tolist())
    return np.array([i for i in idx if groups[i] in keep])


def learning_point(
    x, y: np.ndarray, train: np.ndarray, test: np.ndarray, chosen, n_labels: int
) -> float:
    """Held-out accuracy of the track head refitted on ``train`` with the fold's nested
    choices (regularisation, weight, temperature), as the full fold's head was made."""
    emb = log_proba(
        fit_linear(x.embedding[train], y[train], n_labels, chosen.embedding_c), x.embedding[test]
    )
    tag = log_proba(fit_linear(x.tags[train], y[train], n_labels, chosen.tag_c), x.tags[test])
    return float((_fuse(emb, tag, chosen.weight, chosen.temperature).argmax(1) == y[test]).mean())


def make_folds(y: np.ndarray, groups: list[str], k: int, seed: int) -> np.ndarray:
    """Fold index (clips,): whole artists on one side, each genre spread over the folds."""
    from sklearn.model_selection import StratifiedGroupKFold

    folds = np.full(len(y), -1)
    with warnings.catch_warnings():  # a genre with fewer artists than folds is reported as is
        warnings.simplefilter("ignore", UserWarning)
        split = list(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(y, y, groups))
    for f, (_, test) in enumerate(split):
        folds[test] = f
    return folds


@torch.inference_mode()
def _softmax(head, X: np.ndarray) -> np.ndarray:
    return torch.softmax(head(torch.from_numpy(X).float()), -1).numpy()


def cross_validate(
    d: Labelled,
    k: int,
    recipe: Recipe,
    seeds: list[int],
    on_fold=None,
    on_epoch=None,
    others: dict[str, Labelled] | None = None,
) -> CVResult:
    """Out-of-fold probabilities of what ``train`` builds (and of its parts), beside the
    linear probe baseline, for every seed's artist-grouped folds. ``others`` are the same
    clips embedded by other backbones (name -> data): the recipe and the probe run on each
    of them too, on the same folds."""
    from dataclasses import replace

    res = CVResult(d.labels, d.y)
    n, c = len(d.y), len(d.labels)
    shipped = recipe.cnn_name + (" + feature head" if d.table is not None else "")
    for seed in seeds:
        r = replace(
            recipe, probe=replace(recipe.probe, seed=seed), head=replace(recipe.head, seed=seed)
        )
        try:
            folds = make_folds(d.y, d.groups, k, seed)
        except ValueError as e:  # scikit-learn's word on a split it cannot make
            raise EvaluationError(f"cannot make {k} artist-grouped folds ({e})") from None
        res.folds.append(folds)
        p: dict[str, np.ndarray] = {}
        extra = None

        def put(
            name: str, test: np.ndarray, value: np.ndarray, p: dict[str, np.ndarray] = p
        ) -> None:  # this repeat's
            p.setdefault(name, np.zeros((n, c)))[test] = value

        for f in range(k):
            test, train = np.where(folds == f)[0], np.where(folds != f)[0]
            if len(test) == 0:
                continue
            if len(np.unique(d.y[train])) < 2:
                raise EvaluationError(
                    f"with {k} folds, fold {f + 1}'s training side holds one genre only "
                    f"({d.labels[int(d.y[train][0])]}): use fewer folds, or add music by "
                    "other artists"
                )
            t0 = time.perf_counter()
            built = fit_model(
                d,
                train,
                r,
                on_epoch,
                exclude_names={d.names[i] for i in test},
                exclude_groups={d.groups[i] for i in test},
            )
            res.fit_seconds.append(time.perf_counter() - t0)
            res.curves.append(built.losses)
            probs = predict(built, d, test)
            put(shipped, test, probs[:, :c])
            genres = built.model.independent
            if genres:
                res.tag_genres = genres
                extra = np.zeros((n, len(genres))) if extra is None else extra
                extra[test] = probs[:, c:]
            x = d.pooled()
            if built.chosen is not None:
                res.chosen.append(
                    {
                        "seed": seed,
                        "fold": f,
                        **{
                            key: getattr(built.chosen, key)
                            for key in (
                                "embedding_c",
                                "tag_c",
                                "weight",
                                "temperature",
                                "inner_macro_recall",
                            )
                        },
                    }
                )
                for share in LEARNING_SHARES:
                    part = (
                        artist_subset(d.y, d.groups, train, share, seed * 1000 + f)
                        if share < 1
                        else train
                    )
                    res.learning.setdefault(share, []).append(
                        learning_point(x, d.y, part, test, built.chosen, c)
                    )
                track = built.net.track
                put(
                    "track head before familiarity (part)",
                    test,
                    head_probabilities(track, x.take(test)),
                )
                put("embedding probe (part)", test, _softmax(track.embedding, x.embedding[test]))
                put("tag probe (part)", test, _softmax(track.tags, x.tags[test]))
            put(
                "linear probe",
                test,
                _softmax(
                    fit_linear(x.embedding[train], d.y[train], c, BASELINE_C), x.embedding[test]
                ),
            )
            if d.table is not None and d.clip_features is not None:
                put("feature head", test, _softmax(built.net.features, d.clip_features[test]))
            for name, other in (others or {}).items():
                put(
                    f"{recipe.cnn_name} on {name}",
                    test,
                    predict(fit_model(other, train, r), other, test)[:, :c],
                )
                ox = other.pooled()
                put(
                    f"linear probe on {name}",
                    test,
                    _softmax(
                        fit_linear(ox.embedding[train], d.y[train], c, BASELINE_C),
                        ox.embedding[test],
                    ),
                )
            if on_fold:
                on_fold(f)
        for name, value in p.items():
            res.probabilities.setdefault(name, []).append(value)
        if extra is not None:
            res.tag_genre_probabilities.append(extra)
    return res


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE: the clip-weighted gap between confidence and accuracy over
    equal-width confidence bins."""
    conf, correct = probs.max(1), probs.argmax(1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def learning_report(res: CVResult) -> dict:
    """The learning curve's points: held-out accuracy per share of training artists, with
    its spread over folds and seeds and how many there were."""
    return {str(share): {**_spread(acc), "n": len(acc)} for share, acc in res.learning.items()}


def _spread(values: list[float]) -> dict:
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values)),
        "min": float(np.min(values)),
        "max": float(np.max(values)),
    }


def metrics(res: CVResult, name: str) -> dict:
    """Accuracy, macro recall and ECE per seed with their spread; per-genre figures and the
    confusion matrix over all seeds' out-of-fold predictions together."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    per_seed = []
    for probs in res.probabilities[name]:
        pred = probs.argmax(1)
        recall = precision_recall_fscore_support(
            res.y, pred, labels=range(len(res.labels)), zero_division=0
        )[1]
        per_seed.append(
            ((pred == res.y).mean(), recall.mean(), expected_calibration_error(probs, res.y))
        )
    allp = np.concatenate(res.probabilities[name])
    ally = np.tile(res.y, len(res.probabilities[name]))
    pred = allp.argmax(1)
    p, r, f1, support = precision_recall_fscore_support(
        ally, pred, labels=range(len(res.labels)), zero_division=0
    )
    n_seeds = len(res.probabilities[name])
    return {
        "accuracy": _spread([s[0] for s in per_seed]),
        "macro_recall": _spread([s[1] for s in per_seed]),
        "ece": _spread([s[2] for s in per_seed]),
        "per_class": {
            lab: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f1[i]),
                "support": int(support[i]) // n_seeds,
            }
            for i, lab in enumerate(res.labels)
        },
        "confusion": confusion_matrix(ally, pred, labels=range(len(res.labels))).tolist(),
        "reliability": reliability(allp, ally),
    }


def album_report(
    res: CVResult, name: str, groups: list[str], min_confidence: float = TAG_GENRE_THRESHOLD
) -> dict:
    """Albums as users meet them: the clips of one artist in a test fold are one album
    (folds keep an artist's clips together). Per seed, on the same out-of-fold
    probabilities: each track's own verdict; every track given its album's verdict (the
    scan's pooling, ``deciding.albums.pool_probabilities``, and its rule: the album's genre is the
    pooled best of the genres its tracks rank first); the scan's default, where outliers
    keep their own (``deciding.albums.is_outlier``); albums right (the album's genre is the genre
    most of its clips have); and, for comparison, the rule before, where any genre could
    win the pooled vote, with how often it chose a genre that none of the tracks ranks
    first."""
    from genretag.deciding.albums import is_outlier, pool_probabilities

    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    per_seed = {
        "track": [],
        "album_verdict": [],
        "album_verdict_with_outliers": [],
        "albums_right": [],
        "album_verdict_any_genre": [],
        "albums_nobody_ranks_first_any_genre": [],
    }
    labels = res.labels
    for probs in res.probabilities[name]:
        own = probs.argmax(1)
        strict, default, anyg, right, nobody = own.copy(), own.copy(), own.copy(), [], []
        for idx in members.values():
            pooled = pool_probabilities(probs[idx])
            firsts = sorted(set(own[idx].tolist()))
            top = firsts[int(pooled[firsts].argmax())]  # the scan's rule (genres.choose)
            anyg[idx] = int(pooled.argmax())  # the rule before: any genre may win
            nobody.append(int(pooled.argmax()) not in firsts)
            strict[idx] = top
            for i in idx:
                mine = dict(zip(labels, probs[i].tolist()))
                default[i] = own[i] if is_outlier(mine, labels[top], min_confidence) else top
            right.append(top == np.bincount(res.y[idx]).argmax())
        per_seed["track"].append((own == res.y).mean())
        per_seed["album_verdict"].append((strict == res.y).mean())
        per_seed["album_verdict_with_outliers"].append((default == res.y).mean())
        per_seed["albums_right"].append(np.mean(right))
        per_seed["album_verdict_any_genre"].append((anyg == res.y).mean())
        per_seed["albums_nobody_ranks_first_any_genre"].append(np.mean(nobody))
    sizes = [len(idx) for idx in members.values()]
    out = {
        "albums": len(members),
        "tracks_per_album": {"min": min(sizes), "max": max(sizes), "mean": float(np.mean(sizes))},
        **{k: _spread(v) for k, v in per_seed.items()},
    }
    if res.tag_genre_probabilities:
        out["with_independent_genres"] = albums_with_independent_genres(
            res, name, list(members.values()), min_confidence
        )
    return out


def albums_with_independent_genres(
    res: CVResult, name: str, members: list[list[int]], min_confidence: float
) -> dict:
    """Albums decided from all the model's outputs, the exclusive genres and the
    independent ones, by the scan's rule (``deciding.genres.choose``: the best exclusive genre
    first, an album's among its tracks' firsts) and by the rule before it (every output
    ranked by probability alike). Both leave an album unsure (untagged) when no genre
    reaches ``min_confidence``. Every clip is of a dataset genre, so a verdict is right
    when its first genre is the clip's; an independent first genre is never right here."""
    from genretag.deciding.albums import pool_probabilities
    from genretag.deciding.genres import Vocabulary, choose
    from genretag.hearing.prediction import Prediction
    from genretag.training.recipes.probe import PARENTS

    labels = tuple(res.labels + res.tag_genres)
    vocab = Vocabulary.default(
        list(labels),
        independent=res.tag_genres,
        parents={
            lab: [p for p in ps if p in labels] for lab, ps in PARENTS.items() if lab in labels
        },
    )
    rules = {"rule": [], "rule_before": []}
    nobody, independent, unsure = ({k: [] for k in rules} for _ in range(3))
    for probs, extra in zip(res.probabilities[name], res.tag_genre_probabilities):
        both = np.hstack([probs, extra])
        right = {k: np.zeros(len(res.y), bool) for k in rules}
        for idx in members:
            own = [Prediction(labels, both[i]) for i in idx]
            album = Prediction(labels, pool_probabilities(both[idx]))
            before_firsts = {labels[int(both[i].argmax())] for i in idx}
            top = int(album.probabilities.argmax())
            before = labels[top] if album.probabilities[top] >= min_confidence else ""
            firsts = {choose(p, vocab, 1, min_confidence).best for p in own}
            now = choose(album, vocab, 1, min_confidence, among=firsts)
            for key, verdict, tops in (
                ("rule", now.genres[0] if now.genres else "", firsts),
                ("rule_before", before, before_firsts),
            ):
                unsure[key].append(not verdict)  # left untagged: no genre is sure enough
                if verdict:
                    nobody[key].append(verdict not in tops)
                    independent[key].append(verdict in res.tag_genres)
                for i in idx:
                    right[key][i] = verdict == res.labels[res.y[i]]
        for key in rules:
            rules[key].append(right[key].mean())
    return {
        key: {
            "tracks_given_the_album_verdict": _spread(rules[key]),
            "albums_unsure": float(np.mean(unsure[key])),
            # shares of the albums given a genre
            "albums_no_track_ranks_first": float(np.mean(nobody[key] or [0.0])),
            "albums_given_an_independent_genre": float(np.mean(independent[key] or [0.0])),
        }
        for key in rules
    }


def reliability(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per confidence bin: clips, mean confidence and accuracy (the reliability diagram)."""
    conf, correct = probs.max(1), probs.argmax(1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = []
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        out.append(
            {
                "from": float(lo),
                "to": float(hi),
                "clips": int(m.sum()),
                "confidence": float(conf[m].mean()) if m.any() else None,
                "accuracy": float(correct[m].mean()) if m.any() else None,
            }
        )
    return out


def tag_genre_report(res: CVResult, d: Labelled) -> dict:
    """What can be checked of the independent genres without labelled audio of them:
    1. how often each would be written (p >= the default --min-confidence) on the dataset's
       test clips, by the clips' true genre: none of those clips is labelled with it, so on
       genres unlike it this is a false-positive rate;
    2. whether the shared calibration transfers to a genre it was not fitted on: it is
       fitted on all of the dataset's tag-named genres but one, and its ECE measured on the
       one left out, for each in turn (probabilities of "this clip is of genre g")."""
    out: dict = {"threshold": TAG_GENRE_THRESHOLD, "written_share": {}}
    if res.tag_genre_probabilities:
        allp = np.concatenate(res.tag_genre_probabilities)
        ally = np.tile(res.y, len(res.tag_genre_probabilities))
        for j, genre in enumerate(res.tag_genres):
            hit = allp[:, j] >= TAG_GENRE_THRESHOLD
            out["written_share"][genre] = {
                "all": float(hit.mean()),
                **{lab: float(hit[ally == c].mean()) for c, lab in enumerate(res.labels)},
            }
    scores, hits, which = calibration_pairs(d.pooled().tags, d.y, d.labels, d.tags)
    held = []
    for c in sorted(set(which.tolist())):
        a, b = fit_calibration(scores[which != c], hits[which != c])
        prob = 1 / (1 + np.exp(-(a * scores[which == c] + b)))
        held.append((prob, hits[which == c]))
        out.setdefault("held_out_genre", {})[res.labels[c]] = {
            "mean_probability": float(prob.mean()),
            "positive_rate": float(hits[which == c].mean()),
        }
    if held:
        prob = np.concatenate([h[0] for h in held])
        hit = np.concatenate([h[1] for h in held]).astype(float)
        two = np.stack([1 - prob, prob], 1)
        out["held_out_genre_ece"] = expected_calibration_error(two, hit.astype(int))
    return out


def confusion_png(res: CVResult, name: str, m: dict, path: Path) -> None:
    """The confusion matrix of ``name``, whose ``metrics`` are ``m``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.array(m["confusion"])
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
    ax.set_title(f"{name}: artist-grouped {len(set(res.folds[0]))}-fold CV, {len(res.folds)} seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def reliability_png(models: dict[str, dict], path: Path) -> None:
    """The reliability diagram of each model (name -> its ``metrics``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect")
    for name, m in models.items():
        pts = [(b["confidence"], b["accuracy"]) for b in m["reliability"] if b["clips"]]
        ax.plot(*zip(*pts), marker="o", label=f"{name} (ECE {m['ece']['mean']:.3f})")
    ax.set_xlabel("confidence (top genre's probability)")
    ax.set_ylabel("accuracy")
    ax.set_title("reliability, out-of-fold")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def curves_png(res: CVResult, path: Path) -> None:
    """Training loss per epoch, per fold, for heads trained in epochs; for closed-form
    heads (the track head), the learning curve: held-out accuracy against the share of
    the training fold's artists it was fitted on (mean and spread over folds and seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    if any(res.curves):
        for i, losses in enumerate(res.curves):
            if losses:
                ax.plot(range(1, len(losses) + 1), losses, marker="o", label=f"fold {i}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss (class-weighted CE)")
        ax.legend(fontsize=7)
    else:
        shares = sorted(res.learning)
        acc = [np.array(res.learning[s]) for s in shares]
        x = [100 * s for s in shares]
        ax.errorbar(x, [a.mean() for a in acc], yerr=[a.std() for a in acc], marker="o", capsize=3)
        ax.set_xlabel("share of the training fold's artists (%)")
        ax.set_ylabel("held-out accuracy")
        ax.set_title("learning curve: artists it never heard", fontsize=10)
        ax.set_ylim(0, 1)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
