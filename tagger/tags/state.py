"""The genre state of a file: exactly what it held as genre, enough to put it back (undo),
and the genres a person sees in it."""

from __future__ import annotations

from dataclasses import dataclass

from mutagen.id3 import TCON

from .. import riffinfo, safewrite

CHANGED = safewrite.CHANGED


class TagError(safewrite.WriteError):
    """A file whose tags cannot be read or written; the message is one line for the user."""


@dataclass(frozen=True)
class GenreState:
    """Exactly what a file held as genre, enough to put it back.

    ``kind`` is the container's ("id3", "vorbis" or "mp4"); ``values`` the raw text values
    (ID3 genre frame, Vorbis comment values, MP4 ©gen); ``keys`` the Vorbis comment keys as
    spelt in the file; ``numeric`` MP4 ``gnre`` numbers. For ID3: ``frame`` the genre
    frame's exact bytes (hex), ``v1`` the ID3v1 genre byte where there is an ID3v1 block,
    ``tagless`` when the file had no ID3v2 tag at all, ``tag_size`` the tag's size (undo
    shrinks a tag a write had to grow; for FLAC, its padding's length plus one); for WAV,
    ``ignr`` the RIFF INFO genre text.
    ``read`` marks a state read from a file: writing it puts all of that back. A state made
    to be written has ``read`` False and leaves them empty (its IGNR is its genres, joined).
    The undo history keeps it as ``to_dict`` gives it, the same in every release so far.
    """

    kind: str
    values: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    numeric: tuple[int, ...] = ()
    frame: str = ""
    v1: int | None = None
    tagless: bool = False
    tag_size: int = 0
    ignr: str | None = None
    read: bool = False

    def to_dict(self) -> dict:
        return {"kind": self.kind, "values": list(self.values), "keys": list(self.keys),
                "numeric": list(self.numeric), "frame": self.frame, "v1": self.v1,
                "tagless": self.tagless, "tag_size": self.tag_size, "ignr": self.ignr,
                "read": self.read}

    @classmethod
    def from_dict(cls, d: dict) -> "GenreState":
        return cls(d["kind"], tuple(d["values"]), tuple(d.get("keys", ())),
                   tuple(d.get("numeric", ())), d.get("frame", ""), d.get("v1"),
                   bool(d.get("tagless", False)), int(d.get("tag_size", 0)), d.get("ignr"),
                   bool(d.get("read", False)))

    def info_genre(self) -> str | None:
        """The WAV INFO genre text this state stands for."""
        if self.read:
            return self.ignr
        return riffinfo.SEPARATOR.join(display(self)) or None


def display(state: GenreState) -> list[str]:
    """The genres a person sees in ``state`` (ID3 "(17)", ID3v1 and MP4 numbers resolved)."""
    if state.kind == "id3":
        if state.values:
            return TCON(encoding=3, text=list(state.values)).genres
        if state.v1 is not None and state.v1 < len(TCON.GENRES):
            return [TCON.GENRES[state.v1]]  # a v2 genre hides the v1 one, as in every player
        return []
    out = [v for v in state.values if v.strip()]
    if state.kind == "mp4":  # gnre holds an ID3v1 genre number plus one
        out += [TCON.GENRES[n - 1] for n in state.numeric if 0 < n <= len(TCON.GENRES)]
    return out
