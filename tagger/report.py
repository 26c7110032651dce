"""What a scan shows a person: the terminal table and summary, the list of what a real run
changed, and JSON/CSV/HTML reports.

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
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .scan import ScanResult
from .states import SCAN_STATUSES, Status
from .tagging import Row

REPORT_SUFFIXES = (".json", ".csv", ".html")
STATUS_STYLE = {Status.TAGGED: "green", Status.WOULD_TAG: "cyan", Status.KEPT: "dim",
                Status.UNSURE: "yellow", Status.CONFLICT: "magenta", Status.ERROR: "red"}
WITH_GENRES = (Status.TAGGED, Status.WOULD_TAG, Status.KEPT)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SINGLES = "tracks decided one by one"


def _genres(values: list[str] | None) -> str:
    return "; ".join(values) if values else "—"


def shown_path(path: str, roots: list[Path]) -> str:
    """A path relative to the folder the person named (however they named it), when it is
    inside one; else as it is."""
    for root in roots:
        try:
            return str(Path(path).relative_to(root.resolve()))
        except ValueError:
            continue
    return path


def _album(r: Row) -> str:
    if r.album is None:
        return ""
    return r.album + _unnamed(r) + (" (outlier)" if r.outlier else "")


def _unnamed(r: Row) -> str:
    """Where an album's verdict also came from tracks the person did not name."""
    n = r.album_unnamed
    return f" (with {n} track{'s' if n > 1 else ''} not named)" if n else ""


def rows_table(rows: list[Row], title: str, roots: list[Path] | None = None) -> Table:
    table = Table(title=title, show_lines=False, expand=False)
    for name in ("file", "status", "from", "genre now", "→ proposed", "conf.", "album"):
        table.add_column(name, overflow="fold", justify="right" if name == "conf." else "left")
    for r in rows:
        # what the file would hold (under --merge, the user's genres too), else the verdict
        proposed = verdict_text(r)
        conf = f"{r.confidence:.2f}" if r.confidence is not None else ""
        table.add_row(Text(shown_path(r.path, roots or [])),
                      Text(r.status, style=STATUS_STYLE.get(r.status, "")),
                      Text(r.source or "—"),
                      Text(_genres(r.previous)), Text(proposed or ""), conf, Text(_album(r)))
    return table


LISTED_AFTER_A_RUN = (Status.TAGGED, Status.CONFLICT, Status.UNSURE)  # errors: at the end


def verdict_text(r: Row) -> str:
    """A row's verdict in words: the genres, an unsure track's best guess, or the error."""
    if r.status == Status.ERROR:
        return r.error or ""
    if r.status == Status.UNSURE:
        return f"{r.best}? {r.confidence:.2f}" if r.best and r.confidence is not None else "—"
    return _genres(r.written if r.written is not None else r.genres)


def print_changes(console: Console, result: ScanResult, roots: list[Path], quiet: bool,
                  statuses: set[str]) -> None:
    """What a real run did: one line per file written, left alone as a conflict, or
    unsure (``statuses`` of them), or with ``quiet`` one line in all. Errors are listed at
    the end (``print_errors``)."""
    written = [r for r in result.rows if r.status == Status.TAGGED]
    if quiet:
        if written:
            console.print(f"wrote the genre of {len(written)} file(s)", markup=False)
        return
    for r in result.rows:
        if r.status not in statuses or r.status == Status.ERROR:
            continue
        path = shown_path(r.path, roots)
        if r.status == Status.TAGGED:
            line = f"{_genres(r.previous)} → {_genres(r.written)}"
        elif r.status == Status.CONFLICT:
            line = (f"has {_genres(r.previous)}, the audio says {_genres(r.genres)} "
                    f"{r.confidence:.2f} (kept; --overwrite replaces it)")
        else:
            line = verdict_text(r)
        console.print(f"{r.status}: {path}: {line}", markup=False, soft_wrap=True)


def print_skipped(console: Console, result: ScanResult, roots: list[Path]) -> None:
    for path, why in result.skipped:
        console.print(f"skipped: {shown_path(path, roots)}: {why}", markup=False,
                      soft_wrap=True)


def genre_counts(rows: list[Row]) -> Counter:
    counts: Counter = Counter()
    for r in rows:
        if r.status in WITH_GENRES:
            counts.update(r.written if r.written is not None else r.genres)
    return counts


def summary_table(result: ScanResult, dry_run: bool) -> Table:
    counts = result.counts()
    total = len(result.rows) + sum(result.undecided.values())
    t = Table(title="dry run: nothing was written" if dry_run else "summary", show_header=False)
    t.add_column("what")
    t.add_column("n", justify="right")
    t.add_row("tracks", str(total))
    for status in SCAN_STATUSES:
        if counts[status]:
            t.add_row(f"  {status}", str(counts[status]))
    if result.undecided:
        t.add_row("  heard, not decided (interrupted; cached for the next run)",
                  str(sum(result.undecided.values())))
    sources = Counter(r.source for r in result.rows if r.status != Status.ERROR)
    sources.update(result.undecided)
    t.add_row("predictions heard now / from the cache",
              f"{sources.get('heard', 0)} / {sources.get('cache', 0)}")
    if result.albums:
        t.add_row("albums decided together", str(len(result.albums)))
    t.add_row("skipped", str(len(result.skipped)))
    if result.leftovers:
        t.add_row("temporary files of interrupted writes "
                  + ("found (a real run removes them)" if dry_run else "removed"),
                  str(result.leftovers))
    for genre, n in genre_counts(result.rows).most_common():
        t.add_row(Text(f"  genre: {genre}"), str(n))
    if result.elapsed > 0:
        t.add_row("time", f"{result.elapsed:.1f} s ({total / result.elapsed:.1f} tracks/s)")
    return t


def print_errors(console: Console, result: ScanResult) -> None:
    errors = [r for r in result.rows if r.status == Status.ERROR]
    if errors:
        console.print(f"[red]{len(errors)} file(s) failed:[/]")
        for r in errors:
            console.print(f"  {r.path}: {r.error}", markup=False, highlight=False, soft_wrap=True)


def write_report(path: Path, result: ScanResult, dry_run: bool, rows: list[Row] | None = None,
                 roots: list[Path] | None = None) -> None:
    """``rows``: the rows to list (all by default; the summary always counts them all)."""
    rows = result.rows if rows is None else rows
    suffix = path.suffix.lower()
    if suffix == ".json":
        with open(path, "w", encoding="utf-8") as f:  # streamed: no copy of it in memory
            json.dump({"dry_run": dry_run, "summary": _summary(result),
                       "rows": [r.to_dict(dry_run) for r in rows]}, f, indent=1,
                      ensure_ascii=False)
    elif suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["path", "status", "source", "genres", "confidence", "previous",
                        "would_write" if dry_run else "written", "album", "outlier", "error",
                        "probabilities"])
            for r in rows:
                w.writerow([csv_cell(c) for c in (
                    r.path, r.status, r.source or "", "; ".join(r.genres), r.confidence or "",
                    "; ".join(r.previous), "; ".join(r.written or []), r.album or "",
                    int(r.outlier), r.error or "", json.dumps(r.probabilities))])
    elif suffix == ".html":
        path.write_text(_html(result, dry_run, rows, roots or []), encoding="utf-8")
    else:
        raise ValueError(f"{path}: report must end in .json, .csv or .html")


def csv_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a leading
    apostrophe (the OWASP guard against CSV injection); numbers stay numbers."""
    if not isinstance(value, str):
        return value
    return "'" + value if value.startswith(FORMULA_START) else value


def _summary(result: ScanResult) -> dict:
    return {"tracks": len(result.rows), "statuses": result.counts(),
            "sources": dict(Counter(r.source for r in result.rows)),
            "genres": dict(genre_counts(result.rows).most_common()),
            "albums": result.albums,
            "skipped": [{"path": p, "reason": why} for p, why in result.skipped],
            "leftovers": result.leftovers,
            "seconds": round(result.elapsed, 3), "decoded": result.decoded,
            "device": result.device, "coverage": result.coverage,
            "time_split": {"decode_all_workers": round(result.timings.decode, 3),
                           "frontend": round(result.timings.frontend, 3),
                           "cnn": round(result.timings.cnn, 3),
                           "tags": round(result.tag_seconds, 3),
                           "cache": round(result.cache_seconds, 3)},
            "windows": result.timings.windows}


# -- the HTML page ---------------------------------------------------------------------------

E = html.escape
COLUMNS = ["file", "status", "from", "genre now", "proposed", "confidence", "written",
           "error"]
STATUS_COLOUR = {"tagged": "#d9f2d9", "would-tag": "#d8eefa", "kept": "#eeeeee",
                 "unsure": "#fff4c2", "conflict": "#f7d9f0", "error": "#f9d2d2"}


def _chart(counts: list[tuple[str, int]]) -> str:
    if not counts:
        return "<p>none</p>"
    top = max(n for _, n in counts)
    bars = []
    for i, (genre, n) in enumerate(counts):
        y, w = 8 + i * 26, 420 * n / top
        bars.append(f'<text x="150" y="{y + 14}" text-anchor="end">{E(genre)}</text>'
                    f'<rect x="158" y="{y}" width="{w:.1f}" height="18" fill="#4a7bd0"/>'
                    f'<text x="{164 + w:.1f}" y="{y + 14}">{n}</text>')
    return (f'<svg width="640" height="{16 + 26 * len(counts)}" role="img" '
            f'aria-label="genre distribution">{"".join(bars)}</svg>')


def _track_row(r: Row, roots: list[Path]) -> str:
    cells = [shown_path(r.path, roots), r.status + (" (outlier)" if r.outlier else ""),
             r.source or "—", _genres(r.previous),
             verdict_text(r) if r.status == Status.UNSURE else _genres(r.genres),
             "" if r.confidence is None else f"{r.confidence:.3f}",
             _genres(r.written) if r.written is not None else "", r.error or ""]
    genres = "|".join(sorted(set(r.genres) | set(r.previous)))
    return (f'<tr class="track {E(r.status)}" data-status="{E(r.status)}" '
            f'data-genres="{E(genres)}">'
            + "".join(f"<td>{E(c)}</td>" for c in cells) + "</tr>")


def _html(result: ScanResult, dry_run: bool, rows: list[Row], roots: list[Path]) -> str:
    """One self-contained page: a genre chart, then the tracks grouped by album with the
    album's verdict, coloured by status, sortable by any column (an arrow shows the
    direction), filtered by status and genre (also from the address:
    ``#status=conflict&genre=Rock&sort=4``), and the skipped files."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.album if r.album is not None else SINGLES, []).append(r)
    order = sorted(groups, key=lambda a: (a == SINGLES, a.casefold()))
    bodies = []
    for title in order:
        verdict = result.albums.get(title)
        head = E(title + _unnamed(groups[title][0])) + (
            f" — album verdict: <b>{E(_genres(verdict))}</b>" if verdict is not None else "")
        bodies.append(f'<tbody class="group"><tr class="album"><th colspan="{len(COLUMNS)}">'
                      f'{head} ({len(groups[title])} tracks)</th></tr>'
                      + "".join(_track_row(r, roots) for r in groups[title]) + "</tbody>")
    statuses = [s for s in SCAN_STATUSES if any(r.status == s for r in rows)]
    genres = sorted({g for r in rows for g in (*r.genres, *r.previous)}, key=str.casefold)
    status_options = "".join(f'<option value="{E(s)}">{E(s)}</option>' for s in statuses)
    genre_options = "".join(f'<option value="{E(g)}">{E(g)}</option>' for g in genres)
    head = "".join(f'<th onclick="sortBy({i})">{E(h)} <span class="arrow"></span></th>'
                   for i, h in enumerate(COLUMNS[:6] + ["would write" if dry_run else "written",
                                                        "error"]))
    colours = "\n".join(f"tr.{s} td {{ background: {c}; }}" for s, c in STATUS_COLOUR.items())
    counts = ", ".join(f"{k}: {v}" for k, v in result.counts().items() if v)
    skipped = "".join(f"<li>{E(shown_path(p, roots))}: {E(why)}</li>"
                      for p, why in result.skipped) or "<li>none</li>"
    title = "genretag dry run" if dry_run else "genretag scan"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; }}
thead th {{ cursor: pointer; background: #ddd; }} svg text {{ font: 12px system-ui, sans-serif; }}
tr.album th {{ text-align: left; background: #f4f4f8; }}
{colours}
#filters {{ margin: 1em 0; }}
</style></head><body>
<h1>{title}</h1>
<p>{len(result.rows)} tracks ({E(counts)}); {len(result.albums)} albums decided together;
{len(result.skipped)} skipped.</p>
<h2>Genres</h2>{_chart(genre_counts(result.rows).most_common())}
<h2>Tracks</h2>
<p id="filters">Status <select id="status"><option value="">all</option>{status_options}</select>
Genre <select id="genre"><option value="">all</option>{genre_options}</select>
<span id="shown"></span>. Click a column heading to sort.</p>
<table id="rows"><thead><tr>{head}</tr></thead>
{chr(10).join(bodies)}
</table>
<h2>Skipped</h2><ul id="skipped">{skipped}</ul>
<script>
const state = {{col: -1, dir: 1}};
function sortBy(col) {{
  state.dir = state.col === col ? -state.dir : 1;
  state.col = col;
  document.querySelectorAll('#rows tbody.group').forEach(body => {{
    const rows = Array.from(body.querySelectorAll('tr.track'));
    rows.sort((a, b) => {{
      const x = a.cells[col].textContent, y = b.cells[col].textContent;
      const nx = parseFloat(x), ny = parseFloat(y);
      const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return c * state.dir;
    }});
    rows.forEach(r => body.appendChild(r));
  }});
  document.querySelectorAll('#rows thead th').forEach((th, i) => {{
    th.querySelector('.arrow').textContent = i === col ? (state.dir > 0 ? '▲' : '▼') : '';
  }});
}}
function applyFilters() {{
  const status = document.getElementById('status').value;
  const genre = document.getElementById('genre').value;
  let shown = 0, total = 0;
  document.querySelectorAll('#rows tbody.group').forEach(body => {{
    let visible = 0;
    body.querySelectorAll('tr.track').forEach(tr => {{
      const ok = (!status || tr.dataset.status === status) &&
                 (!genre || tr.dataset.genres.split('|').includes(genre));
      tr.hidden = !ok;
      visible += ok; total += 1;
    }});
    body.hidden = visible === 0;
    shown += visible;
  }});
  document.getElementById('shown').textContent = shown + ' of ' + total + ' tracks shown';
}}
const wanted = new URLSearchParams(location.hash.slice(1));
for (const key of ['status', 'genre']) {{
  if (wanted.get(key)) document.getElementById(key).value = wanted.get(key);
  document.getElementById(key).addEventListener('change', applyFilters);
}}
if (wanted.get('sort')) sortBy(parseInt(wanted.get('sort')));
applyFilters();
document.body.dataset.ready = '1';
</script></body></html>
"""
