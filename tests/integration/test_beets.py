"""The beets plugin, with real beets: a library in a temporary folder, filled by
``beet import -A`` with generated audio, then ``beet genretag`` in pretend and real mode,
fill and force, by album and by track, and the ``auto`` import hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mutagen.easyid3 import EasyID3

from genretag import tags

from helpers import ROOT, file_hash
from synth import music, write_audio

pytest.importorskip("beets")
pytestmark = pytest.mark.slow  # every test runs real beets in subprocesses


def make_album(folder: Path, album: str, n: int, seed: int = 0) -> list[Path]:
    paths = []
    for i in range(n):
        p = folder / album / f"{i + 1:02d}.mp3"
        p.parent.mkdir(parents=True, exist_ok=True)
        write_audio(p, music(3.0, 22050, seed=seed + i), 22050, "mp3")
        t = EasyID3(p)
        t["album"], t["artist"], t["title"] = album, "Band", f"{album} {i + 1}"
        t["tracknumber"] = str(i + 1)
        t.save()
        paths.append(p)
    return paths


class Beets:
    """A beets installation of its own: config, library and genretag cache in one folder."""

    def __init__(self, home: Path, model: Path, **genretag):
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "BEETSDIR": str(home)}
        self.settings = {
            "model": str(model),
            "db": str(home / "genretag.sqlite"),
            "min_confidence": 0.0,
            **genretag,
        }
        self.configure()

    def configure(self, write: bool = True, **genretag) -> None:
        self.settings.update(genretag)
        lines = [
            f"directory: {self.home / 'music'}",
            f"library: {self.home / 'library.db'}",
            "plugins: genretag",
            "import:",
            "    copy: no",
            f"    write: {'yes' if write else 'no'}",
            "genretag:",
        ]
        lines += [f"    {k}: {json.dumps(v)}" for k, v in self.settings.items()]  # YAML
        (self.home / "config.yaml").write_text("\n".join(lines) + "\n")

    def __call__(self, *args: str, env: dict | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "beets", *map(str, args)],
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout + done.stderr

    def genres(self) -> dict[str, str]:
        out = self("ls", "-f", "$title|$genres")
        return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)


@pytest.fixture(scope="session")
def _heard_music(tmp_path_factory, tiny_model) -> tuple[Path, Path, Path, list[str]]:
    """Two albums of generated MP3s, and genretag's cache of them, heard once. Every test
    gets the files back at the same paths with the same size and mtime, so its first
    ``beet genretag`` takes their predictions from the cache instead of hearing them
    again (hearing imports torch in each beets process: most of these tests' time)."""
    import shutil
    import sqlite3

    from helpers import run

    base = tmp_path_factory.mktemp("beets-music")
    master = base / "master"
    files = make_album(master, "First", 2) + make_album(master, "Second", 2, seed=5)
    work = base / "incoming"
    shutil.copytree(master, work)  # copy2: the same mtimes
    cache = base / "genretag.sqlite"
    r = run("scan", work, "--model", tiny_model, "--db", cache, "--dry-run", "--workers", "1")
    assert r.exit_code == 0, r.output
    with sqlite3.connect(cache) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all in the one file copied below
    return master, work, cache, [str(p.relative_to(master)) for p in files]


@pytest.fixture
def beets(_heard_music, tmp_path, tiny_model) -> tuple[Beets, list[Path]]:
    import shutil

    master, work, cache, names = _heard_music
    shutil.rmtree(work)
    shutil.copytree(master, work)
    b = Beets(tmp_path / "beets", tiny_model)
    shutil.copy(cache, b.settings["db"])
    b("import", "-A", "-q", work)
    return b, [work / n for n in names]


def test_pretend_shows_and_changes_nothing_then_a_real_run_writes(beets):
    b, files = beets
    before = {p: file_hash(p) for p in files}
    out = b("genretag", "-p")
    assert "+ jazz" in out and "First 1" in out.replace("Band - First - ", "First ")
    assert "genretag: 4 audio files found" in out  # progress, off a terminal: lines
    assert set(b.genres().values()) == {""}  # nothing stored
    assert {p: file_hash(p) for p in files} == before  # nothing written
    b("genretag")
    assert set(b.genres().values()) == {"jazz"}
    assert all(tags.read_genres(p) == ["jazz"] for p in files)  # beets wrote them


def test_without_write_only_the_database_changes(beets):
    b, files = beets
    b.configure(write=False)
    before = {p: file_hash(p) for p in files}
    b("genretag")
    assert set(b.genres().values()) == {"jazz"}
    assert {p: file_hash(p) for p in files} == before


def test_fill_by_default_force_replaces_and_heard_items_are_not_decoded_again(beets):
    b, _files = beets
    b("genretag")
    b("modify", "-y", "-W", "title:First 1", "genres=Polka")
    b("genretag")
    assert b.genres()["First 1"] == "Polka"  # filled only where empty
    no_ffmpeg = {"IMAGEIO_FFMPEG_EXE": "/nonexistent/ffmpeg", "PATH": "/nonexistent"}
    b("genretag", "-f", env=no_ffmpeg)  # all from genretag's cache: nothing to decode
    assert b.genres()["First 1"] == "jazz"


def test_albums_as_beets_knows_them(beets):
    """Album 'First': alone, its first track would be rock and its second jazz; pooled, the
    album is rock. (Probabilities put in genretag's cache, as a scan would leave them.)"""
    from helpers import seed

    b, files = beets
    b("genretag", "-p")  # heard once
    first = [p for p in files if p.parent.name == "First"]
    seed(
        Path(b.settings["db"]),
        first[0].parent,
        {first[0].name: (0.10, 0.20, 0.70), first[1].name: (0.05, 0.55, 0.40)},
    )
    b("genretag", "-b", "track", "-p")
    b.configure(by="track")
    b("genretag")
    assert b.genres()["First 1"] == "rock" and b.genres()["First 2"] == "jazz"
    b.configure(by="album")
    b("genretag", "-f")
    assert b.genres()["First 1"] == "rock" and b.genres()["First 2"] == "rock"


def test_auto_tags_on_import_and_beets_writes_them(tmp_path, tiny_model):
    b = Beets(tmp_path / "beets", tiny_model, auto=True)
    files = make_album(tmp_path / "incoming", "Third", 2)
    b("import", "-A", "-q", tmp_path / "incoming")
    assert set(b.genres().values()) == {"jazz"}  # in beets' database
    assert all(tags.read_genres(p) == [] for p in files)  # an as-is import writes no tags
    b("write")  # beets' own command writes them, with its own settings
    assert all(tags.read_genres(p) == ["jazz"] for p in files)
    from genretag.store.cache import Cache

    cache = Cache(Path(b.settings["db"]))  # genretag learnt of beets' writes
    for p in files:
        row, st = cache.get(str(p.resolve())), p.stat()
        assert (row.size, row.mtime_ns, row.current) == (st.st_size, st.st_mtime_ns, ["jazz"])


def test_inline_map_in_the_beets_config(beets):
    b, _ = beets
    b.configure(map={"jazz": "Jazz & Blues"})
    b("genretag")
    assert set(b.genres().values()) == {"Jazz & Blues"}


def test_an_untagged_as_is_import_is_decided_track_by_track(tmp_path, tiny_model):
    """beets makes one nameless album of an untagged Downloads folder;
    its tracks are decided one by one, as genretag scan does."""
    from helpers import seed

    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    files = []
    for i in range(3):
        p = downloads / f"track{i}.mp3"
        write_audio(p, music(3.0, 22050, seed=20 + i), 22050, "mp3")
        files.append(p)
    b = Beets(tmp_path / "beets", tiny_model)
    b("import", "-A", "-q", downloads)
    assert len(set(b("ls", "-f", "$album_id", downloads).split())) == 1  # one album
    b("genretag", "-p")  # heard once
    seed(
        Path(b.settings["db"]),
        downloads,
        {
            "track0.mp3": (0.10, 0.20, 0.70),
            "track1.mp3": (0.80, 0.10, 0.10),
            "track2.mp3": (0.10, 0.80, 0.10),
        },
    )
    b("genretag")
    assert [tags.read_genres(p) for p in files] == [["rock"], ["blues"], ["jazz"]]


def test_the_preview_shows_conflicts_and_keeps_them(beets):
    """a file whose genre the audio contradicts shows in ``-p``,
    marked as a conflict, as ``genretag scan`` shows it; without -f it is kept."""
    b, files = beets
    b("modify", "-y", "title:First 1", "genres=Rock")  # the tiny model hears jazz, surely
    out = b("genretag", "-p")
    assert "conflict:" in out and "First 1" in out and "has Rock, the audio says jazz" in out
    out = b("genretag")
    assert "conflict:" in out and b.genres()["First 1"] == "Rock"
    assert tags.read_genres(files[0]) == ["Rock"]  # beets wrote the user's own genre


def test_every_scan_option_with_the_same_checks(beets):
    """The plugin takes genretag scan's options through the library API, checked as the
    command line checks them: a bad one is one line from beets, not a traceback."""
    b, _files = beets
    weights = ROOT / "weights"
    # one refused by Settings, one by Session (the rest of the checks: tests/test_api.py)
    for bad, said in (
        ({"min_confidence": 2}, "min_confidence must be a number from 0 to 1"),
        (
            {"model": str(weights / "vgg_msd.safetensors")},
            "a pretrained backbone, not a genre model",
        ),
    ):
        saved = dict(b.settings)
        b.configure(**bad)
        done = subprocess.run(
            [sys.executable, "-m", "beets", "genretag", "-p"],
            capture_output=True,
            text=True,
            env=b.env,
            timeout=300,
        )
        assert done.returncode != 0 and said in done.stderr, (bad, done.stderr[-500:])
        assert "Traceback" not in done.stderr
        b.settings = saved
    b.configure(top_k=2, min_confidence=0.0, parents=True)
    b("genretag")
    assert set(b.genres().values()) == {"jazz; blues"}  # top_k 2 reaches the plugin


def test_a_file_name_that_is_not_utf8_is_tagged_like_any_other(tmp_path, tiny_model):
    """beets keeps paths as bytes; genretag hears and decides the file by the same name."""
    files = make_album(tmp_path / "incoming", "Odd", 2, seed=9)
    odd = os.fsdecode(os.fsencode(files[0].parent) + b"/Caf\xe9 01.mp3")
    os.rename(files[0], odd)
    b = Beets(tmp_path / "beets", tiny_model)
    b.env["PYTHONIOENCODING"] = "utf-8:backslashreplace"  # beets' own listing of the name
    b("import", "-A", "-q", tmp_path / "incoming")
    b("genretag")
    assert b.genres() == {"Odd 1": "jazz", "Odd 2": "jazz"}
    assert tags.read_genres(Path(odd)) == ["jazz"]
