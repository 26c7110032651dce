"""What a scan shows a person: the terminal table and summary, and JSON/CSV/HTML reports.

Paths, genres and errors come from files and users: the terminal shows them as plain
``Text`` (never rich markup, so ``Rock [/live]`` prints as it is), the HTML escapes them,
and the CSV guards cells that a spreadsheet would run as formulas.
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
                Status.UNSURE: "yellow", Status.CACHED: "dim", Status.ERROR: "red"}
WITH_GENRES = (Status.TAGGED, Status.WOULD_TAG, Status.KEPT, Status.CACHED)


def _genres(values: list[str] | None) -> str:
    return "; ".join(values) if values else "—"


def shown_path(path: str, roots: list[Path]) -> str:
    """A path as the person typed it: relative to the folder they named, when inside it."""
    for root in roots:
        try:
            return str(root / Path(path).relative_to(root.resolve()))
        except ValueError:
            continue
    return path


def rows_table(rows: list[Row], title: str, roots: list[Path] | None = None) -> Table:
    table = Table(title=title, show_lines=False, expand=False)
    table.add_column("file", overflow="fold")
    table.add_column("status")
    table.add_column("genre now")
    table.add_column("→ proposed")
    table.add_column("conf.", justify="right")
    for r in rows:
        proposed = r.error if r.status == Status.ERROR else _genres(r.genres)
        conf = f"{r.confidence:.2f}" if r.confidence is not None else ""
        style = STATUS_STYLE.get(r.status, "")
        table.add_row(Text(shown_path(r.path, roots or [])), Text(r.status, style=style),
                      Text(_genres(r.previous)), Text(proposed or ""), conf)
    return table


def genre_counts(rows: list[Row]) -> Counter:
    counts: Counter = Counter()
    for r in rows:
        if r.status in WITH_GENRES:
            counts.update(r.genres)
    return counts


def summary_table(result: ScanResult, dry_run: bool) -> Table:
    counts = result.counts()
    total = len(result.rows)
    t = Table(title="dry run: nothing was written" if dry_run else "summary", show_header=False)
    t.add_column("what")
    t.add_column("n", justify="right")
    t.add_row("tracks", str(total))
    for status in SCAN_STATUSES:
        if counts[status]:
            t.add_row(f"  {status}", str(counts[status]))
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


def write_report(path: Path, result: ScanResult, dry_run: bool) -> None:
    suffix = path.suffix.lower()
    rows = [r.to_dict() for r in result.rows]
    if suffix == ".json":
        with open(path, "w", encoding="utf-8") as f:  # streamed: no copy of it in memory
            json.dump({"dry_run": dry_run, "summary": _summary(result), "rows": rows}, f,
                      indent=1, ensure_ascii=False)
    elif suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["path", "status", "genres", "confidence", "previous", "written",
                        "error", "probabilities"])
            for r in result.rows:
                w.writerow([csv_cell(c) for c in (
                    r.path, r.status, "; ".join(r.genres), r.confidence or "",
                    "; ".join(r.previous), "; ".join(r.written or []), r.error or "",
                    json.dumps(r.probabilities))])
    elif suffix == ".html":
        path.write_text(_html(result, dry_run), encoding="utf-8")
    else:
        raise ValueError(f"{path}: report must end in .json, .csv or .html")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a leading
    apostrophe (the OWASP guard against CSV injection); numbers stay numbers."""
    if not isinstance(value, str):
        return value
    return "'" + value if value.startswith(FORMULA_START) else value


def _summary(result: ScanResult) -> dict:
    return {"tracks": len(result.rows), "statuses": result.counts(),
            "genres": dict(genre_counts(result.rows).most_common()),
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


def _html(result: ScanResult, dry_run: bool) -> str:
    """A single self-contained page: an SVG bar chart and a table sortable by any column."""
    counts = genre_counts(result.rows).most_common()
    top = max([n for _, n in counts] or [1])
    bars = []
    for i, (genre, n) in enumerate(counts):
        y = 8 + i * 26
        w = 420 * n / top
        bars.append(f'<text x="150" y="{y + 14}" text-anchor="end">{html.escape(genre)}</text>'
                    f'<rect x="158" y="{y}" width="{w:.1f}" height="18" fill="#4a7bd0"/>'
                    f'<text x="{164 + w:.1f}" y="{y + 14}">{n}</text>')
    chart = (f'<svg width="640" height="{16 + 26 * len(counts)}" role="img" '
             f'aria-label="genre distribution">{"".join(bars)}</svg>') if counts else "<p>none</p>"
    trs = []
    for r in result.rows:
        cells = [r.path, r.status, _genres(r.previous), _genres(r.genres),
                 "" if r.confidence is None else f"{r.confidence:.3f}",
                 _genres(r.written) if r.written is not None else "", r.error or ""]
        trs.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    statuses = ", ".join(f"{k}: {v}" for k, v in result.counts().items() if v)
    head = "".join(f'<th onclick="sortBy({i})">{h}</th>' for i, h in enumerate(
        ["file", "status", "genre before", "proposed", "confidence",
         "would write" if dry_run else "written", "error"]))
    title = "genretag dry run" if dry_run else "genretag scan"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; }}
th {{ cursor: pointer; background: #eee; }} svg text {{ font: 12px system-ui, sans-serif; }}
</style></head><body>
<h1>{title}</h1>
<p>{len(result.rows)} tracks ({html.escape(statuses)}); {len(result.skipped)} skipped.</p>
<h2>Genres</h2>{chart}
<h2>Tracks</h2><p>Click a column heading to sort.</p>
<table id="rows"><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(trs)}
</tbody></table>
<script>
let dir = {{}};
function sortBy(col) {{
  const body = document.querySelector('#rows tbody');
  const rows = Array.from(body.rows);
  dir[col] = -(dir[col] || -1);
  rows.sort((a, b) => {{
    const x = a.cells[col].textContent, y = b.cells[col].textContent;
    const nx = parseFloat(x), ny = parseFloat(y);
    const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return c * dir[col];
  }});
  rows.forEach(r => body.appendChild(r));
}}
</script></body></html>
"""
