"""Reading and writing genre tags, changing nothing else in the file.

One class per container of tags, each in its own module, with the same small interface
(``base.Container``: read the genre state and the album, make and edit a new copy,
verify it, describe it):

- ``id3.Id3``: ID3v2 in MP3, TTA, WAV, AIFF and DSF (the genre frame spliced into the raw
  tag; the ID3v1 genre byte; WAV's RIFF INFO genre);
- ``vorbis.Vorbis``: Vorbis comments in FLAC, Ogg Vorbis and Opus;
- ``mp4.Mp4``: MP4/M4A atoms;
- ``ape.Ape``: APEv2 in Monkey's Audio, WavPack, Musepack and TAK (OptimFROG files are
  skipped: ffmpeg cannot decode them);
- ``asf.Asf``: the extended content description of ASF (WMA).

Every write goes through the safe-write protocol (``safewrite``): a temporary copy in the
same folder, made and edited by the container and re-opened and checked (genre, audio
length, every other tag) before it atomically replaces the original, which must still be
the file that was copied. A symlink is written through: its target changes, the link stays
a link. The copy is always opened with the original's format class: its hidden name has
no extension for mutagen to go by.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from genretag.library import safewrite
from genretag.tags.ape import Ape
from genretag.tags.asf import Asf
from genretag.tags.base import AlbumInfo, Container, open_mutagen
from genretag.tags.id3 import Id3
from genretag.tags.mp4 import Mp4
from genretag.tags.state import CHANGED, GenreState, TagError, display
from genretag.tags.vorbis import Vorbis

__all__ = [
    "CHANGED",
    "Container",
    "GenreState",
    "TagError",
    "TrackTags",
    "container",
    "display",
    "read_all_tags",
    "read_genres",
    "read_state",
    "read_track",
    "write_genres",
    "write_state",
]

CONTAINERS: tuple[type[Container], ...] = (Mp4, Id3, Vorbis, Ape, Asf)  # the first that matches


def container(path: Path) -> Container:
    """The file's tags, as the container class of its format; a ``TagError`` for a format
    genretag cannot tag."""
    path = Path(path)
    f = audio_stream(open_mutagen(path), path)
    for cls in CONTAINERS:
        if cls.matches(f):
            return cls(f, path)
    raise TagError(f"genre tags are not supported for {type(f).__name__} files")


def audio_stream(f, path: Path):
    """An Ogg file whose first stream is video (Theora) has its genre in the audio
    stream's comment header: the file opened as that stream (Vorbis, Opus, FLAC)."""
    if type(f).__name__ != "OggTheora":
        return f
    from mutagen.oggflac import OggFLAC
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    for cls in (OggVorbis, OggOpus, OggFLAC):
        try:
            return cls(path)
        except Exception:  # not this codec: mutagen says so in its own ways
            continue
    return f


@dataclass(frozen=True)
class TrackTags:
    """What a scan reads from a file's tags, in one opening: its genre, its album and its
    length (seconds, 0 when the headers do not say)."""

    state: GenreState
    album: AlbumInfo
    duration: float


def read_state(path: Path) -> GenreState:
    return container(path).state()


def read_genres(path: Path) -> list[str]:
    return display(read_state(path))


def read_track(path: Path) -> TrackTags:
    c = container(path)
    length = getattr(c.f.info, "length", 0.0) or 0.0
    return TrackTags(c.state(), c.album() if c.f.tags is not None else AlbumInfo(), float(length))


def read_all_tags(path: Path) -> dict[str, list[str]]:
    """Every tag as text, keyed by frame/field name (for comparing before and after)."""
    return container(path).all_tags()


def write_state(path: Path, state: GenreState, expect: GenreState | None = None) -> None:
    """Make ``state`` the file's genre, atomically (``library.safewrite.replace``): the new copy is
    made and edited by the file's container and verified before it takes the original's
    place. With ``expect``, the file's genre must still be that, else nothing is written."""
    target = Path(os.path.realpath(path))  # a symlink is written through to its target
    try:
        safewrite.check_writable(target)
        tags = container(target)
        if expect is not None and tags.state() != expect:
            raise TagError(CHANGED)

        def edit(tmp: Path) -> None:
            tags.edit(tmp, state)
            tags.verify(tmp, state)

        safewrite.replace(target, lambda out: tags.make(out, state), edit)
    except safewrite.WriteError as e:
        if isinstance(e, TagError):
            raise
        raise TagError(str(e)) from None


def write_genres(path: Path, genres: list[str]) -> GenreState:
    """Replace the file's genre by ``genres``; returns the state that was there before."""
    previous = read_state(path)
    write_state(path, previous.for_writing(genres), expect=previous)
    return previous
