"""APEv2 tags as raw bytes, for ``tags.ape``: find the tag at the end of a file (before an
ID3v1 block, where there is one), split it into its items, and put it back together with
the genre item changed; every other item keeps its bytes and its place, and the header and
footer keep every byte but the tag's size and item count.

A tag is ``[header] items footer``; header and footer are 32 bytes: ``APETAGEX``, version,
size (items and footer), item count, flags, 8 reserved bytes. An item is its value's size,
its flags, its key (ASCII, NUL-terminated) and its value (UTF-8 text, several values
separated by NUL).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from genretag.tags.raw.id3 import V1_SIZE

PREAMBLE = b"APETAGEX"
FRAME_SIZE = 32  # a header or a footer
VERSION = 2000
HAS_HEADER, IS_HEADER = 1 << 31, 1 << 29
TEXT = 0  # an item's type (flags bits 1-2): UTF-8 text
GENRE_KEY = "Genre"


class SpliceError(ValueError):
    """A tag whose bytes do not add up; the message is one line for the user."""


@dataclass(frozen=True)
class RawApe:
    """A tag as it is in the file: where it starts (its header, if any) and ends (after its
    footer), its raw header (or ``b""``) and footer, and each item's bytes, in order."""

    start: int
    end: int
    header: bytes
    footer: bytes
    items: tuple[bytes, ...]


def audio_end(fh: BinaryIO) -> int:
    """Where the tags at the end of the file begin: before its ID3v1 block, if any."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    if size >= V1_SIZE:
        fh.seek(size - V1_SIZE)
        if fh.read(3) == b"TAG":
            return size - V1_SIZE
    return size


def locate(fh: BinaryIO) -> RawApe | None:
    """The APEv2 (or APEv1) tag at the end of the file, or None where there is none."""
    end = audio_end(fh)
    if end < FRAME_SIZE:
        return None
    fh.seek(end - FRAME_SIZE)
    footer = fh.read(FRAME_SIZE)
    if not footer.startswith(PREAMBLE):
        return None
    _, size, count, flags = struct.unpack("<4I", footer[8:24])
    body_start = end - size
    start = body_start - (FRAME_SIZE if flags & HAS_HEADER else 0)
    if size < FRAME_SIZE or start < 0:
        raise SpliceError("APEv2 tag: its size runs past the start of the file")
    fh.seek(start)
    header = fh.read(body_start - start)
    if header and not header.startswith(PREAMBLE):
        raise SpliceError("APEv2 tag: its header is missing")
    body = fh.read(size - FRAME_SIZE)
    return RawApe(start, end, header, footer, split_items(body, count))


def tags_start(fh: BinaryIO) -> int:
    """Where the tags at the end of the file begin: its APEv2 tag, else its ID3v1 block,
    else the end (the audio of an MP3 ends there)."""
    tag = locate(fh)
    return tag.start if tag is not None else audio_end(fh)


def split_items(body: bytes, count: int) -> tuple[bytes, ...]:
    items, at = [], 0
    for _ in range(count):
        if at + 8 > len(body):
            raise SpliceError("APEv2 tag: fewer items than its footer says")
        size = struct.unpack("<I", body[at : at + 4])[0]
        key_end = body.find(b"\0", at + 8)
        if key_end < 0 or key_end + 1 + size > len(body):
            raise SpliceError("APEv2 tag: an item runs past the end of the tag")
        items.append(body[at : key_end + 1 + size])
        at = key_end + 1 + size
    return tuple(items)


def key_of(item: bytes) -> str:
    return item[8 : item.index(b"\0", 8)].decode("ascii", "replace")


def is_genre(item: bytes) -> bool:
    return key_of(item).casefold() == GENRE_KEY.casefold()


def text_values(item: bytes) -> list[str]:
    """A text item's values (a binary or link item has none)."""
    flags = struct.unpack("<I", item[4:8])[0]
    if (flags >> 1) & 3 != TEXT:
        return []
    value = item[item.index(b"\0", 8) + 1 :]
    return [v for v in value.decode("utf-8", "replace").split("\0")]


def genre_item(values: list[str]) -> bytes:
    """One text item ``Genre`` with ``values``, separated by NUL."""
    value = "\0".join(values).encode("utf-8")
    return struct.pack("<II", len(value), TEXT) + GENRE_KEY.encode() + b"\0" + value


def render(tag: RawApe | None, items: list[bytes]) -> bytes:
    """``items`` as a tag: ``tag``'s header and footer with the new size and count, or a new
    APEv2 tag with a header and a footer."""
    body = b"".join(items)
    size = len(body) + FRAME_SIZE
    if tag is None:
        header = (
            PREAMBLE
            + struct.pack("<4I", VERSION, size, len(items), HAS_HEADER | IS_HEADER)
            + bytes(8)
        )
        footer = PREAMBLE + struct.pack("<4I", VERSION, size, len(items), HAS_HEADER) + bytes(8)
        return header + body + footer

    def patched(frame: bytes) -> bytes:
        return frame[:12] + struct.pack("<II", size, len(items)) + frame[20:] if frame else b""

    return patched(tag.header) + body + patched(tag.footer)
