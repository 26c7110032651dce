"""MP4/M4A atoms: the genre is ``©gen`` (a numeric ``gnre`` atom counts as a genre too);
one ``©gen`` atom with one value per genre.

Only the genre's atoms change. mutagen re-renders every item on save (a cover's ``name``
child is dropped, items are put in its own order), so a file that already has an item list
(``moov/udta/meta/ilst``) is edited here as raw bytes, as ``id3splice`` edits ID3: the new
genre atom takes the old one's place, every other atom keeps its bytes and its order, a
``free`` atom right after the item list absorbs the difference in size where it can (so
nothing else moves), and otherwise the enclosing atoms grow and the chunk offsets of
``stco``/``co64`` follow when the movie atom comes before the media data. A file without an
item list gets one from mutagen; undo removes what that write created. iTunes' boolean and
integer atoms (``cpil``, ``pgap``, ``tmpo``...) are no lists.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, BinaryIO

import mutagen
from mutagen.mp4 import MP4

from genretag.tags.base import Container, copy_span
from genretag.tags.raw.mp4 import Atom, AtomError
from genretag.tags.raw.mp4 import atoms as _atoms
from genretag.tags.raw.mp4 import top_level as _top_level
from genretag.tags.state import Mp4State, TagError

GENRE_ATOMS = ("\xa9gen", "gnre")
_GENRE_NAMES = tuple(n.encode("latin-1") for n in GENRE_ATOMS)
ITEM_PATH = (b"moov", b"udta", b"meta", b"ilst")
UTF8, IMPLICIT = 1, 0  # data atom types


def atoms(data: bytes | bytearray, start: int, end: int) -> list[Atom]:
    """The atoms of ``data[start:end]``; a ``TagError`` if they do not walk."""
    try:
        return _atoms(data, start, end)
    except AtomError as e:
        raise TagError(str(e)) from None


def top_level(path: Path) -> list[Atom]:
    """The file's top-level atoms; a ``TagError`` if they do not walk."""
    try:
        return _top_level(path)
    except AtomError as e:
        raise TagError(str(e)) from None


def child(data: bytes, parent: Atom, name: bytes) -> Atom | None:
    return next((a for a in atoms(data, parent.body, parent.end) if a.name == name), None)


def genre_atom(state: Mp4State) -> bytes:
    """The genre's atoms for ``state``: what the file had, byte for byte (undo), else one
    ``©gen`` atom holding a UTF-8 data atom per genre (and ``gnre``, for numbers)."""
    if state.read and state.item:
        return bytes.fromhex(state.item)
    out = b""
    if state.values:
        body = b"".join(
            struct.pack(">I4sII", 16 + len(v.encode()), b"data", UTF8, 0) + v.encode()
            for v in state.values
        )
        out += struct.pack(">I4s", 8 + len(body), b"\xa9gen") + body
    if state.numeric:
        body = b"".join(struct.pack(">I4sIIH", 18, b"data", IMPLICIT, 0, n) for n in state.numeric)
        out += struct.pack(">I4s", 8 + len(body), b"gnre") + body
    return out


def _set_size(data: bytearray, atom: Atom, size: int) -> None:
    if atom.header == 16:
        data[atom.start + 8 : atom.start + 16] = struct.pack(">Q", size)
    elif size < 1 << 32:
        data[atom.start : atom.start + 4] = struct.pack(">I", size)
    else:
        raise TagError("MP4 atom would grow past 4 GiB")


def _shift_chunk_offsets(moov: bytearray, after: int, delta: int) -> None:
    """Chunk offsets (``stco``, ``co64`` of every track) past the file offset ``after``
    move by ``delta``."""
    for trak in atoms(moov, 8, len(moov)):
        if trak.name != b"trak":
            continue
        stack = [trak]
        while stack:
            a = stack.pop()
            if a.name in (b"trak", b"mdia", b"minf", b"stbl"):
                stack.extend(atoms(moov, a.body, a.end))
            elif a.name in (b"stco", b"co64"):
                wide = a.name == b"co64"
                count = struct.unpack(">I", moov[a.start + 12 : a.start + 16])[0]
                fmt, width = (">Q", 8) if wide else (">I", 4)
                for i in range(count):
                    at = a.start + 16 + i * width
                    value = struct.unpack(fmt, moov[at : at + width])[0]
                    if value > after:
                        moov[at : at + width] = struct.pack(fmt, value + delta)


# the fragments' offsets would move with the movie atom; only a write that keeps its size
# (the genre fits the item list's free padding) is made, so that undo can reverse it
FRAGMENTED = "fragmented MP4 without room for the genre: genretag leaves such a file alone"


class Mp4(Container[Mp4State]):
    kind = "mp4"
    ALBUM_KEYS = ("\xa9alb", "aART", "\xa9ART", "cpil")
    GENRE_KEYS = GENRE_ATOMS
    _edited = False  # make() edited the item list itself; else edit() lets mutagen make one

    @staticmethod
    def matches(f: mutagen.FileType) -> bool:
        return isinstance(f, MP4)

    # -- reading ---------------------------------------------------------------------------

    def _moov(self) -> tuple[list[Atom], Atom, bytes]:
        """The top-level atoms, the movie atom, and its bytes (moov is small beside the
        media data, which is only ever copied)."""
        top = top_level(self.path)
        moov = next((a for a in top if a.name == b"moov"), None)
        if moov is None:
            raise TagError("MP4 file without a movie atom")
        with open(self.path, "rb") as fh:
            fh.seek(moov.start)
            data = fh.read(moov.size)
        return top, moov, data

    def _chain(self, data: bytes) -> list[Atom]:
        """moov, udta, meta, ilst (as far as they exist) within the movie atom's bytes."""
        chain = [atoms(data, 0, len(data))[0]]
        for name in ITEM_PATH[1:]:
            found = child(data, chain[-1], name)
            if found is None:
                break
            chain.append(found)
        return chain

    def state(self) -> Mp4State:
        _, _, data = self._moov()
        chain = self._chain(data)
        absent = tuple(n.decode() for n in ITEM_PATH[len(chain) :])
        tags = self.f.tags
        values = tuple(tags.get("\xa9gen", [])) if tags is not None else ()
        numeric = tuple(tags.get("gnre", [])) if tags is not None else ()
        raw = b""
        if len(chain) == len(ITEM_PATH):
            ilst = chain[-1]
            raw = b"".join(
                data[a.start : a.end]
                for a in atoms(data, ilst.body, ilst.end)
                if a.name in _GENRE_NAMES
            )
        return Mp4State(values, True, numeric, raw.hex(), absent)

    def get(self, key: str):
        value = self.f.tags.get(key) if self.f.tags is not None else None
        return value[0] if isinstance(value, list) and value else value

    def all_tags(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self.f.tags.items() if self.f.tags is not None else ():
            out[k] = [
                bytes(x).hex() if isinstance(x, (bytes, bytearray)) else repr(x)
                for x in (v if isinstance(v, (list, tuple)) else [v])
            ]
        return out

    def item_atoms(self) -> list[bytes]:
        """The raw bytes of every item atom in ``moov/udta/meta/ilst`` but the genre's, in
        file order."""
        _, _, data = self._moov()
        chain = self._chain(data)
        if len(chain) < len(ITEM_PATH):
            return []
        ilst = chain[-1]
        return [
            data[a.start : a.end]
            for a in atoms(data, ilst.body, ilst.end)
            if a.name not in _GENRE_NAMES
        ]

    # -- writing ---------------------------------------------------------------------------

    def _edited_moov(self, state: Mp4State) -> tuple[Atom, bytes, int] | None:
        """The movie atom with ``state`` as its genre, and how far what follows it moves;
        None where mutagen must make the item list (the file has none)."""
        top, moov, data = self._moov()
        chain = self._chain(data)
        fragmented = any(a.name == b"moof" for a in top)
        if len(chain) < len(ITEM_PATH):
            if fragmented:  # mutagen would add an item list that undo could not take out
                raise TagError(FRAGMENTED)
            return None
        new = bytearray(data)
        ilst = chain[-1]
        items = atoms(data, ilst.body, ilst.end)
        genre = genre_atom(state)
        first = next((a for a in items if a.name in _GENRE_NAMES), None)
        kept = [data[a.start : a.end] for a in items if a.name not in _GENRE_NAMES]
        at = (
            sum(1 for a in items[: items.index(first)] if a.name not in _GENRE_NAMES)
            if first is not None
            else len(kept)
        )
        body = b"".join(kept[:at]) + genre + b"".join(kept[at:])
        undo_created = state.read and state.absent and not kept and not genre
        if undo_created:  # undo of a write that created the item list: remove what it made
            gone = chain[len(ITEM_PATH) - len(state.absent)]
            parent = chain[len(ITEM_PATH) - len(state.absent) - 1]
            delta = -gone.size
            del new[gone.start : gone.end]
            enclosing = chain[: chain.index(parent) + 1]
        else:
            delta = len(body) - (ilst.end - ilst.body)
            new[ilst.body : ilst.end] = body
            _set_size(new, ilst, ilst.size + delta)
            enclosing = chain[:-1]
            pad = next(
                (
                    a
                    for a in atoms(data, chain[2].body, chain[2].end)
                    if a.start == ilst.end and a.name == b"free"
                ),
                None,
            )
            if delta and pad is not None and pad.size - delta >= pad.header:
                start = pad.start + delta  # the free atom, moved by the new item list
                end = start + pad.size
                if delta > 0:  # the item list grew: the free atom gives up its last bytes
                    del new[end - delta : end]
                else:  # it shrank: the free atom takes the room, as zeros
                    new[end:end] = bytes(-delta)
                _set_size(new, Atom(b"free", start, pad.header, pad.size), pad.size - delta)
                delta, enclosing = 0, []
        for a in enclosing:  # outermost first: offsets before the change do not move
            _set_size(new, a, a.size + delta)
        if delta:
            if fragmented:
                raise TagError(FRAGMENTED)
            media = [a for a in top if a.name == b"mdat"]
            if any(a.start > moov.start for a in media):
                _shift_chunk_offsets(new, moov.start, delta)
        return moov, bytes(new), delta

    def make(self, out: BinaryIO, state: Mp4State) -> None:
        edited = self._edited_moov(state)
        if edited is None:
            return super().make(out, state)
        moov, data, _ = edited
        size = os.path.getsize(self.path)
        with open(self.path, "rb") as src:
            copy_span(src, out, 0, moov.start)
            out.write(data)
            copy_span(src, out, moov.end, size)
        self._edited = True

    def edit(self, tmp: Path, state: Mp4State) -> None:
        if not self._edited:
            super().edit(tmp, state)

    def apply(self, f: Any, state: Mp4State) -> None:
        if f.tags is None:
            f.add_tags()
        for key in GENRE_ATOMS:
            f.tags.pop(key, None)
        if state.values:
            f.tags["\xa9gen"] = list(state.values)
        if state.numeric:
            f.tags["gnre"] = list(state.numeric)

    def verify_others(self, after: Container[Mp4State], state: Mp4State) -> None:
        assert isinstance(after, Mp4)
        if self.item_atoms() != after.item_atoms():
            raise TagError("tag check failed: an atom other than the genre would change")
