"""Files as other programs write them, each made in the test: iTunes M4As, bare
FLACs, MP3s that mutagen knows only by their name. Each goes through a real scan with
``--overwrite`` and an undo; only the genre may change (raw bytes), and undo gives back
what the README promises."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from mutagen.flac import FLAC, Picture
from mutagen.mp4 import MP4, Atoms, MP4Cover, MP4FreeForm

from genretag import tags

from helpers import COVER, file_hash, run
from rawtags import flac_blocks, mp4_items
from synth import music, write_audio


def scan_then_undo(path: Path, model: Path, db: Path) -> None:
    r = run(
        "scan",
        path,
        "--model",
        model,
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
    r = run("undo", path, "--db", db)
    assert r.exit_code == 0 and "restored" in r.output, r.output


def name_atom_in_covr(path: Path) -> None:
    """Give the cover atom a ``name`` child beside its ``data`` atoms, as some taggers
    write it (mutagen does not), growing every atom around it; moov must follow mdat, so
    no chunk offset moves."""
    data = bytearray(path.read_bytes())
    with open(path, "rb") as fh:
        atoms = Atoms(fh)
        chain = atoms.path(b"moov", b"udta", b"meta", b"ilst", b"covr")
        mdat = atoms[b"mdat"]
    assert mdat.offset < chain[0].offset
    name = struct.pack(">I", 13) + b"name" + b"\0\0\0\0" + b"x"
    covr = chain[-1]
    data[covr.offset + covr.length : covr.offset + covr.length] = name
    for atom in chain:  # every enclosing atom grows by the new child
        size = struct.unpack(">I", data[atom.offset : atom.offset + 4])[0]
        data[atom.offset : atom.offset + 4] = struct.pack(">I", size + len(name))
    path.write_bytes(bytes(data))


@pytest.fixture
def itunes_m4a(tmp_path) -> Path:
    path = tmp_path / "iTunes.m4a"
    write_audio(path, music(3.0, 44100, seed=3, channels=2), 44100, "m4a")
    f = MP4(path)
    f["\xa9nam"], f["\xa9ART"] = ["Title"], ["Artist"]
    f["cpil"], f["pgap"] = True, True  # booleans, as iTunes writes them on most files
    f["rtng"], f["tmpo"] = [0], [120]
    f["trkn"], f["disk"] = [(1, 10)], [(1, 2)]
    f["----:com.apple.iTunes:iTunNORM"] = [MP4FreeForm(b" 00000A1B 00000B2C")]
    f["covr"] = [
        MP4Cover(COVER, imageformat=MP4Cover.FORMAT_PNG),
        MP4Cover(COVER[::-1], imageformat=MP4Cover.FORMAT_JPEG),
    ]
    f.save()
    name_atom_in_covr(path)
    return path


def test_an_itunes_m4a_with_boolean_atoms_is_tagged_and_undone(itunes_m4a, tiny_model, db):
    """Defects 1 and 3: boolean atoms made the check fail; a cover's ``name`` child was
    lost unnoticed. Every other item atom stays byte for byte, in order."""
    before = [a for a in mp4_items(itunes_m4a) if a[4:8] not in (b"\xa9gen", b"gnre")]
    assert any(b"name" in a for a in before if a[4:8] == b"covr")
    original = file_hash(itunes_m4a)
    scan_then_undo(itunes_m4a, tiny_model, db)
    after = [a for a in mp4_items(itunes_m4a) if a[4:8] not in (b"\xa9gen", b"gnre")]
    assert after == before
    assert MP4(itunes_m4a)["cpil"] is True and tags.read_genres(itunes_m4a) == []
    assert file_hash(itunes_m4a) == original  # undone: the whole file, byte for byte


def test_a_lost_child_atom_stops_the_write(itunes_m4a, monkeypatch):
    """The check compares raw atoms: mutagen's own save, which drops the ``name`` atom
    (what genretag did before it edited the item list itself), is refused."""
    from genretag.tags import mp4

    original = file_hash(itunes_m4a)
    monkeypatch.setattr(mp4.Mp4, "_edited_moov", lambda self, state: None)  # mutagen saves
    with pytest.raises(tags.TagError, match="an atom other than the genre would change"):
        tags.write_genres(itunes_m4a, ["Jazz"])
    assert file_hash(itunes_m4a) == original


@pytest.mark.parametrize("picture", [False, True])
def test_a_flac_without_a_comment_block_is_tagged(tmp_path, tiny_model, db, picture):
    """Defects 2 and 10: plain encoder output, or a file holding only a picture, has no
    Vorbis comment block; it gets one, every other block stays byte for byte, and undo
    gives back the file as it was, byte for byte."""
    path = tmp_path / "bare.flac"
    write_audio(path, music(3.0, 44100, seed=4), 44100, "flac")
    f = FLAC(path)
    f.metadata_blocks.remove(f.tags)  # no comment block at all
    f.tags = None
    if picture:
        pic = Picture()
        pic.type, pic.mime, pic.data = 3, "image/png", COVER
        f.add_picture(pic)
    f.save()
    assert FLAC(path).tags is None
    original = path.read_bytes()
    others = [b for b in flac_blocks(path) if b[0] not in (1, 4)]  # padding, comments
    run(
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
    assert tags.read_genres(path) == ["jazz"]
    assert [b for b in flac_blocks(path) if b[0] not in (1, 4)] == others
    assert run("undo", path, "--db", db).exit_code == 0
    assert path.read_bytes() == original


def mpeg_without_id3(path: Path, rate: int, lead: bytes = b"") -> None:
    """An MP3 with no ID3 tag at its start, at ``rate`` (8 kHz: MPEG-2.5), after ``lead``."""
    write_audio(path, music(3.0, rate, seed=5), rate, "mp3")
    data = path.read_bytes()
    size = (
        10 + ((data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9])
        if data[:3] == b"ID3"
        else 0
    )
    path.write_bytes(lead + data[size:])


@pytest.mark.parametrize("rate, lead", [(8000, b""), (44100, b"\0" * 64)])
def test_mp3s_known_only_by_their_name_are_undone(tmp_path, tiny_model, db, rate, lead):
    """Defect 4: the temporary copy, whose hidden name has no .mp3, was opened by sniffing;
    MPEG-2.5 and leading zero bytes are not sniffed. It is opened with the original's
    format class, everywhere, so undo works and gives the file back byte for byte."""
    import mutagen

    path = tmp_path / "odd.mp3"
    mpeg_without_id3(path, rate, lead)
    copy = tmp_path / "odd-copy"
    copy.write_bytes(path.read_bytes())
    assert mutagen.File(copy) is None  # not sniffed: only the name tells
    original = file_hash(path)
    scan_then_undo(path, tiny_model, db)
    assert file_hash(path) == original


def test_decoder_errors_are_one_plain_line(library, tiny_model, db, tmp_path):
    """Defect 6: no memory addresses or thread return codes of ffmpeg's in error rows; the
    same words on every run; what ffmpeg said under --verbose."""
    import json

    report = tmp_path / "r.json"
    r = run(
        "scan",
        library / "bad",
        "--model",
        tiny_model,
        "--db",
        db,
        "--dry-run",
        "--report",
        report,
        "-v",
    )
    assert r.exit_code == 1
    rows = {Path(x["path"]).name: x for x in json.loads(report.read_text())["rows"]}
    assert rows["empty.mp3"]["error"] == "empty file (0 bytes)"
    assert rows["empty.mp3"]["source"] is None  # nothing was heard
    for name in ("notes.mp3", "corrupt.mp3"):
        error = rows[name]["error"]
        assert error.startswith(("cannot decode", "no audio")) and "0x" not in error, error
        assert "return code" not in error and "@" not in error
    detail = rows["notes.mp3"]["error_detail"]
    assert detail and detail.splitlines()[0] in r.output  # the detail, under --verbose
    again = run(
        "scan", library / "bad", "--model", tiny_model, "--db", tmp_path / "2.db", "--dry-run"
    )
    assert f"notes.mp3: {rows['notes.mp3']['error']}" in again.output  # the same words
    assert detail.splitlines()[0] not in again.output


def without_udta(path: Path) -> None:
    """Remove the movie's user-data atom (its tags, ffmpeg's encoder name): an M4A with no
    tags at all. The movie atom follows the media data, so no chunk offset moves."""
    from genretag.tags.mp4 import atoms, top_level

    data = bytearray(path.read_bytes())
    moov = next(a for a in top_level(path) if a.name == b"moov")
    assert moov.start > next(a for a in top_level(path) if a.name == b"mdat").start
    udta = next(a for a in atoms(data, moov.start + 8, moov.end) if a.name == b"udta")
    del data[udta.start : udta.end]
    data[moov.start : moov.start + 4] = struct.pack(">I", moov.size - udta.size)
    path.write_bytes(bytes(data))


def test_an_m4a_without_tags_comes_back_byte_for_byte(tmp_path, tiny_model, db):
    """Defect 10: the atoms a write created to hold the genre (udta, meta, hdlr, ilst,
    free) are removed again by undo."""
    path = tmp_path / "bare.m4a"
    write_audio(path, music(3.0, 44100, seed=6, channels=2), 44100, "m4a")
    without_udta(path)
    assert MP4(path).tags is None
    original = file_hash(path)
    scan_then_undo(path, tiny_model, db)
    assert file_hash(path) == original


def test_a_longer_genre_grows_the_atoms_around_it_and_moves_chunk_offsets(tmp_path):
    """No free atom to absorb it, and the movie atom before the media data (as
    ``-movflags faststart`` writes it): the enclosing atoms grow and every chunk offset
    moves, so the audio still decodes the same."""
    import subprocess

    from genretag.library.decode import ffmpeg_path

    from helpers import audio_hash

    src = tmp_path / "src.m4a"
    write_audio(src, music(3.0, 44100, seed=7, channels=2), 44100, "m4a")
    path = tmp_path / "fast.m4a"
    subprocess.run(
        [
            ffmpeg_path(),
            "-v",
            "error",
            "-i",
            str(src),
            "-c",
            "copy",
            "-movflags",
            "faststart",
            str(path),
        ],
        check=True,
    )
    f = MP4(path)
    f["\xa9nam"] = ["T"]
    f.save(padding=lambda info: 0)  # no free atom to take a longer genre
    from genretag.tags.mp4 import top_level

    names = [a.name for a in top_level(path)]
    assert names.index(b"moov") < names.index(b"mdat")
    audio = audio_hash(path)
    items = mp4_items(path)
    tags.write_genres(path, ["A Very Long Genre Name " * 8])
    assert tags.read_genres(path) == ["A Very Long Genre Name " * 8]
    assert audio_hash(path) == audio and mp4_items(path)[: len(items)] == items


def trailing_tag(genre: str) -> bytes:
    """An ID3v2.4 tag with a footer, holding a title and ``genre``, as appended at the end
    of an MP3 by some players."""
    from genretag.tags.raw import id3 as id3splice

    def frame(fid: bytes, text: str) -> bytes:
        body = b"\x03" + text.encode()
        return fid + id3splice.to_syncsafe(len(body)) + b"\0\0" + body

    frames = frame(b"TIT2", "At The End") + frame(b"TCON", genre)
    size = id3splice.to_syncsafe(len(frames))
    return b"ID3\x04\x00\x10" + size + frames + b"3DI\x04\x00\x10" + size


def test_a_trailing_id3_tag_is_read_and_kept(tmp_path, tiny_model, db):
    """Defect 9: an ID3v2.4 tag appended at the end (with its footer) holds the file's
    genre: it is shown as the genre now, a plain scan keeps it (fill), an overwrite puts the
    new genre in a tag at the start and leaves the trailing one as it is, and undo gives
    the file back byte for byte."""
    import json

    path = tmp_path / "trailing.mp3"
    mpeg_without_id3(path, 44100)
    path.write_bytes(path.read_bytes() + trailing_tag("Trailing Rock"))
    original = path.read_bytes()
    assert tags.read_genres(path) == ["Trailing Rock"]
    report = tmp_path / "r.json"
    r = run(
        "scan",
        path,
        "--model",
        tiny_model,
        "--db",
        db,
        "--workers",
        "1",
        "--report",
        report,
        "--min-confidence",
        "0",
    )
    assert r.exit_code == 0 and path.read_bytes() == original, r.output
    (row,) = json.loads(report.read_text())["rows"]
    assert row["previous"] == ["Trailing Rock"] and row["status"] == "kept"
    scan_then_undo(path, tiny_model, db)
    assert path.read_bytes() == original
    tags.write_genres(path, ["Jazz"])
    assert path.read_bytes().endswith(trailing_tag("Trailing Rock"))  # left as it was


def test_formats_genretag_does_not_tag_are_listed_as_skipped(tmp_path, tiny_model, db):
    """Defect 7, in part: audio genretag leaves alone is named, with the reason, in the
    output, the summary and the report; never passed over in silence."""
    import json

    for name in ("song.dff", "song.ofr", "song.ac3", "tune.mid"):
        (tmp_path / name).write_bytes(b"\0" * 64)
    report = tmp_path / "r.json"
    r = run("scan", tmp_path, "--model", tiny_model, "--db", db, "--dry-run", "--report", report)
    assert r.exit_code == 0, r.output
    assert "skipped: song.ofr: OptimFROG file: ffmpeg cannot decode it" in r.output
    assert "skipped: tune.mid: MIDI file: notes, not audio" in r.output
    skipped = json.loads(report.read_text())["summary"]["skipped"]
    assert {Path(s["path"]).name for s in skipped} == {
        "song.dff",
        "song.ofr",
        "song.ac3",
        "tune.mid",
    }


def test_an_ogg_with_a_video_stream_gets_the_genre_in_its_audio_stream(tmp_path, tiny_model, db):
    """Defect 8: Theora video first, Vorbis audio second; the genre belongs in the audio
    stream's comment header, and the video's stays as it was."""
    import subprocess

    from mutagen.oggtheora import OggTheora
    from mutagen.oggvorbis import OggVorbis

    from genretag.library.decode import ffmpeg_path

    wav, path = tmp_path / "a.wav", tmp_path / "video.ogg"
    write_audio(wav, music(3.0, 44100, seed=8), 44100, "wav")
    subprocess.run(
        [
            ffmpeg_path(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:rate=5:d=3",
            "-i",
            str(wav),
            "-c:v",
            "libtheora",
            "-c:a",
            "libvorbis",
            "-shortest",
            str(path),
        ],
        check=True,
    )
    video = list(OggTheora(path).tags)
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
    assert OggVorbis(path)["genre"] == ["jazz"] and list(OggTheora(path).tags) == video
    assert run("undo", path, "--db", db).exit_code == 0
    assert "genre" not in OggVorbis(path) and list(OggTheora(path).tags) == video


@pytest.mark.parametrize("fmt", ["mp3", "flac", "wav"])
def test_a_truncated_file_is_heard_as_far_as_it_goes(tmp_path, tiny_model, db, fmt):
    """Defect 5, in part: the headers promise a minute, a twelfth of it is there; fast
    coverage's seeks past the real end fail, and the whole file, decoded, is heard."""
    import json

    path = tmp_path / f"cut.{fmt}"
    write_audio(path, music(60.0, 22050, seed=9), 22050, fmt)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 12])
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
        "fast",
        "--report",
        report,
        "--min-confidence",
        "0",
    )
    assert r.exit_code == 0, r.output
    (row,) = json.loads(report.read_text())["rows"]
    assert row["status"] == "would-tag" and row["genres"] == ["jazz"]


def test_a_flac_without_padding_comes_back_byte_for_byte(tmp_path):
    """Defect 10: the write adds padding (so the next edit fits in place); undo puts back
    exactly the padding the file had, none here."""
    path = tmp_path / "nopad.flac"
    write_audio(path, music(3.0, 44100, seed=10), 44100, "flac")
    f = FLAC(path)
    f["TITLE"] = "No Padding"
    f.save(padding=lambda info: 0)
    original = path.read_bytes()
    before = tags.write_genres(path, ["Jazz"])
    assert len(path.read_bytes()) > len(original)  # it grew by the padding it was given
    tags.write_state(path, before)
    assert path.read_bytes() == original


def silent_wav(path: Path, seconds: float, rate: int = 8000) -> None:
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0" * (2 * int(seconds * rate)))


@pytest.mark.parametrize("coverage", ["fast", "full"])
def test_a_silent_track_is_unsure_with_the_reason(tmp_path, tiny_model, db, coverage, monkeypatch):
    """Defect 5: digital silence is not missing audio. A fast scan of a long silent WAV
    hears its K parts, finds them decoded and silent, and decodes nothing more; the track
    is unsure, with the reason, and is not heard again while it is unchanged."""
    import json

    import genretag.hearing.source as source

    path = tmp_path / "silence.wav"
    silent_wav(path, 600.0 if coverage == "fast" else 20.0)
    streamed = []
    real_stream = source.stream
    monkeypatch.setattr(
        source, "stream", lambda *a, **k: streamed.append(a) or real_stream(*a, **k)
    )
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
        "--report",
        report,
    )
    assert r.exit_code == 0, r.output
    assert bool(streamed) == (coverage == "full")  # fast: the K parts alone
    (row,) = json.loads(report.read_text())["rows"]
    assert row["status"] == "unsure" and row["error"].startswith("silent: ")
    assert "silent" in r.output and "failed" not in r.output
    monkeypatch.setattr(source, "decode_spans", lambda *a, **k: pytest.fail("heard again"))
    monkeypatch.setattr(source, "stream", lambda *a, **k: pytest.fail("heard again"))
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
        "--report",
        report,
    )
    (row,) = json.loads(report.read_text())["rows"]
    assert row["status"] == "unsure" and row["error"].startswith("silent"), r.output


def test_silent_windows_are_not_heard(tmp_path, tiny_model):
    """A track with music between long silent spans: only the windows with sound are
    heard (full coverage), so silence cannot vote for a genre."""
    import numpy as np

    from genretag.api import Session, Settings

    tone = music(6.0, 22050, seed=11)
    quiet = np.zeros(22050 * 12, dtype=tone.dtype)
    path = tmp_path / "gaps.wav"
    write_audio(path, np.concatenate([quiet, tone, quiet]), 22050, "wav")
    heard = Session(Settings(model=tiny_model, coverage="full")).predict(path)
    window = heard.window_seconds
    assert heard.window_starts, "nothing heard"
    for start in heard.window_starts:  # every window heard overlaps the music
        assert start + window > 12.0 and start < 18.0, heard.window_starts
