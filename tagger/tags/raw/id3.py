"""Changing only the genre frame of an ID3v2 tag, leaving every other byte of the tag as it was.

mutagen parses every frame when it loads a tag and renders every frame again when it saves
one: on the way it upgrades ID3v2.3 frames to v2.4 (TYER becomes TDRC), merges or drops
frames that v2.4 lacks (TDAT, TIME, RVAD, TSIZ), drops frames it cannot parse, and copies
ID3v1 fields into the v2 tag. A tagger that promises to change only the genre cannot save
through that path, so this module works on the raw tag instead:

1. ``parse`` walks the frames of a v2.2, v2.3 or v2.4 tag as raw byte strings, header
   included, without interpreting their contents;
2. ``with_genre`` puts one new genre frame (``TCON``, ``TCO`` in v2.2) where the first one
   was, drops any other genre frame, and leaves every other frame's bytes and order alone;
3. ``render`` reassembles the tag in the same version with the same flags, keeping its
   size when the frames fit in the old padding, so the audio does not move.

ID3v1 is a fixed 128-byte block at the end of the file; only its genre byte is ours.
Tags this module does not edit (tag-wide unsynchronisation in v2.2/v2.3, an extended
header, a footer, v2.2 compression, frames that do not walk to the end) raise
``SpliceError``, and the file is left alone rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER_SIZE = 10
V1_SIZE = 128
V1_NO_GENRE = 255
GROW_PADDING = 1024  # extra room when a tag must grow, so the next edits fit in place
GENRE_FRAME = {2: b"TCO", 3: b"TCON", 4: b"TCON"}
_FRAME_ID = {
    2: re.compile(rb"[A-Z0-9]{3}\Z"),
    3: re.compile(rb"[A-Z0-9]{4}\Z"),
    4: re.compile(rb"[A-Z0-9]{4}\Z"),
}
_UNSYNC, _EXTENDED, _FOOTER, _V22_COMPRESSED = 0x80, 0x40, 0x10, 0x40


class SpliceError(Exception):
    """A tag whose structure this module does not edit; the message is for the user."""


@dataclass(frozen=True)
class RawTag:
    """An ID3v2 tag as raw frames: ``frames`` are the exact bytes (header + body) of each
    frame in file order; ``size`` the whole tag's length, header and padding included."""

    major: int
    revision: int
    flags: int
    frames: tuple[bytes, ...]
    size: int

    def frame_id(self, frame: bytes) -> bytes:
        return frame[:3] if self.major == 2 else frame[:4]

    def is_genre(self, frame: bytes) -> bool:
        return self.frame_id(frame) == GENRE_FRAME[self.major]

    def genre_frames(self) -> list[bytes]:
        return [f for f in self.frames if self.is_genre(f)]

    def other_frames(self) -> list[bytes]:
        return [f for f in self.frames if not self.is_genre(f)]


def syncsafe(data: bytes) -> int:
    return (data[0] & 0x7F) << 21 | (data[1] & 0x7F) << 14 | (data[2] & 0x7F) << 7 | data[3] & 0x7F


def to_syncsafe(n: int) -> bytes:
    if not 0 <= n < 1 << 28:
        raise SpliceError("ID3 tag would be too large")
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def tag_size(head: bytes) -> int:
    """Length of the tag that ``head`` (its first 10 bytes) starts, or 0 if it is none."""
    if len(head) < HEADER_SIZE or head[:3] != b"ID3" or head[3] not in (2, 3, 4):
        return 0
    return HEADER_SIZE + syncsafe(head[6:10])


def _walk(data: bytes, major: int, plain_sizes: bool) -> tuple[bytes, ...] | None:
    """The frames of ``data`` (the bytes after the tag header), or None if they do not walk
    cleanly to the padding or the end."""
    head_len = 6 if major == 2 else 10
    frames, pos = [], 0
    while pos + head_len <= len(data) and data[pos] != 0:
        fid = data[pos : pos + (3 if major == 2 else 4)]
        if not _FRAME_ID[major].match(fid):
            return None
        raw = data[pos + len(fid) : pos + len(fid) + (3 if major == 2 else 4)]
        if major == 4 and not plain_sizes:
            if any(b & 0x80 for b in raw):
                return None
            size = syncsafe(raw)
        else:
            size = int.from_bytes(raw, "big")
        end = pos + head_len + size
        if end > len(data):
            return None
        frames.append(data[pos:end])
        pos = end
    if any(data[pos:]):  # what follows the frames must be padding
        return None
    return tuple(frames)


def parse(tag: bytes) -> RawTag:
    """Split the raw bytes of a whole tag (header, frames, padding) into its frames."""
    size = tag_size(tag[:HEADER_SIZE])
    if not size or len(tag) < size:
        raise SpliceError("damaged ID3v2 tag (header or size)")
    major, revision, flags = tag[3], tag[4], tag[5]
    if major == 2 and flags & _V22_COMPRESSED:
        raise SpliceError("ID3v2.2 tag is compressed, which genretag does not edit")
    if major < 4 and flags & _UNSYNC:
        raise SpliceError(f"ID3v2.{major} tag is unsynchronised, which genretag does not edit")
    if flags & _EXTENDED:
        raise SpliceError("ID3 tag has an extended header, which genretag does not edit")
    if major == 4 and flags & _FOOTER:
        raise SpliceError("ID3v2.4 tag has a footer, which genretag does not edit")
    body = tag[HEADER_SIZE:size]
    frames = _walk(body, major, plain_sizes=False)
    if frames is None and major == 4:  # some writers use plain sizes in v2.4 (iTunes did)
        frames = _walk(body, major, plain_sizes=True)
    if frames is None:
        raise SpliceError("ID3 tag frames cannot be walked; genretag leaves such a file alone")
    return RawTag(major, revision, flags, frames, size)


def _text(values: list[str], major: int) -> bytes:
    """A text frame's body: the encoding byte, then the values separated by NUL (the
    multi-value form mutagen and beets read back as a list in every version, so a genre
    that contains "/" stays one genre in v2.3 too)."""
    if major == 4:
        return b"\x03" + "\x00".join(values).encode("utf-8")
    try:
        return b"\x00" + "\x00".join(values).encode("latin-1")
    except UnicodeEncodeError:  # v2.2/v2.3 know Latin-1 and UTF-16 (with a BOM per value)
        return b"\x01" + b"\x00\x00".join(v.encode("utf-16") for v in values)


def genre_frame(major: int, genres: list[str]) -> bytes:
    """A new genre frame for a tag of version 2.``major``, with no frame flags."""
    body = _text(genres, major)
    if major == 2:
        return b"TCO" + len(body).to_bytes(3, "big") + body
    size = to_syncsafe(len(body)) if major == 4 else len(body).to_bytes(4, "big")
    return b"TCON" + size + b"\x00\x00" + body


def with_genre(tag: RawTag, frame: bytes | None) -> RawTag:
    """``tag`` with ``frame`` as its only genre frame (None: no genre frame), in the place of
    the first genre frame it had, else after its last frame."""
    out: list[bytes] = []
    placed = frame is None
    for f in tag.frames:
        if not tag.is_genre(f):
            out.append(f)
        elif frame is not None and not placed:
            out.append(frame)
            placed = True
    if frame is not None and not placed:
        out.append(frame)
    return RawTag(tag.major, tag.revision, tag.flags, tuple(out), tag.size)


def render(tag: RawTag) -> bytes:
    """The tag's bytes: ``tag.size`` long when its frames fit, else grown."""
    frames = b"".join(tag.frames)
    needed = HEADER_SIZE + len(frames)
    size = tag.size if needed <= tag.size else needed + GROW_PADDING
    head = b"ID3" + bytes([tag.major, tag.revision, tag.flags]) + to_syncsafe(size - HEADER_SIZE)
    return head + frames + bytes(size - needed)


def new_tag(major: int = 4) -> RawTag:
    return RawTag(major, 0, 0, (), HEADER_SIZE + GROW_PADDING)


def trailing_frames(data: bytes) -> tuple[bytes, ...] | None:
    """The frames of an ID3v2.4 tag appended at the end of ``data`` (the bytes before any
    ID3v1 block), found by its footer ("3DI"), as some players write it; None if there is
    none or it does not walk."""
    footer = data[-HEADER_SIZE:]
    if len(footer) < HEADER_SIZE or footer[:3] != b"3DI" or footer[3] != 4:
        return None
    size = syncsafe(footer[6:10])
    start = len(data) - HEADER_SIZE - size - HEADER_SIZE
    if start < 0 or data[start : start + 3] != b"ID3":
        return None
    return _walk(data[start + HEADER_SIZE : start + HEADER_SIZE + size], 4, plain_sizes=False)


def text_values(frame: bytes, major: int) -> list[str]:
    """The values of a text frame (its encoding byte, then NUL-separated text)."""
    body = frame[6:] if major == 2 else frame[10:]
    if not body:
        return []
    encoding, text = body[0], body[1:]
    codec = {0: "latin-1", 1: "utf-16", 2: "utf-16-be", 3: "utf-8"}.get(encoding, "latin-1")
    sep = "\x00"
    return [v for v in text.decode(codec, "replace").split(sep) if v]


def v1_genre(block: bytes) -> int | None:
    """The genre byte of a 128-byte ID3v1 block, or None if ``block`` is not one."""
    if len(block) == V1_SIZE and block[:3] == b"TAG":
        return block[127]
    return None


def with_v1_genre(block: bytes, genre: int) -> bytes:
    return block[:127] + bytes([genre])
