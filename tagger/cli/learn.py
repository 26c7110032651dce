"""``genretag learn``: a library's own genres, learnt from the tracks its owner tagged."""

from __future__ import annotations

from pathlib import Path

import typer

from genretag.cli.common import err, open_session, out, usage_error
from genretag.cli.options import SETTINGS, takes_settings
from genretag.library.discover import printable
from genretag.settings import LEARN, Settings


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
    from rich.table import Table

    from genretag.hearing.rayengine import RayError
    from genretag.learn import LearnError
    from genretag.render.learnt import (
        REPORT_COLUMNS,
        SUGGEST_COLUMNS,
        cell,
        lines,
        write_report,
    )
    from genretag.render.progress import steps

    if not model_file.absolute().parent.is_dir():
        raise usage_error(f"{model_file}: no such folder for the model file (--out)")
    if report is not None and report.suffix.lower() not in (".json", ".html"):
        raise usage_error(f"{report}: report must end in .json or .html")
    session = open_session(settings)
    try:
        with steps(err) as bar:
            task = []  # the hearing step, shown only when some track must be heard

            def hearing(n: int) -> None:
                task.append(bar.add_task("hearing", total=n, info=""))

            learned = session.learn(
                paths, on_heard=lambda n: bar.advance(task[0], n), on_hearing=hearing
            )
    except LearnError as e:
        raise usage_error(str(e)) from None
    except RayError as e:
        raise usage_error(f"--engine ray: {e}") from None
    finally:
        session.close()
    lib, learnt = learned.library, learned.learnt
    for path, reason in lib.errors:
        err.print(f"error: {printable(path)}: {reason}", markup=False, soft_wrap=True)
    table = Table(title="labels")
    for _, title in REPORT_COLUMNS:
        table.add_column(title)
    for r in learnt.results:
        table.add_row(*(cell(r, key) for key, _ in REPORT_COLUMNS))
    out.print(table)
    if learned.suggestions:
        shown = Table(title="tracks worth tagging first")
        for _, title in SUGGEST_COLUMNS:
            shown.add_column(title)
        for s in learned.suggestions:
            row = {**s.to_dict(), "path": printable(s.path)}
            shown.add_row(*(str(row[k]) for k, _ in SUGGEST_COLUMNS))
        out.print(shown)
    for line in lines(learned):
        out.print(line, markup=False)
    if report is not None:
        try:
            write_report(report, learned)
        except OSError as e:
            raise usage_error(f"{report}: cannot write the report ({e.strerror or e})") from None
    try:
        model_id = learned.save(model_file)
    except LearnError as e:
        raise usage_error(str(e)) from None
    filled = learned.filled
    out.print(
        f"wrote {model_file} ({sum(r.learnt for r in learnt.results)} labels learnt"
        + (f", {len(filled)} written as the base model's genres" if filled else "")
        + (f", {len(learnt.kept)} of the base model's own" if learnt.kept else "")
        + f", model {model_id}); tag the "
        f"untagged tracks with: genretag scan LIB --model {model_file}",
        markup=False,
    )
