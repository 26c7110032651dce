"""MP4/M4A atoms: the genre is ``©gen`` (a numeric ``gnre`` atom counts as a genre too);
one ``©gen`` atom with one value per genre. The check after a write compares every other
item atom of ``ilst`` as raw bytes, children included (a cover's ``name`` atom), and their
order; iTunes' boolean and integer atoms (``cpil``, ``pgap``, ``tmpo``...) are no lists."""

from __future__ import annotations

import mutagen
from mutagen.mp4 import MP4, Atoms

from .base import Container
from .state import GenreState, TagError

GENRE_ATOMS = ("\xa9gen", "gnre")


class Mp4(Container):
    kind = "mp4"
    ALBUM_KEYS = ("\xa9alb", "aART", "\xa9ART", "cpil")
    GENRE_KEYS = GENRE_ATOMS

    @staticmethod
    def matches(f: mutagen.FileType) -> bool:
        return isinstance(f, MP4)

    def state(self) -> GenreState:
        tags = self.f.tags
        if tags is None:
            return GenreState(self.kind)
        return GenreState(self.kind, tuple(tags.get("\xa9gen", [])), (),
                          tuple(tags.get("gnre", [])))

    def get(self, key: str):
        value = self.f.tags.get(key) if self.f.tags is not None else None
        return value[0] if isinstance(value, list) and value else value

    def all_tags(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in (self.f.tags.items() if self.f.tags is not None else ()):
            out[k] = [bytes(x).hex() if isinstance(x, (bytes, bytearray)) else repr(x)
                      for x in (v if isinstance(v, (list, tuple)) else [v])]
        return out

    def item_atoms(self) -> list[bytes]:
        """The raw bytes of every item atom in ``moov/udta/meta/ilst`` but the genre's, in
        file order."""
        with open(self.path, "rb") as fh:
            try:
                ilst = Atoms(fh).path(b"moov", b"udta", b"meta", b"ilst")[-1]
            except KeyError:
                return []
            out = []
            for atom in ilst.children or ():
                if atom.name.decode("latin-1") in GENRE_ATOMS:
                    continue
                fh.seek(atom.offset)
                out.append(fh.read(atom.length))
        return out

    def verify_others(self, after: Container) -> None:
        assert isinstance(after, Mp4)
        if self.item_atoms() != after.item_atoms():
            raise TagError("tag check failed: an atom other than the genre would change")

    def apply(self, f: mutagen.FileType, state: GenreState) -> None:
        if f.tags is None:
            f.add_tags()
        for key in GENRE_ATOMS:
            f.tags.pop(key, None)
        if state.values:
            f.tags["\xa9gen"] = list(state.values)
        if state.numeric:
            f.tags["gnre"] = list(state.numeric)
