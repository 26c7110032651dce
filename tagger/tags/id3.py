"""ID3: the genre frame (``TCON``, ``TCO`` in v2.2) spliced into the raw tag by
``id3splice``, in MP3 and TTA (the tag at the start, an ID3v1 block at the end), in the ID3
chunk of WAV and AIFF and the tag at the end of DSF (where mutagen moves the chunk or the
tag and the tag's bytes are ours). The tag
keeps its version, its flags and every other frame byte for byte, including frames mutagen
cannot parse. Several genres are one frame with NUL-separated values in every version. An
ID3v1 block keeps every byte but its genre byte. A file with no ID3v2 tag gets a v2.4 tag
holding only the genre. WAV also gets the RIFF ``INFO`` list's ``IGNR`` (``riffinfo``)."""

from __future__ import annotations

import os
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

import mutagen
from mutagen.id3 import ID3, TCON

from genretag.tags.base import Container, copy_span, open_mutagen
from genretag.tags.raw import id3 as id3splice
from genretag.tags.raw import riff as riffinfo
from genretag.tags.state import Id3State, TagError, display


def _parse(raw: bytes) -> id3splice.RawTag:
    try:
        return id3splice.parse(raw)
    except id3splice.SpliceError as e:
        raise TagError(str(e)) from None


AT_START = ("MP3", "EasyMP3", "TrueAudio", "EasyTrueAudio")
FORMATS = (*AT_START, "WAVE", "AIFF", "DSF")
DSF_TOTAL_SIZE_AT = 12  # in the DSD chunk: the file's size, which mutagen's delete leaves


class Id3(Container[Id3State]):
    kind = "id3"
    ALBUM_KEYS = ("TALB", "TPE2", "TPE1", "TCMP")
    GENRE_KEYS = ("TCON",)

    @staticmethod
    def matches(f: mutagen.FileType) -> bool:
        return isinstance(f.tags, ID3) or type(f).__name__ in FORMATS

    @property
    def mp3(self) -> bool:
        """The tag sits at the file's start (and an ID3v1 block at its end: MP3, TTA),
        rather than in a chunk (WAV, AIFF) or where the header points (DSF)."""
        return type(self.f).__name__ in AT_START

    @property
    def wave(self) -> bool:
        return type(self.f).__name__ == "WAVE"

    def describe(self) -> str:
        raw = self.raw_tag()
        version = f"ID3v2.{raw[3]}" if raw else "no ID3v2 tag"
        return f"{version} in {type(self.f).__name__}"

    # -- raw bytes -------------------------------------------------------------------------

    def raw_tag(self) -> bytes | None:
        """The raw ID3v2 tag (header to padding), or None when the file has none."""
        with open(self.path, "rb") as fh:
            if not self.mp3:
                if self.f.tags is None:
                    return None
                self.f.tags._pre_load_header(fh)  # mutagen's own way to the ID3 chunk
            head = fh.read(id3splice.HEADER_SIZE)
            size = id3splice.tag_size(head)
            return head + fh.read(size - len(head)) if size else None

    def v1_block(self) -> bytes | None:
        if not self.mp3:
            return None
        with open(self.path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() < id3splice.V1_SIZE:
                return None
            fh.seek(-id3splice.V1_SIZE, os.SEEK_END)
            block = fh.read(id3splice.V1_SIZE)
        return block if id3splice.v1_genre(block) is not None else None

    def trailing_genre(self) -> tuple[str, ...]:
        """The genre values of an ID3v2.4 tag appended at the end of an MP3 (before its
        ID3v1 block), which some players write: read as the file's genre, left as it is by
        a write (which puts the genre in a new tag at the start)."""
        if not self.mp3:
            return ()
        end = os.path.getsize(self.path) - (id3splice.V1_SIZE if self.v1_block() else 0)
        start = max(0, end - (1 << 20))
        with open(self.path, "rb") as fh:
            fh.seek(start)
            frames = id3splice.trailing_frames(fh.read(end - start))
        genre = id3splice.GENRE_FRAME[4]
        return tuple(
            v for fr in frames or () if fr[:4] == genre for v in id3splice.text_values(fr, 4)
        )

    def ignr(self) -> str | None:
        if not self.wave:
            return None
        with open(self.path, "rb") as fh:
            return riffinfo.read(fh)

    # -- reading ---------------------------------------------------------------------------

    def state(self) -> Id3State:
        v1_block = self.v1_block()
        v1 = id3splice.v1_genre(v1_block) if v1_block else None
        ignr = self.ignr()
        raw = self.raw_tag()
        if raw is None:  # no tag at the start; one appended at the end still holds a genre
            return Id3State(self.trailing_genre(), True, v1=v1, tagless=True, ignr=ignr)
        frames = _parse(raw).genre_frames()
        if not frames:
            return Id3State((), True, v1=v1, tag_size=len(raw), ignr=ignr)
        # the text as mutagen decodes it, from the v2 tag alone (not merged with ID3v1)
        tags = ID3(self.path, load_v1=False) if self.mp3 else self.f.tags
        values = tuple(v for fr in tags.getall("TCON") for v in fr.text)
        return Id3State(values, True, frames[0].hex(), v1, tag_size=len(raw), ignr=ignr)

    def get(self, key: str):
        frame = self.f.tags.get(key) if self.f.tags is not None else None
        return str(frame.text[0]) if frame is not None and frame.text else None

    def all_tags(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for frame in self.f.tags.values() if self.f.tags is not None else ():
            out.setdefault(frame.HashKey, []).append(
                repr(frame) if not hasattr(frame, "data") else f"{frame.HashKey}:{frame.data.hex()}"
            )
        return out

    # -- writing ---------------------------------------------------------------------------

    def spliced(self, raw: bytes | None, state: Id3State) -> bytes | None:
        """The raw ID3v2 tag with ``state`` as its genre; None when the file should have
        none (undo of a file that had no ID3v2 tag, and whose tag now holds nothing else)."""
        tag = _parse(raw) if raw else id3splice.new_tag()
        frame = bytes.fromhex(state.frame) if state.frame else None
        if state.read and state.tagless:
            frame = None  # undo of a file with no tag at the start (its values were at the end)
        elif frame is None or not tag.is_genre(frame):
            frame = id3splice.genre_frame(tag.major, list(state.values)) if state.values else None
        new = id3splice.with_genre(tag, frame)
        if not new.frames and (state.tagless or raw is None):
            return None
        if state.tag_size:  # undo: the size the tag had, where its frames fit
            new = replace(new, size=state.tag_size)
        return id3splice.render(new)

    def make(self, out: BinaryIO, state: Id3State) -> None:
        """MP3: a new ID3v2 tag and ID3v1 genre byte; every other byte (audio, APE tags,
        the rest of the ID3v1 block) copied as it is. WAV, AIFF: the file as it is."""
        if not self.mp3:
            return super().make(out, state)
        raw, v1 = self.raw_tag(), self.v1_block()
        tag = self.spliced(raw, state)
        size = os.path.getsize(self.path)
        with open(self.path, "rb") as src:
            out.write(tag or b"")
            copy_span(src, out, len(raw) if raw else 0, size - (len(v1) if v1 else 0))
            if v1:
                out.write(id3splice.with_v1_genre(v1, v1_byte(state)))

    def edit(self, tmp: Path, state: Id3State) -> None:
        """WAV/AIFF: mutagen moves and resizes the ID3 chunk; the tag inside it is ours."""
        if self.mp3:
            return
        f = open_mutagen(tmp, like=self.f)
        copy = type(self)(f, tmp)
        tag = copy.spliced(copy.raw_tag(), state)
        if tag is None:
            f.delete()
            if type(f).__name__ == "DSF":
                with open(tmp, "r+b") as fh:
                    fh.seek(DSF_TOTAL_SIZE_AT)
                    fh.write(struct.pack("<Q", os.path.getsize(tmp)))
        else:
            if f.tags is None:
                f.add_tags()
            tags: Any = f.tags
            tags._prepare_data = lambda *args, **kwargs: tag  # mutagen's hook for the bytes
            f.save()
        if self.wave:
            with open(tmp, "r+b") as fh:
                riffinfo.write(fh, state.info_genre())

    def verify_others(self, after: Container[Id3State], state: Id3State) -> None:
        """Every other frame compared as raw bytes, the ID3v1 block but its genre byte, and
        WAV's INFO genre."""
        assert isinstance(after, Id3)
        old, new = self.raw_tag(), after.raw_tag()
        old_frames = _parse(old).other_frames() if old else []
        new_frames = _parse(new).other_frames() if new else []
        if old_frames != new_frames:
            raise TagError("tag check failed: a frame other than the genre would change")
        if (self.v1_block() or b"")[:127] != (after.v1_block() or b"")[:127]:
            raise TagError("tag check failed: the ID3v1 tag would change beyond its genre")
        if self.wave and after.ignr() != state.info_genre():
            raise TagError("tag check failed: the WAV INFO genre did not read back")


def v1_byte(state: Id3State) -> int:
    """The ID3v1 genre byte for ``state``: what the file had, when undo restores it; else
    the first genre's ID3v1 number, or "none"."""
    if state.v1 is not None:
        return state.v1
    folded = [g.casefold() for g in TCON.GENRES]
    for genre in display(state):
        if genre.casefold() in folded:
            return folded.index(genre.casefold())
    return id3splice.V1_NO_GENRE
