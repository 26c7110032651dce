"""The ID3v2 splicer: a genre frame changes, every other frame and byte stays."""

from __future__ import annotations

import io

import pytest
from mutagen.id3 import ID3, TALB, TCON, TIT2

from genretag.tags.raw import id3 as id3splice


def id3_bytes(version: int, *frames) -> bytes:
    """A whole ID3v2 tag as mutagen writes it (its own parser, not the splicer's)."""
    tag = ID3()
    for frame in frames:
        tag.add(frame)
    out = io.BytesIO()  # in memory: a test writes nothing into the source tree
    tag.save(out, v2_version=version, padding=lambda info: 64)
    return out.getvalue()


@pytest.mark.parametrize("version", [3, 4])
def test_splicing_a_genre_keeps_every_other_frame_and_the_size(version):
    raw = id3_bytes(
        version,
        TIT2(encoding=1, text="Title"),
        TCON(encoding=1, text="Rock"),
        TALB(encoding=1, text="Album"),
    )
    tag = id3splice.parse(raw)
    assert tag.major == version and len(tag.frames) == 3 and len(tag.genre_frames()) == 1
    new = id3splice.with_genre(tag, id3splice.genre_frame(version, ["Jazz", "R&B/Soul"]))
    out = id3splice.render(new)
    assert len(out) == len(raw)  # it fits in the padding: the audio would not move
    again = id3splice.parse(out)
    assert again.other_frames() == tag.other_frames()  # byte for byte, in order
    assert [again.frame_id(f) for f in again.frames] == [tag.frame_id(f) for f in tag.frames]
    assert ID3(io.BytesIO(out)).getall("TCON")[0].text == ["Jazz", "R&B/Soul"]  # NUL-separated


def test_splicing_grows_a_full_tag_and_removes_a_genre():
    raw = id3_bytes(4, TIT2(encoding=3, text="T"), TCON(encoding=3, text="Rock"))
    tag = id3splice.parse(raw)
    big = id3splice.with_genre(tag, id3splice.genre_frame(4, ["x" * 500]))
    out = id3splice.render(big)
    assert len(out) > len(raw) and len(out) - len(raw) >= id3splice.GROW_PADDING
    none = id3splice.render(id3splice.with_genre(tag, None))
    assert id3splice.parse(none).genre_frames() == [] and len(none) == len(raw)


def test_tags_the_splicer_does_not_edit_are_refused():
    raw = bytearray(id3_bytes(3, TIT2(encoding=0, text="T")))
    unsync = bytes(raw[:5]) + bytes([0x80]) + bytes(raw[6:])
    with pytest.raises(id3splice.SpliceError, match="unsynchronised"):
        id3splice.parse(unsync)
    with pytest.raises(id3splice.SpliceError, match="damaged"):
        id3splice.parse(raw[:20])
    junk = bytes(raw[:10]) + b"\x01\x02\x03\x04" + bytes(raw[14:])  # a frame id of junk
    with pytest.raises(id3splice.SpliceError, match="cannot be walked"):
        id3splice.parse(junk)
    assert id3splice.tag_size(b"ID3\x04\x00\x00\x00\x00\x01\x00") == 10 + 128
    assert id3splice.tag_size(b"RIFF....WAVE") == 0


def test_the_id3v1_genre_byte_alone_changes():
    block = b"TAG" + b"t" * 124 + bytes([17])
    assert id3splice.v1_genre(block) == 17 and id3splice.v1_genre(block[:-1]) is None
    assert id3splice.with_v1_genre(block, 8)[:127] == block[:127]
