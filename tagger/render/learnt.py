"""What ``genretag learn`` learnt, shown: the label table's columns and cells, and the
table written as JSON or as one self-contained page."""

from __future__ import annotations

import json
from pathlib import Path

from genretag.learn import LabelResult, LearnError, Learnt
from genretag.render.report import page_file

REPORT_COLUMNS = (
    ("name", "label"),
    ("tracks", "tracks"),
    ("artists", "artists"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("auc", "AUC"),
    ("threshold", "threshold"),
    ("learnt", "learnt"),
    ("untagged", "untagged it tags"),
)


def cell(r: LabelResult, key: str) -> str:
    """One cell of the label table, as the terminal and the HTML page show it."""
    value = getattr(r, key)
    if key == "learnt":
        if r.learnt:
            return "yes"
        return f"no: {r.reason}" + (
            f"; the base model's {r.filled_name} fills in" if r.filled_by else ""
        )
    if key == "untagged" and not r.written:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}"
    return "—" if value is None else str(value)


def write_report(path: Path, learnt: Learnt, summary: str) -> None:
    """The label table as JSON (``.json``) or as one self-contained page (``.html``)."""
    import html

    if path.suffix.lower() == ".json":
        path.write_text(
            json.dumps(
                {"labels": [r.to_dict() for r in learnt.results], "summary": summary}, indent=1
            )
            + "\n",
            encoding="utf-8",
        )
        return
    if path.suffix.lower() != ".html":
        raise LearnError(f"{path}: report must end in .json or .html")
    e = html.escape
    head = "".join(f"<th>{e(title)}</th>" for _, title in REPORT_COLUMNS)
    rows = "".join(
        f'<tr class="{"tagged" if r.learnt else "unsure"}">'
        + "".join(f"<td>{e(cell(r, key))}</td>" for key, _ in REPORT_COLUMNS)
        + "</tr>"
        for r in learnt.results
    )
    path.write_text(
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>genretag learn</title><style>\n{page_file('report.css')}</style></head>"
        f"<body><h1>genretag learn</h1><p>{e(summary)}</p>"
        f'<table id="labels"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        f"<p>Precision, recall and AUC are cross-validated with whole artists held out; "
        f"precision and recall at the label's threshold.</p></body></html>\n",
        encoding="utf-8",
    )
