"""``genretag learn``: a library's own genres, learnt from the tracks its owner tagged."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from genretag.cli.common import err, open_network, out, usage_error
from genretag.cli.options import SETTINGS, takes_settings
from genretag.library.discover import printable
from genretag.render.progress import steps
from genretag.settings import LEARN, Settings
from genretag.states import Engine


@takes_settings(LEARN)
def learn(
    paths: list[Path] = typer.Argument(..., help="Library folders (or files) to learn from."),
    model_file: Path = typer.Option(..., "--out", "-o", help="The model file to write."),
    report: Path | None = typer.Option(
        None, "--report", help="Write the label table as JSON (.json) or a page (.html)."
    ),
    settings: Settings = SETTINGS,
) -> None:
    """Learn a library's own genres from its tagged tracks; write them as a model file
    that `genretag scan --model` uses."""
    from genretag.cli.common import open_cache
    from genretag.hearing.rayengine import RayError, missing
    from genretag.hearing.windows import Coverage
    from genretag.learn import (
        LearnError,
        fill_in,
        fit,
        gather,
        hear,
        read_map,
        save,
    )
    from genretag.models.file import default_model_path
    from genretag.render.learnt import REPORT_COLUMNS, cell, write_report

    model, db, engine = settings.model, settings.db, settings.engine
    if not model_file.absolute().parent.is_dir():
        raise usage_error(f"{model_file}: no such folder for the model file (--out)")
    if report is not None and report.suffix.lower() not in (".json", ".html"):
        raise usage_error(f"{report}: report must end in .json or .html")
    why = missing() if engine == Engine.RAY else None
    if why:
        raise usage_error(why)
    lazy = open_network(settings)
    base = lazy.load()
    if not base.pools_statistics:
        raise usage_error(
            f"{model}: its head does not pool backbone statistics; learn "
            "needs the shipped model or one like it"
        )
    cache = open_cache(db)
    t0 = time.perf_counter()
    try:
        mapping = read_map(settings.genre_map)
        lib, to_hear = gather(paths, cache, base.backbone_id, mapping)
        used = Coverage(settings.coverage, settings.windows).resolved(base.device_type)
        if to_hear:  # else everything came from the cache: no step to show
            with steps(err) as bar:
                task = bar.add_task("hearing", total=len(to_hear), info="")
                hear(
                    lib,
                    to_hear,
                    base,
                    used,
                    cache,
                    lambda n: bar.advance(task, n),
                    settings,
                    model or default_model_path(),
                )
        learnt = fit(lib, settings.min_tracks, settings.min_artists, settings.min_precision)
        filled = fill_in(learnt, lib, base) if settings.fill_in else []
    except LearnError as e:
        raise usage_error(str(e)) from None
    except RayError as e:
        raise usage_error(f"--engine ray: {e}") from None
    finally:
        cache.close()
    for path, reason in lib.errors:
        err.print(f"error: {printable(path)}: {reason}", markup=False, soft_wrap=True)
    table = Table(title="labels")
    for _, title in REPORT_COLUMNS:
        table.add_column(title)
    for r in learnt.results:
        table.add_row(*(cell(r, key) for key, _ in REPORT_COLUMNS))
    out.print(table)
    summary = (
        f"{len(lib.tagged)} tagged and {len(lib.untagged)} untagged tracks; "
        f"heard {lib.heard} now, {len(lib.tagged) + len(lib.untagged) - lib.heard} "
        f"from the cache; {lib.own_skipped} genres genretag wrote left out; "
        f"{time.perf_counter() - t0:.1f} s"
    )
    out.print(summary, markup=False)
    if report is not None:
        try:
            write_report(report, learnt, summary)
        except OSError as e:
            raise usage_error(f"{report}: cannot write the report ({e.strerror or e})") from None
    try:
        model_id = save(learnt, lib, base, lazy.path, model_file, filled)
    except LearnError as e:
        raise usage_error(str(e)) from None
    out.print(
        f"wrote {model_file} ({len(learnt.keys)} labels learnt"
        + (f", {len(filled)} filled in by the base model" if filled else "")
        + f", model {model_id}); tag the "
        f"untagged tracks with: genretag scan LIB --model {model_file}",
        markup=False,
    )
