"""Reading and writing genre tags, safely, with mutagen.

Per format:
- MP3, WAV, AIFF: ID3v2 ``TCON``. ID3v2.4 files get one text value per genre; ID3v2.3 files
  stay v2.3 and get genres joined with "/" (the v2.3 convention); a file with no ID3v2 tag
  (or only ID3v1) gets a v2.4 tag, and an ID3v1 tag that was there is kept in step.
- FLAC, Ogg Vorbis, Opus: one ``GENRE`` Vorbis comment per genre.
- MP4/M4A: ``©gen`` (a numeric ``gnre`` atom counts as a genre too).

Nothing but the genre changes. Every write goes to a temporary copy in the same folder
(hidden, so scans skip it), is re-opened and checked, and then atomically replaces the
original: a crash or kill at any point leaves either the old file or the new one. The file
keeps its permission bits (and owner, where allowed); its mtime becomes the time of the
write, since its content changed, so backup and sync tools notice it.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mutagen
from mutagen.id3 import ID3, TCON
from mutagen.mp4 import MP4, MP4Tags

from .states import Policy



class TagError(Exception):
    """A file whose tags cannot be read or written; the message is one line for the user."""


@dataclass(frozen=True)
class GenreState:
    """Exactly what a file held as genre, enough to put it back byte for byte in meaning.

    ``kind`` is "id3", "vorbis" or "mp4"; ``values`` the raw text values (ID3 TCON text,
    Vorbis comment values, MP4 ©gen); ``keys`` the Vorbis comment keys as spelt in the file;
    ``numeric`` MP4 ``gnre`` numbers.
    """

    kind: str
    values: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    numeric: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        return {"kind": self.kind, "values": list(self.values), "keys": list(self.keys),
                "numeric": list(self.numeric)}

    @classmethod
    def from_dict(cls, d: dict) -> "GenreState":
        return cls(d["kind"], tuple(d["values"]), tuple(d.get("keys", ())),
                   tuple(d.get("numeric", ())))


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


def _state(f: mutagen.FileType) -> GenreState:
    kind, tags = _kind(f), f.tags
    if tags is None:
        return GenreState(kind)
    if kind == "id3":
        values = [v for fr in tags.getall("TCON") for v in fr.text]
        if tags.version[:2] == (2, 3):  # v2.3 joins several genres with "/"
            values = [part for v in values for part in v.split("/")]
        return GenreState(kind, tuple(values))
    if kind == "vorbis":
        pairs = [(k, v) for k, v in tags if k.lower() == "genre"]
        return GenreState(kind, tuple(v for _, v in pairs), tuple(k for k, _ in pairs))
    return GenreState(kind, tuple(tags.get("\xa9gen", [])), (), tuple(tags.get("gnre", [])))


def display(state: GenreState) -> list[str]:
    """The genres a person sees in ``state`` (ID3 "(17)" and MP4 numbers resolved)."""
    if state.kind == "id3":
        return TCON(encoding=3, text=list(state.values)).genres if state.values else []
    out = [v for v in state.values if v.strip()]
    if state.kind == "mp4":  # gnre holds an ID3v1 genre number plus one
        out += [TCON.GENRES[n - 1] for n in state.numeric if 0 < n <= len(TCON.GENRES)]
    return out


def read_state(path: Path) -> GenreState:
    return _state(_open(path))


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


def decide(existing: list[str], proposed: list[str], policy: str) -> list[str] | None:
    """The genres to write under ``policy``, or None when the file should be left alone.

    ``fill`` writes only where there is no genre; ``overwrite`` replaces; ``merge`` appends the
    proposed genres that are not already there (case-insensitively).
    """
    policy = Policy(policy)  # a ValueError for an unknown one
    if not proposed:
        return None
    if policy == Policy.FILL:
        new = None if existing else list(proposed)
    elif policy == Policy.OVERWRITE:
        new = list(proposed)
    else:
        have = {g.casefold() for g in existing}
        new = list(existing) + [g for g in proposed if g.casefold() not in have]
    if new is None or new == list(existing):
        return None
    return new


def _apply(f: mutagen.FileType, state: GenreState) -> dict:
    """Set ``state`` as ``f``'s genre (in memory); return the keyword arguments for save()."""
    kind = _kind(f)
    if f.tags is None:
        f.add_tags()
    tags = f.tags
    if kind == "id3":
        version = 3 if tags.version[:2] == (2, 3) else 4
        tags.delall("TCON")
        if state.values:
            tags.add(TCON(encoding=1 if version == 3 else 3, text=list(state.values)))
        return {"v2_version": version, "v23_sep": "/"}
    if kind == "vorbis":
        kept = [(k, v) for k, v in tags if k.lower() != "genre"]
        keys = state.keys or ("GENRE",) * len(state.values)
        tags.clear()
        tags.extend(kept + list(zip(keys, state.values)))
        return {}
    for key in ("\xa9gen", "gnre"):
        tags.pop(key, None)
    if state.values:
        tags["\xa9gen"] = list(state.values)
    if state.numeric:
        tags["gnre"] = list(state.numeric)
    return {}


def check_writable(path: Path) -> None:
    """Refuse read-only files, even for root, who could otherwise replace them."""
    st = os.stat(path)
    if not st.st_mode & stat.S_IWUSR or not os.access(path, os.W_OK):
        raise TagError("read-only file, not changed")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise TagError("folder is not writable, file not changed")


def write_state(path: Path, state: GenreState) -> None:
    """Make ``state`` the file's genre, atomically (see the module docstring)."""
    path = Path(path)
    check_writable(path)
    before = _open(path)
    expected = display(state)
    st = os.stat(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name[:60]}.", suffix=".genretag.tmp",
                                    dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        f = _open(tmp)
        f.save(**_apply(f, state))
        _verify(tmp, before, expected)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except OSError:
            pass  # only root may give files away; the copy is then ours, as any editor's
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as e:  # KeyboardInterrupt too: never leave a half-made temp file
        tmp.unlink(missing_ok=True)
        if isinstance(e, TagError) or not isinstance(e, Exception):
            raise
        if isinstance(e, PermissionError):
            raise TagError(f"permission denied: {e.strerror}") from None
        raise TagError(f"could not write tags: {e}") from None


def _verify(tmp: Path, before: mutagen.FileType, expected: list[str]) -> None:
    """The edited copy must re-open, hold the expected genre and the same audio."""
    after = _open(tmp)
    got = display(_state(after))
    if got != expected:
        raise TagError(f"tag check failed: wrote {expected}, read back {got}")
    if type(after) is not type(before) or abs(after.info.length - before.info.length) > 0.05:
        raise TagError("tag check failed: the audio changed while writing tags")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_genres(path: Path, genres: list[str]) -> GenreState:
    """Replace the file's genre by ``genres``; returns the state that was there before."""
    previous = read_state(path)
    write_state(path, GenreState(previous.kind, tuple(genres)))
    return previous
