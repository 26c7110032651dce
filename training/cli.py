"""``genretag train`` and ``genretag evaluate``, added to the tagger's CLI as a plug-in
(entry point group "genretag.commands"), so that the tagger never imports training.

Both take the same recipe options (``recipe.Recipe``): ``evaluate`` cross-validates exactly
what ``train`` with those options would build.

This module is imported for every ``genretag`` command, ``--help`` included, so it imports
nothing heavy at the top: numpy, torch, librosa, scikit-learn and matplotlib come in with
the training modules, inside the commands, after ``needs_training_extra`` has checked that
they are installed.
"""

from __future__ import annotations

import json
import time
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from genretag.cli.common import usage_error
from genretag.cli.options import SETTINGS, takes_settings
from genretag.models.file import shipped
from genretag.render.progress import steps
from genretag.settings import EVALUATE, TRAIN, Settings
from genretag.states import Arch
from genretag.training.prepare import console, err
from genretag.training.prepare import prepare as _prepare
from genretag.training.recipes.options import Options

if TYPE_CHECKING:
    from genretag.training.recipes.recipe import Recipe

TRAINING_EXTRA = ("torch", "librosa", "matplotlib")  # what pip install 'genretag[train]' adds

BACKBONE = shipped("musicnn_msd.safetensors")


def needs_training_extra(command: str) -> None:
    """Exit with 2 and one line, before any work, when the training extra is missing."""
    missing = [m for m in TRAINING_EXTRA if find_spec(m) is None]
    if missing:
        raise usage_error(f"genretag {command} needs the training extra: {extra_hint('train')}")


def extra_hint(extra: str) -> str:
    """The command that installs ``extra`` where genretag came from: its source folder
    (pip records where a local install came from), else a package index's name."""
    import json
    from importlib.metadata import distributions
    from urllib.parse import unquote, urlparse

    origin = {}
    for dist in distributions(name="genretag"):  # a checkout's own egg-info may come first
        try:
            origin = json.loads(dist.read_text("direct_url.json") or "{}") or origin
        except ValueError:
            continue
    url = urlparse(origin.get("url", ""))
    if url.scheme == "file" and "dir_info" in origin:
        source = unquote(url.path)
        editable = "-e " if origin["dir_info"].get("editable") else ""
        return (
            f"pip install {editable}'{source}[{extra}]' (from the source folder it was "
            f"installed from; in that folder: pip install {editable}'.[{extra}]')"
        )
    return f"from a source checkout of genretag: pip install '.[{extra}]'"


# options both commands take (typer accepts one option object as default in several places)
DATASETS = typer.Argument(
    ...,
    help="Datasets: a folder per genre (GTZAN, Emotify), a tracks.csv with several genres per "
    "clip (MER), FMA, or a CSV manifest. Several are learnt as one with --arch musicnn-genres.",
)
FEATURES = typer.Option(
    None,
    "--features",
    help="A GTZAN-style feature table (CSV: filename, "
    "label, feature columns): adds a feature head fused with the CNN.",
)
CNN_WEIGHT = typer.Option(
    0.5, "--cnn-weight", min=0.0, max=1.0, help="The CNN's share in the fused probabilities."
)
BACKBONE_OPT = typer.Option(BACKBONE, "--backbone", help="Pretrained musicnn file.")
EPOCHS = typer.Option(None, "--epochs", min=1, help="Head epochs (8), or from-scratch (30).")
MIXUP = typer.Option(0.0, "--mixup", min=0.0, help="mixup alpha for the head (0: off).")
PATIENCE = typer.Option(
    None,
    "--patience",
    min=0,
    help="Early stopping: epochs without a "
    "better loss on a grouped validation split (0: off, train all epochs; "
    "default: 8 for a network trained from scratch, 30 for features-mlp, "
    "else off).",
)
FINETUNE = typer.Option(
    0,
    "--finetune-all",
    min=0,
    help="Whole-network epochs of --arch musicnn-finetune at a low rate (0: its default, 2).",
)
FINETUNE_LR = typer.Option(
    1e-5, "--finetune-lr", min=0.0, help="Learning rate of the whole-network epochs."
)
AUGMENT = typer.Option(
    True,
    "--augment/--no-augment",
    help="Augment log-mel windows when "
    "training a whole network (shift, stretch, pitch, gain, SpecAugment, "
    "mixup).",
)
SEED = typer.Option(
    0, "--seed", help="Seed of every random choice (folds, initial weights, augmentation)."
)
ARCH = typer.Option(
    Arch.MUSICNN_GENRES,
    "--arch",
    help="The network: musicnn-genres (the default model's: independent genres of "
    "several datasets, on the frozen tagger), musicnn-track (probes "
    "on the frozen tagger), musicnn-window (its back end fine-tuned per "
    "window), musicnn-finetune (the back end per window, then the whole "
    "network at a low rate), mel-cnn (a CNN on log-mels from random "
    "weights), raw-cnn (a 1-D CNN on the raw waveform, from random "
    "weights), features-mlp (a feed-forward network on each 3 s window's "
    "table features).",
)
N_MELS = typer.Option(
    None,
    "--n-mels",
    min=16,
    max=256,
    help="Mel bands of a CNN trained "
    "from scratch (default: 64 with --arch mel-cnn, as the reference "
    "recipe; else the backbone's 96).",
)
CACHE_OPT = typer.Option(
    None, "--cache", help="Where embeddings and features are kept (default: the user cache folder)."
)


def one_dataset(datasets: list[Path], arch: Arch) -> Path:
    """The dataset of a recipe that learns one; several are refused in one line."""
    if len(datasets) > 1:
        raise usage_error(
            f"--arch {arch.value} learns one dataset; several are learnt as one with "
            f"--arch {Arch.MUSICNN_GENRES.value}"
        )
    return datasets[0]


def make_recipe(arch: Arch, options: Options, table: Path | None = None) -> Recipe:
    """The recipe of ``arch``, refused in one line where the options do not apply to it."""
    from genretag.training.recipes.arches import RECIPES

    if arch == Arch.MUSICNN_GENRES and table is not None:
        raise usage_error(f"--features adds a feature head to --arch {Arch.MUSICNN_TRACK.value}")
    if options.finetune and arch != Arch.MUSICNN_FINETUNE:
        raise usage_error("--finetune-all sets the whole-network epochs of --arch musicnn-finetune")
    if options.n_mels and arch != Arch.MEL_CNN:
        raise usage_error("--n-mels sets the mel bands of --arch mel-cnn")
    if arch == Arch.FEATURES_MLP and table is not None:
        raise usage_error(
            "--features adds a feature head beside a CNN; --arch features-mlp "
            "is a network on the features itself"
        )
    return RECIPES[arch](options)


def epoch_reporter(bar, total: int):
    """An ``on_epoch`` callback that moves a progress bar and shows the losses."""
    task = bar.add_task("training", total=total, info="")

    def on_epoch(epoch: int, loss: float, val_loss: float | None) -> None:
        info = f"loss {loss:.3f}" + (f", validation {val_loss:.3f}" if val_loss is not None else "")
        bar.update(task, completed=epoch + 1, info=info)
        if epoch + 1 == total:
            bar.reset(task, total=total)

    return on_epoch


def _epochs(r: Recipe) -> int:
    if r.track:
        return 1
    if r.features_mlp is not None:
        return r.features_mlp.epochs
    return r.scratch.epochs if r.from_scratch else r.head.epochs + r.finetune_epochs


@takes_settings(TRAIN)
def train(
    datasets: list[Path] = DATASETS,
    out: Path = typer.Option(..., "--out", "-o", help="Model file to write (.safetensors)."),
    table: Path | None = FEATURES,
    cnn_weight: float = CNN_WEIGHT,
    backbone: Path = BACKBONE_OPT,
    epochs: int | None = EPOCHS,
    mixup: float = MIXUP,
    patience: int | None = PATIENCE,
    finetune_all: int = FINETUNE,
    finetune_lr: float = FINETUNE_LR,
    augment: bool = AUGMENT,
    seed: int = SEED,
    arch: Arch = ARCH,
    n_mels: int | None = N_MELS,
    cache: Path | None = CACHE_OPT,
    settings: Settings = SETTINGS,
) -> None:
    """Train a genre model on labelled folders; use it with `scan --model OUT`."""
    needs_training_extra("train")
    import numpy as np

    from genretag.training.recipes.probe import MIN_CALIBRATION_CLIPS, MIN_CALIBRATION_ERRORS
    from genretag.training.recipes.recipe import fit_model
    from genretag.training.recipes.save import save_genre_model

    started = time.time()
    recipe = make_recipe(
        arch,
        Options(
            epochs, seed, mixup, patience, finetune_all, finetune_lr, augment, cnn_weight, n_mels
        ),
        table,
    )
    if recipe.genres:
        from genretag.training.genres_cli import train_genres

        return train_genres(datasets, out, backbone, cache, settings, recipe, started)
    dataset = one_dataset(datasets, arch)
    d = _prepare([dataset], backbone, cache, settings, table, recipe, clip_features=False)
    with steps(err) as bar:
        built = fit_model(d, np.arange(len(d.y)), recipe, epoch_reporter(bar, _epochs(recipe)))
    for e, loss in enumerate(built.losses):
        err.print(f"epoch {e + 1}: training loss {loss:.4f}")
    config = recipe.to_dict()
    if built.chosen is not None:
        c = built.chosen
        config["chosen"] = {
            "embedding_c": c.embedding_c,
            "tag_c": c.tag_c,
            "weight": c.weight,
            "temperature": c.temperature,
            "inner_macro_recall": c.inner_macro_recall,
            "calibrated": c.calibrated,
        }
        err.print(
            f"chosen inside the training clips: embedding C {c.embedding_c}, tag C "
            f"{c.tag_c}, embedding weight {c.weight}, temperature {c.temperature:.3f}"
        )
        if not c.calibrated:
            err.print(
                f"genretag train: warning: too few clips to calibrate the model's "
                f"probabilities ({c.held_out} held-out predictions, of which fewer than "
                f"{MIN_CALIBRATION_ERRORS} wrong; {MIN_CALIBRATION_CLIPS} with "
                f"{MIN_CALIBRATION_ERRORS} wrong are needed): the temperature stays "
                "1.0, and its confidences are not calibrated",
                markup=False,
                soft_wrap=True,
            )
    built.model.to("cpu")
    own = recipe.from_scratch or recipe.features_mlp is not None  # no pretrained part
    model_id = save_genre_model(
        out,
        built.model,
        recipe.describe(),
        config,
        d.summary(),
        backbone=None if own else d.pretrained,
        feature_table=table.name if table else None,
        started=started,
    )
    console.print(
        f"wrote {out} (model id {model_id}, {len(built.model.labels)} labels, "
        f"{len(d.items)} clips, {time.time() - started:.0f} s)",
        markup=False,
    )


@takes_settings(EVALUATE)
def evaluate(
    datasets: list[Path] = DATASETS,
    folds: int = typer.Option(5, "--folds", min=2, help="Outer folds, grouped by artist."),
    seeds: int = typer.Option(
        3,
        "--seeds",
        min=1,
        help="Repeat the folds with this many shuffles (seeds SEED, SEED+1, ...), for a spread.",
    ),
    out_dir: Path = typer.Option(
        Path("evaluation"), "--out-dir", help="Where metrics.json and the plots go."
    ),
    table: Path | None = FEATURES,
    cnn_weight: float = CNN_WEIGHT,
    backbone: Path = BACKBONE_OPT,
    epochs: int | None = EPOCHS,
    mixup: float = MIXUP,
    patience: int | None = PATIENCE,
    finetune_all: int = FINETUNE,
    finetune_lr: float = FINETUNE_LR,
    augment: bool = AUGMENT,
    seed: int = SEED,
    arch: Arch = ARCH,
    n_mels: int | None = N_MELS,
    compare: list[Path] | None = typer.Option(
        None,
        "--compare-backbone",
        help="Also run the recipe and the linear probe on this "
        "pretrained musicnn's embeddings, on the same folds (repeatable).",
    ),
    albums: bool = typer.Option(
        False,
        "--albums",
        help="Also treat each artist's clips in "
        "a test fold as an album, and report album-level accuracy "
        "beside track-level accuracy, on the same folds.",
    ),
    outside: bool = typer.Option(
        False,
        "--hold-out-genres",
        help="Also hold each genre "
        "out of training in turn, and measure how sure the track "
        "head is of music of a genre it never heard (first seed).",
    ),
    cache: Path | None = CACHE_OPT,
    settings: Settings = SETTINGS,
) -> None:
    """Artist-grouped, genre-stratified k-fold cross-validation of what `train` builds with
    the same options, repeated over seeds, beside a linear probe on the same folds."""
    needs_training_extra("evaluate")
    from genretag.training.evaluation.evaluate import (
        EvaluationError,
        _spread,
        album_report,
        confusion_png,
        cross_validate,
        curves_png,
        learning_report,
        metrics,
        reliability_png,
        tag_genre_report,
    )

    started = time.time()
    recipe = make_recipe(
        arch,
        Options(
            epochs, seed, mixup, patience, finetune_all, finetune_lr, augment, cnn_weight, n_mels
        ),
        table,
    )
    if recipe.genres:
        from genretag.training.genres_cli import evaluate_genres

        if albums:
            raise usage_error(f"--albums measures --arch {Arch.MUSICNN_TRACK.value}")
        return evaluate_genres(
            datasets,
            folds,
            seeds,
            out_dir,
            backbone,
            compare or [],
            outside,
            cache,
            settings,
            recipe,
            started,
        )
    dataset = one_dataset(datasets, arch)
    d = _prepare(
        [dataset], backbone, cache, settings, table, recipe, clip_features=table is not None
    )
    if outside and not recipe.track:
        raise usage_error("--hold-out-genres measures the track head (--arch musicnn-track)")
    if outside and len(d.labels) < 3:
        raise usage_error(
            f"--hold-out-genres needs at least three genres (one held out, two "
            f"to tell apart); the dataset has {len(d.labels)}"
        )
    few = artists_short_of(d.labels, d.y, d.groups, folds)
    alone = [label for label, n in few if n < 2]
    known = any(g.startswith("artist") for g in d.groups)
    if not known:
        err.print(
            f"note: {dataset}: no artists found (they come from an artists.csv beside "
            "the genre folders, with columns clip and artist, or from the files' artist "
            "tags); clips are grouped by sub-folder, file, or GTZAN number block "
            "instead, so one artist may be on both sides of a fold",
            markup=False,
            soft_wrap=True,
        )
    if alone:
        where = (
            "has music by one artist" if known else "is one group of clips, and no artist is known"
        )
        raise usage_error(
            f"{dataset}: genre {alone[0]!r} {where}: it cannot be tested on an "
            "artist the model never heard (add music by another artist, or "
            "leave the genre out)" + (f"; also: {', '.join(alone[1:])}" if len(alone) > 1 else "")
        )
    for label, n in few:
        what = "music by" if known else "clips in"
        err.print(
            f"note: genre {label!r} has {what} {n} {'artists' if known else 'groups'}, "
            f"fewer than the {folds} folds: it is tested in {n} of them",
            markup=False,
            soft_wrap=True,
        )
    others = {}
    for other in compare or []:
        o = _prepare([dataset], other, cache, settings, None, recipe, clip_features=False)
        if [i.path for i in o.items] != [i.path for i in d.items]:
            raise usage_error(f"{other}: not every clip could be heard by both backbones")
        others[other.stem] = o
    seed_list = list(range(seed, seed + seeds))
    with steps(err) as bar:
        fold_task = bar.add_task("folds", total=folds * seeds, info="")
        try:
            res = cross_validate(
                d,
                folds,
                recipe,
                seed_list,
                on_fold=lambda f: bar.advance(fold_task),
                on_epoch=epoch_reporter(bar, _epochs(recipe)),
                others=others,
            )
        except EvaluationError as e:
            raise usage_error(f"{dataset}: {e}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {
        "dataset": str(dataset),
        "feature_table": str(table) if table else None,
        "folds": folds,
        "seeds": seed_list,
        "grouping": "artist, stratified by genre",
        "recipe": recipe.to_dict(),
        "data": d.summary(),
        "models": {},
        "chosen": res.chosen,
        "training_seconds_per_fold": {k: round(v, 1) for k, v in _spread(res.fit_seconds).items()},
    }
    shipped = next(iter(res.probabilities))
    cands = Table(
        title=f"candidates: artist-grouped {folds}-fold CV x {seeds} seeds (mean ± std over seeds)"
    )
    for col in ("model", "accuracy", "macro recall", "ECE"):
        cands.add_column(col, justify="left" if col == "model" else "right")
    for name in res.probabilities:
        m = report["models"][name] = metrics(res, name)
        cands.add_row(
            name + (" (shipped)" if name == shipped else ""),
            *(
                f"{m[k]['mean']:.3f} ± {m[k]['std']:.3f}"
                for k in ("accuracy", "macro_recall", "ece")
            ),
        )
        slug = "".join(ch if ch.isalnum() or ch in "_-" else "-" for ch in name).strip("-")
        confusion_png(res, name, m, out_dir / f"confusion-{slug.replace('--', '-')}.png")
    console.print(cands)
    for name in (shipped, "linear probe"):
        m = report["models"][name]
        t = Table(title=f"{name}: per genre, all seeds")
        for col in ("genre", "precision", "recall", "F1", "clips"):
            t.add_column(col, justify="left" if col == "genre" else "right")
        for lab, pc in m["per_class"].items():
            t.add_row(
                lab,
                f"{pc['precision']:.2f}",
                f"{pc['recall']:.2f}",
                f"{pc['f1']:.2f}",
                str(pc["support"]),
            )
        console.print(t)
    tg = report["tag_genres"] = tag_genre_report(res, d)
    if tg["written_share"]:
        t = Table(
            title=f"independent genres: share of test clips given each at p >= "
            f"{tg['threshold']} (no clip is labelled with them)"
        )
        t.add_column("genre")
        t.add_column("all clips", justify="right")
        t.add_column("by true genre (where > 0)")
        for genre, share in tg["written_share"].items():
            t.add_row(
                genre,
                f"{share['all']:.3f}",
                ", ".join(f"{lab} {share[lab]:.2f}" for lab in d.labels if share[lab] > 0)
                or "none",
            )
        console.print(t)
    if "held_out_genre_ece" in tg:
        console.print(
            f"independent genres' calibration, fitted without the genre it is "
            f"tested on: ECE {tg['held_out_genre_ece']:.3f}"
        )
    if albums:
        a = report["albums"] = album_report(res, shipped, d.groups)
        t = Table(
            title=f"{shipped}: albums ({a['albums']} artists' clips in their test "
            f"folds, {a['tracks_per_album']['min']}-{a['tracks_per_album']['max']} "
            "tracks each), mean ± std over seeds"
        )
        t.add_column("what")
        t.add_column("accuracy", justify="right")
        for key, what in (
            ("track", "tracks, each by its own audio"),
            ("album_verdict", "tracks, each given its album's verdict"),
            (
                "album_verdict_with_outliers",
                "tracks, album verdict, outliers keep their own (scan's default)",
            ),
            ("albums_right", "albums whose verdict is their main genre"),
            (
                "album_verdict_any_genre",
                "tracks, album verdict when any genre may win the pooled vote (rule before)",
            ),
            (
                "albums_nobody_ranks_first_any_genre",
                "albums whose verdict no track ranks first, when any genre may win (share)",
            ),
        ):
            t.add_row(what, f"{a[key]['mean']:.3f} ± {a[key]['std']:.3f}")
        console.print(t)
        both = a.get("with_independent_genres")
        if both:
            t = Table(title="albums decided from every output, the independent genres too")
            for col in (
                "rule",
                "tracks right (album verdict)",
                "albums unsure",
                "albums no track ranks first",
                "albums given an independent genre",
            ):
                t.add_column(col, justify="left" if col == "rule" else "right")
            for key, what in (
                ("rule", "the scan's: exclusive first, among its tracks' firsts"),
                ("rule_before", "before: every output ranked alike"),
            ):
                r = both[key]
                t.add_row(
                    what,
                    f"{r['tracks_given_the_album_verdict']['mean']:.3f}",
                    f"{r['albums_unsure']:.3f}",
                    f"{r['albums_no_track_ranks_first']:.3f}",
                    f"{r['albums_given_an_independent_genre']:.3f}",
                )
            console.print(t)
    if outside:
        report["out_of_distribution"] = held_out_genres(d, folds, recipe, seed)
    reliability_png(
        {name: report["models"][name] for name in (shipped, "linear probe")},
        out_dir / "reliability.png",
    )
    curves_png(res, out_dir / "learning-curves.png")
    if res.learning:
        report["learning_curve"] = learning_report(res)
    report["seconds"] = round(time.time() - started, 1)
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=1))
    console.print(
        f"metrics, confusion matrices, reliability plot and learning curves in "
        f"{out_dir}/ ({report['seconds']:.0f} s)",
        markup=False,
    )


def held_out_genres(d, folds: int, recipe, seed: int) -> dict:
    """``evaluate --hold-out-genres``: the measurement of ``training.evaluation.ood``,
    shown as a table."""
    from genretag.training.evaluation import ood

    with steps(err) as bar:
        task = bar.add_task("genres held out", total=len(d.labels), info="")
        scored = ood.hold_out_each(
            d.pooled(),
            d.y,
            d.labels,
            d.groups,
            recipe.probe,
            folds,
            seed,
            on_genre=lambda g: bar.advance(task),
        )
    out = ood.report(scored)
    t = Table(
        title=f"music of a genre the head never heard ({out['clips_outside']} clips) "
        f"beside held-out artists of the others ({out['clips_inside']})"
    )
    cols = (
        ("outside_given_a_genre", f"outside given a genre (p >= {out['sure_at']})"),
        ("outside_over_0.8", "outside over 0.8"),
        ("right_left_unsure", "right left unsure"),
        ("wrong_made_unsure", "wrong made unsure"),
        ("accuracy_of_those_given_a_genre", "accuracy of those given a genre"),
    )
    t.add_column("")
    for _, title in cols:
        t.add_column(title, justify="right")
    for key, what in (("head_alone", "the head alone"), ("with_familiarity", "with familiarity")):
        t.add_row(what, *(f"{out[key][c]:.3f}" for c, _ in cols))
    console.print(t)
    t = Table(title="each score: inside against outside")
    for col in ("score", "AUC", f"outside unsure, keeping {out['keep_right']:.0%} of right"):
        t.add_column(col, justify="left" if col == "score" else "right")
    for name, r in out["scores"].items():
        t.add_row(name, f"{r['auc_inside_vs_outside']:.3f}", f"{r['outside_made_unsure']:.3f}")
    console.print(t)
    return out


def artists_short_of(labels: list[str], y, groups: list[str], folds: int) -> list[tuple[str, int]]:
    """The genres with music by fewer artists than ``folds``, and how many they have."""
    artists: dict[int, set[str]] = {}
    for yi, g in zip(y.tolist(), groups):
        artists.setdefault(yi, set()).add(g)
    return [(labels[c], len(a)) for c, a in sorted(artists.items()) if len(a) < folds]


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(evaluate)
