"""``genretag train`` and ``genretag evaluate``, added to the tagger's CLI as a plug-in
(entry point group ``genretag.commands``), so that the tagger never imports training."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from tagger.cli import Device, open_model, usage_error
from tagger.model import Model

from .datasets import DatasetError, Item, load
from .embed import embed
from .train import HeadConfig, fit_head, save_genre_model

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)
BACKBONE = Path(__file__).resolve().parent.parent / "weights" / "musicnn_msd.safetensors"
CACHE = Path(".work") / "embeddings"


def _prepare(dataset: Path, backbone: Path, cache: Path, workers: int,
             device: Device) -> "Labelled":
    workers = workers or os.cpu_count() or 1
    try:
        items = load(dataset)
    except DatasetError as e:
        raise usage_error(str(e)) from None
    if not items:
        raise usage_error(f"{dataset}: no audio found")
    pretrained = open_model(backbone, device)
    from rich.progress import Progress

    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("embedding windows", total=len(items))
        emb = embed(items, pretrained, cache, workers=workers,
                    on_done=lambda: bar.advance(task))
    for path, why in emb.failed:  # unreadable files are listed and left out, never fatal
        err.print(f"skipped {path}: {why}", markup=False, soft_wrap=True)
    items = [i for i in items if i.path in emb.windows]
    labels = sorted({i.label for i in items})
    return Labelled(pretrained.to("cpu"), items, labels, [emb.windows[i.path] for i in items],
                    np.array([labels.index(i.label) for i in items]))


@dataclass
class Labelled:
    """A dataset ready for the head: window embeddings per clip and clip labels."""

    pretrained: Model
    items: list[Item]
    labels: list[str]
    windows: list[np.ndarray]
    y: np.ndarray

    def summary(self) -> dict:
        return {"clips": len(self.items),
                "per_label": {lab: int((self.y == i).sum()) for i, lab in enumerate(self.labels)},
                "groups": len({i.group for i in self.items})}


# options both commands take (typer accepts one option object as default in several places)
DATASET = typer.Argument(..., help="Folder per genre, GTZAN, FMA or CSV manifest.")
BACKBONE_OPT = typer.Option(BACKBONE, "--backbone", help="Pretrained musicnn file.")
EPOCHS = typer.Option(HeadConfig.epochs, "--epochs", min=1)
SEED = typer.Option(0, "--seed")
CACHE_OPT = typer.Option(CACHE, "--cache", help="Where window embeddings are kept.")
WORKERS = typer.Option(0, "--workers", min=0, help="Decode workers (0: one per core).")
DEVICE = typer.Option(Device.auto, "--device")


def train(
    dataset: Path = DATASET,
    out: Path = typer.Option(..., "--out", "-o", help="Model file to write (.safetensors)."),
    backbone: Path = BACKBONE_OPT, epochs: int = EPOCHS, seed: int = SEED,
    cache: Path = CACHE_OPT, workers: int = WORKERS, device: Device = DEVICE,
) -> None:
    """Fine-tune a genre model on labelled folders; use it with `scan --model OUT`."""
    started = time.time()
    d = _prepare(dataset, backbone, cache, workers, device)
    cfg = HeadConfig(epochs=epochs, seed=seed)
    head, _ = fit_head(d.pretrained, d.labels, d.windows, d.y, cfg,
                       on_epoch=lambda e, loss: err.print(f"epoch {e + 1}: loss {loss:.4f}"))
    model_id = save_genre_model(out, d.pretrained, head, d.labels, cfg, d.summary(),
                                started=started)
    console.print(f"wrote {out} (model id {model_id}, {len(d.labels)} labels, "
                  f"{len(d.items)} clips, {time.time() - started:.0f} s)")


def evaluate(
    dataset: Path = DATASET,
    folds: int = typer.Option(5, "--folds", min=2),
    out_dir: Path = typer.Option(Path("evaluation"), "--out-dir"),
    backbone: Path = BACKBONE_OPT, epochs: int = EPOCHS, seed: int = SEED,
    cache: Path = CACHE_OPT, workers: int = WORKERS, device: Device = DEVICE,
) -> None:
    """Grouped k-fold cross-validation: the fine-tuned head beside a linear probe."""
    from .evaluate import confusion_png, cross_validate, curves_png, metrics

    started = time.time()
    d = _prepare(dataset, backbone, cache, workers, device)
    res = cross_validate(d.pretrained, d.labels, d.windows, d.y, [i.group for i in d.items], folds,
                         HeadConfig(epochs=epochs, seed=seed),
                         on_fold=lambda f: err.print(f"fold {f + 1}/{folds} done"))
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {"dataset": str(dataset), "folds": folds, "data": d.summary(),
              "seconds": round(time.time() - started, 1), "models": {}}
    for name in res.probabilities:
        m = report["models"][name] = metrics(res, name)
        t = Table(title=f"{name}: accuracy {m['accuracy']:.3f}, macro recall "
                        f"{m['macro_recall']:.3f} (fold accuracy "
                        f"{min(m['fold_accuracy']):.2f}–{max(m['fold_accuracy']):.2f})")
        for col in ("genre", "precision", "recall", "F1", "clips"):
            t.add_column(col, justify="left" if col == "genre" else "right")
        for lab, pc in m["per_class"].items():
            t.add_row(lab, f"{pc['precision']:.2f}", f"{pc['recall']:.2f}", f"{pc['f1']:.2f}",
                      str(pc["support"]))
        console.print(t)
        confusion_png(res, name, out_dir / f"confusion-{name.replace(' ', '-')}.png")
    curves_png(res, out_dir / "learning-curves.png")
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=1))
    console.print(f"metrics, confusion matrices and learning curves in {out_dir}/ "
                  f"({report['seconds']:.0f} s)")


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(evaluate)
