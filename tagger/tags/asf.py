"""ASF (WMA): the genre is ``WM/Genre`` descriptors in the header's extended content
description object, one per genre, edited as raw bytes: they take the old genre
descriptors' place, every other descriptor and every other header object keep their bytes
and their order, and only the sizes (of that object, of the header, the file size in the
file properties object) follow. The audio packets after the header do not move within
themselves, and ASF's indexes count packets, not bytes.

mutagen re-renders the whole header on save (it adds a content description, a header
extension, metadata objects and padding), so it is used here to read and to check only. A
genre that mutagen finds outside the extended content description (a metadata library
object, where mutagen itself puts a second value) is not edited: such a file is refused,
unchanged. A file without the object gets one, which undo removes again.
"""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass
from typing import Any, BinaryIO

import mutagen
from mutagen.asf import ASF

from genretag.tags.base import Container, copy_span
from genretag.tags.state import AsfState, TagError


def _guid(text: str) -> bytes:
    return uuid.UUID(text).bytes_le


HEADER = _guid("75B22630-668E-11CF-A6D9-00AA0062CE6C")
EXTENDED = _guid("D2D0A440-E307-11D2-97F0-00A0C95EA850")  # extended content description
FILE_PROPERTIES = _guid("8CABDCA1-A947-11CF-8EE4-00C00C205365")
FILE_SIZE_AT = 40  # in the file properties object: GUID, size, file id, then the file size
GENRE = "WM/Genre"
UNICODE = 0


@dataclass(frozen=True)
class Header:
    """The header object as it is in the file: its bytes, and each child object's
    (GUID, bytes) in order."""

    raw: bytes
    objects: tuple[tuple[bytes, bytes], ...]


def read_header(fh: BinaryIO) -> Header:
    fh.seek(0)
    head = fh.read(30)
    if len(head) < 30 or head[:16] != HEADER:
        raise TagError("ASF file: no header object at its start")
    size, count = struct.unpack("<QI", head[16:28])
    raw = head + fh.read(size - 30)
    if len(raw) != size:
        raise TagError("ASF file: the header runs past the end of the file")
    objects, at = [], 30
    for _ in range(count):
        if at + 24 > size:
            raise TagError("ASF file: fewer header objects than the header says")
        length = struct.unpack("<Q", raw[at + 16 : at + 24])[0]
        if length < 24 or at + length > size:
            raise TagError("ASF file: a header object runs past the header")
        objects.append((raw[at : at + 16], raw[at : at + length]))
        at += length
    return Header(raw, tuple(objects))


def descriptors(obj: bytes) -> list[bytes]:
    """The extended content description's descriptors, each as its raw bytes."""
    count = struct.unpack("<H", obj[24:26])[0]
    out, at = [], 26
    for _ in range(count):
        name_len = struct.unpack("<H", obj[at : at + 2])[0]
        value_len = struct.unpack("<H", obj[at + 4 + name_len : at + 6 + name_len])[0]
        end = at + 6 + name_len + value_len
        if end > len(obj):
            raise TagError("ASF file: a descriptor runs past its object")
        out.append(obj[at:end])
        at = end
    return out


def name_of(descriptor: bytes) -> str:
    n = struct.unpack("<H", descriptor[:2])[0]
    return descriptor[2 : 2 + n].decode("utf-16-le", "replace").rstrip("\0")


def is_genre(descriptor: bytes) -> bool:
    return name_of(descriptor) == GENRE


def genre_descriptor(value: str) -> bytes:
    name = (GENRE + "\0").encode("utf-16-le")
    data = (value + "\0").encode("utf-16-le")
    return struct.pack("<H", len(name)) + name + struct.pack("<HH", UNICODE, len(data)) + data


def extended_object(items: list[bytes]) -> bytes:
    body = b"".join(items)
    return EXTENDED + struct.pack("<QH", 26 + len(body), len(items)) + body


class Asf(Container[AsfState]):
    kind = "asf"
    ALBUM_KEYS = ("WM/AlbumTitle", "WM/AlbumArtist", "Author", "WM/IsCompilation")
    GENRE_KEYS = (GENRE,)

    @staticmethod
    def matches(f: mutagen.FileType) -> bool:
        return isinstance(f, ASF)

    def header(self) -> Header:
        with open(self.path, "rb") as fh:
            return read_header(fh)

    def extended(self, header: Header) -> bytes | None:
        return next((raw for guid, raw in header.objects if guid == EXTENDED), None)

    def state(self) -> AsfState:
        ext = self.extended(self.header())
        raw = b"".join(d for d in descriptors(ext) if is_genre(d)) if ext else b""
        return AsfState(self._values(), True, raw.hex(), tagless=ext is None)

    def _values(self) -> tuple[str, ...]:
        return tuple(str(v.value) for v in (self.f.tags or {}).get(GENRE, []))

    def get(self, key: str):
        values = (self.f.tags or {}).get(key, [])
        return str(values[0].value) if values else None

    def all_tags(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in self.f.tags or []:
            out.setdefault(name, []).append(repr(value))
        return out

    def make(self, out: BinaryIO, state: AsfState) -> None:
        header = self.header()
        ext = self.extended(header)
        old = descriptors(ext) if ext else []
        if sum(map(is_genre, old)) < len(self._values()):
            raise TagError(
                "WMA file with a genre outside its extended content description "
                "(a metadata library): genretag leaves it alone"
            )
        kept = [d for d in old if not is_genre(d)]
        first = next((i for i, d in enumerate(old) if is_genre(d)), None)
        at = len(kept) if first is None else sum(1 for d in old[:first] if not is_genre(d))
        if state.read and state.items:
            genre = [bytes.fromhex(state.items)]  # undo: as it was, byte for byte
        else:
            genre = [genre_descriptor(v) for v in state.values]
        new = kept[:at] + genre + kept[at:]
        remove = not new and (ext is None or (state.read and state.tagless))
        objects = [raw for guid, raw in header.objects if guid != EXTENDED or not remove]
        if not remove:
            if ext is None:
                objects.append(extended_object(new))
            else:
                objects = [extended_object(new) if raw is ext else raw for raw in objects]
        body = b"".join(objects)
        delta = 30 + len(body) - len(header.raw)
        size = os.path.getsize(self.path)
        objects = [self._file_size(raw, lambda old: old + delta) for raw in objects]
        head = (
            header.raw[:16] + struct.pack("<QI", 30 + len(body), len(objects)) + header.raw[28:30]
        )
        with open(self.path, "rb") as src:
            out.write(head + b"".join(objects))
            copy_span(src, out, len(header.raw), size)

    @staticmethod
    def _file_size(raw: bytes, change) -> bytes:
        """The file properties object with its file size changed by ``change`` (moved by
        the header's growth, not set to the real size: undo puts back what was there, and
        some files say a size they do not have); any other object as it is."""
        if raw[:16] != FILE_PROPERTIES:
            return raw
        old = struct.unpack("<Q", raw[FILE_SIZE_AT : FILE_SIZE_AT + 8])[0]
        return raw[:FILE_SIZE_AT] + struct.pack("<Q", max(0, change(old))) + raw[FILE_SIZE_AT + 8 :]

    def edit(self, tmp, state: AsfState) -> None:
        """``make`` wrote the copy's header."""

    def apply(self, f: Any, state: AsfState) -> None:
        raise NotImplementedError("make writes ASF headers as raw bytes")

    def _others(self) -> list[bytes]:
        """Every header object but the extended content description, with the file size
        left out, and that object's descriptors but the genre's."""
        header = self.header()
        ext = self.extended(header)
        objects = [
            self._file_size(raw, lambda old: 0) for guid, raw in header.objects if guid != EXTENDED
        ]
        return objects + [d for d in (descriptors(ext) if ext else []) if not is_genre(d)]

    def verify_others(self, after: Container[AsfState], state: AsfState) -> None:
        assert isinstance(after, Asf)
        if self._others() != after._others():
            raise TagError("tag check failed: a tag other than the genre would change")
