"""What a scan shows a person: the terminal table and summary, the list of what a real run
changed, and JSON/CSV/HTML reports.

Every format renders a row from one list of :class:`Column`\\ s: what JSON and CSV hold
(``data``) and what the terminal and the page show (``shown``). The summary is one list of
:class:`Line`\\ s too, for the terminal and for JSON. The HTML page is a template with its
CSS and script beside this module (``page/``), filled in and made one self-contained file.

Every row shows the genres the file holds now, the verdict that holds for it, and where
that verdict's prediction came from (heard in this run, or the cache). Paths are shown
relative to the folder the person named. Paths, genres and errors come from files and
users: the terminal shows them as plain ``Text`` (never rich markup, so ``Rock [/live]``
prints as it is), the HTML escapes them, and the CSV guards cells that a spreadsheet would
run as formulas.
"""

from __future__ import annotations

import csv
import html
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from string import Template

from rich.console import Console
from rich.table import Table
from rich.text import Text

from genretag.deciding.decider import Row
from genretag.library.discover import NOT_UTF8, printable
from genretag.scan import ScanResult
from genretag.states import SCAN_STATUSES, Decided, Source, Status

REPORT_SUFFIXES = (".json", ".csv", ".html", ".parquet")
PARQUET_ROWS = 65_536  # rows per row group: a million-row report is written in slices
# the terminal's colour per status (the page's are in page/report.css)
STATUS_STYLE = {
    Status.TAGGED: "green",
    Status.WOULD_TAG: "cyan",
    Status.KEPT: "dim",
    Status.UNSURE: "yellow",
    Status.CONFLICT: "magenta",
    Status.ERROR: "red",
}
WITH_GENRES = (Status.TAGGED, Status.WOULD_TAG, Status.KEPT)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SINGLES = "tracks decided one by one"
LISTED_AFTER_A_RUN = (Status.TAGGED, Status.CONFLICT, Status.UNSURE)  # errors: at the end


def _genres(values: list[str] | None) -> str:
    return "; ".join(values) if values else "—"


def shown_path(path: str, roots: list[Path]) -> str:
    """A path relative to the folder the person named (however they named it), when it is
    inside one, else whole; printable (``library.discover.printable``)."""
    for root in roots:
        try:
            return printable(Path(path).relative_to(root.resolve()))
        except ValueError:
            continue
    return printable(path)


def verdict_text(r: Row) -> str:
    """A row's verdict in words: what the file would hold (under ``--merge``, the user's
    genres too), an unsure track's best guess, or the error."""
    if r.status == Status.ERROR:
        return r.error or ""
    if r.status == Status.UNSURE:
        if r.best and r.confidence is not None:
            return f"{r.best}? {r.confidence:.2f}"
        return r.error or "—"  # nothing heard: why (a silent track)
    return _genres(r.written if r.written is not None else r.genres)


def _unnamed(r: Row) -> str:
    """Where an album's verdict also came from tracks the person did not name."""
    n = r.album_unnamed
    return f" (with {n} track{'s' if n > 1 else ''} not named)" if n else ""


def album_text(r: Row) -> str:
    if r.album is None:
        return ""
    return r.album + _unnamed(r)


# -- one column spec for every format ----------------------------------------------------------


@dataclass(frozen=True)
class View:
    """How a report is made: the folders named (paths are shown relative to them) and
    whether it is a dry run's."""

    roots: tuple[Path, ...] = ()
    dry_run: bool = False


@dataclass(frozen=True)
class Column:
    """One column of the reports: its ``key`` in JSON and CSV (``dry_key`` in a dry run's),
    the value those hold (``data``), and, where a person sees it, its ``title`` and text
    (``shown``) in the terminal table (``table``) and the page (``page``)."""

    key: str
    data: Callable[[Row], object] | None  # None: shown, not held
    title: str = ""
    shown: Callable[[Row, View], str] | None = None
    table: bool = True
    page: bool = True
    dry_key: str = ""
    dry_title: str = ""

    def value(self, r: Row) -> object:
        """What JSON and CSV hold for ``r`` (a column in ``DATA``)."""
        assert self.data is not None, self.key
        return self.data(r)

    def text(self, r: Row, view: View) -> str:
        """What a person sees for ``r`` (a column in ``TABLE`` or ``PAGE``)."""
        assert self.shown is not None, self.key
        return self.shown(r, view)

    def key_in(self, view: View) -> str:
        return self.dry_key if view.dry_run and self.dry_key else self.key

    def title_in(self, view: View) -> str:
        return self.dry_title if view.dry_run and self.dry_title else self.title


COLUMNS = (
    Column("path", lambda r: r.path, "file", lambda r, v: shown_path(r.path, list(v.roots))),
    Column(
        "status",
        lambda r: r.status,
        "status",
        lambda r, v: (
            r.status
            + (" (outlier)" if r.outlier else "")
            + (f" ({r.decision} in review)" if r.decision else "")
        ),
    ),
    Column("source", lambda r: r.source, "from", lambda r, v: r.source or "—"),
    Column("genres", lambda r: r.genres),  # the verdict's genres (JSON, CSV)
    Column("previous", lambda r: r.previous, "genre now", lambda r, v: _genres(r.previous)),
    # the terminal shows what the file would hold; the page the verdict, and apart from it
    # what was (or would be) written and the error
    Column("proposed", None, "proposed", lambda r, v: verdict_text(r), page=False),
    Column(
        "verdict",
        None,
        "proposed",
        table=False,
        shown=lambda r, v: verdict_text(r) if r.status == Status.UNSURE else _genres(r.genres),
    ),
    Column(
        "confidence",
        lambda r: r.confidence,
        "confidence",
        lambda r, v: "" if r.confidence is None else f"{r.confidence:.2f}",
    ),
    Column(
        "written",
        lambda r: r.written,
        "written",
        lambda r, v: _genres(r.written) if r.written is not None else "",
        table=False,
        dry_key="would_write",
        dry_title="would write",
    ),
    Column("album", lambda r: r.album, "album", lambda r, v: album_text(r), page=False),
    Column("outlier", lambda r: r.outlier),
    Column("album_unnamed", lambda r: r.album_unnamed),
    Column("best", lambda r: r.best),
    Column("decision", lambda r: r.decision),  # genretag review's, which the verdict follows
    Column("error", lambda r: r.error, "error", lambda r, v: r.error or "", table=False),
    Column("error_detail", lambda r: r.detail or None),
    Column("probabilities", lambda r: r.probabilities),  # the track's own audio's
    Column("album_probabilities", lambda r: r.album_probabilities),  # what decided it
)
DATA = [c for c in COLUMNS if c.data is not None]  # what JSON and CSV hold
TABLE = [c for c in COLUMNS if c.shown is not None and c.table]
PAGE = [c for c in COLUMNS if c.shown is not None and c.page]


def row_data(r: Row, view: View) -> dict:
    """A row as JSON holds it."""
    return {c.key_in(view): c.value(r) for c in DATA}


def utf8_text(value):
    """``value``, or where it is a file name that is not UTF-8 (CSV and Arrow text must be),
    the text ``printable`` shows for it."""
    return printable(value) if isinstance(value, str) and NOT_UTF8.search(value) else value


def csv_value(value) -> object:
    """A value as one CSV cell: lists joined, mappings as JSON, nothing as empty, a file
    name that is not UTF-8 as ``printable`` shows it."""
    value = utf8_text(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list):
        return "; ".join(value)
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def csv_cell(value) -> object:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a leading
    apostrophe (the OWASP guard against CSV injection); numbers stay numbers."""
    if not isinstance(value, str):
        return value
    return "'" + value if value.startswith(FORMULA_START) else value


def rows_table(
    rows: list[Row], title: str, roots: list[Path] | None = None, dry_run: bool = True
) -> Table:
    view = View(tuple(roots or ()), dry_run)
    table = Table(title=title, show_lines=False, expand=False)
    for c in TABLE:
        table.add_column(
            c.title_in(view), overflow="fold", justify="right" if c.key == "confidence" else "left"
        )
    for r in rows:
        cells = [Text(c.text(r, view)) for c in TABLE]
        cells[1].stylize(STATUS_STYLE.get(r.status, ""))
        table.add_row(*cells)
    return table


# -- the summary -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of the summary: its key in JSON, its words in the terminal, its value."""

    key: str
    words: str
    value: object


def summary_lines(result: ScanResult, dry_run: bool) -> list[Line]:
    """The summary, for the terminal and for JSON alike."""
    counts = result.counts()
    undecided = sum(result.undecided.values())
    sources = Counter(r.source for r in result.rows if r.status != Status.ERROR)
    sources.update(result.undecided)
    lines = [Line("tracks", "tracks", result.tracks)]
    lines += [Line(f"statuses.{s}", f"  {s}", counts[s]) for s in SCAN_STATUSES]
    lines += [
        Line("undecided", "  heard, not decided (interrupted; cached for the next run)", undecided),
        Line("sources.heard", "predictions heard now", sources.get(Source.HEARD, 0)),
        Line("sources.cache", "predictions from the cache", sources.get(Source.CACHE, 0)),
        Line("albums_decided", "albums decided together", len(result.albums)),
        Line("skipped", "skipped", len(result.skipped)),
        Line(
            "leftovers",
            "temporary files of interrupted writes "
            + ("found (a real run removes them)" if dry_run else "removed"),
            result.leftovers,
        ),
    ]
    lines += [
        Line(f"genres.{genre}", f"  genre: {genre}", n)
        for genre, n in genre_counts(result.rows).most_common()
    ]
    return lines


def summary_table(result: ScanResult, dry_run: bool) -> Table:
    t = Table(title="dry run: nothing was written" if dry_run else "summary", show_header=False)
    t.add_column("what")
    t.add_column("n", justify="right")
    for line in summary_lines(result, dry_run):
        always = line.key in ("tracks", "sources.heard", "sources.cache", "skipped")
        if line.value or always:
            t.add_row(Text(line.words), str(line.value))
    if result.elapsed > 0:
        t.add_row("time", f"{result.elapsed:.1f} s ({result.tracks / result.elapsed:.1f} tracks/s)")
    return t


def _summary(result: ScanResult, dry_run: bool) -> dict:
    out: dict = {}
    for line in summary_lines(result, dry_run):
        group, _, name = line.key.partition(".")
        if name:
            out.setdefault(group, {})[name] = line.value
        else:
            out[group] = line.value
    out["albums"] = result.albums  # title -> its verdict
    out["skipped"] = [{"path": p, "reason": why} for p, why in result.skipped]
    out.update(
        {
            "seconds": round(result.elapsed, 3),
            "decoded": result.decoded,
            "device": result.device,
            "coverage": result.coverage,
            "time_split": {
                "decode_all_workers": round(result.timings.decode, 3),
                "frontend": round(result.timings.frontend, 3),
                "cnn": round(result.timings.cnn, 3),
                "tags": round(result.tag_seconds, 3),
                "cache": round(result.cache_seconds, 3),
            },
            "windows": result.timings.windows,
        }
    )
    if result.decoded_on:  # --engine ray: the tracks each node decoded and heard
        out["decoded_on"], out["heard_on"] = dict(result.decoded_on), dict(result.heard_on)
    return out


# -- what a real run prints --------------------------------------------------------------------


def print_changes(
    console: Console, result: ScanResult, roots: list[Path], quiet: bool, statuses: set[str]
) -> None:
    """What a real run did: one line per file written, left alone as a conflict, or
    unsure (``statuses`` of them), or with ``quiet`` one line in all. Errors are listed at
    the end (``print_errors``)."""
    written = [r for r in result.rows if r.status == Status.TAGGED]
    if quiet:
        if written:
            console.print(f"wrote the genre of {len(written)} file(s)", markup=False)
        return
    for r in result.rows:
        if r.decision == Decided.STALE:  # a decision the run did not follow: always said
            console.print(
                f"stale: {shown_path(r.path, roots)}: {r.error}", markup=False, soft_wrap=True
            )
            continue
        if r.status not in statuses or r.status == Status.ERROR:
            continue
        path = shown_path(r.path, roots)
        if r.status == Status.TAGGED:
            line = f"{_genres(r.previous)} → {_genres(r.written)}"
        elif r.status == Status.CONFLICT:
            line = (
                f"has {_genres(r.previous)}, the audio says {_genres(r.genres)} "
                f"{r.confidence:.2f} (kept; --overwrite replaces it)"
            )
        else:
            line = verdict_text(r)
        console.print(f"{r.status}: {path}: {line}", markup=False, soft_wrap=True)


def print_skipped(console: Console, result: ScanResult, roots: list[Path]) -> None:
    for path, why in result.skipped:
        console.print(f"skipped: {shown_path(path, roots)}: {why}", markup=False, soft_wrap=True)


def genre_counts(rows: list[Row]) -> Counter:
    """The genres the files hold after the run (a dry run's: would hold), of the rows that
    hold the verdict: written, or kept (a file kept under fill holds its own genres)."""
    counts: Counter = Counter()
    for r in rows:
        if r.status in WITH_GENRES:
            counts.update(
                r.written
                if r.written is not None
                else r.previous
                if r.status == Status.KEPT
                else r.genres
            )
    return counts


def print_errors(console: Console, result: ScanResult, verbose: bool = False) -> None:
    """The files that failed, one line each; with ``verbose``, what the decoder said."""
    errors = [r for r in result.rows if r.status == Status.ERROR]
    if errors:
        console.print(f"[red]{len(errors)} file(s) failed:[/]")
        for r in errors:
            console.print(
                f"  {printable(r.path)}: {r.error}", markup=False, highlight=False, soft_wrap=True
            )
            for line in r.detail.splitlines() if verbose and r.detail else ():
                console.print(f"      {line}", markup=False, highlight=False, soft_wrap=True)


# -- report files ------------------------------------------------------------------------------


def write_report(
    path: Path,
    result: ScanResult,
    dry_run: bool,
    rows: list[Row] | None = None,
    roots: list[Path] | None = None,
) -> None:
    """``rows``: the rows to list (all by default; the summary always counts them all)."""
    rows = result.rows if rows is None else rows
    view = View(tuple(roots or ()), dry_run)
    suffix = path.suffix.lower()
    if suffix == ".json":
        # streamed: no copy of it in memory; a file name that is not UTF-8 is kept whole,
        # its undecodable bytes as the JSON escapes \\udc80-\\udcff (Python's os.fsencode
        # gives the bytes back)
        with open(path, "w", encoding="utf-8", errors="backslashreplace") as f:
            json.dump(
                {
                    "dry_run": dry_run,
                    "summary": _summary(result, dry_run),
                    "rows": [row_data(r, view) for r in rows],
                },
                f,
                indent=1,
                ensure_ascii=False,
            )
    elif suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow([c.key_in(view) for c in DATA])
            for r in rows:
                w.writerow([csv_cell(csv_value(c.value(r))) for c in DATA])
    elif suffix == ".html":
        path.write_text(_html(result, rows, view), encoding="utf-8")
    elif suffix == ".parquet":
        _parquet(path, rows, view)
    else:
        raise ValueError(f"{path}: report must end in .json, .csv, .html or .parquet")


def parquet_missing() -> str | None:
    """Why a Parquet report cannot be written here, or None."""
    from importlib.util import find_spec

    return None if find_spec("pyarrow") else "a .parquet report needs pyarrow: pip install pyarrow"


def _parquet(path: Path, rows: list[Row], view: View) -> None:
    """The rows as a columnar file, for data teams at a million rows: the JSON report's
    columns, typed (genre lists as lists of strings, flags as booleans), and in place of
    the probabilities one float column per label, ``p_<label>`` (null where the track was
    not heard), and the album's it was decided with, ``album_p_<label>`` (null for a track
    decided alone)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    labels = list(dict.fromkeys(k for r in rows for k in (r.probabilities or {})))
    lists = {"genres", "previous", "written"}
    flags = {"outlier", "album_unnamed"}
    spread = ("probabilities", "album_probabilities")  # one column per label, each
    data_columns = [c for c in DATA if c.key not in spread]
    fields = []
    for c in data_columns:
        kind = (
            pa.list_(pa.string())
            if c.key in lists
            else pa.bool_()
            if c.key in flags
            else pa.float64()
            if c.key == "confidence"
            else pa.string()
        )
        fields.append(pa.field(c.key_in(view), kind))
    fields += [
        pa.field(f"{prefix}{label}", pa.float64())
        for prefix in ("p_", "album_p_")
        for label in labels
    ]
    schema = pa.schema(fields)
    with pq.ParquetWriter(str(path), schema) as writer:
        for start in range(0, max(len(rows), 1), PARQUET_ROWS):
            part = rows[start : start + PARQUET_ROWS]
            arrays = [
                pa.array([_plain(c.value(r), c.key in flags) for r in part], type=f.type)
                for c, f in zip(data_columns, fields)
            ]
            arrays += [
                pa.array([(getattr(r, key) or {}).get(label) for r in part], type=pa.float64())
                for key in spread
                for label in labels
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def _plain(value, flag: bool = False):
    """A row's value as Arrow takes it: enums as their text, flags (0/1) as booleans, a file
    name that is not UTF-8 as ``printable`` shows it (Arrow's strings are UTF-8)."""
    if flag and value is not None:
        return bool(value)
    value = utf8_text(value)
    return value.value if hasattr(value, "value") else value


E = html.escape


def _chart(counts: list[tuple[str, int]]) -> str:
    if not counts:
        return "<p>none</p>"
    top = max(n for _, n in counts)
    bars = []
    for i, (genre, n) in enumerate(counts):
        y, w = 8 + i * 26, 420 * n / top
        bars.append(
            f'<text x="150" y="{y + 14}" text-anchor="end">{E(genre)}</text>'
            f'<rect x="158" y="{y}" width="{w:.1f}" height="18" fill="#4a7bd0"/>'
            f'<text x="{164 + w:.1f}" y="{y + 14}">{n}</text>'
        )
    return (
        f'<svg width="640" height="{16 + 26 * len(counts)}" role="img" '
        f'aria-label="genre distribution">{"".join(bars)}</svg>'
    )


def _track_row(r: Row, view: View) -> str:
    genres = "|".join(sorted(set(r.genres) | set(r.previous)))
    return (
        f'<tr class="track {E(r.status)}" data-status="{E(r.status)}" '
        f'data-genres="{E(genres)}">'
        + "".join(f"<td>{E(c.text(r, view))}</td>" for c in PAGE)
        + "</tr>"
    )


def page_file(name: str) -> str:
    """A file of the report page (``page/``): its template, CSS or script."""
    return (files("genretag.render") / "page" / name).read_text(encoding="utf-8")


def _html(result: ScanResult, rows: list[Row], view: View) -> str:
    """One self-contained page (``page/report.html`` with its CSS and script): a genre
    chart, then the tracks grouped by album with the album's verdict, coloured by status,
    sortable by any column (an arrow shows the direction), filtered by status and genre
    (also from the address: ``#status=conflict&genre=Rock&sort=4``), and the skipped
    files."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.album if r.album is not None else SINGLES, []).append(r)
    order = sorted(groups, key=lambda a: (a == SINGLES, a.casefold()))
    bodies = []
    for title in order:
        verdict = result.albums.get(title)
        head = E(title + _unnamed(groups[title][0])) + (
            f" — album verdict: <b>{E(_genres(verdict))}</b>" if verdict is not None else ""
        )
        bodies.append(
            f'<tbody class="group"><tr class="album"><th colspan="{len(PAGE)}">'
            f"{head} ({len(groups[title])} tracks)</th></tr>"
            + "".join(_track_row(r, view) for r in groups[title])
            + "</tbody>"
        )
    statuses = [s for s in SCAN_STATUSES if any(r.status == s for r in rows)]
    genres = sorted({g for r in rows for g in (*r.genres, *r.previous)}, key=str.casefold)
    counts = ", ".join(f"{k}: {v}" for k, v in result.counts().items() if v)
    title = "genretag dry run" if view.dry_run else "genretag scan"
    return Template(page_file("report.html")).substitute(
        title=title,
        css=page_file("report.css"),
        js=page_file("report.js"),
        intro=f"{len(result.rows)} tracks ({E(counts)}); {len(result.albums)} albums decided "
        f"together; {len(result.skipped)} skipped.",
        chart=_chart(genre_counts(result.rows).most_common()),
        status_options="".join(f'<option value="{E(s)}">{E(s)}</option>' for s in statuses),
        genre_options="".join(f'<option value="{E(g)}">{E(g)}</option>' for g in genres),
        head="".join(
            f'<th onclick="sortBy({i})">{E(c.title_in(view))} <span class="arrow"></span></th>'
            for i, c in enumerate(PAGE)
        ),
        bodies="\n".join(bodies),
        skipped="".join(
            f"<li>{E(shown_path(p, list(view.roots)))}: {E(why)}</li>" for p, why in result.skipped
        )
        or "<li>none</li>",
    )
