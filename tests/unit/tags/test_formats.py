"""Every format a library holds: each file goes through a real
``scan --overwrite`` and an ``undo``. No traceback, no valid file refused, only the genre
changes (raw bytes: the write checks every other tag, item, atom or header object, and the
test compares them again), and undo gives back what the README promises: the file byte for
byte, Ogg and Opus their comments (the comment header keeps mutagen's padding).

Two sources of files:
- made here: ffmpeg encodes MP3, MP2, FLAC, Ogg Vorbis, Opus, M4A, WAV, AIFF, WavPack, TTA
  and WMA; Debian's ``mpcenc`` (musepack-tools, installed by .ci/run) Musepack; DSF is
  written byte by byte (ffmpeg decodes DSD but cannot encode it);
- the sample files that mutagen's own source release ships for its tests (Monkey's Audio,
  TAK, Musepack, WavPack, WMA, DSF, TTA and OptimFROG, made by those formats' own
  encoders, for which neither pip nor Debian has an encoder), fetched from PyPI for the
  installed mutagen; the tests that need them skip when it cannot be fetched.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from genretag import tags
from genretag.library.decode import decode, ffmpeg_path

import rawtags
from helpers import run
from synth import music, write_audio

GENRES = ["Pop", "Disco", "R&B/Soul"]
# format -> (file suffix, ffmpeg's audio codec)
FFMPEG_MADE = {
    "mp3": (".mp3", "libmp3lame"),
    "mp2": (".mp2", "mp2"),
    "flac": (".flac", "flac"),
    "ogg": (".ogg", "libvorbis"),
    "opus": (".opus", "libopus"),
    "m4a": (".m4a", "aac"),
    "wav": (".wav", "pcm_s16le"),
    "aiff": (".aiff", "pcm_s16be"),
    "wv": (".wv", "wavpack"),
    "tta": (".tta", "tta"),
    "wma": (".wma", "wmav2"),
}
COMMENTS_ONLY = (".ogg", ".opus")  # undo restores the comments, not the header's padding


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mediafile_reads(path: Path) -> list[str] | None:
    """The genres beets' mediafile reads, None for a format it does not read (TAK, TTA)."""
    mediafile = pytest.importorskip("mediafile")
    try:
        return mediafile.MediaFile(str(path)).genres
    except mediafile.FileTypeError:
        return None


def others(path: Path) -> dict[str, list[str]]:
    """Every tag but the genre, as the file's container reads them."""
    return tags.container(path).other_tags()


def dsf(path: Path, seconds: float = 2.0, rate: int = 2822400) -> None:
    """A stereo DSF file: a 440 Hz tone, 1-bit by first-order sigma-delta modulation, laid
    out as the DSF specification says (DSD, fmt and data chunks; 4096-byte blocks per
    channel, least significant bit first)."""
    block = 4096
    n = int(seconds * rate) // (8 * block) * 8 * block
    t = np.arange(n) / rate
    x = 0.5 + 0.25 * np.sin(2 * np.pi * 440 * t)  # the density of ones
    bits = np.diff(np.floor(np.cumsum(x)), prepend=0).astype(np.uint8)
    mono = np.packbits(bits, bitorder="little").reshape(-1, block)
    data = np.stack([mono, mono], axis=1).tobytes()  # block of left, block of right
    fmt = b"fmt " + struct.pack("<QIIIIIIQII", 52, 1, 0, 2, 2, rate, 1, n, block, 0)
    body = fmt + b"data" + struct.pack("<Q", 12 + len(data)) + data
    total = 28 + len(body)
    path.write_bytes(b"DSD " + struct.pack("<QQQ", 28, total, 0) + body)


def make(fmt: str, folder: Path) -> Path:
    """A three-second file of music in ``fmt``, as its encoder writes it."""
    wav = folder / f"{fmt}-source.wav"
    write_audio(wav, music(3.0, 44100, seed=len(fmt), channels=2), 44100, "wav")
    if fmt == "dsf":
        path = folder / "tone.dsf"
        dsf(path)
    elif fmt == "mpc":
        if not shutil.which("mpcenc"):
            pytest.skip("mpcenc (Debian's musepack-tools) is not installed")
        path = folder / "song.mpc"
        subprocess.run(["mpcenc", "--silent", str(wav), str(path)], check=True, capture_output=True)
    else:
        suffix, codec = FFMPEG_MADE[fmt]
        path = folder / f"song{suffix}"
        extra = ["-ar", "48000"] if fmt == "opus" else []
        subprocess.run(
            [ffmpeg_path(), "-v", "error", "-i", str(wav), "-c:a", codec, *extra, str(path)],
            check=True,
        )
    wav.unlink()
    return path


@pytest.mark.parametrize("fmt", [*sorted(FFMPEG_MADE), "dsf", "mpc"])
def test_every_format_is_tagged_and_undone(tmp_path, tiny_model, db, fmt):
    path = make(fmt, tmp_path)
    original, kept = path.read_bytes(), others(path)
    audio = decode(path, 16000)
    r = run(
        "scan",
        path,
        "--model",
        tiny_model,
        "--db",
        db,
        "--overwrite",
        "--workers",
        "1",
        "--min-confidence",
        "0",
    )
    assert r.exit_code == 0, r.output
    assert tags.read_genres(path) == ["jazz"], r.output  # the tiny model hears jazz
    assert others(path) == kept
    rawtags.only_the_genre_changed(original, path.read_bytes(), path.suffix)
    assert np.array_equal(decode(path, 16000), audio)
    r = run("undo", path, "--db", db)
    assert r.exit_code == 0 and "restored" in r.output, r.output
    if path.suffix in COMMENTS_ONLY:
        assert tags.read_genres(path) == [] and others(path) == kept
    else:
        assert path.read_bytes() == original


@pytest.mark.parametrize("fmt", ["wv", "tta", "wma", "dsf", "mpc"])
def test_new_formats_read_back_as_written_through_mutagen_and_mediafile(tmp_path, fmt):
    path = make(fmt, tmp_path)
    tags.write_genres(path, GENRES)
    assert tags.read_genres(path) == GENRES
    assert mediafile_reads(path) in (GENRES, None if fmt == "tta" else GENRES)


# -- mutagen's sample files -------------------------------------------------------------------

SAMPLES = {  # name -> what a scan does with it
    "mac-399.ape": "silent",
    "mac-396.ape": "silent",
    "mac-390-hdr.ape": "error",  # ffmpeg cannot decode Monkey's Audio 3.90's header
    # has-tags.tak: 0.08 s at -78 dBFS, too little sound for a window (source.LOUD_SHARE)
    "has-tags.tak": "silent",
    "silence-44-s.tak": "silent",
    "click.mpc": "silent",
    "sv8_header.mpc": "silent",  # the click: 0.08 s of sound
    "silence-44-s.wv": "silent",
    "dsd.wv": "silent",  # dsd.wv: 10 ms of sound
    "silence-1.wma": "silent",
    "silence-2.wma": "silent",
    "silence-3.wma": "silent",
    "issue_29.wma": "tagged",
    "5644800-2ch-s01-silence.dsf": "silent",  # all-zero bits: a constant offset
    "with-id3.dsf": "error",
    "without-id3.dsf": "error",  # no audio in them
    "empty.tta": "silent",
    "no-tags.3g2": "error",  # fragmented, no item list: refused before the write
    "52-too-short-block-size.flac": "error",  # a damaged comment block: refused
}
REFUSED = {"no-tags.3g2": "fragmented MP4", "52-too-short-block-size.flac": "damaged FLAC"}


@pytest.fixture(scope="session")
def mutagen_samples(tmp_path_factory) -> Path:
    """tests/data of the installed mutagen's source release, from PyPI."""
    import mutagen

    folder = tmp_path_factory.mktemp("mutagen-sdist")
    got = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(folder),
            f"mutagen=={mutagen.version_string}",
        ],
        capture_output=True,
        timeout=120,
    )
    archives = list(folder.glob("mutagen-*.tar.gz"))
    if got.returncode or not archives:
        pytest.skip("mutagen's source release could not be fetched from PyPI")
    data = folder / "data"
    data.mkdir()
    with tarfile.open(archives[0]) as tar:
        for member in tar.getmembers():
            if Path(member.name).name in SAMPLES and "/tests/data/" in member.name:
                (data / Path(member.name).name).write_bytes(tar.extractfile(member).read())
    return data


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_files_of_the_formats_own_encoders_keep_every_other_byte(mutagen_samples, tmp_path, name):
    """Written directly (most are silent, so a scan leaves them alone): only the genre
    changes, mediafile reads it back, and undo gives back every byte."""
    path = tmp_path / name
    shutil.copy(mutagen_samples / name, path)
    if name in REFUSED:  # refused with the reason, every byte kept
        original = path.read_bytes()
        with pytest.raises(tags.TagError, match=REFUSED[name]):
            tags.write_genres(path, GENRES)
        assert path.read_bytes() == original
        return
    original, kept = path.read_bytes(), others(path)
    before = tags.write_genres(path, GENRES)
    assert tags.read_genres(path) == GENRES
    rawtags.only_the_genre_changed(original, path.read_bytes(), path.suffix)
    assert mediafile_reads(path) in (GENRES, None if path.suffix in (".tak", ".tta") else GENRES)
    assert others(path) == kept
    tags.write_state(path, before)
    assert path.read_bytes() == original


def test_a_scan_of_the_formats_own_files_refuses_none_and_undoes_all(
    mutagen_samples, tmp_path, tiny_model, db
):
    """All the samples in one scan: each is tagged, or unsure because it is silent, or an
    error row for the files ffmpeg cannot decode; OptimFROG and DSDIFF are listed as
    skipped. Undo gives back every tagged file byte for byte; the others never changed."""
    import json

    lib = tmp_path / "lib"
    shutil.copytree(mutagen_samples, lib)
    for name in ("song.ofr", "song.dff"):
        (lib / name).write_bytes(b"\0" * 64)
    before = {p.name: digest(p) for p in lib.iterdir()}
    report = tmp_path / "r.json"
    r = run(
        "scan",
        lib,
        "--model",
        tiny_model,
        "--db",
        db,
        "--overwrite",
        "--workers",
        "1",
        "--min-confidence",
        "0",
        "--report",
        report,
    )
    assert "Traceback" not in r.output
    rows = {Path(x["path"]).name: x for x in json.loads(report.read_text())["rows"]}
    for name, expected in SAMPLES.items():
        status = rows[name]["status"]
        if expected == "silent":
            assert status == "unsure" and rows[name]["error"].startswith("silent"), name
        elif expected == "error":
            assert status == "error" and rows[name]["error"], name
        else:
            assert status == "tagged", (name, rows[name])
    assert "skipped: song.ofr" in r.output and "skipped: song.dff" in r.output
    assert run("undo", lib, "--db", db).exit_code == 0
    assert {p.name: digest(p) for p in lib.iterdir()} == before


def test_an_id3v1_only_mp3_keeps_its_block_and_comes_back(tmp_path, tiny_model, db):
    """An MP3 with an ID3v1 block and no ID3v2 tag: the block keeps every byte but its
    genre byte, a v2.4 tag holding the genre is added, and undo removes it again."""
    wav, path = tmp_path / "a.wav", tmp_path / "v1.mp3"
    write_audio(wav, music(3.0, 44100, seed=3), 44100, "wav")
    subprocess.run(
        [ffmpeg_path(), "-v", "error", "-i", str(wav), "-id3v2_version", "0", str(path)], check=True
    )
    v1 = b"TAG" + b"Only V1".ljust(30, b"\0") + bytes(30 + 30 + 4 + 30) + bytes([0])  # Blues
    path.write_bytes(path.read_bytes() + v1)
    original = path.read_bytes()
    assert original[-128:-125] == b"TAG" and not original.startswith(b"ID3")
    assert tags.read_genres(path) == ["Blues"]  # the v1 genre byte, read as the genre
    r = run(
        "scan",
        path,
        "--model",
        tiny_model,
        "--db",
        db,
        "--overwrite",
        "--workers",
        "1",
        "--min-confidence",
        "0",
    )
    assert r.exit_code == 0 and tags.read_genres(path) == ["jazz"], r.output
    written = path.read_bytes()
    assert written.startswith(b"ID3") and written[-128:-1] == original[-128:-1]
    assert run("undo", path, "--db", db).exit_code == 0
    assert path.read_bytes() == original


def test_a_container_without_audio_is_one_plain_error(tmp_path, tiny_model, db):
    """A video-only MP4 and an M4A whose audio track was dropped: an error row, "no audio
    stream", the file unchanged, the run going on to the next file."""
    video, good = tmp_path / "video.mp4", make("flac", tmp_path)
    subprocess.run(
        [
            ffmpeg_path(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:rate=5:d=2",
            "-c:v",
            "mpeg4",
            str(video),
        ],
        check=True,
    )
    before = video.read_bytes()
    report = tmp_path / "r.json"
    r = run(
        "scan",
        tmp_path,
        "--model",
        tiny_model,
        "--db",
        db,
        "--overwrite",
        "--workers",
        "1",
        "--min-confidence",
        "0",
        "--report",
        report,
    )
    import json

    rows = {Path(x["path"]).name: x for x in json.loads(report.read_text())["rows"]}
    assert rows["video.mp4"]["status"] == "error", r.output
    assert rows["video.mp4"]["error"] == "no audio stream"
    assert rows[good.name]["status"] == "tagged" and video.read_bytes() == before


def without_item_list(path: Path) -> None:
    """Take the user data atom (and the item list in it) out of an MP4's movie atom, as in
    files that carry no tags at all (mutagen's no-tags.3g2)."""
    from genretag.tags.raw.mp4 import atoms

    data = bytearray(path.read_bytes())
    moov = next(a for a in atoms(data, 0, len(data)) if a.name == b"moov")
    udta = next(a for a in atoms(data, moov.body, moov.end) if a.name == b"udta")
    del data[udta.start : udta.end]
    data[moov.start : moov.start + 4] = struct.pack(">I", moov.size - udta.size)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("tagged", [False, True], ids=["no-item-list", "item-list"])
def test_a_fragmented_mp4_is_refused_before_a_write_undo_could_not_reverse(
    tmp_path, tiny_model, db, tagged
):
    """A fragmented MP4 (moof atoms after the movie atom) whose genre would change the
    movie atom's size: an error row naming why, every byte as it was, nothing to undo."""
    wav, path = tmp_path / "a.wav", tmp_path / "frag.m4a"
    write_audio(wav, music(3.0, 44100, seed=4), 44100, "wav")
    subprocess.run(
        [
            ffmpeg_path(),
            "-v",
            "error",
            "-i",
            str(wav),
            "-c:a",
            "aac",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            str(path),
        ],
        check=True,
    )
    if not tagged:
        without_item_list(path)
    before = path.read_bytes()
    assert b"moof" in before
    r = run(
        "scan",
        path,
        "--model",
        tiny_model,
        "--db",
        db,
        "--overwrite",
        "--workers",
        "1",
        "--min-confidence",
        "0",
    )
    assert r.exit_code == 1 and "fragmented MP4" in r.output, r.output
    assert path.read_bytes() == before
    r = run("undo", path, "--db", db)
    assert "0 restored, 0 failed" in r.output, r.output
    assert path.read_bytes() == before


def test_a_flac_whose_comment_block_says_it_is_shorter_than_it_is_is_refused(
    tmp_path, tiny_model, db
):
    """The comment block's stated length is 30 bytes short of its comments (as in mutagen's
    52-too-short-block-size.flac). mutagen reads it anyway and would re-render the block,
    changing more than the genre: genretag refuses it with the reason and writes nothing."""
    from mutagen.flac import FLAC

    path = make("flac", tmp_path)
    f = FLAC(path)
    f["TITLE"], f["GENRE"] = "A title long enough", "Folk-Rock"
    f.save(padding=lambda info: 0)  # an empty padding block, last
    data = bytearray(path.read_bytes())
    pos = 4
    while data[pos] & 0x7F != 4:  # to the comment block's header
        pos += 4 + int.from_bytes(data[pos + 1 : pos + 4], "big")
    stated = int.from_bytes(data[pos + 1 : pos + 4], "big")
    end = pos + 4 + stated
    assert data[end : end + 4] == b"\x81\0\0\0"
    del data[end : end + 4]  # the comment block is the last, as in mutagen's sample
    data[pos] |= 0x80
    data[pos + 1 : pos + 4] = (stated - 30).to_bytes(3, "big")
    path.write_bytes(bytes(data))
    assert FLAC(path)["GENRE"] == ["Folk-Rock"]  # mutagen still reads it
    r = run(
        "scan",
        path,
        "--model",
        tiny_model,
        "--db",
        db,
        "--overwrite",
        "--workers",
        "1",
        "--min-confidence",
        "0",
    )
    assert r.exit_code == 1 and "damaged FLAC comment block" in r.output, r.output
    assert f"its header says {stated - 30} bytes, its comments take {stated}" in r.output
    assert path.read_bytes() == bytes(data)


def silent_dsf(path: Path, seconds: float = 12.0, rate: int = 2822400) -> None:
    """A stereo DSF file whose bits are all zero (as mutagen's 5644800-2ch-s01-silence.dsf):
    it decodes to a constant offset after a ramp of a few milliseconds, no sound at all."""
    dsf(path, seconds, rate)
    data = bytearray(path.read_bytes())
    start = data.index(b"data") + 12
    data[start:] = bytes(len(data) - start)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("coverage", ["fast", "full"])
def test_dsd_silence_is_silent_not_music(tmp_path, tiny_model, db, coverage):
    path = tmp_path / "silence.dsf"
    silent_dsf(path)
    pcm = decode(path, 16000)
    assert abs(pcm[8000:]).min() > 1.0  # the offset: a test on the peak level hears sound
    report = tmp_path / "r.json"
    r = run(
        "scan",
        path,
        "--model",
        tiny_model,
        "--db",
        db,
        "--dry-run",
        "--coverage",
        coverage,
        "--min-confidence",
        "0",
        "--report",
        report,
    )
    import json

    (row,) = json.loads(report.read_text())["rows"]
    assert row["status"] == "unsure" and row["error"].startswith("silent"), (row, r.output)
    assert not row["probabilities"]
