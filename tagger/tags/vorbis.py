"""Vorbis comments (FLAC, Ogg Vorbis, Opus): one ``GENRE`` comment per genre, where the
first one was, with its key spelt as the file had it; every other comment stays in order.
A FLAC file gets the padding it had back on undo, and a FLAC file that had no comment
block loses the one the write added."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import mutagen

from genretag.tags.base import Container
from genretag.tags.raw.id3 import HEADER_SIZE, tag_size
from genretag.tags.state import TagError, VorbisState


def comment_block_damage(path: Path) -> str | None:
    """What is wrong with a FLAC file's Vorbis comment block, in words, or None: the
    comments it holds (vendor string, count, each comment) must end exactly where its
    header says the block does."""
    with open(path, "rb") as f:
        f.seek(tag_size(f.read(HEADER_SIZE)))  # past an ID3v2 tag before the stream
        if f.read(4) != b"fLaC":
            return None  # mutagen found the stream elsewhere; not ours to judge
        last = False
        while not last:
            header = f.read(4)
            if len(header) < 4:
                return None
            last, code = bool(header[0] & 0x80), header[0] & 0x7F
            stated = int.from_bytes(header[1:4], "big")
            if code != 4:
                f.seek(stated, 1)
                continue
            body = f.read(stated + (1 << 16))  # a little past it: how far the content runs
            return _comments_end(body, stated)
    return None


def _comments_end(body: bytes, stated: int) -> str | None:
    at = 0
    try:
        at = 4 + struct.unpack_from("<I", body, 0)[0]  # the vendor string
        count = struct.unpack_from("<I", body, at)[0]
        at += 4
        for _ in range(count):
            at += 4 + struct.unpack_from("<I", body, at)[0]
    except struct.error:
        return f"its comments run past its stated {stated} bytes"
    if at != stated:
        return f"its header says {stated} bytes, its comments take {at}"
    return None


class Vorbis(Container[VorbisState]):
    kind = "vorbis"
    ALBUM_KEYS = ("album", "albumartist", "artist", "compilation")
    GENRE_KEYS = ("GENRE",)
    FORMATS = ("FLAC", "OggVorbis", "OggOpus", "OggFLAC", "OggSpeex", "OggTheora")

    @staticmethod
    def matches(f: mutagen.FileType) -> bool:
        return hasattr(f, "add_tags") and type(f).__name__ in Vorbis.FORMATS

    @property
    def flac(self) -> bool:
        return type(self.f).__name__ == "FLAC"

    def state(self) -> VorbisState:
        if self.flac:
            damaged = comment_block_damage(self.path)
            if damaged:  # mutagen reads past it, and a write would re-render the block
                raise TagError(f"damaged FLAC comment block ({damaged}): genretag leaves it alone")
        padding = (
            sum(b.length for b in self.f.metadata_blocks if b.code == 1) if self.flac else None
        )
        if self.f.tags is None:
            return VorbisState((), True, padding=padding, no_block=self.flac)
        pairs = [(k, v) for k, v in self.f.tags if k.lower() == "genre"]
        return VorbisState(tuple(v for _, v in pairs), True, tuple(k for k, _ in pairs), padding)

    def save(self, f: Any, state: VorbisState) -> None:
        if not self.flac:
            f.save()
            return
        if state.no_block and not len(f.tags):  # undo: the file had no comment block
            f.metadata_blocks.remove(f.tags)
            f.tags = None
        if state.padding is not None:  # undo: the padding it had
            f.save(padding=lambda info: state.padding)
        else:
            f.save()

    def get(self, key: str):
        for k, v in self.f.tags or ():
            if k.lower().replace(" ", "") == key:
                return v
        return None

    def all_tags(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self.f.tags or ():
            out.setdefault(k.upper(), []).append(v)
        if hasattr(self.f, "pictures"):  # FLAC picture blocks live outside the comments
            out["__pictures__"] = [p.data.hex() for p in self.f.pictures]
        return out

    def apply(self, f: Any, state: VorbisState) -> None:
        if f.tags is None:
            f.add_tags()
        tags = f.tags
        spelt = next((k for k, _ in tags if k.lower() == "genre"), "GENRE")  # as the file has it
        new = list(zip(state.keys or (spelt,) * len(state.values), state.values))
        out, placed = [], False
        for k, v in list(tags):
            if k.lower() != "genre":
                out.append((k, v))
            elif not placed:  # the genre goes where it was, the other comments stay in order
                out.extend(new)
                placed = True
        if not placed:
            out.extend(new)
        tags.clear()
        tags.extend(out)
