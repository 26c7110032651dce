"""Vorbis comments (FLAC, Ogg Vorbis, Opus): one ``GENRE`` comment per genre, where the
first one was, with its key spelt as the file had it; every other comment stays in order."""

from __future__ import annotations

import mutagen

from .base import Container
from .state import GenreState


class Vorbis(Container):
    kind = "vorbis"
    ALBUM_KEYS = ("album", "albumartist", "artist", "compilation")
    GENRE_KEYS = ("GENRE",)
    FORMATS = ("FLAC", "OggVorbis", "OggOpus", "OggFLAC", "OggSpeex", "OggTheora")

    @staticmethod
    def matches(f: mutagen.FileType) -> bool:
        return hasattr(f, "add_tags") and type(f).__name__ in Vorbis.FORMATS

    def state(self) -> GenreState:
        padding = self.flac_padding()
        if self.f.tags is None:
            return GenreState(self.kind, tag_size=padding)
        pairs = [(k, v) for k, v in self.f.tags if k.lower() == "genre"]
        return GenreState(self.kind, tuple(v for _, v in pairs), tuple(k for k, _ in pairs),
                          tag_size=padding)

    def flac_padding(self) -> int:
        """A FLAC file's padding, in bytes, plus one (so 0 means none was recorded, as in
        the undo history of earlier releases): undo puts back exactly as much."""
        if type(self.f).__name__ != "FLAC":
            return 0
        return 1 + sum(b.length for b in self.f.metadata_blocks if b.code == 1)

    def save(self, f: mutagen.FileType, state: GenreState) -> None:
        if type(f).__name__ == "FLAC" and state.tag_size:  # undo: the padding it had
            f.save(padding=lambda info: state.tag_size - 1)
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

    def apply(self, f: mutagen.FileType, state: GenreState) -> None:
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
