"""The safe-write protocol: a file is replaced by an edited copy of itself, atomically,
or not at all. It knows nothing of tags: ``tags`` says how the copy is made and edited.

1. The copy is a hidden temporary file in the same folder (``.NAME.XXXXXXXX.genretag.tmp``,
   the name cut to a number of bytes), locked (``flock``) while this process uses it, so a
   scan cleans up only the leftovers of crashed writes (``remove_leftover``).
2. It is made, edited and checked by the caller; then synced to disk, and given the
   original's mode, owner (where allowed) and extended attributes.
3. Just before the replace, the original must still be the file that was copied (device,
   inode, size, mtime and ctime): another program's edit meanwhile stops the write.
4. ``os.replace`` puts it in the original's place, and the folder is synced: a crash or
   kill at any point leaves either the old file or the new one.

Read-only files, unwritable folders and files with several hard links are refused
(``check_writable``): replacing a hard-linked file would split its links.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: leftovers are told apart by age alone
    fcntl = None  # type: ignore[assignment]


TEMP_SUFFIX = ".genretag.tmp"
TEMP_NAME_BYTES = 120  # of the file's own name inside a temporary name (names: 255 bytes)
LEFTOVER_AGE = 3600  # seconds; only where no lock can say whether a writer is alive
_TEMP_NAME = re.compile(r"\..*\.[A-Za-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + r"\Z", re.S)
CHANGED = "changed by another program while genretag was writing it; not changed (run again)"


class WriteError(Exception):
    """A write that did not happen; the message is one line for the user."""


def replace(target: Path, make: Callable[[BinaryIO], None], edit: Callable[[Path], None]) -> None:
    """Replace ``target`` (a real path, not a link) by a copy that ``make`` writes (given
    the open temporary file) and ``edit`` then edits and checks in place (given its path;
    raising stops the write). Nothing is left behind when it fails, also on Ctrl-C."""
    st = os.stat(target)
    fd, tmp = temp_file(target)
    try:
        with os.fdopen(os.dup(fd), "wb") as out:
            make(out)
        edit(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        keep_attributes(st, target, tmp)
        if identity(os.stat(target)) != identity(st):
            raise WriteError(CHANGED)
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException as e:  # KeyboardInterrupt too: never leave a half-made temp file
        tmp.unlink(missing_ok=True)
        if isinstance(e, WriteError) or not isinstance(e, Exception):
            raise
        if isinstance(e, PermissionError):
            raise WriteError(f"permission denied: {e.strerror}") from None
        raise WriteError(f"could not write tags: {e}") from None
    finally:
        os.close(fd)


def check_writable(path: Path) -> None:
    """Refuse read-only files, even for root, who could otherwise replace them."""
    st = os.stat(path)
    if not st.st_mode & stat.S_IWUSR or not os.access(path, os.W_OK):
        raise WriteError("read-only file, not changed")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise WriteError("folder is not writable, file not changed")
    if st.st_nlink > 1:
        raise WriteError(
            f"file has {st.st_nlink} hard links; not changed (replacing it would "
            "split them: give each link its own copy first)"
        )


def identity(st: os.stat_result) -> tuple:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def temp_file(target: Path) -> tuple[int, Path]:
    """A new hidden temporary file beside ``target``, locked while this process uses it."""
    stem = target.name
    while len(os.fsencode(stem)) > TEMP_NAME_BYTES:  # the name's bytes, not its characters
        stem = stem[:-1]
    fd, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=TEMP_SUFFIX, dir=target.parent)
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held until the fd closes: a cleaner leaves it alone
    return fd, Path(name)


def keep_attributes(st: os.stat_result, target: Path, tmp: Path) -> None:
    """Mode, owner (where allowed) and extended attributes pass to the new file."""
    os.chmod(tmp, stat.S_IMODE(st.st_mode))
    # only root may give files away; the copy is then ours, as any editor's
    with contextlib.suppress(OSError):
        os.chown(tmp, st.st_uid, st.st_gid)
    if not hasattr(os, "listxattr"):
        return
    try:
        names = os.listxattr(target)
    except OSError:
        return  # a file system without extended attributes
    for name in names:
        try:
            os.setxattr(tmp, name, os.getxattr(target, name))
        except OSError as e:
            if name.startswith("user."):  # the user's own: keep it or write nothing
                raise WriteError(
                    f"cannot keep extended attribute {name} ({e.strerror or e}); not changed"
                ) from None
            # security.* and system.* are the system's to set (SELinux labels, ACLs)


def fsync_dir(folder: Path) -> None:
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


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one genretag gives its temporary files."""
    return bool(_TEMP_NAME.match(name))


def remove_leftover(path: Path) -> bool:
    """Remove a temporary file of genretag's that no running write holds (a crash left
    it); returns whether it was removed."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return False
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # a write in progress, in this process or another
        elif time.time() - st.st_mtime < LEFTOVER_AGE:
            return False
        os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
