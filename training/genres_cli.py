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
from genretag.training.cli import _prepare, console, err
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
from genretag.training.recipes.genres import GenresConfig, fit_genres, genres_model
from genretag.training.recipes.recipe import Labelled, Recipe

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
    from genretag.training.recipes.save import save_genres_model

    d = _prepare(datasets, backbone, cache, settings, None, recipe, clip_features=False)
    clips = clips_of(d)
    head = fit_genres(clips.x, clips.y, clips.groups, clips.labels, config(recipe))
    model = genres_model(d.pretrained, head)
    err.print(
        f"chosen inside the training clips: C {head.c}; validated "
        f"{len(head.thresholds)} of {len(head.labels)} genres",
        markup=False,
    )
    model_id = save_genres_model(
        out,
        model,
        head,
        recipe.describe(),
        recipe.to_dict(),
        summary(clips),
        d.pretrained,
        started,
    )
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
    with steps(err) as bar:
        task = bar.add_task("folds", total=folds * seeds * len(candidates), info="")
        for name, c in candidates.items():
            t0 = time.time()
            runs = cross_validate(c, folds, seed_list, cfg, on_fold=lambda: bar.advance(task))
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
        task = bar.add_task("learning curve", total=4, info="")
        out["learning_curve"] = learning_curve(
            clips, folds, cfg.seed, cfg, on_point=lambda: bar.advance(task)
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


def markdown(out: dict) -> str:
    """The model card's tables, as ``evaluate`` measured them."""
    lines = [
        "## Targets (artist-grouped CV, mean over seeds)",
        "",
        "| | target | measured | met |",
        "| --- | --- | --- | --- |",
    ]
    for k, v in out["targets"].items():
        met = "-" if v["met"] is None else ("yes" if v["met"] else "no")
        lines.append(f"| {k} | {v['target']} | {_f(v['measured'])} | {met} |")
    for name, rep in out["candidates"].items():
        lines += [
            "",
            f"## {name}",
            "",
            "| dataset | clips | artists | right | wrong | unsure | "
            f"wrong at p >= {SURE} | accuracy | macro recall | ECE |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for ds, r in rep["datasets"].items():
            w = r["written_probability"]
            lines.append(
                f"| {ds} | {r['clips']} | {r['artists']} | "
                + " | ".join(
                    f"{w[k]['mean']:.3f} ± {w[k]['std']:.3f}"
                    for k in ("right", "wrong", "unsure", "sure_wrong")
                )
                + f" | {_acc(r, 'accuracy')} | {_acc(r, 'macro_recall')} | {r['ece']['mean']:.3f} |"
            )
    shipped = next(iter(out["candidates"].values()))
    lines += [
        "",
        "## Rules for the first genre",
        "",
        "| rule | dataset | right | wrong | unsure |",
        "| --- | --- | --- | --- | --- |",
    ]
    for rule in RULES:
        for ds, r in shipped["datasets"].items():
            w = r[f"written_{rule}"]
            lines.append(
                f"| {rule} | {ds} | "
                + " | ".join(f"{w[k]['mean']:.3f}" for k in ("right", "wrong", "unsure"))
                + " |"
            )
    lines += [
        "",
        "## Per label, all datasets (written at each fold's threshold)",
        "",
        "| label | precision | recall | F1 | clips | threshold (median) | validated |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for lab, r in shipped["per_label"].items():
        lines.append(
            f"| {NAMES.get(lab, lab)} | {_f(r['precision'], 2)} | {r['recall']:.2f} | {r['f1']:.2f} | "
            f"{r['support']} | {_f(r['threshold'], 3) if np.isfinite(r['threshold']) else 'none'} | "
            f"{'yes' if lab in shipped['validated'] else 'no'} |"
        )
    for ds, rep in shipped["datasets"].items():
        lines += [
            "",
            f"### {ds}: per label",
            "",
            "| label | precision | recall | F1 | clips |",
            "| --- | --- | --- | --- | --- |",
        ]
        for lab, r in rep["per_label"].items():
            lines.append(
                f"| {NAMES.get(lab, lab)} | {_f(r['precision'], 2)} | {r['recall']:.2f} | {r['f1']:.2f} | {r['support']} |"
            )
        if "confusion" in rep:
            lines += [
                "",
                f"{ds}, confusions (first seed): "
                + "; ".join(
                    f"{t} → " + ", ".join(f"{p} {n}" for p, n in row.items() if p != t)
                    for t, row in rep["confusion"].items()
                    if any(p != t for p in row)
                ),
            ]
    held = out.get("held_out_labels")
    if held:
        lines += [
            "",
            "## Labels held out of training in turn",
            "",
            "| label | clips | right (another of its genres) | unsure | wrong | "
            f"wrong at p >= {SURE} | written as |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for lab, r in held["labels"].items():
            lines.append(
                f"| {NAMES.get(lab, lab)} | {r['clips']} | {r['right_other_genre']:.2f} | {r['unsure']:.2f} | "
                f"{r['wrong']:.2f} | {r['sure_wrong']:.2f} | "
                + ", ".join(f"{n} {c}" for n, c in list(r["written_as"].items())[:4])
                + " |"
            )
        a = held["all"]
        lines.append(
            f"| all | {a['clips']} | | {a['unsure']:.2f} | {a['wrong']:.2f} | {a['sure_wrong']:.3f} | |"
        )
    lines += [
        "",
        "## Learning curve (first seed)",
        "",
        "| share of artists | training artists | "
        + " | ".join(f"{ds} right" for ds in shipped["datasets"])
        + " |",
        "| --- | --- | " + " | ".join("---" for _ in shipped["datasets"]) + " |",
    ]
    for share, r in out["learning_curve"].items():
        lines.append(
            f"| {share} | {r['training_artists']} | "
            + " | ".join(f"{r[ds]['right']:.3f}" for ds in shipped["datasets"])
            + " |"
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
