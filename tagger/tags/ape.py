"""APEv2 tags (Monkey's Audio, WavPack, Musepack, TAK, OptimFROG): one ``Genre`` text item
holding every genre, separated by NUL (as mutagen and beets read a list), edited as raw
bytes by ``apesplice``: it takes the old genre item's place, every other item keeps its
bytes and its order. A file without an APEv2 tag gets one at its end (before an ID3v1
block), which undo removes again."""

from __future__ import annotations

import os
from typing import Any, BinaryIO

import mutagen
from mutagen.apev2 import APEv2File

from genretag.tags.base import Container, copy_span
from genretag.tags.raw import ape as apesplice
from genretag.tags.state import ApeState, TagError


def _locate(path) -> apesplice.RawApe | None:
    try:
        with open(path, "rb") as fh:
            return apesplice.locate(fh)
    except apesplice.SpliceError as e:
        raise TagError(str(e)) from None


class Ape(Container[ApeState]):
    kind = "ape"
    ALBUM_KEYS = ("album", "album artist", "artist", "compilation")
    GENRE_KEYS = (apesplice.GENRE_KEY.upper(),)

    @staticmethod
    def matches(f: mutagen.FileType) -> bool:
        return isinstance(f, APEv2File)

    def describe(self) -> str:
        raw = _locate(self.path)
        return f"{'APEv2 tag' if raw else 'no APEv2 tag'} in {type(self.f).__name__}"

    def state(self) -> ApeState:
        raw = _locate(self.path)
        if raw is None:
            return ApeState((), True, tagless=True)
        genre = [item for item in raw.items if apesplice.is_genre(item)]
        values = tuple(v for item in genre for v in apesplice.text_values(item))
        return ApeState(values, True, b"".join(genre).hex())

    def get(self, key: str):
        value = self.f.tags.get(key) if self.f.tags is not None else None
        return str(value).split("\0")[0] if value is not None else None

    def all_tags(self) -> dict[str, list[str]]:
        raw = _locate(self.path)
        out: dict[str, list[str]] = {}
        for item in raw.items if raw else ():
            out.setdefault(apesplice.key_of(item).upper(), []).append(item.hex())
        return out

    def make(self, out: BinaryIO, state: ApeState) -> None:
        raw = _locate(self.path)
        items = list(raw.items) if raw else []
        first = next((i for i, item in enumerate(items) if apesplice.is_genre(item)), None)
        kept = [item for item in items if not apesplice.is_genre(item)]
        at = (
            len(kept)
            if first is None
            else sum(1 for item in items[:first] if not apesplice.is_genre(item))
        )
        if state.read and state.item:
            genre = [bytes.fromhex(state.item)]  # undo: the item as it was, byte for byte
        else:
            genre = [apesplice.genre_item(list(state.values))] if state.values else []
        new = kept[:at] + genre + kept[at:]
        if not new and (raw is None or (state.read and state.tagless)):
            tag = b""  # no tag before, none now (undo of a file that had none)
        else:
            tag = apesplice.render(raw, new)
        size = os.path.getsize(self.path)
        with open(self.path, "rb") as src:
            start = raw.start if raw else apesplice.audio_end(src)
            end = raw.end if raw else start
            copy_span(src, out, 0, start)
            out.write(tag)
            copy_span(src, out, end, size)

    def edit(self, tmp, state: ApeState) -> None:
        """``make`` wrote the copy's tag."""

    def apply(self, f: Any, state: ApeState) -> None:
        raise NotImplementedError("make writes APEv2 tags as raw bytes")
