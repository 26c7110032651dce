"""Vorbis comments (FLAC, Ogg Vorbis, Opus): one ``GENRE`` comment per genre, where the
first one was, with its key spelt as the file had it; every other comment stays in order.
A FLAC file gets the padding it had back on undo, and a FLAC file that had no comment
block loses the one the write added."""

from __future__ import annotations

import mutagen

from .base import Container
from .state import VorbisState


class Vorbis(Container):
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
        padding = sum(b.length for b in self.f.metadata_blocks if b.code == 1) \
            if self.flac else None
        if self.f.tags is None:
            return VorbisState((), True, padding=padding, no_block=self.flac)
        pairs = [(k, v) for k, v in self.f.tags if k.lower() == "genre"]
        return VorbisState(tuple(v for _, v in pairs), True, tuple(k for k, _ in pairs),
                           padding)

    def save(self, f: mutagen.FileType, state: VorbisState) -> None:
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

    def apply(self, f: mutagen.FileType, state: VorbisState) -> None:
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
