"""``genretag train`` and ``genretag evaluate`` with ``--arch musicnn-genres`` (the default
model's recipe): several datasets learnt as one, every genre independent.

``evaluate`` prints and writes (``metrics.json``, and ``tables.md`` in the model card's
form) everything the model card states: per dataset and per label, the targets, the rules
compared, the backbones compared, music of held-out labels, and the learning curve.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from rich.table import Table

from genretag.cli.common import usage_error
from genretag.render.progress import steps
from genretag.settings import Settings
from genretag.training.data.labelspace import NAMES
from genretag.training.evaluation.genres import (
    RULES,
    SURE,
    Clips,
    cross_validate,
    held_out_labels,
    learning_curve,
    report,
)
from genretag.training.prepare import console, err
from genretag.training.prepare import prepare as _prepare
from genretag.training.recipes.genres import GenresConfig, fit_genres, genres_model
from genretag.training.recipes.recipe import Labelled, Recipe

VALIDATION_FOLDS = 5  # train's check of each genre on artists it never heard
TARGETS = {  # the targets, shown beside what was measured
    "gtzan accuracy": 0.85,
    "gtzan macro recall": 0.80,
    "mer right": 0.75,
    "mer wrong": 0.15,
    "mer macro F1 (validated)": 0.6,
    "emotify accuracy": 0.85,
    "confidently wrong, held-out labels": 0.05,
}


def clips_of(d: Labelled) -> Clips:
    """The prepared clips as the recipe reads them: each one's backbone statistics, in the
    order ``GenreNet.statistics`` gives them (embedding mean, max; tag logits' mean)."""
    pooled = d.pooled()
    return Clips(d.items, np.concatenate([pooled.embedding, pooled.tags], 1))


def config(recipe: Recipe) -> GenresConfig:
    return GenresConfig(seed=recipe.probe.seed)


def train_genres(
    datasets: list[Path],
    out: Path,
    backbone: Path,
    cache: Path | None,
    settings: Settings,
    recipe: Recipe,
    started: float,
) -> None:
    from genretag.training.recipes.save import save_background, save_genres_model

    d = _prepare(datasets, backbone, cache, settings, None, recipe, clip_features=False)
    clips = clips_of(d)
    cfg = config(recipe)
    head = fit_genres(clips.x, clips.y, clips.groups, clips.labels, cfg)
    # a genre is written only where artists the recipe never heard confirm its precision
    # at its threshold: the folds evaluate runs, one seed
    with steps(err) as bar:
        task = bar.add_task("validation folds", total=VALIDATION_FOLDS, info="")
        runs = cross_validate(
            clips, VALIDATION_FOLDS, [cfg.seed], cfg, on_fold=lambda: bar.advance(task)
        )
    held = report(clips, runs, cfg.min_precision)
    dropped = sorted(set(head.thresholds) - set(held["validated"]))
    head.thresholds = {k: v for k, v in head.thresholds.items() if k in held["validated"]}
    model = genres_model(d.pretrained, head)
    err.print(
        f"chosen inside the training clips: C {head.c}; validated on held-out artists: "
        f"{len(head.thresholds)} of {len(head.labels)} genres"
        + (f" (not: {', '.join(NAMES.get(k, k) for k in dropped)})" if dropped else ""),
        markup=False,
    )
    validation = {
        "folds": VALIDATION_FOLDS,
        "per_label": {
            k: {m: r[m] for m in ("precision", "recall", "support")}
            for k, r in held["per_label"].items()
        },
    }
    model_id = save_genres_model(
        out,
        model,
        head,
        recipe.describe(),
        {**recipe.to_dict(), "validation": validation},
        summary(clips),
        d.pretrained,
        started,
    )
    # what learn fits an owner's labels against (models.background)
    save_background(out, d, clips, model_id, settings.windows, runs[0])
    console.print(
        f"wrote {out} (model id {model_id}, {len(head.labels)} labels, "
        f"{len(head.thresholds)} written by default, {len(d.items)} clips, "
        f"{time.time() - started:.0f} s)",
        markup=False,
    )


def summary(clips: Clips) -> dict:
    """Clips and artists per dataset, and clips per label (positives, negatives)."""
    out: dict = {"clips": len(clips.items), "artists": len(set(clips.groups)), "datasets": {}}
    for name in sorted(set(clips.datasets.tolist())):
        rows = clips.datasets == name
        out["datasets"][name] = {
            "clips": int(rows.sum()),
            "artists": len({g for g, r in zip(clips.groups, rows) if r}),
        }
    out["per_label"] = {
        lab: {"yes": int((clips.y[:, j] == 1).sum()), "no": int((clips.y[:, j] == 0).sum())}
        for j, lab in enumerate(clips.labels)
    }
    return out


def evaluate_genres(
    datasets: list[Path],
    folds: int,
    seeds: int,
    out_dir: Path,
    backbone: Path,
    compare: list[Path],
    outside: bool,
    cache: Path | None,
    settings: Settings,
    recipe: Recipe,
    started: float,
) -> None:
    cfg = config(recipe)
    d = _prepare(datasets, backbone, cache, settings, None, recipe, clip_features=False)
    clips = clips_of(d)
    if len(set(clips.groups)) < folds:
        raise usage_error(f"{len(set(clips.groups))} artists: too few for {folds} folds")
    seed_list = list(range(cfg.seed, cfg.seed + seeds))
    candidates = {Path(backbone).stem: clips}
    for other in compare:
        o = clips_of(_prepare(datasets, other, cache, settings, None, recipe, False))
        if [i.path for i in o.items] != [i.path for i in clips.items]:
            raise usage_error(f"{other}: not every clip could be heard by both backbones")
        candidates[other.stem] = o
        candidates[f"{Path(backbone).stem} + {other.stem}"] = Clips(
            clips.items, np.concatenate([clips.x, o.x], 1), clips.labels, clips.y
        )
    out: dict = {
        "datasets": [str(p) for p in datasets],
        "folds": folds,
        "seeds": seed_list,
        "grouping": "artist across datasets, stratified by dataset and first genre",
        "recipe": recipe.to_dict(),
        "config": cfg.__dict__,
        "data": summary(clips),
        "candidates": {},
    }
    whole = None
    with steps(err) as bar:
        task = bar.add_task("folds", total=folds * seeds * len(candidates), info="")
        for name, c in candidates.items():
            t0 = time.time()
            runs = cross_validate(c, folds, seed_list, cfg, on_fold=lambda: bar.advance(task))
            whole = whole or runs[0]
            rep = report(c, runs, cfg.min_precision)
            rep["seconds"] = round(time.time() - t0, 1)
            out["candidates"][name] = rep
    shipped = out["candidates"][Path(backbone).stem]
    out["targets"] = targets(shipped, None)
    if outside:
        with steps(err) as bar:
            task = bar.add_task("labels held out", total=len(clips.labels), info="")
            out["held_out_labels"] = held_out_labels(
                clips, cfg, clips.labels, on_label=lambda: bar.advance(task)
            )
        out["targets"] = targets(shipped, out["held_out_labels"])
    with steps(err) as bar:
        task = bar.add_task("learning curve", total=3, info="")
        out["learning_curve"] = learning_curve(
            clips, folds, cfg.seed, cfg, whole, on_point=lambda: bar.advance(task)
        )
    out["seconds"] = round(time.time() - started, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(out, indent=1, default=float))
    md = markdown(out)
    (out_dir / "tables.md").write_text(md)
    show(out)
    console.print(
        f"metrics.json and tables.md in {out_dir}/ ({out['seconds']:.0f} s)", markup=False
    )


def targets(rep: dict, held: dict | None) -> dict:
    """The issue's targets against what was measured (mean over seeds)."""
    ds = rep["datasets"]
    got = {
        "gtzan accuracy": ds.get("gtzan", {}).get("accuracy", {}).get("mean"),
        "gtzan macro recall": ds.get("gtzan", {}).get("macro_recall", {}).get("mean"),
        "mer right": ds.get("mer", {}).get("written_probability", {}).get("right", {}).get("mean"),
        "mer wrong": ds.get("mer", {}).get("written_probability", {}).get("wrong", {}).get("mean"),
        "mer macro F1 (validated)": rep["macro_f1_validated"].get("mer"),
        "emotify accuracy": ds.get("emotify", {}).get("accuracy", {}).get("mean"),
        "confidently wrong, held-out labels": held["all"]["sure_wrong"] if held else None,
    }
    return {
        k: {
            "target": t,
            "measured": got[k],
            "met": None if got[k] is None else (got[k] <= t if "wrong" in k else got[k] >= t),
        }
        for k, t in TARGETS.items()
    }


def _f(x, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _table(title: str, header: list[str], rows: list[list], level: str = "##") -> list[str]:
    """A markdown table under a heading."""
    return [
        "",
        f"{level} {title}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
        *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
    ]


def _spread_of(w: dict, keys: tuple[str, ...]) -> list[str]:
    return [f"{w[k]['mean']:.3f} ± {w[k]['std']:.3f}" for k in keys]


def _label_row(lab: str, r: dict) -> list:
    return [NAMES.get(lab, lab), _f(r["precision"], 2), f"{r['recall']:.2f}", f"{r['f1']:.2f}"]


def markdown(out: dict) -> str:
    """The model card's tables, as ``evaluate`` measured them (``metrics.json``)."""
    yes = {None: "-", True: "yes", False: "no"}
    lines = _table(
        "Targets (artist-grouped CV, mean over seeds)",
        ["", "target", "measured", "met"],
        [[k, v["target"], _f(v["measured"]), yes[v["met"]]] for k, v in out["targets"].items()],
    )[1:]
    outcomes = ("right", "wrong", "unsure", "sure_wrong")
    for name, rep in out["candidates"].items():
        header = ["dataset", "clips", "artists", "right", "wrong", "unsure"]
        header += [f"wrong at p >= {SURE}", "accuracy", "macro recall", "ECE"]
        lines += _table(
            name,
            header,
            [
                [
                    ds,
                    r["clips"],
                    r["artists"],
                    *_spread_of(r["written_probability"], outcomes),
                    _acc(r, "accuracy"),
                    _acc(r, "macro_recall"),
                    f"{r['ece']['mean']:.3f}",
                ]
                for ds, r in rep["datasets"].items()
            ],
        )
    shipped = next(iter(out["candidates"].values()))
    lines += _table(
        "Rules for the first genre",
        ["rule", "dataset", "right", "wrong", "unsure"],
        [
            [rule, ds, *(f"{r[f'written_{rule}'][k]['mean']:.3f}" for k in outcomes[:3])]
            for rule in RULES
            for ds, r in shipped["datasets"].items()
        ],
    )
    lines += _table(
        "Per label, all datasets (written at each fold's threshold)",
        ["label", "precision", "recall", "F1", "clips", "threshold (median)", "validated"],
        [
            [
                *_label_row(lab, r),
                r["support"],
                _f(r["threshold"]) if np.isfinite(r["threshold"]) else "none",
                yes[lab in shipped["validated"]],
            ]
            for lab, r in shipped["per_label"].items()
        ],
    )
    for ds, rep in shipped["datasets"].items():
        lines += _table(
            f"{ds}: per label",
            ["label", "precision", "recall", "F1", "clips"],
            [[*_label_row(lab, r), r["support"]] for lab, r in rep["per_label"].items()],
            "###",
        )
        if "confusion" in rep:
            wrong = [
                f"{t} → " + ", ".join(f"{p} {n}" for p, n in row.items() if p != t)
                for t, row in rep["confusion"].items()
                if any(p != t for p in row)
            ]
            lines += ["", f"{ds}, confusions (first seed): " + "; ".join(wrong)]
    held = out.get("held_out_labels")
    if held:
        a = held["all"]
        lines += _table(
            "Labels held out of training in turn",
            [
                "label",
                "clips",
                "right (another of its genres)",
                "unsure",
                "wrong",
                f"wrong at p >= {SURE}",
                "written as",
            ],
            [
                [NAMES.get(lab, lab), r["clips"], f"{r['right_other_genre']:.2f}"]
                + [f"{r[k]:.2f}" for k in ("unsure", "wrong", "sure_wrong")]
                + [", ".join(f"{n} {c}" for n, c in list(r["written_as"].items())[:4])]
                for lab, r in held["labels"].items()
            ]
            + [
                [
                    "all",
                    a["clips"],
                    "",
                    f"{a['unsure']:.2f}",
                    f"{a['wrong']:.2f}",
                    f"{a['sure_wrong']:.3f}",
                    "",
                ]
            ],
        )
    sets = list(shipped["datasets"])
    lines += _table(
        "Learning curve (first seed)",
        ["share of artists", "training artists", *(f"{ds} right" for ds in sets)],
        [
            [share, r["training_artists"], *(f"{r[ds]['right']:.3f}" for ds in sets)]
            for share, r in out["learning_curve"].items()
        ],
    )
    return "\n".join(lines) + "\n"


def _acc(r: dict, key: str) -> str:
    return f"{r[key]['mean']:.3f} ± {r[key]['std']:.3f}" if key in r else "-"


def show(out: dict) -> None:
    """The headline tables on the terminal (all of them are in tables.md)."""
    t = Table(title="targets: artist-grouped cross-validation, mean over seeds")
    for col in ("", "target", "measured", "met"):
        t.add_column(col, justify="left" if not col else "right")
    for k, v in out["targets"].items():
        t.add_row(
            k,
            str(v["target"]),
            _f(v["measured"]),
            "-" if v["met"] is None else ("yes" if v["met"] else "no"),
        )
    console.print(t)
    t = Table(title="candidates: what a scan writes first, per dataset")
    for col in ("backbone", "dataset", "right", "wrong", "unsure", "accuracy"):
        t.add_column(col, justify="left" if col in ("backbone", "dataset") else "right")
    for name, rep in out["candidates"].items():
        for ds, r in rep["datasets"].items():
            w = r["written_probability"]
            t.add_row(
                name,
                ds,
                *(f"{w[k]['mean']:.3f}" for k in ("right", "wrong", "unsure")),
                _acc(r, "accuracy"),
            )
    console.print(t)
    shipped = next(iter(out["candidates"].values()))
    t = Table(title="per label, all datasets, at each fold's threshold")
    for col in ("label", "precision", "recall", "F1", "clips", "validated"):
        t.add_column(col, justify="left" if col == "label" else "right")
    for lab, r in shipped["per_label"].items():
        t.add_row(
            NAMES.get(lab, lab),
            _f(r["precision"], 2),
            f"{r['recall']:.2f}",
            f"{r['f1']:.2f}",
            str(r["support"]),
            "yes" if lab in shipped["validated"] else "no",
        )
    console.print(t)
