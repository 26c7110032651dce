"""The user's own genres survive every sequence of policies.

Found as a user would: ``scan --merge`` wrote "Bebop; Jazz", and a plain scan afterwards
wrote "Jazz" over it, erasing the user's Bebop. Here every policy is followed by every
policy, with the verdict changing in between (so genretag's own genre must follow it), and
undo after each step gives back exactly what the user had.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genretag import tags
from genretag.deciding.policy import decide, own_genres

from helpers import app, file_hash, fresh_copy, hear_once, make_track, run, seed

# relative path -> the genres the user gave it
USER = {"bebop.mp3": ["Bebop"], "songwriter.mp3": ["Singer/Songwriter"], "none.mp3": []}
JAZZ, ROCK = (0.05, 0.90, 0.05), (0.05, 0.05, 0.90)
POLICIES = {"fill": (), "merge": ("--merge",), "overwrite": ("--overwrite",)}


@pytest.fixture(scope="module")
def _tracks(tmp_path_factory, tiny_model) -> tuple[Path, Path, Path]:
    """The tracks with the user's genres, heard once for the module."""

    def make(master: Path) -> None:
        for i, (name, genres) in enumerate(USER.items()):
            make_track(master / name, None, None, None, None, seed=i)
            tags.write_genres(master / name, genres)

    return hear_once(tmp_path_factory.mktemp("policies"), make, tiny_model)


@pytest.fixture
def lib(_tracks, tmp_path) -> tuple[Path, Path]:
    return fresh_copy(_tracks, tmp_path)


def scan(root: Path, model: Path, db: Path, *extra):
    return run(
        "scan",
        root,
        "--model",
        model,
        "--db",
        db,
        "--workers",
        "1",
        "--by",
        "track",
        "--min-confidence",
        "0.3",
        *extra,
    )


def verdict(root: Path, db: Path, p: tuple) -> None:
    """Every track is now heard as ``p`` (blues, jazz, rock)."""
    seed(db, root, {name: p for name in USER})


def genres(root: Path) -> dict[str, list[str]]:
    return {name: tags.read_genres(root / name) for name in USER}


def expected(policies: tuple[str, ...], verdicts: tuple[str, ...]) -> dict[str, list[str]]:
    """What each file holds after ``policies`` ran with ``verdicts``: the user's genres
    stay until an overwrite, and genretag's own follow the latest verdict."""
    out = {}
    for name, user in USER.items():
        held, mine = list(user), []
        for policy, genre in zip(policies, verdicts):
            if policy == "overwrite":
                held, mine = [], []
            if policy == "fill" and held and not mine:
                continue
            held = [g for g in held if g not in mine] + [genre]
            mine = [genre]
        out[name] = held
    return out


@pytest.mark.parametrize("first,second", list(itertools.product(POLICIES, POLICIES)))
def test_no_user_genre_disappears_without_overwrite(lib, tiny_model, first, second):
    root, db = lib
    original = {name: file_hash(root / name) for name in USER}

    verdict(root, db, JAZZ)
    assert scan(root, tiny_model, db, *POLICIES[first]).exit_code == 0
    assert genres(root) == expected((first,), ("jazz",))
    assert run("undo", root, "--db", db).exit_code == 0  # undo after one step
    assert genres(root) == USER
    assert {name: file_hash(root / name) for name in USER} == original

    assert scan(root, tiny_model, db, *POLICIES[first]).exit_code == 0
    verdict(root, db, ROCK)  # the verdict changes: genretag's own genre must follow it
    assert scan(root, tiny_model, db, *POLICIES[second]).exit_code == 0
    now = genres(root)
    assert now == expected((first, second), ("jazz", "rock"))
    if "overwrite" not in (first, second):
        for name, user in USER.items():
            assert set(user) <= set(now[name]), (name, now[name])
    assert run("undo", root, "--db", db).exit_code == 0  # undo after two steps
    assert genres(root) == USER
    assert {name: file_hash(root / name) for name in USER} == original


def test_merge_then_plain_scan_keeps_the_users_genres_as_found(lib, tiny_model):
    """The exact sequence of the report: --merge, then a plain scan, same verdict."""
    root, db = lib
    verdict(root, db, JAZZ)
    dry = scan(root, tiny_model, db, "--merge", "--dry-run")
    # the table shows what the file would hold, the user's genre too
    assert any("bebop.mp3" in line and "Bebop; jazz" in line for line in dry.output.splitlines())
    report = run("report", "--db", db)
    assert "last seen by a dry run (nothing written)" in report.output  # point 9
    assert "would-tag (dry run)" in report.output
    assert scan(root, tiny_model, db, "--merge").exit_code == 0
    merged = genres(root)
    assert merged == {
        "bebop.mp3": ["Bebop", "jazz"],
        "songwriter.mp3": ["Singer/Songwriter", "jazz"],
        "none.mp3": ["jazz"],
    }
    r = scan(root, tiny_model, db)
    assert r.exit_code == 0 and genres(root) == merged, r.output
    assert "tagged" not in r.output  # nothing to write: the files already hold the verdict


def test_policy_rules():
    assert decide([], ["Jazz"], "fill") == ["Jazz"]
    assert decide(["Rock"], ["Jazz"], "fill") is None
    assert decide(["Rock"], ["Jazz"], "overwrite") == ["Jazz"]
    assert decide(["Jazz"], ["Jazz"], "overwrite") is None  # nothing would change
    assert decide(["Rock"], ["jazz", "rock"], "merge") == ["Rock", "jazz"]
    # genretag's own genre (case-folded in ``mine``) follows the verdict; the user's stays
    for policy in ("fill", "merge"):
        assert decide(["Bebop", "Jazz"], ["Soul"], policy, frozenset({"jazz"})) == ["Bebop", "Soul"]
        assert decide(["Bebop", "Jazz"], ["Jazz"], policy, frozenset({"jazz"})) is None
        assert decide(["Jazz"], ["Rock"], policy, frozenset({"jazz"})) == ["Rock"]
    assert decide(["Bebop", "Jazz"], ["Soul"], "overwrite", frozenset({"jazz"})) == ["Soul"]


def test_own_genres_follow_the_history():
    # merge added Jazz to the user's Bebop
    assert own_genres([(["Bebop"], ["Bebop", "Jazz"])], ["Bebop", "Jazz"]) == {"jazz"}
    # a later write kept Jazz and added Soul; the user's Bebop stays the user's
    history = [(["Bebop"], ["Bebop", "Jazz"]), (["Bebop", "Jazz"], ["Bebop", "Jazz", "Soul"])]
    assert own_genres(history, ["Bebop", "Jazz", "Soul"]) == {"jazz", "soul"}
    # the user put Rock in place of Jazz between two writes; a merge then added Jazz again
    history = [([], ["Jazz"]), (["Rock"], ["Rock", "Jazz"])]
    assert own_genres(history, ["Rock", "Jazz"]) == {"jazz"}
    assert own_genres([([], ["Jazz"]), (["Jazz"], ["Jazz", "Soul"])], ["Jazz"]) == {"jazz"}
    # a genre that was there before genretag's first write is never its own
    assert own_genres([(["Jazz"], ["Jazz", "Soul"])], ["Jazz", "Soul"]) == {"soul"}
    assert own_genres([], ["Jazz"]) == frozenset()


def test_undo_needs_a_path_all_or_last_and_last_undoes_the_latest_scan(lib, tiny_model):
    root, db = lib
    verdict(root, db, JAZZ)
    assert scan(root, tiny_model, db, "--merge").exit_code == 0  # run 1
    verdict(root, db, ROCK)
    assert scan(root, tiny_model, db, "--overwrite").exit_code == 0  # run 2
    assert genres(root) == {name: ["rock"] for name in USER}
    r = run("undo", "--db", db)  # no path, no terminal to ask on
    assert r.exit_code == 2 and "--all" in r.output and "--last" in r.output
    assert genres(root) == {name: ["rock"] for name in USER}
    r = run("undo", "--last", "--db", db)
    assert r.exit_code == 0, r.output
    assert genres(root) == {
        "bebop.mp3": ["Bebop", "jazz"],  # back to after run 1
        "songwriter.mp3": ["Singer/Songwriter", "jazz"],
        "none.mp3": ["jazz"],
    }
    r = run("undo", root, "--last", "--db", db)  # then run 1, its paths relative to root
    assert r.exit_code == 0 and "restored: bebop.mp3 → Bebop" in r.output, r.output
    assert genres(root) == USER
    assert run("undo", "--last", "--db", db).output.strip().endswith("0 restored, 0 failed")


def user_edit(path: Path, genre: str) -> None:
    """The user sets the genre in another tagger (mutagen, as Picard does)."""
    from mutagen.easyid3 import EasyID3

    t = EasyID3(path)
    t["genre"] = genre
    t.save()


UNDO_HOW = {"path": ("{root}",), "last": ("--last",), "all": ("--all",)}


@pytest.mark.parametrize("how", list(UNDO_HOW))
@pytest.mark.parametrize("first,second", list(itertools.product(POLICIES, POLICIES)))
def test_undo_after_a_hand_edit_between_two_scans_gives_back_the_hand_edit(
    lib, tiny_model, first, second, how
):
    """scan, the user's own genre set in another tagger, scan again, undo: the file holds
    the user's genre again, byte for byte, or (where the second scan wrote nothing) undo
    refuses and the file keeps it. An earlier state never replaces the user's edit."""
    root, db = lib
    verdict(root, db, JAZZ)
    assert scan(root, tiny_model, db, *POLICIES[first]).exit_code == 0
    for name in USER:
        user_edit(root / name, "UserRock")
    edited = {name: file_hash(root / name) for name in USER}
    verdict(root, db, JAZZ)
    assert scan(root, tiny_model, db, *POLICIES[second]).exit_code == 0
    wrote = {name for name in USER if file_hash(root / name) != edited[name]}
    assert wrote == (set() if second == "fill" else set(USER))

    args = [a.format(root=root) for a in UNDO_HOW[how]]
    r = run("undo", *args, "--db", db)
    assert {name: file_hash(root / name) for name in USER} == edited, r.output
    assert genres(root) == {name: ["UserRock"] for name in USER}
    if wrote:
        assert r.exit_code == 0, r.output
        assert "→ UserRock" in r.output
        # nothing is left that could later put back a state older than the user's edit
        again = run("undo", root, "--db", db, "--force")
        assert "0 restored, 0 failed" in again.output, again.output
        assert {name: file_hash(root / name) for name in USER} == edited
    else:  # the first scan's write was replaced by the user's: refused, named
        assert r.exit_code == 1 and "changed since genretag wrote it" in r.output, r.output


def test_on_a_terminal_all_and_last_ask_first_and_yes_skips_the_question(
    lib, tiny_model, monkeypatch
):
    from genretag.cli import common

    root, db = lib
    verdict(root, db, JAZZ)
    assert scan(root, tiny_model, db, "--overwrite").exit_code == 0
    monkeypatch.setattr(common, "on_terminal", lambda: True)
    for how in ("--all", "--last"):
        r = CliRunner().invoke(app, ["undo", how, "--db", str(db)], input="n\n")
        assert r.exit_code == 0 and "nothing restored" in r.output, r.output
        assert "Restore" in r.output and genres(root) == {name: ["jazz"] for name in USER}
    r = CliRunner().invoke(app, ["undo", "--last", "--db", str(db)], input="y\n")
    assert r.exit_code == 0 and "3 restored" in r.output, r.output
    assert genres(root) == USER
    assert scan(root, tiny_model, db, "--overwrite").exit_code == 0
    r = run("undo", "--all", "--yes", "--db", db)  # no question asked
    assert r.exit_code == 0 and "Restore" not in r.output and "3 restored" in r.output
    assert genres(root) == USER


def test_last_is_the_latest_scan_with_writes_to_undo_and_is_named(lib, tiny_model):
    """Two scans; the second undone by path; --last then undoes the first, and says which
    scan it is (off a terminal --all and --last ask nothing: the flag is the choice)."""
    root, db = lib
    verdict(root, db, JAZZ)
    assert scan(root, tiny_model, db, "--merge").exit_code == 0  # scan 1
    verdict(root, db, ROCK)
    assert scan(root, tiny_model, db, "--overwrite").exit_code == 0  # scan 2
    assert run("undo", root, "--db", db).exit_code == 0  # by path: both
    assert genres(root) == USER
    assert scan(root, tiny_model, db, "--overwrite").exit_code == 0  # scan 3
    assert run("undo", root / "none.mp3", "--db", db).exit_code == 0
    r = run("undo", "--last", "--db", db)
    assert r.exit_code == 0, r.output
    assert re.search(
        r"the most recent scan with writes to undo: \d{4}-\d\d-\d\d "
        r"\d\d:\d\d:\d\d, 2 file\(s\)",
        r.output,
    ), r.output
    assert "2 restored" in r.output and genres(root) == USER
