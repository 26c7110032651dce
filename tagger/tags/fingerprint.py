"""Fingerprints: cheap hashes that recognise a file without decoding it.

- ``content``: the whole file as it is (size and three 64 KiB blocks). A file keeps it when
  it is moved or renamed, so a scan finds its cached prediction under the new name.
- ``audio``: the audio alone, without the tags around it. A file keeps it when another
  program (a tagger, a player) edits its tags, so a scan re-reads its tags instead of
  hearing the unchanged audio again. It is found where the container says plainly where
  the audio lies: MP3 (after the ID3v2 tag, before APEv2 and ID3v1 at the end), FLAC
  (after the metadata blocks), WAV and AIFF (the ``data`` and ``SSND`` chunks) and MP4
  (the ``mdat`` atom). Ogg is left out: a longer comment header renumbers every page.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from genretag.tags.raw import ape as apesplice
from genretag.tags.raw import id3 as id3splice
from genretag.tags.raw.mp4 import top_level_in

BLOCK = 1 << 16


def _blocks(f, start: int, end: int) -> str:
    """blake2b of the span's length and three blocks of it: start, middle, end."""
    size = end - start
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    for offset in sorted({0, max(0, size // 2 - BLOCK // 2), max(0, size - BLOCK)}):
        f.seek(start + offset)
        h.update(f.read(min(BLOCK, size - offset)))
    return h.hexdigest()


def content(path: Path, size: int) -> str:
    """The file's fingerprint: its size and three 64 KiB blocks (start, middle, end)."""
    with open(path, "rb") as f:
        return _blocks(f, 0, size)


def audio(path: Path) -> str | None:
    """The fingerprint of the file's audio alone, or None where the container does not
    say plainly where it lies (or the file cannot be read)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(0)
            head = f.read(max(12, id3splice.HEADER_SIZE))
            span = _audio_span(f, head, size)
            return _blocks(f, *span) if span and span[1] > span[0] else None
    except (OSError, struct.error, ValueError):
        return None


def _audio_span(f, head: bytes, size: int) -> tuple[int, int] | None:
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return _mp3(f, head)
    if head.startswith(b"fLaC"):
        return _flac(f, size)
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return _chunk(f, 12, size, b"data", "<I", pad=True)
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return _chunk(f, 12, size, b"SSND", ">I", pad=True)
    if head[4:8] == b"ftyp":
        mdat = next((a for a in top_level_in(f, size, clip=True) if a.name == b"mdat"), None)
        return (mdat.start + mdat.header, mdat.end) if mdat else None
    return None


def _mp3(f, head: bytes) -> tuple[int, int]:
    start = id3splice.tag_size(head[: id3splice.HEADER_SIZE])
    if start and head[5] & 0x10:  # a v2.4 footer
        start += id3splice.HEADER_SIZE
    return start, apesplice.tags_start(f)


def _flac(f, size: int) -> tuple[int, int]:
    offset = 4
    while True:
        f.seek(offset)
        header = f.read(4)
        if len(header) < 4:
            raise ValueError("metadata runs past the end")
        offset += 4 + int.from_bytes(header[1:4], "big")
        if header[0] & 0x80:  # the last metadata block
            return offset, size


def _chunk(
    f, offset: int, size: int, wanted: bytes, length: str, pad: bool = False
) -> tuple[int, int] | None:
    """The payload of the first ``wanted`` chunk of a RIFF or IFF file."""
    while offset + 8 <= size:
        f.seek(offset)
        header = f.read(8)
        name, n = header[:4], struct.unpack(length, header[4:8])[0]
        if name == wanted:
            return offset + 8, min(offset + 8 + n, size)
        offset += 8 + n + (n & 1 if pad else 0)
    return None
