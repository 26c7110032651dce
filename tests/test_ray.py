"""``scan --engine ray`` (issue 19) on a real local Ray runtime, started by the scan itself:
the same rows as the local engine, and a cache the local engine then finds complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run

pytest.importorskip("ray.data")


def rows_of(report: Path) -> dict[str, dict]:
    return {r["path"]: r for r in json.loads(report.read_text())["rows"]}


def test_ray_hears_what_the_local_engine_hears(library, tmp_path):
    """Every format of the test library, with its unreadable and non-audio files: the same
    statuses, genres and errors, every probability within 1e-5; the Parquet report works
    with either engine; then a local scan on the same cache hears nothing."""
    pq = pytest.importorskip("pyarrow.parquet")
    local, remote = tmp_path / "local.json", tmp_path / "ray.json"
    r = run("scan", library, "--db", tmp_path / "l.sqlite", "--dry-run", "--report", local)
    assert r.exit_code == 1, r.output  # the bad files are errors
    db = tmp_path / "r.sqlite"
    r = run("scan", library, "--engine", "ray", "--db", db, "--dry-run", "--report", remote)
    assert r.exit_code == 1, r.output
    a, b = rows_of(local), rows_of(remote)
    assert a.keys() == b.keys()
    for path, x in a.items():
        y = b[path]
        assert (x["status"], x["genres"], x["error"]) == (y["status"], y["genres"], y["error"])
        if x["probabilities"]:
            assert max(abs(x["probabilities"][k] - y["probabilities"][k])
                       for k in x["probabilities"]) <= 1e-5, path
    assert any(x["error"] for x in b.values()) and any(x["probabilities"] for x in b.values())
    parquet = tmp_path / "ray.parquet"
    r = run("scan", library, "--db", db, "--dry-run", "--report", parquet)
    assert pq.read_table(parquet).num_rows == len(a)
    again = tmp_path / "again.json"
    r = run("scan", library, "--db", db, "--dry-run", "--report", again)
    assert json.loads(again.read_text())["summary"]["decoded"] == 0, r.output


def test_without_the_extra_one_line_with_the_install_hint(library, tmp_path, monkeypatch):
    import genretag.tagger.rayengine as rayengine

    monkeypatch.setattr(rayengine, "missing",
                        lambda: "--engine ray needs the ray extra: pip install 'genretag[ray]'")
    r = run("scan", library, "--engine", "ray", "--db", tmp_path / "c.sqlite", "--dry-run")
    assert r.exit_code == 2 and "pip install 'genretag[ray]'" in r.output


def test_a_worker_with_another_model_stops_the_run_in_one_line(library, tmp_path, monkeypatch):
    """The driver names the model it loaded; a worker that loads another (here the driver
    is told a different id) stops the run with one line naming the worker, before any
    prediction is stored."""
    from genretag.tagger import runtime

    monkeypatch.setattr(runtime.OnnxModel, "model_id", property(lambda self: "0123456789abcdef"))
    db = tmp_path / "c.sqlite"
    r = run("scan", library / "Artist" / "Album", "--engine", "ray", "--db", db, "--dry-run")
    assert r.exit_code == 2, r.output
    assert "--engine ray: worker " in r.output and "not the driver's 0123456789abcdef" in r.output
    from genretag.tagger.cache import Cache

    assert not [row for row in Cache(db).all_tracks().values() if row.probabilities]
