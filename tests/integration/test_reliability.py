"""Only the genre changes, under crashes, concurrent editors and hostile input.

Tag structures are checked as raw bytes (``rawtags``), not through mutagen, which
normalises on load and would hide a loss.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from genretag import tags
from genretag.store.cache import Cache

import rawtags
from helpers import album, file_hash, run, sigint_as_a_terminal_sends_it


def bare_audio(library: Path) -> bytes:
    """MPEG audio frames with no tag at all."""
    data = (album(library) / "plain.mp3").read_bytes()
    return data[len(rawtags.id3_tag(data)) :]


def frame(fid: str, body: bytes, major: int = 3) -> bytes:
    if major == 2:
        return fid.encode() + len(body).to_bytes(3, "big") + body
    return fid.encode() + len(body).to_bytes(4, "big") + b"\x00\x00" + body


def id3_tag(frames: list[bytes], major: int = 3, padding: int = 256) -> bytes:
    body = b"".join(frames) + bytes(padding)
    n = len(body)
    size = bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])
    return b"ID3" + bytes([major, 0, 0]) + size + body


def v1_block(title: bytes, genre: int = 255) -> bytes:
    return (
        b"TAG"
        + title.ljust(30, b"\0")
        + b"V1 Artist".ljust(30, b"\0")
        + b"V1 Album".ljust(30, b"\0")
        + b"1987"
        + b"".ljust(30, b"\0")
        + bytes([genre])
    )


V23_FRAMES = [
    frame("TIT2", b"\x00Title"),
    frame("TYER", b"\x001999"),
    frame("TDAT", b"\x000102"),
    frame("TIME", b"\x001200"),
    frame("TORY", b"\x001990"),
    frame("IPLS", b"\x00producer\x00Some One\x00"),
    frame("RVAD", b"\x03\x10" + bytes(8)),
    frame("TSIZ", b"\x0012345"),
    frame("TRDA", b"\x00March 3"),
    frame("TIT3", b"\x09not a valid encoding byte"),  # a frame mutagen cannot parse
]


def genre_cli(path: Path, model: Path, db: Path, *extra: str):
    return run(
        "scan",
        path,
        "--model",
        model,
        "--db",
        db,
        "--min-confidence",
        "0",
        "--workers",
        "1",
        *extra,
    )


# -- 1-3: only the genre frame changes, in every ID3 version ---------------------------------


def test_id3v23_keeps_every_frame_byte_for_byte_and_undo_restores_the_file(
    library, tiny_model, db, tmp_path
):
    path = tmp_path / "a.mp3"
    path.write_bytes(id3_tag(V23_FRAMES) + bare_audio(library))
    original = path.read_bytes()
    assert genre_cli(path, tiny_model, db).exit_code == 0
    data = path.read_bytes()
    frames = rawtags.id3_frames(data)
    assert data[3] == 3  # still ID3v2.3
    assert [f for f in frames if not f.startswith(b"TCON")] == V23_FRAMES  # same bytes, order
    assert rawtags.frame_ids(frames, 3).count("TCON") == 1
    assert tags.read_genres(path) == ["jazz"]
    assert data[len(rawtags.id3_tag(data)) :] == original[len(rawtags.id3_tag(original)) :]
    assert run("undo", path, "--db", db).exit_code == 0
    assert path.read_bytes() == original


def test_an_unparseable_frame_is_kept(library, tmp_path):
    path = tmp_path / "junk.mp3"
    junk = frame("TIT2", b"\x07title in an unknown encoding")
    path.write_bytes(id3_tag([junk, frame("TPE1", b"\x00Artist")]) + bare_audio(library))
    tags.write_genres(path, ["Rock"])
    assert junk in rawtags.id3_frames(path.read_bytes())


def test_id3v1_keeps_every_byte_but_its_genre(library, tmp_path):
    path = tmp_path / "v1.mp3"
    v1 = v1_block(b"V1 Title")
    path.write_bytes(bare_audio(library) + v1)
    tags.write_genres(path, ["Rock"])
    data = path.read_bytes()
    assert rawtags.frame_ids(rawtags.id3_frames(data), 4) == ["TCON"]  # nothing copied from v1
    assert rawtags.id3v1(data)[:127] == v1[:127]
    assert rawtags.id3v1(data)[127] == 17  # ID3v1's number for Rock
    # v1 and v2 together: the v1 title is not rewritten from the v2 one
    both = tmp_path / "both.mp3"
    both.write_bytes(id3_tag([frame("TIT2", b"\x00V2 Title")]) + bare_audio(library) + v1)
    before = tags.write_genres(both, ["Made Up Genre"])
    assert rawtags.id3v1(both.read_bytes())[:127] == v1[:127]
    assert rawtags.id3v1(both.read_bytes())[127] == 255  # not an ID3v1 genre: "none"
    tags.write_state(both, before)
    assert rawtags.id3v1(both.read_bytes()) == v1


def test_id3v22_stays_v22(library, tmp_path):
    path = tmp_path / "v22.mp3"
    old = [frame("TT2", b"\x00Title", 2), frame("TYE", b"\x001999", 2)]
    path.write_bytes(id3_tag(old, major=2) + bare_audio(library))
    tags.write_genres(path, ["Jazz"])
    data = path.read_bytes()
    assert data[3] == 2
    assert rawtags.id3_frames(data)[:2] == old
    assert rawtags.frame_ids(rawtags.id3_frames(data), 2) == ["TT2", "TYE", "TCO"]
    assert tags.read_genres(path) == ["Jazz"]


def test_flac_blocks_and_mp4_items_other_than_the_genre_are_unchanged(library):
    flac = album(library) / "tagged.flac"
    blocks = rawtags.flac_blocks(flac)
    tags.write_genres(flac, ["Jazz", "Soul"])
    after = rawtags.flac_blocks(flac)
    kept = [b for b in blocks if b[0] not in (1, 4)]  # all but PADDING and VORBIS_COMMENT
    assert [b for b in after if b[0] not in (1, 4)] == kept
    (old_vc,) = [b for t, b in blocks if t == 4]
    (new_vc,) = [b for t, b in after if t == 4]
    vendor, comments = rawtags.vorbis_comments(old_vc)
    assert rawtags.vorbis_comments(new_vc) == (vendor, [*comments, b"GENRE=Jazz", b"GENRE=Soul"])
    m4a = album(library) / "aac.m4a"
    items = rawtags.mp4_items(m4a)
    tags.write_genres(m4a, ["Jazz"])
    after_items = rawtags.mp4_items(m4a)
    assert [i for i in after_items if i[4:8] != b"\xa9gen"] == items


@pytest.mark.parametrize(
    "name",
    [
        "plain.mp3",
        "v23.mp3",
        "v24.mp3",
        "v1only.mp3",
        "ape.mp3",
        "tagged.flac",
        "pcm.wav",
        "pcm.aiff",
        "aac.m4a",
        "alac.m4a",
    ],
)
def test_undo_gives_back_the_file_byte_for_byte(library, name):
    path = album(library) / name
    original = path.read_bytes()
    before = tags.write_genres(path, ["Jazz", "R&B/Soul"])
    assert tags.read_genres(path) == ["Jazz", "R&B/Soul"]
    tags.write_state(path, before)
    assert path.read_bytes() == original


def test_vorbis_genre_stays_where_it_was(library):
    ogg = album(library) / "vorbis.ogg"  # TITLE, then Genre=Folk
    from mutagen.oggvorbis import OggVorbis

    keys = [k for k, _ in OggVorbis(ogg).tags]
    tags.write_genres(ogg, ["Jazz"])
    assert [k for k, _ in OggVorbis(ogg).tags] == keys
    assert tags.read_genres(ogg) == ["Jazz"]


# -- 4-6: links, attributes, slashes ----------------------------------------------------------


def test_hard_linked_files_are_refused_and_xattrs_kept(library, tiny_model, db):
    path = album(library) / "plain.mp3"
    twin = album(library) / "twin.mp3"
    os.link(path, twin)
    before = file_hash(path)
    r = genre_cli(path, tiny_model, db)  # skipped, with the reason: not a failure
    assert r.exit_code == 0 and "has 2 hard links: not tagged" in r.output, r.output
    assert file_hash(path) == file_hash(twin) == before and path.stat().st_nlink == 2
    os.unlink(twin)
    try:
        os.setxattr(path, "user.rating", b"5")
    except OSError:
        pytest.skip("this file system has no user extended attributes")
    tags.write_genres(path, ["Jazz"])
    assert os.getxattr(path, "user.rating") == b"5"


def test_a_symlinked_file_is_written_through(library, tiny_model, db, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    target = outside / "real.mp3"
    shutil.copy(album(library) / "plain.mp3", target)
    link = album(library) / "link.mp3"
    link.symlink_to(target)
    assert genre_cli(album(library), tiny_model, db).exit_code == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert tags.read_genres(target) == ["jazz"]


def test_a_genre_with_a_slash_survives_id3v23(library, tiny_model, db, tmp_path):
    v23 = album(library) / "v23.mp3"
    tags.write_genres(v23, ["R&B/Soul", "Jazz"])
    assert tags.read_genres(v23) == ["R&B/Soul", "Jazz"]
    assert v23.read_bytes()[3] == 3
    mapping = tmp_path / "map.toml"
    mapping.write_text('jazz = "R&B/Soul"\n')
    fresh = album(library) / "plain.mp3"
    fresh.write_bytes(id3_tag([frame("TIT2", b"\x00T")]) + bare_audio(library))
    assert genre_cli(fresh, tiny_model, db, "--map", mapping).exit_code == 0
    assert tags.read_genres(fresh) == ["R&B/Soul"]


# -- 7-11: concurrency and crashes ------------------------------------------------------------


def test_an_edit_made_during_the_write_is_not_lost(library, monkeypatch):
    path = album(library) / "v24.mp3"
    from genretag.library import safewrite

    real = safewrite.keep_attributes

    def editor_saves_meanwhile(st, target, tmp):
        real(st, target, tmp)
        from mutagen.id3 import ID3, TIT2

        t = ID3(target)
        t.add(TIT2(encoding=3, text="Edited Meanwhile"))
        t.save()

    monkeypatch.setattr(safewrite, "keep_attributes", editor_saves_meanwhile)
    with pytest.raises(tags.TagError, match="another program"):
        tags.write_genres(path, ["Jazz"])
    from mutagen.id3 import ID3

    assert str(ID3(path)["TIT2"]) == "Edited Meanwhile"
    assert not [p for p in path.parent.iterdir() if safewrite.is_temp_name(p.name)]


def test_leftover_temporary_files_are_removed_and_only_those(library, tiny_model, db):
    import fcntl

    folder = album(library)
    dead = folder / ".plain.mp3.abcd1234.genretag.tmp"
    live = folder / ".v24.mp3.efgh5678.genretag.tmp"
    mine = folder / ".notes.tmp"
    for p in (dead, live, mine):
        p.write_bytes(b"x" * 1000)
    held = os.open(live, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)  # a write in progress elsewhere
    try:
        r = genre_cli(folder, tiny_model, db, "--dry-run")
        assert dead.exists() and "temporary files" in r.output
        r = genre_cli(folder, tiny_model, db)
        assert not dead.exists() and live.exists() and mine.exists()
        assert "temporary files of interrupted writes removed" in r.output
    finally:
        os.close(held)


def test_a_kill_between_history_and_write_leaves_no_stale_history(library, tiny_model, db):
    path = album(library) / "plain.mp3"
    cache = Cache(db)  # what a kill after the history row, before the write, leaves
    state = tags.read_state(path)
    cache.begin_write(str(path), "m", state.to_dict(), ["Killed"])
    cache.close()
    r = run("undo", path, "--db", db)
    assert r.exit_code == 0 and "0 restored" in r.output
    # the user sets a genre, a new scan overwrites it; undo gives the user's back
    cache = Cache(db)
    cache.begin_write(str(path), "m", state.to_dict(), ["Killed"])
    cache.close()
    tags.write_genres(path, ["UserRock"])
    assert genre_cli(path, tiny_model, db, "--overwrite").exit_code == 0
    assert tags.read_genres(path) == ["jazz"]
    assert run("undo", path, "--db", db).exit_code == 0
    assert tags.read_genres(path) == ["UserRock"]


def test_a_write_whose_row_is_pending_is_confirmed_when_it_happened(library, db):
    path = album(library) / "plain.mp3"
    original = file_hash(path)
    cache = Cache(db)  # a kill after the write, before its row was confirmed
    hid = cache.begin_write(str(path), "m", tags.read_state(path).to_dict(), ["Jazz"])
    tags.write_genres(path, ["Jazz"])
    cache.close()
    r = run("undo", path, "--db", db)
    assert r.exit_code == 0 and "1 restored" in r.output, r.output
    assert file_hash(path) == original and hid


@pytest.mark.slow  # 48 processes
def test_many_processes_create_one_cache_at_once(tmp_path):
    code = (
        "import sys, time\nfrom genretag.store.cache import Cache, TrackRow\n"
        "time.sleep(max(0, float(sys.argv[2]) - time.time()))\n"
        "c = Cache(sys.argv[1]); c.put(TrackRow("
        "sys.argv[3], 1, 1, None, None, None, [], [], 'kept', None, None)); c.close()"
    )
    import time

    n = 12  # SQLite's switch to WAL failed now and then at this rate (retried since)
    for attempt in range(4):
        db = tmp_path / f"new{attempt}.sqlite"
        start = str(time.time() + 1.5)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(db), start, f"/f{i}"], stderr=subprocess.PIPE
            )
            for i in range(n)
        ]
        errors = [p.communicate()[1].decode() for p in procs]
        assert [p.returncode for p in procs] == [0] * n, errors
        assert len(Cache(db).all_tracks()) == n


def test_the_switch_to_wal_is_retried_while_another_process_makes_it():
    """SQLite refuses the switch at once ("database is locked", no busy wait) when two
    processes make it on a new file together; the race above hits it only now and then, so
    this checks the retry itself."""
    from genretag.store.cache import _use_wal

    class Racing:
        def __init__(self, refusals: int, message: str = "database is locked"):
            self.refusals, self.message, self.calls = refusals, message, 0

        def execute(self, sql):
            self.calls += 1
            if self.calls <= self.refusals:
                raise sqlite3.OperationalError(self.message)

    racing = Racing(3)
    _use_wal(racing)
    assert racing.calls == 4
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        _use_wal(Racing(1, "disk I/O error"))  # anything else is not waited out


def test_a_full_disk_under_the_cache_stops_the_scan_cleanly(library, tiny_model, db, monkeypatch):
    import sqlite_utils

    real_insert = sqlite_utils.db.Table.insert

    def disk_full(self, *args, **kwargs):
        if self.name == "history":
            raise sqlite3.OperationalError("database or disk is full")
        return real_insert(self, *args, **kwargs)

    monkeypatch.setattr(sqlite_utils.db.Table, "insert", disk_full)
    folder = album(library)
    before = {p.name: file_hash(p) for p in folder.iterdir()}
    r = genre_cli(folder, tiny_model, db)
    assert r.exit_code == 2
    assert "database or disk is full" in r.output and "Traceback" not in r.output
    assert {p.name: file_hash(p) for p in folder.iterdir()} == before  # nothing written


# -- 12-13: undo ----------------------------------------------------------------------------


def test_identical_copies_do_not_steal_the_history(library, tiny_model, db, tmp_path):
    folder = album(library)
    originals = {p.name: tags.read_genres(p) for p in folder.glob("*.mp3")}
    assert genre_cli(folder, tiny_model, db).exit_code == 0
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    away = tmp_path / "away"
    folder.rename(away)  # the drive is unmounted
    assert genre_cli(copy, tiny_model, db).exit_code == 0
    away.rename(folder)  # and back
    r = run("undo", folder, "--db", db)
    assert r.exit_code == 0, r.output
    assert {p.name: tags.read_genres(p) for p in folder.glob("*.mp3")} == originals


def test_undo_paths(library, tiny_model, db, tmp_path):
    assert run("undo", "/nonexistent", "--db", db).exit_code == 2
    missing = tmp_path / "missing.db"
    assert run("undo", "--all", "--db", missing).exit_code == 2 and not missing.exists()
    link = tmp_path / "linked-music"
    link.symlink_to(library)
    folder = album(library)
    assert genre_cli(link / "Artist" / "Album", tiny_model, db).exit_code == 0
    assert tags.read_genres(folder / "plain.mp3") == ["jazz"]
    (folder / "v23.mp3").unlink()  # deleted after the write
    r = run("undo", folder, "--db", db)  # by its real path
    assert r.exit_code == 0, r.output
    assert "deleted" in r.output and tags.read_genres(folder / "plain.mp3") == []
    assert run("undo", "--all", "--db", db).exit_code == 0  # the deleted file: not a failure
    assert "v23.mp3" not in run("undo", "--all", "--db", db).output
    never = tmp_path / "never-scanned"
    never.mkdir()
    r = run("undo", never, "--db", db)
    assert r.exit_code == 2 and "no record" in r.output  # a path it never saw


# -- 14-17: hostile or odd input --------------------------------------------------------------


def test_markup_in_tags_and_names_is_printed_as_text(library, tiny_model, db, tmp_path):
    folder = album(library)
    tags.write_genres(folder / "v24.mp3", ["Rock [/live]"])
    tags.write_genres(folder / "v23.mp3", ["[live]"])
    r = genre_cli(folder, tiny_model, db, "--dry-run")
    assert r.exit_code == 0, r.output
    assert "Rock [/live]" in r.output and "[live]" in r.output
    mapping = tmp_path / "map.toml"
    mapping.write_text('jazz = "[bold]Jazz[/bold] [/x]"\n')
    r = genre_cli(folder, tiny_model, db, "--map", mapping)
    assert r.exit_code == 0, r.output
    r = run("report", "--db", db)
    assert r.exit_code == 0 and "[bold]Jazz[/bold] [/x]" in r.output


@pytest.mark.parametrize(
    "text",
    ["genres = 5\n", "genres = [1, 2]\n", b'jazz = "\xff\xfe"\n', 'jazz = "Two\\u0000Genres"\n'],
)
def test_crafted_map_files_are_usage_errors(library, tiny_model, db, tmp_path, text):
    mapping = tmp_path / "map.toml"
    mapping.write_bytes(text if isinstance(text, bytes) else text.encode())
    r = genre_cli(album(library), tiny_model, db, "--map", mapping)
    assert r.exit_code == 2 and str(mapping) in r.output and "Traceback" not in r.output


def crafted_model(path: Path, header) -> Path:
    blob = json.dumps(header).encode()
    path.write_bytes(len(blob).to_bytes(8, "little") + blob)
    return path


def good_meta(tiny_model: Path) -> dict:
    from genretag.models.file import read_metadata

    return dict(read_metadata(tiny_model).raw)


@pytest.mark.parametrize(
    "case",
    [
        "header-list",
        "not-json",
        "int",
        "list",
        "no-labels",
        "labels-int",
        "display-list",
        "string-number",
        "huge-mels",
    ],
)
def test_crafted_model_files_are_usage_errors(library, tiny_model, db, tmp_path, case):
    meta = good_meta(tiny_model)
    if case == "no-labels":
        del meta["labels"]
    elif case == "labels-int":
        meta["labels"] = 3
    elif case == "display-list":
        meta["display_names"] = ["a"]
    elif case == "string-number":
        meta["audio"]["hop_length"] = "256"
    elif case == "huge-mels":
        meta["audio"]["n_mels"] = 10_000_000
    raw = {"not-json": "{not json", "int": "5", "list": "[1, 2]"}.get(case, json.dumps(meta))
    header = [1, 2] if case == "header-list" else {"__metadata__": {"genretag": raw}}
    model = crafted_model(tmp_path / "crafted.safetensors", header)
    r = genre_cli(album(library), model, db, "--dry-run")
    assert r.exit_code == 2, r.output
    assert str(model) in r.output and "Traceback" not in r.output


def test_a_long_name_in_four_byte_characters_is_written(library):
    path = album(library) / ("🎵" * 61 + ".mp3")
    shutil.copy(album(library) / "plain.mp3", path)
    tags.write_genres(path, ["Jazz"])
    assert tags.read_genres(path) == ["Jazz"]


def test_csv_cells_are_guarded_against_formulas(library, tiny_model, db, tmp_path):
    mapping = tmp_path / "map.toml"
    mapping.write_text('jazz = "=HYPERLINK(\\"http://x\\")"\n')
    report = tmp_path / "r.csv"
    genre_cli(
        album(library) / "plain.mp3",
        tiny_model,
        db,
        "--dry-run",
        "--map",
        mapping,
        "--report",
        report,
    )
    import csv

    (row,) = list(csv.DictReader(report.open(encoding="utf-8")))
    assert row["genres"] == '\'=HYPERLINK("http://x")'


def test_fifos_and_broken_links(library, tiny_model, db, tmp_path):
    fifo = tmp_path / "pipe.mp3"
    os.mkfifo(fifo)
    r = genre_cli(fifo, tiny_model, db, "--dry-run")
    assert r.exit_code == 1 and "FIFO" in r.output
    folder = album(library)
    (folder / "broken.mp3").symlink_to(tmp_path / "nowhere.mp3")
    (folder / "self.mp3").symlink_to(folder / "self.mp3")
    report = tmp_path / "r.json"
    r = genre_cli(folder, tiny_model, db, "--dry-run", "--report", report)
    assert r.exit_code == 0, r.output
    skipped = {Path(s["path"]).name for s in json.loads(report.read_text())["summary"]["skipped"]}
    assert {"broken.mp3", "self.mp3"} <= skipped


def test_a_write_keeps_mode_and_owner_and_dates_the_file_now(library, tiny_model, db):
    """Mode and owner pass to the new file (owner where this user may give files away:
    root here, so a stranger's file stays the stranger's); mtime becomes the write's time,
    so backup and sync tools see the change (docs/safety.md)."""
    import time

    path = album(library) / "plain.mp3"
    os.chmod(path, 0o640)
    owner = (1234, 2345) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    os.chown(path, *owner)
    old = time.time() - 3600
    os.utime(path, (old, old))
    started = time.time()
    r = genre_cli(path, tiny_model, db)
    assert r.exit_code == 0 and tags.read_genres(path) == ["jazz"], r.output
    st = path.stat()
    assert (oct(st.st_mode & 0o7777), st.st_uid, st.st_gid) == (oct(0o640), *owner)
    assert st.st_mtime >= started - 1


def test_a_user_xattr_that_cannot_be_copied_stops_the_write(library, monkeypatch):
    """The user's own attribute is kept or nothing is written: the file stays byte for
    byte, and the error names the attribute."""
    path = album(library) / "plain.mp3"
    try:
        os.setxattr(path, "user.rating", b"5")
    except OSError:
        pytest.skip("this file system has no user extended attributes")
    before = file_hash(path)
    real = os.setxattr

    def refuse_user(target, name, value, *args, **kwargs):
        if name == "user.rating":
            raise OSError(95, "Operation not supported")
        return real(target, name, value, *args, **kwargs)

    monkeypatch.setattr(os, "setxattr", refuse_user)
    with pytest.raises(tags.TagError, match=r"cannot keep extended attribute user\.rating"):
        tags.write_genres(path, ["Jazz"])
    monkeypatch.undo()
    assert file_hash(path) == before and os.getxattr(path, "user.rating") == b"5"
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_ctrl_c_stops_a_local_scan_with_130_and_the_same_command_resumes(tmp_path, tiny_model):
    """A real SIGINT to a real scan: exit 130 with the one-line reason, every finished
    track cached, and the same command hears only the rest."""
    import signal
    import time

    from synth import music, write_audio

    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(20):
        write_audio(lib / f"t{i:02}.mp3", music(8.0, 22050, seed=i), 22050, "mp3")
    db, report = tmp_path / "cache.sqlite", tmp_path / "second.json"
    command = [
        sys.executable,
        "-m",
        "genretag",
        "scan",
        str(lib),
        "--model",
        str(tiny_model),
        "--db",
        str(db),
        "--dry-run",
        "--coverage",
        "full",
        "--workers",
        "1",
        "--batch-size",
        "1",
        "-q",
    ]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_as_a_terminal_sends_it,
    )
    deadline = time.monotonic() + 120
    heard = 0
    while heard == 0 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
                    heard = con.execute(
                        "select count(*) from tracks where probabilities is not null"
                    ).fetchone()[0]
            except sqlite3.Error:
                continue  # being created
    assert heard and proc.poll() is None, "the scan ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted: finished tracks are cached; run the same command to resume" in err
    assert "Traceback" not in err
    again = subprocess.run([*command, "--report", str(report)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    summary = json.loads(report.read_text())["summary"]
    assert summary["tracks"] == 20
    assert summary["sources"]["cache"] >= heard and summary["sources"]["heard"] <= 20 - heard
