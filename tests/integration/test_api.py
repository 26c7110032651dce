"""The library API: ``Session`` and ``Settings``, used directly."""

from __future__ import annotations

from pathlib import Path

import pytest

from genretag import ConfigError, Session, Settings
from genretag.deciding.decider import Row
from genretag.states import CoverageMode, Policy, Status, UndoStatus

from helpers import GOOD, ROOT, album, file_hash


def test_a_session_scans_predicts_and_undoes(library, tiny_model, db):
    folder = album(library)
    before = {p.name: file_hash(p) for p in folder.iterdir()}
    config = Settings(model=tiny_model, db=db, dry_run=True, workers=1, min_confidence=0.5)
    with Session(config) as session:
        result = session.scan([folder])
    assert {p.name: file_hash(p) for p in folder.iterdir()} == before
    assert all(isinstance(r, Row) for r in result.rows)
    rows = {Path(r.path).name: r for r in result.rows}
    assert set(rows) == set(GOOD)
    assert rows["plain.mp3"].status == Status.WOULD_TAG and rows["plain.mp3"].genres == ["jazz"]
    assert result.counts()[Status.WOULD_TAG] >= 1

    real = Settings(
        model=tiny_model,
        db=db,
        workers=1,
        min_confidence=0.5,
        policy=Policy.OVERWRITE,
        coverage=CoverageMode.FULL,
    )
    with Session(real) as session:
        written = session.scan([folder])
        assert {r.status for r in written.rows} == {Status.TAGGED}
        heard = session.predict(folder / "plain.mp3")
        assert heard.coverage == CoverageMode.FULL and heard.labels == ["blues", "jazz", "rock"]
        assert max(heard.probabilities) == heard.probabilities[1]  # jazz
        assert len(heard.window_probabilities) == len(heard.window_starts) >= 1
        undone = session.undo([folder])
    assert {u.status for u in undone} == {UndoStatus.RESTORED}
    assert {
        p.name: file_hash(p) for p in folder.iterdir() if not p.name.endswith((".ogg", ".opus"))
    } == {n: h for n, h in before.items() if not n.endswith((".ogg", ".opus"))}


@pytest.mark.parametrize(
    "bad, said",
    [
        ({"top_k": 0}, "top_k must be a whole number of at least 1"),
        ({"min_confidence": 1.5}, "min_confidence must be a number from 0 to 1"),
        ({"policy": "replace"}, "policy 'replace': choose from fill, overwrite, merge"),
        ({"coverage": "most"}, "coverage 'most': choose from auto, full, fast"),
        ({"db": Path("/no/such/folder/cache.sqlite")}, "no such folder for the cache"),
    ],
)
def test_a_config_is_checked_when_made(bad, said):
    with pytest.raises(ConfigError, match=said):
        Settings(**bad)


def test_a_session_refuses_what_cannot_work(tiny_model, tmp_path):
    weights = ROOT / "weights"
    with pytest.raises(ConfigError, match="a pretrained backbone, not a genre model"):
        Session(Settings(model=weights / "musicnn_msd.safetensors"))
    with pytest.raises(ConfigError, match="--labels gtzan: this model names the sets validated"):
        Session(Settings(model=tiny_model, labels="gtzan"))
    with pytest.raises(ConfigError, match="'polka': not a label of this model"):
        Session(Settings(model=tiny_model, genre_map={"polka": "Polka"}))
    with pytest.raises(ConfigError, match="model file not found"):
        Session(Settings(model=tmp_path / "missing.safetensors"))
    session = Session(Settings(model=tiny_model, genre_map={"jazz": "Jazz & Blues"}))
    assert session.vocab.names["jazz"] == "Jazz & Blues"
    with pytest.raises(ConfigError, match="predict takes one audio file"):
        session.predict(tmp_path)


@pytest.mark.parametrize("retry", [True, False])
def test_a_failure_for_a_passing_reason_is_tried_again(library, tiny_model, db, retry):
    """The cache says so in a column of its own (``retry``), not with a magic mtime."""
    import os

    from genretag.deciding.decider import Found
    from genretag.scan import Scanner
    from genretag.store.cache import Cache

    path = album(library) / "plain.mp3"
    with Session(Settings(model=tiny_model, db=db, dry_run=True, workers=1)) as session:
        scanner = Scanner(session.model, session.cache, session.options())
        scanner.decider.failed(Found(path, os.stat(path), None), "cannot read file", retry)
        session.cache.flush()
        row = session.cache.get(str(path))
        assert row.retry == int(retry) and row.mtime_ns == os.stat(path).st_mtime_ns
        todo = Scanner(session.model, session.cache, session.options())._reuse_cached([path])
    assert [f.path for f in todo] == ([path] if retry else [])
    assert Cache(db).get(str(path)).retry == int(retry)


def test_every_report_renders_from_one_column_spec(library, tiny_model, db, tmp_path):
    """JSON and CSV hold the same columns; the terminal table and the page show theirs;
    a file kept with the user's genre counts as that genre, not the verdict."""
    import csv
    import json

    from genretag.render import report

    folder = album(library)
    with Session(
        Settings(model=tiny_model, db=db, dry_run=True, workers=1, min_confidence=0.5)
    ) as session:
        result = session.scan([folder])
    for suffix in ("json", "csv", "html"):
        report.write_report(tmp_path / f"r.{suffix}", result, True, roots=[folder])
    data = json.loads((tmp_path / "r.json").read_text())
    header = next(csv.reader((tmp_path / "r.csv").open(encoding="utf-8")))
    assert (
        list(data["rows"][0])
        == header
        == [c.key_in(report.View(dry_run=True)) for c in report.DATA]
    )
    assert "would_write" in header and "written" not in header
    page = (tmp_path / "r.html").read_text()
    assert page.count("<th onclick=") == len(report.PAGE) and "$" not in page
    (kept,) = [r for r in result.rows if r.status == Status.KEPT]  # vorbis.ogg: Folk, fill
    assert kept.previous == ["Folk"] and kept.genres == ["jazz"]
    counts = report.genre_counts(result.rows)
    assert counts["Folk"] == 1 and counts["jazz"] == sum(
        r.status == Status.WOULD_TAG for r in result.rows
    )
