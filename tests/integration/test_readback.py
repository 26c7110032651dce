"""Genres read back the same everywhere: every format genretag writes, read back
through mutagen and through beets' mediafile, must give exactly the list written; ID3v2.3
through mutagen's update_to_v24 too; WAV also through its RIFF INFO list."""

from __future__ import annotations

import pytest

from genretag import tags

from helpers import GOOD, album

GENRES = ["Pop", "Disco", "R&B/Soul"]  # a slash inside a name: still one genre


@pytest.mark.parametrize("name", sorted(GOOD))
def test_every_format_reads_back_as_written_through_mutagen_and_mediafile(library, name):
    mediafile = pytest.importorskip("mediafile")
    path = album(library) / name
    tags.write_genres(path, GENRES)
    assert tags.read_genres(path) == GENRES  # mutagen, through genretag's reader
    assert mediafile.MediaFile(str(path)).genres == GENRES  # beets' reader


def test_id3v23_multi_values_survive_mutagens_upgrade_and_stay_v23(library):
    from mutagen.id3 import ID3

    path = album(library) / "v23.mp3"
    tags.write_genres(path, GENRES)
    raw = ID3(path, translate=False)
    assert raw.version[:2] == (2, 3)
    raw.update_to_v24()
    assert raw.getall("TCON")[0].text == GENRES


def test_wav_also_gets_the_riff_info_genre(library):
    path = album(library) / "pcm.wav"
    tags.write_genres(path, GENRES)
    data = path.read_bytes()
    # an INFO list with IGNR = the genres joined by "; ", NUL-terminated, read straight
    # from the bytes; the ID3 chunk is still there
    value = "; ".join(GENRES).encode() + b"\0"
    at = data.index(b"IGNR")
    assert int.from_bytes(data[at + 4 : at + 8], "little") == len(value)
    assert data[at + 8 : at + 8 + len(value)] == value
    assert b"LIST" in data[:at] and b"INFO" in data[:at] and b"id3 " in data
