"""Finding the audio files under the folders a person names.

Recursive, sorted, and safe on odd trees: hidden files and folders and macOS ``._*``
AppleDouble files are skipped, symlinks are followed but every real folder and file is
visited once (so a symlink loop ends, and a track linked twice is tagged once), broken and
self-referencing links are listed as skipped, and a folder that cannot be read is reported
rather than fatal. The temporary files a crashed write left behind are collected, so the
scan can remove them (``library.safewrite.remove_leftover``); nothing else hidden is touched.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from genretag.library.formats import MAGIC, SKIPPED_EXTENSIONS, TAGGED_EXTENSIONS
from genretag.library.safewrite import is_temp_name

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0 and C1 control characters
# a byte of a file name that is not UTF-8, as os.fsdecode gives it (a surrogate escape)
NOT_UTF8 = re.compile("[\udc80-\udcff]")


def sniff(head: bytes) -> str | None:
    """The audio container a file's first bytes (16 or more) announce, or None."""
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mp3"  # an MPEG audio frame sync (also ADTS AAC, which ffmpeg decodes too)
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[4:8] == b"ftyp":
        return "mp4"
    return None


@dataclass
class Walk:
    """What a walk found: audio files in order, and what it skipped or could not read."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)
    leftovers: list[Path] = field(default_factory=list)  # genretag's own temporary files


def resolve(path: str | Path) -> str:
    """A named path as scan records it and undo looks it up: absolute, with symlinks
    resolved, so a library scanned through a symlinked folder is undone by its real path
    and the other way round."""
    return os.path.realpath(os.path.abspath(path))


EMPTY = "empty file (0 bytes)"  # what a file of no bytes is, whoever opens it


def printable(path: str | Path) -> str:
    """A path as a person reads it, on one line: each byte of a name that is not UTF-8 as
    ``\\xNN`` (``Caf\\xe9 Blues.mp3``), control characters such as a newline escaped
    (``\\n``), everything else as it is. For showing only: the path itself stays as found."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: repr(m[0])[1:-1], text)


def what_it_is(st: os.stat_result) -> str:
    """A file that is neither a folder nor a regular file, in words."""
    for test, name in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(st.st_mode):
            return f"{name}, not an audio file"
    return "not a regular file"


def _is_audio(path: Path) -> bool:
    if path.suffix.lower() in TAGGED_EXTENSIONS:
        return True  # trust the name; a file that is not really audio is reported on decode
    try:
        with open(path, "rb") as f:
            return sniff(f.read(16)) is not None
    except OSError:
        return False


def find_audio(paths: Iterable[Path]) -> Walk:
    """Walk ``paths`` (files or folders) and return the audio files under them."""
    found = Walk()
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()

    def visit_file(path: Path, st: os.stat_result, named: bool) -> None:
        key = (st.st_dev, st.st_ino)
        if key in seen_files:
            found.skipped.append((path, "same file as one already found (link)"))
            return
        untagged = SKIPPED_EXTENSIONS.get(path.suffix.lower())
        if untagged is not None:
            found.skipped.append((path, untagged))
        elif named or _is_audio(path):
            seen_files.add(key)
            found.files.append(path)

    def visit_dir(path: Path) -> None:
        try:
            st = path.stat()
        except OSError as e:
            found.errors.append((path, e.strerror or str(e)))
            return
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            found.skipped.append((path, "folder already visited (symlink loop or second link)"))
            return
        seen_dirs.add(key)
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as e:
            found.errors.append((path, f"cannot read folder: {e.strerror or e}"))
            return
        for entry in entries:
            child = Path(entry.path)
            if entry.name.startswith("._"):
                found.skipped.append((child, "macOS AppleDouble file"))
                continue
            if entry.name.startswith("."):
                if is_temp_name(entry.name):
                    found.leftovers.append(child)
                continue  # hidden files and folders
            try:
                cst = child.stat()  # follows symlinks
            except OSError as e:
                if entry.is_symlink():
                    found.skipped.append((child, f"broken or looping symlink ({e.strerror or e})"))
                else:
                    found.errors.append((child, f"unreadable: {e.strerror or e}"))
                continue
            if stat.S_ISDIR(cst.st_mode):
                visit_dir(child)
            elif stat.S_ISREG(cst.st_mode):
                visit_file(child, cst, named=False)

    for p in paths:
        p = Path(resolve(p))
        try:
            st = p.stat()
        except OSError as e:
            found.errors.append(
                (
                    p,
                    "no such file or folder"
                    if isinstance(e, FileNotFoundError)
                    else f"unreadable: {e.strerror or e}",
                )
            )
            continue
        if stat.S_ISDIR(st.st_mode):
            visit_dir(p)
        elif stat.S_ISREG(st.st_mode):
            visit_file(p, st, named=True)
        else:
            found.errors.append((p, what_it_is(st)))
    return found
