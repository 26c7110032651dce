"""MP4 atoms as places in bytes: walking them from their headers, without mutagen (the
audio fingerprint finds the media data with it; ``tags.mp4`` edits the item list)."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

FULL_ATOMS = {b"meta": 4}  # bytes of version and flags before a full atom's children


class AtomError(ValueError):
    """Atoms that do not walk to their parent's end."""


@dataclass(frozen=True)
class Atom:
    """An atom's place in a byte string: name, start, header length and total size."""

    name: bytes
    start: int
    header: int
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def body(self) -> int:
        return self.start + self.header + FULL_ATOMS.get(self.name, 0)


def atoms(data: bytes | bytearray, start: int, end: int) -> list[Atom]:
    """The atoms of ``data[start:end]``, in order; an ``AtomError`` if they do not walk."""
    return _walk(lambda pos: data[pos : pos + 16], start, end)


def top_level(path: Path) -> list[Atom]:
    """The file's top-level atoms, from their headers alone."""
    with open(path, "rb") as fh:
        return top_level_in(fh, os.path.getsize(path))


def top_level_in(fh, size: int, clip: bool = False) -> list[Atom]:
    """The top-level atoms of an open file of ``size`` bytes; with ``clip``, a last atom
    that runs past the end (a truncated file) ends where the file does."""

    def head(pos: int) -> bytes:
        fh.seek(pos)
        return fh.read(16)

    return _walk(head, 0, size, clip)


def _walk(head, start: int, end: int, clip: bool = False) -> list[Atom]:
    """Atoms from ``start`` to ``end``, reading each header with ``head(offset)``."""
    out, pos = [], start
    while pos + 8 <= end:
        data = head(pos)
        size, name = struct.unpack(">I4s", data[:8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[8:16])[0], 16
        elif size == 0:
            size = end - pos
        if clip and size >= header and pos + size > end:
            size = end - pos
        if size < header or pos + size > end:
            raise AtomError("damaged MP4 atoms; genretag leaves such a file alone")
        out.append(Atom(name, pos, header, size))
        pos += size
    return out
