"""The genre state of a file: exactly what it held as genre, enough to put it back (undo),
and the genres a person sees in it. One record per container of tags (``Id3State``,
``VorbisState``, ``Mp4State``, ``ApeState``, ``AsfState``), each holding what its
container needs to restore the file.

A state ``read`` from a file puts all of that back when written (undo). A state made to be
written (``for_writing``) holds only the genres. The undo history keeps a state as
``to_dict`` gives it; ``legacy_state`` reads the single record of the releases up to
schema 4, which the cache's migration turns into these.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from mutagen.id3 import TCON

from genretag.library import safewrite
from genretag.tags.raw import riff as riffinfo

CHANGED = safewrite.CHANGED
STATE_FORMAT = 2  # the form of ``to_dict``; the releases up to schema 4 wrote none


class TagError(safewrite.WriteError):
    """A file whose tags cannot be read or written; the message is one line for the user."""


@dataclass(frozen=True)
class GenreState:
    """What every container's state has: the raw text ``values`` of its genre, and whether
    it was ``read`` from a file (then writing it restores everything the record holds)."""

    kind: ClassVar[str] = ""
    values: tuple[str, ...] = ()
    read: bool = False

    def for_writing(self, genres: list[str] | tuple[str, ...]) -> GenreState:
        """A state of the same container holding ``genres`` and nothing else."""
        return type(self)(tuple(genres))

    def to_dict(self) -> dict:
        out: dict = {"kind": self.kind, "format": STATE_FORMAT}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @staticmethod
    def from_dict(d: dict) -> GenreState:
        """A state as ``to_dict`` gave it (a ``TagError`` for one this release cannot read)."""
        cls = STATES.get(d.get("kind", ""))
        if cls is None or d.get("format") != STATE_FORMAT:
            raise TagError(
                f"undo history entry of an unknown form ({d.get('kind')!r}, "
                f"format {d.get('format')!r})"
            )
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in d:
                v = d[f.name]
                values[f.name] = tuple(v) if isinstance(f.default, tuple) else v
        return cls(**values)

    def genres(self) -> list[str]:
        """The genres a person sees in this state."""
        return [v for v in self.values if v.strip()]


@dataclass(frozen=True)
class Id3State(GenreState):
    """ID3 (MP3, WAV, AIFF, DSF, TTA): ``frame`` the genre frame's exact bytes (hex);
    ``v1`` the ID3v1 genre byte where there is an ID3v1 block; ``tagless`` when the file
    had no ID3v2 tag at all; ``tag_size`` the tag's size (undo shrinks a tag a write had to
    grow); ``ignr`` WAV's RIFF INFO genre text."""

    kind: ClassVar[str] = "id3"
    frame: str = ""
    v1: int | None = None
    tagless: bool = False
    tag_size: int = 0
    ignr: str | None = None

    def genres(self) -> list[str]:
        if self.values:
            return TCON(encoding=3, text=list(self.values)).genres
        if self.v1 is not None and self.v1 < len(TCON.GENRES):
            return [TCON.GENRES[self.v1]]  # a v2 genre hides the v1 one, as in every player
        return []

    def info_genre(self) -> str | None:
        """The WAV INFO genre text this state stands for."""
        if self.read:
            return self.ignr
        return riffinfo.SEPARATOR.join(self.genres()) or None


@dataclass(frozen=True)
class VorbisState(GenreState):
    """Vorbis comments (FLAC, Ogg): ``keys`` the comment keys as spelt in the file;
    ``padding`` a FLAC file's padding in bytes (None: not recorded), which undo puts back;
    ``no_block`` a FLAC file without a comment block, which undo removes again."""

    kind: ClassVar[str] = "vorbis"
    keys: tuple[str, ...] = ()
    padding: int | None = None
    no_block: bool = False


@dataclass(frozen=True)
class Mp4State(GenreState):
    """MP4 atoms: ``numeric`` the ``gnre`` numbers; ``item`` the genre's atoms, byte for
    byte (hex); ``absent`` the item-list atoms (``udta``, ``meta``, ``ilst``) the file
    lacked, which undo removes again."""

    kind: ClassVar[str] = "mp4"
    numeric: tuple[int, ...] = ()
    item: str = ""
    absent: tuple[str, ...] = ()

    def genres(self) -> list[str]:  # gnre holds an ID3v1 genre number plus one
        return super().genres() + [
            TCON.GENRES[n - 1] for n in self.numeric if 0 < n <= len(TCON.GENRES)
        ]


@dataclass(frozen=True)
class ApeState(GenreState):
    """APEv2 (Monkey's Audio, WavPack, Musepack, TAK, OptimFROG): ``item`` the genre item's
    exact bytes (hex); ``tagless`` when the file had no APEv2 tag, which undo removes."""

    kind: ClassVar[str] = "ape"
    item: str = ""
    tagless: bool = False


@dataclass(frozen=True)
class AsfState(GenreState):
    """ASF (WMA): ``items`` the genre descriptors' exact bytes (hex), ``tagless`` when the
    file had no extended content description object, which undo removes."""

    kind: ClassVar[str] = "asf"
    items: str = ""
    tagless: bool = False


STATES: dict[str, type[GenreState]] = {
    cls.kind: cls for cls in (Id3State, VorbisState, Mp4State, ApeState, AsfState)
}


def legacy_state(d: dict) -> GenreState:
    """A state as the releases up to schema 4 kept it: one record for every container
    (``kind``, ``values``, ``keys``, ``numeric``, ``frame``, ``v1``, ``tagless``,
    ``tag_size``, ``ignr``, ``read``; FLAC's padding was ``tag_size`` less one)."""
    values = tuple(d.get("values", ()))
    read = bool(d.get("read", False))
    kind = d.get("kind")
    if kind == "id3":
        return Id3State(
            values,
            read,
            d.get("frame", ""),
            d.get("v1"),
            bool(d.get("tagless", False)),
            int(d.get("tag_size", 0)),
            d.get("ignr"),
        )
    if kind == "vorbis":
        size = int(d.get("tag_size", 0))
        return VorbisState(values, read, tuple(d.get("keys", ())), size - 1 if size else None)
    if kind == "mp4":
        return Mp4State(
            values, read, tuple(d.get("numeric", ())), d.get("frame", ""), tuple(d.get("keys", ()))
        )
    raise TagError(f"undo history entry of an unknown kind ({kind!r})")


def display(state: GenreState) -> list[str]:
    """The genres a person sees in ``state`` (ID3 "(17)", ID3v1 and MP4 numbers resolved)."""
    return state.genres()
