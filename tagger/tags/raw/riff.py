"""The genre of a WAV file's RIFF ``INFO`` list (``IGNR``), beside its ID3 chunk.

Many tools read only ``INFO`` in a WAV file (ffprobe 5.1 shows no genre from the ``id3 ``
chunk), so genretag writes both. ``IGNR`` holds one text: several genres are joined with
"; ". mutagen's RIFF chunk classes do the moving and resizing; this module only finds the
``LIST``/``INFO`` chunk and its ``IGNR`` entry. An ``INFO`` list genretag emptied is
removed, so undo gives back a file that had none byte for byte.
"""

from __future__ import annotations

from mutagen._riff import RiffFile  # mutagen's own RIFF chunk editing (as mutagen.wave uses)

SEPARATOR = "; "
FIELD = "IGNR"


def _info(riff: RiffFile):
    for chunk in riff.root.subchunks():
        if chunk.id == "LIST" and getattr(chunk, "name", None) == "INFO":
            return chunk
    return None


def read(fileobj) -> str | None:
    """The ``IGNR`` text of an open WAV file, or None when it has none."""
    info = _info(RiffFile(fileobj))
    if info is None or FIELD not in info:
        return None
    return info[FIELD].read().split(b"\0", 1)[0].decode("utf-8", "replace")


def write(fileobj, value: str | None) -> None:
    """Make ``value`` the ``IGNR`` text of an open WAV file (None: no ``IGNR``)."""
    riff = RiffFile(fileobj)
    info = _info(riff)
    if info is None:
        if value is None:
            return
        riff.root.insert_chunk("LIST", b"INFO")
        info = _info(RiffFile(fileobj))  # parsed again: its name is written now
    if value is None:
        if FIELD in info:
            info[FIELD].delete()
        if not info.subchunks():
            info.delete()
        return
    data = value.encode("utf-8") + b"\0"
    if FIELD in info:
        entry = info[FIELD]
        entry.resize(len(data))
        entry.write(data)
    else:
        info.insert_chunk(FIELD, data)
