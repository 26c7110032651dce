"""Caches of earlier releases migrate with every row, and still undo byte for byte."""

from __future__ import annotations

import json

import pytest

from helpers import FIXTURES


def test_a_cache_of_release_0_1_migrates_with_every_row_and_undo_entry(tmp_path):
    """tests/fixtures/cache-without-a-schema-version.sqlite was written by release 0.1's
    Cache (no schema version): opening it migrates it, and every track row and history
    entry survives."""
    import shutil
    import sqlite3

    from genretag.store.cache import SCHEMA_VERSION, Cache, CacheError

    path = tmp_path / "cache.sqlite"
    shutil.copy(FIXTURES / "cache-without-a-schema-version.sqlite", path)
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 0
        before_tracks = con.execute("select * from tracks order by path").fetchall()
        before_history = con.execute("select * from history order by id").fetchall()
    cache = Cache(path)
    rows = cache.all_tracks()
    assert rows["/music/Artist/Album/02 Two.flac"].previous == ["Jazz"]
    assert rows["/music/Artist/Album/01 One.mp3"].probabilities == {"rock": 0.8, "pop": 0.2}
    (entry,) = cache.writes()["/music/Artist/Album/01 One.mp3"]
    assert entry.before["values"] == ["Ünïcode Genre"] and entry.after == ["Rock"]
    cache.close()
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tracks = con.execute("select * from tracks order by path").fetchall()
        assert [row[: len(before_tracks[0])] for row in tracks] == before_tracks
        history = con.execute("select * from history order by id").fetchall()
        before_at = 4  # the genre state: now its container's own record (schema 5)
        assert [
            row[:before_at] + row[before_at + 1 : len(before_history[0])] for row in history
        ] == [row[:before_at] + row[before_at + 1 :] for row in before_history]
        assert json.loads(history[0][before_at]) == {
            "kind": "id3",
            "format": 2,
            "values": ["Ünïcode Genre"],
            "read": False,
            "frame": "",
            "v1": 12,
            "tagless": False,
            "tag_size": 0,
            "ignr": None,
        }
        states = con.execute("select state, run from history").fetchall()  # new columns:
        assert set(states) == {("done", None)}  # their writes had all happened, in no run
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")  # a newer release's cache
    with pytest.raises(CacheError, match="newer genretag"):
        Cache(path)


def test_a_cache_written_by_release_8f518e1_still_undoes_byte_for_byte(tmp_path):
    """tests/fixtures/tagged-by-an-earlier-release holds files that release 8f518e1 tagged with
    ``scan --overwrite`` and the cache it wrote (one record for every container's undo
    state; the fixture's make.py made them). The migration to schema 5
    turns each into its container's record, and undo gives back every original file (an
    Ogg file its genre, as the README says: its comment header keeps the padding)."""
    import hashlib
    import shutil
    import sqlite3

    from helpers import FIXTURES, run

    fixture = FIXTURES / "tagged-by-an-earlier-release"
    lib = tmp_path / "lib"
    shutil.copytree(fixture, lib)
    db = lib / "cache.sqlite"
    with sqlite3.connect(db) as con:  # the library lived in /tmp/fxlib when it was made
        assert con.execute("PRAGMA user_version").fetchone()[0] == 4
        for table in ("tracks", "history"):
            con.execute(f"update {table} set path = replace(path, '/tmp/fxlib', ?)", [str(lib)])
    originals = json.loads((lib / "originals.json").read_text())
    r = run("report", "--db", db)  # report reads it read-only once it is migrated
    assert r.exit_code == 0 and "writes that undo can restore" in r.output, r.output
    r = run("undo", lib, "--db", db)
    assert r.exit_code == 0, r.output
    from genretag import tags

    for name, digest in originals.items():
        if name.endswith(".ogg"):
            assert tags.read_genres(lib / name) == []
        else:
            assert hashlib.sha256((lib / name).read_bytes()).hexdigest() == digest, name
