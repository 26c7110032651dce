"""What every container of tags offers (``Container``), and opening a file as one."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar

import mutagen

from genretag.library.discover import EMPTY
from genretag.tags.state import GenreState, TagError, display

TRUE = ("1", "true", "yes")


def open_mutagen(path: Path, like: mutagen.FileType | None = None) -> mutagen.FileType:
    """The file as mutagen reads it. ``like``: a file of the same format (the original of a
    temporary copy, whose name lacks the extension mutagen would go by)."""
    try:
        if like is None and os.path.getsize(path) == 0:
            raise TagError(EMPTY)  # as the decoder says it, not as mutagen fails on it
        f = type(like)(path) if like is not None else mutagen.File(path)
    except TagError:
        raise
    except Exception as e:
        raise TagError(f"cannot read tags: {e}") from None
    if f is None:
        raise TagError("not a format genretag can tag")
    return f


def copy_span(src: BinaryIO, out: BinaryIO, start: int, end: int) -> None:
    """Copy ``src[start:end]`` to ``out`` in chunks; a file that shrank meanwhile is an
    error, not a short copy."""
    src.seek(start)
    remaining = end - start
    while remaining > 0:
        chunk = src.read(min(remaining, 1 << 20))
        if not chunk:
            raise TagError("file shrank while it was being copied")
        out.write(chunk)
        remaining -= len(chunk)


@dataclass(frozen=True)
class AlbumInfo:
    """What a file's tags say about its album."""

    album: str = ""
    album_artist: str = ""
    artist: str = ""
    compilation: bool = False

    def key(self) -> tuple[str, str] | None:
        """Tracks with the same key are one album; None: no album tag."""
        if not self.album.strip():
            return None
        who = self.album_artist.strip() or self.artist.strip()
        return self.album.strip().casefold(), who.casefold()

    def title(self) -> str:
        who = self.album_artist.strip() or self.artist.strip()
        return f"{self.album.strip()} — {who}" if who else self.album.strip()


State = TypeVar("State", bound=GenreState)


class Container(Generic[State]):
    """The tags of one format family, with one small interface: read the genre state and the
    album, make and edit a new copy with another genre state, verify the copy, describe it.
    ``f`` is the file as mutagen opened it (untyped: each family reads its own kind of
    file), ``path`` where it is; ``State`` is the family's own ``GenreState``."""

    kind = ""  # GenreState.kind
    GENRE_KEYS: tuple[str, ...] = ()  # the keys ``other_tags`` leaves out
    f: Any

    def __init__(self, f: mutagen.FileType, path: Path):
        self.f, self.path = f, Path(path)

    @staticmethod
    def matches(f: mutagen.FileType) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.kind} tags in {type(self.f).__name__}"

    # -- reading ---------------------------------------------------------------------------

    def state(self) -> State:
        raise NotImplementedError

    def album(self) -> AlbumInfo:
        album, album_artist, artist, flag = (self.get(k) for k in self.ALBUM_KEYS)
        return AlbumInfo(
            str(album or ""),
            str(album_artist or ""),
            str(artist or ""),
            str(flag).strip().lower() in TRUE,
        )

    ALBUM_KEYS: tuple[str, str, str, str] = ("", "", "", "")  # album, album artist, artist,
    # compilation flag

    def get(self, key: str):
        """The first value of the tag ``key``, or None."""
        raise NotImplementedError

    def other_tags(self) -> dict[str, list[str]]:
        """Every tag but the genre, as text, for comparing before and after a write."""
        return {k: v for k, v in self.all_tags().items() if k not in self.GENRE_KEYS}

    def all_tags(self) -> dict[str, list[str]]:
        raise NotImplementedError

    # -- writing ---------------------------------------------------------------------------

    def make(self, out: BinaryIO, state: State) -> None:
        """Write the new copy's bytes: by default the file as it is (``edit`` changes it)."""
        with open(self.path, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)

    def edit(self, tmp: Path, state: State) -> None:
        """Give the copy at ``tmp`` the genre ``state``."""
        f = open_mutagen(tmp, like=self.f)
        self.apply(f, state)
        self.save(f, state)

    def save(self, f: Any, state: State) -> None:
        """Save the edited copy (``state``: what it was given)."""
        f.save()

    def apply(self, f: Any, state: State) -> None:
        raise NotImplementedError

    def verify(self, tmp: Path, state: State) -> None:
        """The copy must re-open as the same format, hold the expected genre, the same audio
        and the same other tags."""
        after = type(self)(open_mutagen(tmp, like=self.f), tmp)
        expected, got = display(state), display(after.state())
        if got != expected:
            raise TagError(f"tag check failed: wrote {expected}, read back {got}")
        if abs(after.f.info.length - self.f.info.length) > 0.05:
            raise TagError("tag check failed: the audio changed while writing tags")
        self.verify_others(after, state)

    def verify_others(self, after: Container[State], state: State) -> None:
        if self.other_tags() != after.other_tags():
            raise TagError("tag check failed: a tag other than the genre would change")
