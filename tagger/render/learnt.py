"""What ``genretag learn`` learnt, shown: the label table's columns and cells, the
suggested tracks, and both written as JSON or as one self-contained page."""

from __future__ import annotations

import json
from pathlib import Path

from genretag.learn import LabelResult, Learned, LearnError

REPORT_COLUMNS = (
    ("name", "label"),
    ("tracks", "tracks"),
    ("artists", "artists"),
    ("maps_to", "base genre"),
    ("learnt", "learnt P/R"),
    ("stacked", "stacked P/R"),
    ("default", "default P/R"),
    ("source", "kept"),
    ("threshold", "threshold"),
    ("untagged", "untagged it tags"),
)
SUGGEST_COLUMNS = (("path", "track"), ("artist", "artist"), ("guess", "guess"), ("why", "why"))


def cell(r: LabelResult, key: str) -> str:
    """One cell of the label table, as the terminal and the HTML page show it."""
    if key in ("learnt", "stacked", "default"):
        c = r.candidates.get(key)
        return f"{c['precision']:.2f}/{c['recall']:.2f}" if c else "—"
    if key == "source":
        if r.source == "default" and r.few:
            return f"default: {r.reason}; the base model's {r.filled_name} fills in"
        if r.source:
            return r.source
        return f"no: {r.reason}"
    value = getattr(r, key)
    if key == "untagged" and not r.written:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}"
    return "—" if value is None else str(value)


def lines(learned: Learned) -> list[str]:
    """The lines shown under the table: the summary, the held-out comparison, and the
    base model's genres kept under their own names."""
    out = [learned.summary()]
    if learned.heldout_line():
        out.append(learned.heldout_line())
    kept = learned.learnt.names[len(learned.learnt.keys) - len(learned.learnt.kept) :]
    if kept:
        out.append(f"where your tags say nothing, the base model's genres stand: {', '.join(kept)}")
    return out


def write_report(path: Path, learned: Learned) -> None:
    """The label table and the suggestions as JSON (``.json``) or as one self-contained
    page (``.html``)."""
    import html

    from genretag.render.report import page_file

    learnt = learned.learnt
    if path.suffix.lower() == ".json":
        path.write_text(
            json.dumps(
                {
                    "labels": [r.to_dict() for r in learnt.results],
                    "kept": learnt.kept,
                    "heldout": learnt.heldout,
                    "summary": learned.summary(),
                    "suggestions": [s.to_dict() for s in learned.suggestions],
                },
                indent=1,
            )
            + "\n",
            encoding="utf-8",
        )
        return
    if path.suffix.lower() != ".html":
        raise LearnError(f"{path}: report must end in .json or .html")
    e = html.escape

    def table(ident: str, columns, rows) -> str:
        head = "".join(f"<th>{e(title)}</th>" for _, title in columns)
        return f'<table id="{ident}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'

    rows = "".join(
        f'<tr class="{"tagged" if r.source else "unsure"}">'
        + "".join(f"<td>{e(cell(r, key))}</td>" for key, _ in REPORT_COLUMNS)
        + "</tr>"
        for r in learnt.results
    )
    suggested = "".join(
        "<tr>"
        + "".join(f"<td>{e(str(s.to_dict()[key]))}</td>" for key, _ in SUGGEST_COLUMNS)
        + "</tr>"
        for s in learned.suggestions
    )
    notes = "".join(f"<p>{e(line)}</p>" for line in lines(learned))
    path.write_text(
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>genretag learn</title><style>\n{page_file('report.css')}</style></head>"
        f"<body><h1>genretag learn</h1>{notes}"
        + table("labels", REPORT_COLUMNS, rows)
        + "<p>Precision (P) and recall (R) are measured on tracks by artists held out, for "
        "each way of writing the label; the best is kept.</p>"
        + (
            "<h2>Tracks worth tagging</h2>" + table("suggestions", SUGGEST_COLUMNS, suggested)
            if learned.suggestions
            else ""
        )
        + "</body></html>\n",
        encoding="utf-8",
    )
