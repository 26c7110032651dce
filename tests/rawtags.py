"""Raw tag structures, read straight from the bytes (not through mutagen, which normalises
on load and would hide a loss): ID3v2 frames, the ID3v1 block, FLAC metadata blocks, MP4
``ilst`` items. Written for the tests, independently of genretag's own ``id3splice``."""

from __future__ import annotations

from pathlib import Path


def _syncsafe(b: bytes) -> int:
    return b[0] << 21 | b[1] << 14 | b[2] << 7 | b[3]


def id3_tag(data: bytes) -> bytes:
    """The whole ID3v2 tag at the start of ``data`` (b"" if none)."""
    return data[: 10 + _syncsafe(data[6:10])] if data[:3] == b"ID3" else b""


def id3_frames(data: bytes) -> list[bytes]:
    """Every frame (header and body, exactly as stored) of the ID3v2 tag ``data`` starts."""
    tag = id3_tag(data)
    major, body = tag[3], tag[10:]
    head, id_len = (6, 3) if major == 2 else (10, 4)
    frames, pos = [], 0
    while pos + head <= len(body) and body[pos] != 0:
        raw = body[pos + id_len : pos + id_len + (3 if major == 2 else 4)]
        size = _syncsafe(raw) if major == 4 else int.from_bytes(raw, "big")
        frames.append(body[pos : pos + head + size])
        pos += head + size
    return frames


def frame_ids(frames: list[bytes], major: int) -> list[str]:
    return [f[: 3 if major == 2 else 4].decode() for f in frames]


def id3v1(data: bytes) -> bytes:
    return data[-128:] if data[-128:-125] == b"TAG" else b""


def flac_blocks(path: Path) -> list[tuple[int, bytes]]:
    """(type, body) of every FLAC metadata block, in order."""
    data = Path(path).read_bytes()
    assert data[:4] == b"fLaC"
    pos, out = 4, []
    while True:
        head = data[pos]
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        out.append((head & 0x7F, data[pos + 4 : pos + 4 + size]))
        pos += 4 + size
        if head & 0x80:
            return out


def vorbis_comments(body: bytes) -> tuple[bytes, list[bytes]]:
    """The vendor string and the comments of a VORBIS_COMMENT block body."""
    n = int.from_bytes(body[:4], "little")
    vendor, pos = body[4 : 4 + n], 4 + n
    count, pos = int.from_bytes(body[pos : pos + 4], "little"), pos + 4
    comments = []
    for _ in range(count):
        n = int.from_bytes(body[pos : pos + 4], "little")
        comments.append(body[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return vendor, comments


def _atoms(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos : pos + 4], "big")
        name = data[pos + 4 : pos + 8]
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:
            return
        yield name, pos, pos + size
        pos += size


def mp4_items(path: Path) -> list[bytes]:
    """Every item atom (name, data atoms and all) inside moov/udta/meta/ilst, in order."""
    data = Path(path).read_bytes()

    def child(start: int, end: int, name: bytes, skip: int = 0):
        for n, s, e in _atoms(data, start, end):
            if n == name:
                return s + 8 + skip, e
        raise AssertionError(f"no {name!r} atom")

    span = (0, len(data))
    for name, skip in ((b"moov", 0), (b"udta", 0), (b"meta", 4), (b"ilst", 0)):
        span = child(*span, name, skip)
    return [data[s:e] for _, s, e in _atoms(data, *span)]
