"""Finding audio: what a file is by its first bytes; hidden files, AppleDouble files,
loops and second links skipped."""

from __future__ import annotations

import os

from genretag.library.discover import find_audio, sniff


def test_sniff():
    assert sniff(b"ID3\x04") == "mp3" and sniff(b"\xff\xfb\x90") == "mp3"
    assert sniff(b"RIFF\0\0\0\0WAVEfmt ") == "wav" and sniff(b"fLaC") == "flac"
    assert sniff(b"\0\0\0\x20ftypM4A ") == "mp4" and sniff(b"FORM\0\0\0\0AIFF") == "aiff"
    assert sniff(b"MAC \x96\x0f") == "ape" and sniff(b"wvpk") == "wavpack"
    assert sniff(b"MPCK") == sniff(b"MP+\x07") == "musepack" and sniff(b"tBaK") == "tak"
    assert sniff(b"TTA1") == "tta" and sniff(b"DSD \x1c\0") == "dsf"
    assert sniff(bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")) == "asf"
    assert sniff(b"hello world") is None


def test_discovery_skips_hidden_appledouble_loops_and_second_links(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "song.mp3").write_bytes(b"ID3")
    (tmp_path / "a" / "._song.mp3").write_bytes(b"ID3")
    (tmp_path / "a" / ".hidden.mp3").write_bytes(b"ID3")
    (tmp_path / "a" / "noext").write_bytes(b"fLaC....")
    (tmp_path / "a" / "readme.txt").write_text("hi")
    os.symlink("..", tmp_path / "a" / "up")
    os.symlink("song.mp3", tmp_path / "a" / "again.mp3")
    found = find_audio([tmp_path])
    # the file and its link are one track: the first in name order is kept
    assert sorted(p.name for p in found.files) == ["again.mp3", "noext"]
    reasons = {p.name: why for p, why in found.skipped}
    assert "AppleDouble" in reasons["._song.mp3"] and "link" in reasons["song.mp3"]
    assert "up" in reasons
