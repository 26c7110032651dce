"""Albums, conflicts and truthful reports, end to end through the command line.

The library is generated: albums by one artist, a compilation, an album with an outlier,
untagged files in folders, and files that already have genres. The tiny test model hears
every track as jazz, so each test first lets it hear the library once and then gives each
track the probabilities the case needs, in the cache (as a scan of a real model would have
left them): every later scan takes its predictions from there, without decoding.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genretag import tags

from helpers import file_hash, fresh_copy, hear_once, make_track, run, seed, snapshot

# relative path -> (album, album artist, artist, genre in the file, probabilities of
# blues, jazz, rock)
LIBRARY = {
    "Artist/Album A/01.mp3": ("Album A", "", "Artist", None, (0.10, 0.20, 0.70)),
    "Artist/Album A/02.mp3": ("Album A", "", "Artist", None, (0.20, 0.35, 0.45)),
    "Artist/Album A/03.mp3": ("Album A", "", "Artist", None, (0.05, 0.55, 0.40)),
    "Artist/Album B/01.mp3": ("Album B", "", "Artist", None, (0.10, 0.10, 0.80)),
    "Artist/Album B/02.mp3": ("Album B", "", "Artist", None, (0.10, 0.10, 0.80)),
    "Artist/Album B/03.mp3": ("Album B", "", "Artist", None, (0.96, 0.02, 0.02)),  # outlier
    "Various/Hits/01.mp3": ("Hits", "Various Artists", "X", None, (0.80, 0.10, 0.10)),
    "Various/Hits/02.mp3": ("Hits", "Various Artists", "Y", None, (0.10, 0.80, 0.10)),
    "Various/Hits/03.mp3": ("Hits", "Various Artists", "Z", None, (0.10, 0.10, 0.80)),
    "untagged/one.mp3": (None, None, None, None, (0.60, 0.30, 0.10)),
    "untagged/two.mp3": (None, None, None, None, (0.10, 0.30, 0.60)),
    "Other/conflict.mp3": ("Single", "", "Someone", "Rock", (0.02, 0.96, 0.02)),
    "Other/agrees.mp3": ("Single 2", "", "Someone", "Jazz", (0.02, 0.96, 0.02)),
    "Other/flat.mp3": ("Single 3", "", "Someone", None, (0.34, 0.33, 0.33)),
}


@pytest.fixture(scope="module")
def _albums_master(tmp_path_factory, tiny_model) -> tuple[Path, Path, Path]:
    """The library, heard once for the module, with each track's probabilities seeded."""

    def make(master: Path) -> None:
        for i, (rel, (album, aa, artist, genre, _)) in enumerate(LIBRARY.items()):
            make_track(master / rel, album, aa, artist, genre, seed=i)

    return hear_once(
        tmp_path_factory.mktemp("albums"),
        make,
        tiny_model,
        {rel: v[-1] for rel, v in LIBRARY.items()},
    )


@pytest.fixture
def lib(_albums_master, tmp_path) -> tuple[Path, Path]:
    """A fresh copy of the library at its usual place, and of the cache that heard it."""
    return fresh_copy(_albums_master, tmp_path)


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
        "--min-confidence",
        "0.3",
        *extra,
    )


def report_rows(root: Path, model: Path, db: Path, tmp_path: Path, *extra) -> dict[str, dict]:
    report = tmp_path / "r.json"
    r = scan(root, model, db, "--report", report, *extra)
    assert r.exit_code == 0, r.output
    return {
        str(Path(row["path"]).relative_to(root.resolve())): row
        for row in json.loads(report.read_text())["rows"]
    }


def test_albums_get_one_genre_outliers_keep_theirs_compilations_per_track(
    lib, tiny_model, tmp_path
):
    root, db = lib
    rows = report_rows(root, tiny_model, db, tmp_path, "--dry-run")
    album_a = [rows[f"Artist/Album A/0{i}.mp3"] for i in (1, 2, 3)]
    assert all(r["genres"] == ["rock"] for r in album_a)  # 03 alone would be jazz
    assert all(r["album"] == "Album A — Artist" for r in album_a)
    # each row holds its own track's probabilities, and the album's apart
    for r, i in zip(album_a, (1, 2, 3)):
        own = LIBRARY[f"Artist/Album A/0{i}.mp3"][-1]
        assert [round(r["probabilities"][g], 6) for g in ("blues", "jazz", "rock")] == [
            round(x, 6) for x in own
        ]
    assert album_a[0]["album_probabilities"] == album_a[1]["album_probabilities"]
    assert album_a[0]["album_probabilities"]["rock"] > album_a[0]["album_probabilities"]["jazz"]
    assert rows["untagged/one.mp3"]["album_probabilities"] is None
    assert all(r["source"] == "cache" for r in rows.values())
    b = [rows[f"Artist/Album B/0{i}.mp3"] for i in (1, 2, 3)]
    assert [r["genres"] for r in b] == [["rock"], ["rock"], ["blues"]]
    assert [r["outlier"] for r in b] == [False, False, True]
    assert b[2]["album_probabilities"] == b[0]["album_probabilities"]
    assert b[2]["probabilities"]["blues"] > 0.9
    hits = [rows[f"Various/Hits/0{i}.mp3"] for i in (1, 2, 3)]
    assert [r["genres"] for r in hits] == [["blues"], ["jazz"], ["rock"]]
    assert all(r["album"] is None for r in hits)
    assert rows["untagged/one.mp3"]["genres"] == ["blues"]  # no album tag: one by one
    strict = report_rows(root, tiny_model, db, tmp_path, "--dry-run", "--album-strict")
    assert strict["Artist/Album B/03.mp3"]["genres"] == ["rock"]
    by_folder = report_rows(root, tiny_model, db, tmp_path, "--dry-run", "--by", "folder")
    assert by_folder["untagged/one.mp3"]["genres"] == by_folder["untagged/two.mp3"]["genres"]
    assert by_folder["untagged/one.mp3"]["album"] == "untagged/"
    by_track = report_rows(root, tiny_model, db, tmp_path, "--dry-run", "--by", "track")
    assert by_track["Artist/Album A/03.mp3"]["genres"] == ["jazz"]


def test_a_conflict_is_flagged_and_not_written(lib, tiny_model, tmp_path):
    root, db = lib
    before = file_hash(root / "Other/conflict.mp3")
    rows = report_rows(root, tiny_model, db, tmp_path)  # a real run
    row = rows["Other/conflict.mp3"]
    assert row["status"] == "conflict" and row["previous"] == ["Rock"]
    assert row["genres"] == ["jazz"]
    assert file_hash(root / "Other/conflict.mp3") == before
    assert rows["Other/agrees.mp3"]["status"] == "kept"
    listed = report_rows(root, tiny_model, db, tmp_path, "--dry-run", "--status", "conflict")
    assert list(listed) == ["Other/conflict.mp3"]
    r = scan(root, tiny_model, db, "--dry-run", "--status", "conflict")
    table = r.output.split("dry run: nothing was written")[0]
    assert "Other/conflict" in table and "agrees" not in table and "Album" not in table
    report_rows(root, tiny_model, db, tmp_path, "--overwrite")
    assert tags.read_genres(root / "Other/conflict.mp3") == ["jazz"]


def test_reruns_show_the_genre_in_the_file_and_the_verdict_that_holds(lib, tiny_model, tmp_path):
    root, db = lib
    sure = ("--min-confidence", "0.4")  # flat.mp3's best, 0.34, is then unsure
    first = report_rows(root, tiny_model, db, tmp_path, *sure)
    assert first["Artist/Album A/01.mp3"]["status"] == "tagged"
    assert first["Other/flat.mp3"]["status"] == "unsure"
    again = report_rows(root, tiny_model, db, tmp_path, *sure)
    row = again["Artist/Album A/01.mp3"]
    assert row["previous"] == ["rock"] and row["status"] == "kept" and row["source"] == "cache"
    assert again["Other/flat.mp3"]["status"] == "unsure"  # not "cached"
    assert again["Other/conflict.mp3"]["previous"] == ["Rock"]
    r = scan(root, tiny_model, db, "--dry-run")
    assert "│ Artist/Alb" in r.output  # relative to the folder named (folded at 80 columns)
    assert str(root.resolve())[:12] not in r.output


def test_a_track_added_later_redecides_its_album_dry_run_first(lib, tiny_model, tmp_path):
    root, db = lib
    report_rows(root, tiny_model, db, tmp_path)  # Album A is written as rock
    assert tags.read_genres(root / "Artist/Album A/01.mp3") == ["rock"]
    new = root / "Artist/Album A/04.mp3"
    make_track(new, "Album A", "", "Artist", None, seed=99)
    scan(root, tiny_model, db, "--dry-run")  # heard (as jazz, by the tiny model)
    seed(db, root, {"Artist/Album A/04.mp3": (0.0, 1.0, 0.0)})
    before = snapshot(root)
    rows = report_rows(root, tiny_model, db, tmp_path, "--dry-run")
    assert snapshot(root) == before  # the dry run changes nothing on disk
    assert rows["Artist/Album A/01.mp3"]["status"] == "would-tag"
    assert rows["Artist/Album A/01.mp3"]["genres"] == ["jazz"]  # its own write, re-decided
    report_rows(root, tiny_model, db, tmp_path)
    assert all(
        tags.read_genres(root / f"Artist/Album A/0{i}.mp3") == ["jazz"] for i in (1, 2, 3, 4)
    )


def test_undo_puts_back_a_whole_album(lib, tiny_model, tmp_path):
    root, db = lib
    before = snapshot(root / "Artist/Album B")
    r = scan(root, tiny_model, db)
    assert r.exit_code == 0 and "tagged: Artist/Album B/01.mp3" in r.output
    assert snapshot(root / "Artist/Album B") != before
    assert run("undo", root / "Artist/Album B", "--db", db).exit_code == 0
    assert snapshot(root / "Artist/Album B") == before


def test_top_k_is_the_most_genres_in_all(lib, tiny_model, tmp_path):
    root, db = lib
    rows = report_rows(
        root,
        tiny_model,
        db,
        tmp_path,
        "--dry-run",
        "--top-k",
        "2",
        "--min-confidence",
        "0.05",
        "--by",
        "track",
    )
    assert max(len(r["genres"]) for r in rows.values()) == 2


def chromium() -> str | None:
    import shutil

    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
def test_the_html_report_in_a_real_browser(lib, tiny_model, tmp_path):
    """Headless chromium runs the page's script (filter, sort) and takes a screenshot."""
    import re
    import subprocess

    root, db = lib
    page = tmp_path / "r.html"
    assert scan(root, tiny_model, db, "--dry-run", "--report", page).exit_code == 0
    browser = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]

    def dom(fragment: str) -> str:
        done = subprocess.run(
            [*browser, "--dump-dom", f"{page.as_uri()}#{fragment}"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert 'data-ready="1"' in done.stdout, done.stderr[-2000:]
        return done.stdout

    shown = dom("status=conflict")
    assert "1 of 14 tracks shown" in shown
    visible = re.findall(
        r'<tr class="track ([\w-]+)"[^>]*data-status="[\w-]+"(?![^>]*hidden)', shown
    )
    assert visible == ["conflict"]
    assert "Album A — Artist — album verdict: <b>rock</b> (3 tracks)" in shown
    genre = dom("genre=blues")
    assert "of 14 tracks shown" in genre and "0 of 14" not in genre
    ordered = dom("sort=5")  # confidence, rising, within each album
    assert "▲" in ordered
    shot = tmp_path / "report.png"
    subprocess.run(
        [*browser, "--window-size=1300,1000", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_a_rescan_after_undo_knows_what_the_files_hold(lib, tiny_model, tmp_path):
    """Undo updates the cache's record of each file's genre: the next scan (from the cache,
    without opening the files) proposes the write again, rather than keeping."""
    root, db = lib
    report_rows(root, tiny_model, db, tmp_path)
    assert run("undo", root / "Artist/Album A", "--db", db).exit_code == 0
    rows = report_rows(root, tiny_model, db, tmp_path, "--dry-run")
    row = rows["Artist/Album A/01.mp3"]
    assert row["previous"] == [] and row["status"] == "would-tag" and row["source"] == "cache"


def test_an_album_is_decided_from_every_track_the_cache_knows(lib, tiny_model, tmp_path):
    """naming some of an album's tracks gives the same verdict as naming
    the album, and the row says the verdict also came from tracks not named."""
    root, db = lib
    whole = report_rows(root / "Artist" / "Album A", tiny_model, db, tmp_path, "--dry-run")
    assert {r["album_unnamed"] for r in whole.values()} == {0}
    report = tmp_path / "some.json"
    r = scan(
        root / "Artist" / "Album A" / "01.mp3",
        tiny_model,
        db,
        "--dry-run",
        root / "Artist" / "Album A" / "03.mp3",
        "--report",
        report,
    )
    assert r.exit_code == 0, r.output
    rows = {Path(x["path"]).name: x for x in json.loads(report.read_text())["rows"]}
    assert set(rows) == {"01.mp3", "03.mp3"}  # only the named ones are decided
    assert [rows[n]["genres"] for n in ("01.mp3", "03.mp3")] == [["rock"], ["rock"]]
    assert rows["03.mp3"]["album_unnamed"] == 1  # 02.mp3, from the cache
    assert "with 1 track not named" in r.output
    alone = report_rows(
        root / "Artist" / "Album A" / "03.mp3",
        tiny_model,
        db,
        tmp_path,
        "--dry-run",
        "--by",
        "folder",
    )
    assert alone["."]["genres"] == ["rock"] and alone["."]["album_unnamed"] == 2


def test_an_albums_verdict_is_a_genre_one_of_its_tracks_ranks_first(lib, tiny_model, tmp_path):
    """two tracks rank blues first, one rock; all three rank jazz
    second. The pooled vote alone would give jazz, which no track ranks first."""
    root, db = lib
    seed(
        db,
        root,
        {
            "Artist/Album A/01.mp3": (0.50, 0.45, 0.05),
            "Artist/Album A/02.mp3": (0.06, 0.44, 0.50),
            "Artist/Album A/03.mp3": (0.52, 0.44, 0.04),
        },
    )
    rows = report_rows(root / "Artist" / "Album A", tiny_model, db, tmp_path, "--dry-run")
    assert [rows[f"0{i}.mp3"]["genres"] for i in (1, 2, 3)] == [["blues"]] * 3


def test_a_real_run_lists_conflicts_and_unsure_tracks_too(lib, tiny_model):
    """A real run lists what it left alone and why, not only what it wrote; --status
    filters that list as it filters a dry run's table. Unsure rows give the best guess."""
    root, db = lib
    r = scan(root, tiny_model, db, "--min-confidence", "0.4")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert (
        "conflict: Other/conflict.mp3: has Rock, the audio says jazz 0.96 (kept; "
        "--overwrite replaces it)" in lines
    )
    assert "unsure: Other/flat.mp3: blues? 0.34" in lines
    assert any(line.startswith("tagged: Artist/Album A/01.mp3: — → rock") for line in lines)
    dry = scan(root, tiny_model, db, "--min-confidence", "0.4", "--dry-run")
    assert any("flat.mp3" in line and "blues? 0.34" in line for line in dry.output.splitlines())
    only = scan(root, tiny_model, db, "--min-confidence", "0.4", "--status", "unsure")
    assert [x for x in only.output.splitlines() if ": Other/" in x or ": Artist/" in x] == [
        "unsure: Other/flat.mp3: blues? 0.34"
    ]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_csv_and_parquet_give_each_track_its_own_probabilities_and_the_albums_apart(
    lib, tiny_model, tmp_path, suffix
):
    root, db = lib
    report = tmp_path / f"r.{suffix}"
    r = scan(root, tiny_model, db, "--dry-run", "--report", report)
    assert r.exit_code == 0, r.output
    if suffix == "csv":
        import csv

        with open(report, encoding="utf-8", newline="") as f:
            rows = {
                Path(x["path"]).relative_to(root.resolve()).as_posix(): (
                    json.loads(x["probabilities"])["rock"],
                    json.loads(x["album_probabilities"])["rock"],
                )
                for x in csv.DictReader(f)
                if x["album_probabilities"]
            }
    else:
        pq = pytest.importorskip("pyarrow.parquet")
        t = pq.read_table(report).to_pylist()
        rows = {
            Path(x["path"]).relative_to(root.resolve()).as_posix(): (x["p_rock"], x["album_p_rock"])
            for x in t
            if x["album_p_rock"] is not None
        }
    a = [rows[f"Artist/Album A/0{i}.mp3"] for i in (1, 2, 3)]
    assert [round(own, 6) for own, _ in a] == [0.70, 0.45, 0.40]
    assert len({album for _, album in a}) == 1
