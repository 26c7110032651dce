"""Decisions of ``genretag review``, without the page: stored in the cache through the
Session, written exactly by the next scan and never overridden, undone byte for byte, stale
once the file changes, read by learn as the owner's labels, and counted by report."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from genretag import Session, Settings, tags
from genretag.states import Decided
from genretag.store.cache import Cache, CacheError, Decision

from helpers import file_hash, fresh_copy, hear_once, make_track, run, snapshot

# relative path -> (album, album artist, artist, genre in the file, blues/jazz/rock)
LIBRARY = {
    "Artist/Album A/01.mp3": ("Album A", "", "Artist", None, (0.10, 0.20, 0.70)),
    "Artist/Album A/02.mp3": ("Album A", "", "Artist", None, (0.20, 0.35, 0.45)),
    "Other/tagged.mp3": ("Single", "", "Someone", "Rock", (0.10, 0.80, 0.10)),
    "untagged/one.mp3": (None, None, None, None, (0.60, 0.30, 0.10)),
}


@pytest.fixture(scope="module")
def _heard(tmp_path_factory, tiny_model) -> tuple[Path, Path, Path]:
    def make(master: Path) -> None:
        for i, (rel, (album, aa, artist, genre, _)) in enumerate(LIBRARY.items()):
            make_track(master / rel, album, aa, artist, genre, seed=i)

    return hear_once(
        tmp_path_factory.mktemp("decisions"),
        make,
        tiny_model,
        {rel: v[-1] for rel, v in LIBRARY.items()},
    )


@pytest.fixture
def lib(_heard, tmp_path) -> tuple[Path, Path]:
    return fresh_copy(_heard, tmp_path)


def decision(root: Path, rel: str, action: Decided, genres: list[str], db: Path) -> Decision:
    """A decision about ``rel`` as the page makes one: against the file as it was heard."""
    cache = Cache(db)
    row = cache.get(str(root / rel))
    cache.close()
    assert row is not None
    return Decision(
        str(root / rel), action, genres, time.time(), row.size, row.mtime_ns, row.fingerprint
    )


def decide(db: Path, tiny_model: Path, *decisions: Decision) -> None:
    with Session(Settings(db=db, model=tiny_model)) as session:
        session.decide(list(decisions))


def scan(root: Path, model: Path, db: Path, *extra):
    r = run(
        "scan", root, "--model", model, "--db", db, "--min-confidence", "0.3", "--workers", "1",
        *extra,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return r


def genres(path: Path) -> list[str]:
    return tags.display(tags.read_state(path))


def test_a_scan_writes_exactly_the_decided_genres_and_undo_gives_the_bytes_back(lib, tiny_model):
    root, db = lib
    before = snapshot(root)
    decide(
        db,
        tiny_model,
        decision(root, "Artist/Album A/01.mp3", Decided.CHANGED, ["Krautrock", "Jazz"], db),
        decision(root, "Other/tagged.mp3", Decided.CHANGED, ["Blues"], db),  # fill keeps Rock
        decision(root, "untagged/one.mp3", Decided.REJECTED, [], db),
    )
    dry = scan(root, tiny_model, db, "--dry-run")
    assert "(changed in review)" in dry.output and "(rejected in review)" in dry.output
    assert snapshot(root) == before  # a dry run writes nothing
    scan(root, tiny_model, db)
    assert genres(root / "Artist/Album A/01.mp3") == ["Krautrock", "Jazz"]
    assert genres(root / "Other/tagged.mp3") == ["Blues"]
    assert genres(root / "untagged/one.mp3") == []  # rejected: left as it was
    assert genres(root / "Artist/Album A/02.mp3") == ["rock"]  # undecided: the model's
    # a later scan, even one that overwrites, never overrides a decision
    written = {rel: file_hash(root / rel) for rel in ("Artist/Album A/01.mp3", "Other/tagged.mp3")}
    scan(root, tiny_model, db, "--overwrite")
    assert {rel: file_hash(root / rel) for rel in written} == written
    assert genres(root / "untagged/one.mp3") == []
    shown = scan(root, tiny_model, db, "--overwrite", "--dry-run").output
    assert "kept (changed in review)" in shown and "kept (rejected in review)" in shown
    assert run("undo", root, "--db", db).exit_code == 0
    assert snapshot(root) == before


def test_a_decision_about_a_file_that_changed_since_is_stale_and_applied_by_nothing(
    lib, tiny_model
):
    root, db = lib
    track = root / "Artist/Album A/01.mp3"
    decide(db, tiny_model, decision(root, "Artist/Album A/01.mp3", Decided.CHANGED, ["Ska"], db))
    tags.write_genres(track, ["Polka"])  # a hand edit after the decision
    os.utime(track, ns=(time.time_ns(), time.time_ns() + 10**9))
    r = scan(root, tiny_model, db)
    assert "stale: Artist/Album A/01.mp3: decided in review on" in r.output
    assert genres(track) == ["Polka"]


def test_learn_reads_decisions_as_the_owners_labels_and_report_counts_them(lib, tiny_model):
    from genretag.learn.library import gather

    root, db = lib
    decide(
        db,
        tiny_model,
        decision(root, "Artist/Album A/01.mp3", Decided.CHANGED, ["Krautrock"], db),
        decision(root, "Other/tagged.mp3", Decided.REJECTED, [], db),
    )
    scan(root, tiny_model, db)  # genretag writes Krautrock: still the owner's label
    cache = Cache(db)
    lib_, _ = gather([root], cache, "none", {})
    cache.close()
    labels = {t.path.relative_to(root).as_posix(): t.labels for t in lib_.tagged}
    assert labels["Artist/Album A/01.mp3"] == {"krautrock"}
    assert labels["Other/tagged.mp3"] == {"rock"}  # rejected: the file's own genre stays
    assert "Artist/Album A/02.mp3" not in labels  # genretag's own write is no label
    r = run("report", "--db", db)
    assert "decided in review: changed" in r.output and "decided in review: rejected" in r.output


def test_decisions_are_stored_all_or_none(lib, tiny_model):
    root, db = lib
    good = decision(root, "untagged/one.mp3", Decided.CHANGED, ["Folk"], db)
    cache = Cache(db)
    with pytest.raises(CacheError):  # a value SQLite cannot bind: the transaction rolls back
        cache.decide([good, Decision(str(root / "x"), Decided.CHANGED, [], object(), 0, 0, None)])  # type: ignore[arg-type]
    cache.close()
    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from decisions").fetchone()[0] == 0


def test_a_moved_file_keeps_its_decision(lib, tiny_model):
    root, db = lib
    decide(db, tiny_model, decision(root, "untagged/one.mp3", Decided.CHANGED, ["Folk"], db))
    (root / "untagged/one.mp3").rename(root / "untagged/renamed.mp3")
    scan(root, tiny_model, db)
    assert genres(root / "untagged/renamed.mp3") == ["Folk"]
