"""File names a user's disk really holds: one that is not valid UTF-8 (Latin-1, from an old
Windows disk or a zip file), one with a newline, and one of 255 bytes. Each is carried
through every stage unchanged (discovery, the cache, writes, undo, report, learn, the
report files) and shown to people escaped (``Caf\\xe9 Blues.mp3``)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from genretag import tags
from genretag.library.discover import printable
from genretag.store.cache import Cache, loaded, stored

from helpers import file_hash, make_track, run

LATIN1 = b"Caf\xe9 Blues.mp3"
NAMES = {
    LATIN1: "Caf\\xe9 Blues.mp3",
    b"new\nline.mp3": "new\\nline.mp3",
    b"x" * 251 + b".mp3": "x" * 251 + ".mp3",
}


def named(folder: Path, name: bytes) -> Path:
    return Path(os.fsdecode(os.fsencode(folder) + b"/" + name))


@pytest.fixture
def odd(tmp_path) -> Path:
    """A library of the three odd names beside a plain one, without genres."""
    root = tmp_path / "Music"
    for i, name in enumerate([*NAMES, b"plain.mp3"]):
        make_track(root / "plain.mp3", None, None, None, None, seed=i)
        os.rename(root / "plain.mp3", named(root, name))
    return root


def test_a_path_is_stored_in_the_cache_losslessly_and_shown_escaped():
    for name in NAMES:
        path = os.fsdecode(b"/music/" + name)
        assert loaded(stored(path)) == path
        assert os.fsencode(loaded(stored(path))) == b"/music/" + name
    assert stored("/music/ünïcødé ♫.mp3") == "/music/ünïcødé ♫.mp3"  # as it always was
    assert printable(os.fsdecode(b"/m/" + LATIN1)) == "/m/Caf\\xe9 Blues.mp3"
    assert printable("a\nb\tc ü") == "a\\nb\\tc ü"


def test_every_command_carries_odd_names_through_and_prints_them_escaped(odd, tmp_path, tiny_model):
    db = tmp_path / "c.sqlite"
    before = {n: file_hash(named(odd, n)) for n in NAMES}
    r = run(
        "scan",
        odd,
        "--model",
        tiny_model,
        "--db",
        db,
        "--dry-run",
        "--workers",
        "1",
        "--min-confidence",
        "0.3",
    )
    assert r.exit_code == 0, r.output
    for shown in NAMES.values():
        assert shown in r.output
    assert "4 audio files found" in r.output and "\udce9" not in r.output

    # the reports: JSON keeps the name whole; CSV, HTML and Parquet show it escaped
    reports = {s: tmp_path / f"r.{s}" for s in ("json", "csv", "html", "parquet")}
    for report in reports.values():
        if report.suffix == ".parquet":
            pytest.importorskip("pyarrow")
        r = run("scan", odd, "--model", tiny_model, "--db", db, "--dry-run", "--report", report)
        assert r.exit_code == 0, r.output
    got = {os.fsencode(x["path"]) for x in json.loads(reports["json"].read_bytes())["rows"]}
    assert got == {os.fsencode(named(odd, n)) for n in [*NAMES, b"plain.mp3"]}
    reports["json"].read_bytes().decode("utf-8")  # valid UTF-8 throughout
    with open(reports["csv"], encoding="utf-8", newline="") as f:
        cells = {Path(row["path"]).name for row in csv.DictReader(f)}
    assert {"Caf\\xe9 Blues.mp3", "new\nline.mp3"} <= cells
    assert "Caf\\xe9 Blues.mp3" in reports["html"].read_text(encoding="utf-8")
    import pyarrow.parquet as pq

    assert any(
        p.endswith("Caf\\xe9 Blues.mp3")
        for p in pq.read_table(reports["parquet"]).column("path").to_pylist()
    )

    # a real run writes each file, the cache knows it by its own name, undo restores it
    r = run(
        "scan", odd, "--model", tiny_model, "--db", db, "--workers", "1", "--min-confidence", "0.3"
    )
    assert r.exit_code == 0, r.output
    assert "tagged: Caf\\xe9 Blues.mp3: — → jazz" in r.output
    for n in NAMES:
        assert tags.read_genres(named(odd, n)) == ["jazz"]
    cache = Cache(db)
    assert {os.fsencode(p) for p in cache.written_paths()} == {
        os.fsencode(named(odd, n)) for n in [*NAMES, b"plain.mp3"]
    }
    assert cache.get(str(named(odd, LATIN1))) is not None
    cache.close()
    r = run("report", "--db", db)
    assert r.exit_code == 0 and "writes that undo can restore │ 4" in r.output, r.output
    r = run("undo", named(odd, LATIN1), "--db", db)  # by its own name
    assert r.exit_code == 0 and "Caf\\xe9 Blues.mp3 → (no genre)" in r.output, r.output
    r = run("undo", odd, "--db", db)
    assert r.exit_code == 0 and "3 restored, 0 failed" in r.output, r.output
    assert {n: file_hash(named(odd, n)) for n in NAMES} == before

    r = run("predict", named(odd, LATIN1), "--model", tiny_model, "--json")
    assert r.exit_code == 0, r.output
    assert os.fsencode(json.loads(r.output)["path"]).endswith(LATIN1)


def test_learn_reads_the_tags_of_files_whose_names_are_not_utf8(tmp_path):
    pytest.importorskip("sklearn")
    from helpers import make_tiny_tagger
    from synth import music
    from test_learn import noise, track

    model = tmp_path / "tagger.safetensors"
    make_tiny_tagger(model)
    lib = tmp_path / "lib"
    for a in range(3):
        for t in range(4):
            seed = 10 * a + t
            for kind, audio, genre in (
                ("n", noise(3.0, 16000, seed), "Hip Hop"),
                ("t", music(3.0, 16000, seed=seed), "Chiptune"),
            ):
                track(lib / "tmp.flac", audio, f"{kind} {a}", genre)
                os.rename(lib / "tmp.flac", named(lib, f"{kind}{a}{t} \xe9.flac".encode("latin-1")))
    out, report = tmp_path / "mine.safetensors", tmp_path / "learn.json"
    r = run(
        "learn",
        lib,
        "--model",
        model,
        "--db",
        tmp_path / "c.sqlite",
        "--out",
        out,
        "--min-tracks",
        "5",
        "--report",
        report,
    )
    assert r.exit_code == 0, r.output
    labels = {x["name"]: x for x in json.loads(report.read_text())["labels"]}
    assert labels["Hip Hop"]["tracks"] == 12 and labels["Chiptune"]["tracks"] == 12
