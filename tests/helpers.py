"""Helpers the tests share: a tiny model, tagging a generated library in every format, hashes.

All audio is synthesised (training.synth) and encoded with the ffmpeg that pip installed;
nothing copyrighted is used. The library is built once per session and copied per test.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import torch
from mutagen.apev2 import APEv2
from mutagen.easyid3 import EasyID3
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, COMM, ID3, TALB, TCON, TIT2, TPE1
from mutagen.mp4 import MP4, MP4Cover
from typer.testing import CliRunner

from genretag import tags
from genretag.cli import build_app
from genretag.library.decode import ffmpeg_path
from genretag.models.frontend import AudioParams
from genretag.models.net import Architecture, GenreNet, save_model
from genretag.store.cache import Cache

from synth import music, write_audio

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent  # the repository
FIXTURES = TESTS / "fixtures"
LABELS = ["blues", "jazz", "rock"]
COVER = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cfc0f01f0005000201a2f2f9b30000000049454e44ae426082"
)

# name -> (format, how its tags are prepared)
GOOD = {
    "plain.mp3": "mp3",
    "v23.mp3": "mp3",
    "v24.mp3": "mp3",
    "v1only.mp3": "mp3",
    "ape.mp3": "mp3",
    "tagged.flac": "flac",
    "vorbis.ogg": "ogg",
    "voice.opus": "opus",
    "aac.m4a": "m4a",
    "alac.m4a": "alac.m4a",
    "pcm.wav": "wav",
    "pcm.aiff": "aiff",
    "ünïcødé ♫.mp3": "mp3",
    "-leading-dash.flac": "flac",
}


def make_tiny_model(
    path: Path,
    favourite: int = 1,
    seed: int = 0,
    labels: list[str] = LABELS,
    activation: str = "softmax",
) -> str:
    """A small random musicnn whose output is biased to ``labels[favourite]``."""
    torch.manual_seed(seed)
    net = GenreNet(
        Architecture(
            frontend_filters=0.125, midend_filters=8, backend_units=16, activation=activation
        ),
        AudioParams(),
        len(labels),
    )
    with torch.no_grad():
        net.head.out.bias.zero_()
        net.head.out.bias[favourite] = 6.0
    net.eval()
    return save_model(path, net, labels, AudioParams(), extra={"name": f"tiny-{seed}"})


def make_tiny_tagger(path: Path, seed: int = 0, n_tags: int = 4, head: str = "genres") -> str:
    """A small random musicnn with a pretrained tagger's shape: a head over its pooled
    statistics and ``n_tags`` tags, as the shipped model has (learn's base): ``genres``
    (the shipped model's, every label independent) or ``track`` (the model before it)."""
    torch.manual_seed(seed)
    net = GenreNet(
        Architecture(frontend_filters=0.125, midend_filters=8, backend_units=16, head=head),
        AudioParams(),
        len(LABELS),
        n_tags=n_tags,
    )
    net.eval()
    return save_model(
        path,
        net,
        LABELS,
        AudioParams(),
        extra={"name": f"tiny-tagger-{seed}", "tags": [f"tag{i}" for i in range(n_tags)]},
    )


def audio_hash(path: Path) -> str:
    """sha256 of the decoded audio at its own rate and channels: tags don't enter it."""
    pcm = subprocess.run(
        [
            ffmpeg_path(),
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            f"file:{path}",
            "-map",
            "0:a:0",
            "-f",
            "s16le",
            "-",
        ],
        capture_output=True,
        check=True,
    )
    return hashlib.sha256(pcm.stdout).hexdigest()


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tag_as_named(path: Path, name: str) -> None:
    if name == "v23.mp3":
        t = ID3()
        t.add(TIT2(encoding=1, text="Vee Two Three"))
        t.add(TPE1(encoding=1, text="Ärtist"))
        t.add(TALB(encoding=1, text="Album"))
        t.add(APIC(encoding=0, mime="image/png", type=3, desc="cover", data=COVER))
        t.add(COMM(encoding=1, lang="eng", desc="", text="keep me"))
        t.save(path, v2_version=3)
    elif name == "v24.mp3":
        t = ID3()
        t.add(TIT2(encoding=3, text="Vee Two Four"))
        t.add(TPE1(encoding=3, text="Artist"))
        t.add(TCON(encoding=3, text=["Rock", "Pop"]))
        t.add(APIC(encoding=3, mime="image/png", type=3, desc="cover", data=COVER))
        t.save(path, v2_version=4)
    elif name == "v1only.mp3":
        with open(path, "r+b") as f:  # strip ffmpeg's ID3v2 header, then append a v1 tag
            data = f.read()
        size = (
            10 + int.from_bytes(bytes(b & 0x7F for b in data[6:10]), "big")
            if data[:3] == b"ID3"
            else 0
        )
        v1 = (
            b"TAG"
            + b"Only Vee One".ljust(30, b"\0")
            + b"Old Artist".ljust(30, b"\0")
            + b"".ljust(30, b"\0")
            + b"1999"
            + b"".ljust(30, b"\0")
            + bytes([255])
        )
        path.write_bytes(data[size:] + v1)
    elif name == "ape.mp3":
        ape = APEv2()
        ape["Title"] = "With APE"
        ape["Artist"] = "Ape Artist"
        ape.save(path)
    elif name in ("tagged.flac", "-leading-dash.flac"):
        f = FLAC(path)
        f["TITLE"] = "Flac Title"
        f["ARTIST"] = "Flac Artist"
        pic = Picture()
        pic.type, pic.mime, pic.data = 3, "image/png", COVER
        f.add_picture(pic)
        f.save()
    elif name == "aac.m4a":
        f = MP4(path)
        f["\xa9nam"] = ["Mp4 Title"]
        f["\xa9ART"] = ["Mp4 Artist"]
        f["covr"] = [MP4Cover(COVER, imageformat=MP4Cover.FORMAT_PNG)]
        f.save()
    elif name == "vorbis.ogg":
        from mutagen.oggvorbis import OggVorbis

        f = OggVorbis(path)
        f["TITLE"] = "Ogg"
        f["Genre"] = "Folk"  # an existing genre, with its key spelt unusually
        f.save()


def make_library(root: Path) -> Path:
    """The test library under ``root``: an album in every format, tagged as its names say,
    beside bad files (empty, text, corrupt), an AppleDouble file, a cover and a hidden folder."""
    album = root / "Artist" / "Album"
    album.mkdir(parents=True)
    for i, (name, fmt) in enumerate(GOOD.items()):
        audio = music(4.0, 44100, seed=i, channels=2)
        write_audio(album / name, audio, 44100, fmt)
        tag_as_named(album / name, name)
    bad = root / "bad"
    bad.mkdir()
    (bad / "empty.mp3").write_bytes(b"")
    (bad / "notes.mp3").write_text("this is a text file, not audio\n")
    rng = np.random.default_rng(0)
    (bad / "corrupt.mp3").write_bytes(
        b"ID3\x04\x00\x00\x00\x00\x00\x10"
        + b"\0" * 16
        + rng.integers(0, 256, 20000, dtype=np.uint8).tobytes()
    )
    shutil.copy(album / "plain.mp3", root / "Artist" / "._plain.mp3")  # AppleDouble
    (root / "Artist" / "cover.jpg").write_bytes(COVER)  # not audio: ignored
    (root / ".hidden").mkdir()
    shutil.copy(album / "plain.mp3", root / ".hidden" / "secret.mp3")
    return root


# -- the command line, as a user runs it ----------------------------------------------------

app = build_app()  # the tagger's commands and the training plug-in's


def sigint_as_a_terminal_sends_it() -> None:
    """For ``Popen(preexec_fn=...)``: the child takes Ctrl-C as a terminal's process does,
    even where the tests run in the background (a shell starts background jobs with SIGINT
    ignored, and Python then leaves it ignored)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def scan(library: Path, model: Path, db: Path, *extra: str):
    return run(
        "scan",
        library,
        "--model",
        model,
        "--db",
        db,
        "--min-confidence",
        "0.5",
        "--workers",
        "2",
        *extra,
    )


def snapshot(library: Path) -> dict[str, str]:
    return {
        str(p.relative_to(library)): file_hash(p)
        for p in library.rglob("*")
        if p.is_file() and not p.is_symlink() and "loop" not in p.parts
    }


def album(library: Path) -> Path:
    return library / "Artist" / "Album"


# -- a library of albums, and predictions put in the cache ------------------------------------


def make_track(path: Path, album, album_artist, artist, genre, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_audio(path, music(2.0, 22050, seed=seed), 22050, "mp3")
    if album is None:
        tags.write_genres(path, [])  # a bare tag: nothing but what ffmpeg put there
        return
    t = EasyID3(path)
    t["album"], t["artist"] = album, artist
    if album_artist:
        t["albumartist"] = album_artist
    t.save()
    if genre:
        tags.write_genres(path, [genre])


def seed(db: Path, root: Path, probabilities: dict[str, tuple]) -> None:
    """Give tracks the probabilities a case needs, as a scan would have cached them."""
    cache = Cache(db)
    for rel, p in probabilities.items():
        row = cache.get(str(root / rel))
        assert row is not None, rel
        row.probabilities = dict(zip(("blues", "jazz", "rock"), map(float, p)))
        cache.put(row)
    cache.close()


def restore(master: Path, work: Path) -> None:
    """``work`` made again as a copy of ``master``: the same files at the same paths with
    the same size and mtime, so a cache that heard ``work`` holds for the copy too."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(master, work, symlinks=True)  # copy2: the same mtimes


def settled(db: Path) -> Path:
    """``db`` with its write-ahead log folded in, ready to be copied as one file."""
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


def hear_once(base: Path, make, model: Path, seeded: dict | None = None) -> tuple[Path, Path, Path]:
    """A generated library, heard once: ``make(master)`` writes it, a copy at
    ``base/Music`` is heard into a cache (and given ``seeded`` probabilities); returns the
    master, the copy's place and the cache, for ``fresh_copy``."""
    master, root = base / "master", base / "Music"
    make(master)
    restore(master, root)
    db = base / "heard.sqlite"
    r = run("scan", root, "--model", model, "--db", db, "--dry-run", "--workers", "1")
    assert r.exit_code == 0, r.output
    if seeded:
        seed(db, root, seeded)
    return master, root, settled(db)


def fresh_copy(heard: tuple[Path, Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """The library of ``hear_once`` restored at its place, and a copy of its cache."""
    master, root, cache = heard
    restore(master, root)
    db = tmp_path / "cache.sqlite"
    shutil.copy(cache, db)
    return root, db
