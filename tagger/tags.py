"""Reading and writing genre tags, changing nothing else in the file.

Per format:
- MP3, WAV, AIFF: the ID3v2 genre frame (``TCON``, ``TCO`` in v2.2), spliced into the raw
  tag by ``id3splice``: the tag keeps its version (2.2, 2.3 or 2.4), its flags and every
  other frame byte for byte, including frames mutagen cannot parse. Several genres are one
  frame with NUL-separated values in every version (the form mutagen, beets and Picard read
  back as a list, and one in which "R&B/Soul" stays one genre). An ID3v1 block keeps every
  byte but its genre byte. A file with no ID3v2 tag gets a v2.4 tag holding only the genre.
- FLAC, Ogg Vorbis, Opus: one ``GENRE`` Vorbis comment per genre, where the first one was.
- MP4/M4A: ``©gen`` (a numeric ``gnre`` atom counts as a genre too).
- WAV also gets the RIFF ``INFO`` list's ``IGNR`` (``riffinfo``), for tools that read only
  that; several genres are joined with "; " there.

Every write goes through the safe-write protocol (``safewrite``): a temporary copy in the
same folder, made and edited here and re-opened and checked (genre, audio length, every
other tag) before it atomically replaces the original, which must still be the file that
was copied. A symlink is written through: its target changes, the link stays a link.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import mutagen
from mutagen.id3 import ID3, TCON
from mutagen.mp4 import MP4, MP4Tags

from . import id3splice, riffinfo, safewrite
from .albums import AlbumInfo
from .states import Policy

CHANGED = safewrite.CHANGED


class TagError(safewrite.WriteError):
    """A file whose tags cannot be read or written; the message is one line for the user."""


@dataclass(frozen=True)
class GenreState:
    """Exactly what a file held as genre, enough to put it back.

    ``kind`` is "id3", "vorbis" or "mp4"; ``values`` the raw text values (ID3 genre frame,
    Vorbis comment values, MP4 ©gen); ``keys`` the Vorbis comment keys as spelt in the file;
    ``numeric`` MP4 ``gnre`` numbers. For ID3: ``frame`` the genre frame's exact bytes (hex),
    ``v1`` the ID3v1 genre byte where there is an ID3v1 block, ``tagless`` when the file had
    no ID3v2 tag at all, ``tag_size`` the tag's size (undo shrinks a tag a write had to
    grow); for WAV, ``ignr`` the RIFF INFO genre text. ``read`` marks a state read from a
    file: writing it puts all of that back. A state made to be written has ``read`` False
    and leaves them empty (its IGNR is its genres, joined).
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


def _open(path: Path) -> mutagen.FileType:
    try:
        f = mutagen.File(path)
    except Exception as e:
        raise TagError(f"cannot read tags: {e}") from None
    if f is None:
        raise TagError("not a format genretag can tag")
    return f


def _kind(f: mutagen.FileType) -> str:
    if isinstance(f, MP4):
        return "mp4"
    if isinstance(f.tags, ID3) or type(f).__name__ in ("MP3", "WAVE", "AIFF", "EasyMP3"):
        return "id3"
    if hasattr(f, "add_tags") and type(f).__name__ in (
            "FLAC", "OggVorbis", "OggOpus", "OggFLAC", "OggSpeex", "OggTheora"):
        return "vorbis"
    raise TagError(f"genre tags are not supported for {type(f).__name__} files")


def _is_mp3(f: mutagen.FileType) -> bool:
    """An ID3 file whose tag sits at its start (and whose ID3v1 block, if any, at its end),
    rather than in a chunk (WAV, AIFF)."""
    return type(f).__name__ in ("MP3", "EasyMP3")


def _raw_tag(f: mutagen.FileType, path: Path) -> bytes | None:
    """The raw ID3v2 tag (header to padding) of ``path``, or None when it has none."""
    with open(path, "rb") as fh:
        if not _is_mp3(f):
            if f.tags is None:
                return None
            f.tags._pre_load_header(fh)  # mutagen's own way to the ID3 chunk of a WAV/AIFF
        head = fh.read(id3splice.HEADER_SIZE)
        size = id3splice.tag_size(head)
        return head + fh.read(size - len(head)) if size else None


def _v1_block(f: mutagen.FileType, path: Path) -> bytes | None:
    if not _is_mp3(f):
        return None
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() < id3splice.V1_SIZE:
            return None
        fh.seek(-id3splice.V1_SIZE, os.SEEK_END)
        block = fh.read(id3splice.V1_SIZE)
    return block if id3splice.v1_genre(block) is not None else None


def _parse(raw: bytes) -> id3splice.RawTag:
    try:
        return id3splice.parse(raw)
    except id3splice.SpliceError as e:
        raise TagError(str(e)) from None


def _is_wave(f: mutagen.FileType) -> bool:
    return type(f).__name__ == "WAVE"


def _ignr(f: mutagen.FileType, path: Path) -> str | None:
    if not _is_wave(f):
        return None
    with open(path, "rb") as fh:
        return riffinfo.read(fh)


def _id3_state(f: mutagen.FileType, path: Path) -> GenreState:
    v1_block = _v1_block(f, path)
    v1 = id3splice.v1_genre(v1_block) if v1_block else None
    ignr = _ignr(f, path)
    raw = _raw_tag(f, path)
    if raw is None:
        return GenreState("id3", v1=v1, tagless=True, ignr=ignr, read=True)
    frames = _parse(raw).genre_frames()
    if not frames:
        return GenreState("id3", v1=v1, tag_size=len(raw), ignr=ignr, read=True)
    # the text as mutagen decodes it, from the v2 tag alone (not merged with ID3v1)
    tags = ID3(path, load_v1=False) if _is_mp3(f) else f.tags
    values = tuple(v for fr in tags.getall("TCON") for v in fr.text)
    return GenreState("id3", values, frame=frames[0].hex(), v1=v1, tag_size=len(raw),
                      ignr=ignr, read=True)


def _state(f: mutagen.FileType, path: Path) -> GenreState:
    kind, tags = _kind(f), f.tags
    if kind == "id3":
        return _id3_state(f, path)
    if tags is None:
        return GenreState(kind)
    if kind == "vorbis":
        pairs = [(k, v) for k, v in tags if k.lower() == "genre"]
        return GenreState(kind, tuple(v for _, v in pairs), tuple(k for k, _ in pairs))
    return GenreState(kind, tuple(tags.get("\xa9gen", [])), (), tuple(tags.get("gnre", [])))


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


def read_state(path: Path) -> GenreState:
    path = Path(path)
    return _state(_open(path), path)


@dataclass(frozen=True)
class TrackTags:
    """What a scan reads from a file's tags, in one opening: its genre, its album and its
    length (seconds, 0 when the headers do not say)."""

    state: GenreState
    album: AlbumInfo
    duration: float


# album, album artist, artist, compilation flag, per tag format
_ALBUM_KEYS = {"id3": ("TALB", "TPE2", "TPE1", "TCMP"),
               "vorbis": ("album", "albumartist", "artist", "compilation"),
               "mp4": ("\xa9alb", "aART", "\xa9ART", "cpil")}


def _album(f: mutagen.FileType) -> AlbumInfo:
    tags = f.tags
    if tags is None:
        return AlbumInfo()
    kind = _kind(f)
    keys = _ALBUM_KEYS[kind]
    if kind == "vorbis":
        values = {}
        for k, v in tags:
            values.setdefault(k.lower().replace(" ", ""), v)
        get = values.get
    elif kind == "id3":
        def get(key):
            frame = tags.get(key)
            return str(frame.text[0]) if frame is not None and frame.text else None
    else:
        def get(key):
            value = tags.get(key)
            return value[0] if isinstance(value, list) and value else value
    album, album_artist, artist, flag = (get(k) for k in keys)
    return AlbumInfo(str(album or ""), str(album_artist or ""), str(artist or ""),
                     str(flag).strip().lower() in ("1", "true", "yes"))


def read_track(path: Path) -> TrackTags:
    path = Path(path)
    f = _open(path)
    length = getattr(f.info, "length", 0.0) or 0.0
    return TrackTags(_state(f, path), _album(f), float(length))


def read_genres(path: Path) -> list[str]:
    return display(read_state(path))


def read_all_tags(path: Path) -> dict[str, list[str]]:
    """Every tag as text, keyed by frame/field name (for comparing before and after)."""
    f = _open(path)
    out: dict[str, list[str]] = {}
    if f.tags is None:
        return out
    if isinstance(f.tags, ID3):
        for frame in f.tags.values():
            out.setdefault(frame.HashKey, []).append(repr(frame) if not hasattr(frame, "data")
                                                     else f"{frame.HashKey}:{frame.data.hex()}")
    elif isinstance(f.tags, MP4Tags):
        for k, v in f.tags.items():
            out[k] = [bytes(x).hex() if isinstance(x, (bytes, bytearray)) else repr(x) for x in v]
    else:
        for k, v in f.tags:
            out.setdefault(k.upper(), []).append(v)
    if hasattr(f, "pictures"):  # FLAC picture blocks live outside the comments
        out["__pictures__"] = [p.data.hex() for p in f.pictures]
    return out


GENRE_KEYS = ("TCON", "GENRE", "\xa9gen", "gnre")


def decide(existing: list[str], proposed: list[str], policy: str,
           mine: frozenset[str] = frozenset()) -> list[str] | None:
    """The genres to write under ``policy``, or None when the file should be left alone.

    ``mine``: the genres in ``existing`` (case-folded) that genretag added itself and nobody
    changed since (``own_genres``). Those follow the new verdict under every policy; the
    others are the user's, and only ``overwrite`` removes them:

    - ``fill`` writes where the file holds no genre of the user's; where it holds some
      beside genretag's own, it keeps the user's and replaces genretag's;
    - ``merge`` keeps the user's genres and puts the proposed ones after them;
    - ``overwrite`` replaces every genre.
    """
    policy = Policy(policy)  # a ValueError for an unknown one
    if not proposed:
        return None
    users = [g for g in existing if g.casefold() not in mine]
    if policy == Policy.OVERWRITE:
        new = list(proposed)
    elif policy == Policy.FILL and users and len(users) == len(existing):
        new = None  # only the user's genres: fill leaves them alone
    else:
        have = {g.casefold() for g in users}
        new = users + [g for g in proposed if g.casefold() not in have]
    if new is None or new == list(existing):
        return None
    return new


def own_genres(writes: list[tuple[list[str], list[str]]], current: list[str]) -> frozenset[str]:
    """Which of ``current`` (case-folded) genretag added itself, from its history of writes
    to the file (``(genres before, genres after)``, oldest first): a genre a write added,
    and that every later write found and kept. A genre the user added, removed or put back
    between writes, or that was there before genretag's first write, is the user's."""
    mine: set[str] = set()
    for before, after in writes:
        b, a = {g.casefold() for g in before}, {g.casefold() for g in after}
        mine = (mine & b & a) | (a - b)
    return frozenset(mine & {g.casefold() for g in current})


# -- writing -----------------------------------------------------------------------------

def _v1_byte(state: GenreState) -> int:
    """The ID3v1 genre byte for ``state``: what the file had, when undo restores it; else
    the first genre's ID3v1 number, or "none"."""
    if state.v1 is not None:
        return state.v1
    folded = [g.casefold() for g in TCON.GENRES]
    for genre in display(state):
        if genre.casefold() in folded:
            return folded.index(genre.casefold())
    return id3splice.V1_NO_GENRE


def _spliced(raw: bytes | None, state: GenreState) -> bytes | None:
    """The raw ID3v2 tag with ``state`` as its genre; None when the file should have none
    (undo of a file that had no ID3v2 tag, and whose tag now holds nothing else)."""
    tag = _parse(raw) if raw else id3splice.new_tag()
    frame = bytes.fromhex(state.frame) if state.frame else None
    if frame is None or not tag.is_genre(frame):
        frame = id3splice.genre_frame(tag.major, list(state.values)) if state.values else None
    new = id3splice.with_genre(tag, frame)
    if not new.frames and (state.tagless or raw is None):
        return None
    if state.tag_size:  # undo: the size the tag had, where its frames fit
        new = replace(new, size=state.tag_size)
    return id3splice.render(new)


def _write_mp3(src_path: Path, out, f: mutagen.FileType, state: GenreState) -> None:
    """Write ``src_path`` to ``out`` with a new ID3v2 tag and ID3v1 genre byte; every other
    byte (audio, APE tags, the rest of the ID3v1 block) is copied as it is."""
    raw = _raw_tag(f, src_path)
    v1 = _v1_block(f, src_path)
    tag = _spliced(raw, state)
    size = os.path.getsize(src_path)
    with open(src_path, "rb") as src:
        src.seek(len(raw) if raw else 0)
        out.write(tag or b"")
        remaining = size - src.tell() - (len(v1) if v1 else 0)
        while remaining > 0:
            chunk = src.read(min(remaining, 1 << 20))
            if not chunk:
                raise TagError("file shrank while it was being copied")
            out.write(chunk)
            remaining -= len(chunk)
        if v1:
            out.write(id3splice.with_v1_genre(v1, _v1_byte(state)))


def _write_chunked_id3(tmp: Path, state: GenreState) -> None:
    """WAV/AIFF: mutagen moves and resizes the ID3 chunk; the tag inside it is ours."""
    f = _open(tmp)
    tag = _spliced(_raw_tag(f, tmp), state)
    if tag is None:
        f.delete()
    else:
        if f.tags is None:
            f.add_tags()
        f.tags._prepare_data = lambda *args, **kwargs: tag  # mutagen's hook for the tag bytes
        f.save()
    if _is_wave(f):
        with open(tmp, "r+b") as fh:
            riffinfo.write(fh, state.info_genre())


def _apply(f: mutagen.FileType, state: GenreState) -> None:
    """Set ``state`` as the genre of a Vorbis-comment or MP4 file (in memory)."""
    if f.tags is None:
        f.add_tags()
    tags = f.tags
    if _kind(f) == "vorbis":
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
        return
    for key in ("\xa9gen", "gnre"):
        tags.pop(key, None)
    if state.values:
        tags["\xa9gen"] = list(state.values)
    if state.numeric:
        tags["gnre"] = list(state.numeric)


def write_state(path: Path, state: GenreState, expect: GenreState | None = None) -> None:
    """Make ``state`` the file's genre, atomically (``safewrite.replace``): the new file is
    made from the original, edited and checked (``_verify``) before it takes the
    original's place. With ``expect``, the file's genre must still be that, else nothing
    is written."""
    target = Path(os.path.realpath(path))  # a symlink is written through to its target
    try:
        safewrite.check_writable(target)
    except safewrite.WriteError as e:
        raise TagError(str(e)) from None
    before = _open(target)
    if expect is not None and _state(before, target) != expect:
        raise TagError(CHANGED)
    kind, mp3 = _kind(before), _is_mp3(before)

    def make(out) -> None:
        if kind == "id3" and mp3:  # a new tag, then the rest of the file as it is
            _write_mp3(target, out, before, state)
        else:
            with open(target, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)

    def edit(tmp: Path) -> None:
        if kind == "id3" and not mp3:
            _write_chunked_id3(tmp, state)
        elif kind != "id3":
            f = _open(tmp)
            _apply(f, state)
            f.save()
        _verify(target, tmp, before, state)

    try:
        safewrite.replace(target, make, edit)
    except safewrite.WriteError as e:
        raise e if isinstance(e, TagError) else TagError(str(e)) from None


def _verify(original: Path, tmp: Path, before: mutagen.FileType, state: GenreState) -> None:
    """The edited copy must re-open, hold the expected genre, the same audio and the same
    other tags; ID3 tags are compared frame by frame as raw bytes."""
    after = _open(tmp)
    expected, got = display(state), display(_state(after, tmp))
    if got != expected:
        raise TagError(f"tag check failed: wrote {expected}, read back {got}")
    if type(after) is not type(before) or abs(after.info.length - before.info.length) > 0.05:
        raise TagError("tag check failed: the audio changed while writing tags")
    if _kind(before) == "id3":
        old, new = _raw_tag(before, original), _raw_tag(after, tmp)
        old_frames = _parse(old).other_frames() if old else []
        new_frames = _parse(new).other_frames() if new else []
        if old_frames != new_frames:
            raise TagError("tag check failed: a frame other than the genre would change")
        v1_old, v1_new = _v1_block(before, original), _v1_block(after, tmp)
        if (v1_old or b"")[:127] != (v1_new or b"")[:127]:
            raise TagError("tag check failed: the ID3v1 tag would change beyond its genre")
        if _is_wave(after) and _ignr(after, tmp) != state.info_genre():
            raise TagError("tag check failed: the WAV INFO genre did not read back")
        return
    others_before = {k: v for k, v in read_all_tags(original).items() if k not in GENRE_KEYS}
    others_after = {k: v for k, v in read_all_tags(tmp).items() if k not in GENRE_KEYS}
    if others_before != others_after:
        raise TagError("tag check failed: a tag other than the genre would change")


def write_genres(path: Path, genres: list[str]) -> GenreState:
    """Replace the file's genre by ``genres``; returns the state that was there before."""
    previous = read_state(path)
    write_state(path, GenreState(previous.kind, tuple(genres)), expect=previous)
    return previous


