"""Getting datasets ready for a recipe, shared by ``train`` and ``evaluate`` of every arch:
the datasets loaded as one, every window embedded (cached), and what a recipe needs beside.
Also the two screens the training commands print on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from genretag.cli.common import Screen, open_model, usage_error
from genretag.library.discover import printable
from genretag.render.progress import steps
from genretag.settings import Settings
from genretag.states import Engine

if TYPE_CHECKING:
    from genretag.training.recipes.recipe import Labelled, Recipe


console = Screen(highlight=False)  # piped: one line per row, as the tagger's commands
err = Screen(stderr=True, highlight=False)


def default_cache() -> Path:
    """Embeddings, features and log-mels live in the user cache folder, wherever the
    command runs (~/.cache/genretag/embeddings on Linux)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("genretag")) / "embeddings"


def prepare(
    datasets: list[Path],
    backbone: Path,
    cache: Path | None,
    settings: Settings,
    table_csv: Path | None,
    recipe: Recipe,
    clip_features: bool,
) -> Labelled:
    """Load the datasets (several as one: ``datasets.load_all``) and embed every window
    (cached), here or (the settings' engine) on a Ray cluster; read the feature table if
    given. ``clip_features`` also computes the table's columns from each clip's audio
    (evaluation needs them for its test clips); a recipe that trains at log-mel level gets
    the mels."""
    import numpy as np

    from genretag.hearing.rayengine import RayError
    from genretag.models import features
    from genretag.training.data.datasets import (
        DatasetError,
        load_all,
        load_feature_table,
        read_artists,
    )
    from genretag.training.data.embed import clip_mels, embed, table_features
    from genretag.training.recipes.featuremlp import window_features
    from genretag.training.recipes.rawcnn import clip_audio
    from genretag.training.recipes.recipe import Labelled

    if settings.engine == Engine.RAY:
        from genretag.hearing.rayengine import missing

        why = missing()
        if why:
            raise usage_error(why)
    workers = settings.decode_workers()
    cache = cache or default_cache()
    try:
        items = load_all(datasets)
    except DatasetError as e:
        raise usage_error(str(e)) from None
    dataset = datasets[0] if len(datasets) == 1 else Path(", ".join(map(str, datasets)))
    if not items:
        raise usage_error(f"{dataset}: no audio found")
    pretrained = open_model(backbone, settings.device, genre_model=False)
    opened_on = pretrained.device_type
    results = {}
    with steps(err) as bar:

        def run(what: str, fn, *args, **kwargs):
            task = bar.add_task(what, total=len(items), info="")
            results[what] = fn(items, *args, on_done=lambda: bar.advance(task), **kwargs)

        try:
            run(
                "embeddings",
                embed,
                pretrained,
                cache,
                workers,
                settings=settings,
                model_path=Path(backbone),
            )
        except RayError as e:
            raise usage_error(f"--engine ray: {e}") from None
        if clip_features:
            run("table features", table_features, cache, workers)
        if recipe.needs_mels:
            run(
                "log-mels",
                clip_mels,
                pretrained,
                cache,
                workers,
                n_mels=recipe.n_mels if recipe.from_scratch else 0,
            )
        if recipe.needs_window_features:
            run("window features", window_features, cache, workers)
        if recipe.needs_audio:
            run("audio", clip_audio, cache, workers)
    failed = {}
    for r in results.values():  # unreadable files are listed and left out, never fatal
        failed.update({path: why for path, why in r.failed if path not in failed})
    for path, why in failed.items():
        err.print(f"skipped {printable(path)}: {why}", markup=False, soft_wrap=True)
    items = [i for i in items if i.path not in failed]
    if not items:
        raise usage_error(f"{dataset}: no readable audio")
    labels = sorted({i.label for i in items})
    # whole networks train where the backbone was opened; heads and the backbone's copy
    # kept here stay on the CPU (small, and fed from numpy)
    d = Labelled(
        pretrained.to("cpu"),
        items,
        labels,
        [results["embeddings"].windows[i.path] for i in items],
        np.array([labels.index(i.label) for i in items]),
        device=opened_on,
        workers=workers,
    )
    if clip_features:
        d.clip_features = np.stack([results["table features"].windows[i.path] for i in items])
    if recipe.needs_mels:
        d.mels = [results["log-mels"].windows[i.path] for i in items]
    if recipe.needs_window_features:
        d.feature_windows = [results["window features"].windows[i.path] for i in items]
    if recipe.needs_audio:
        d.audio = [results["audio"].windows[i.path] for i in items]
    if table_csv is not None:
        try:
            artists = dataset / "artists.csv"
            d.table = load_feature_table(
                table_csv,
                labels,
                list(features.COLUMNS),
                read_artists(artists) if artists.is_file() else None,
            )
        except DatasetError as e:
            raise usage_error(str(e)) from None
        if len(set(d.table.y.tolist())) < 2:
            raise usage_error(
                f"{table_csv}: needs rows of at least two of the dataset's "
                f"labels ({', '.join(labels)})"
            )
        if d.table.skipped:
            err.print(
                f"{table_csv}: left out {d.table.skipped} rows with labels the audio does not have",
                markup=False,
                soft_wrap=True,
            )
    return d
