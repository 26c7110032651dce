"""Raw tag structures, read straight from the bytes (not through mutagen, which normalises
on load and would hide a loss): ID3v2 frames, the ID3v1 block, FLAC metadata blocks, MP4
``ilst`` items. Written for the tests, independently of genretag's own ``id3splice``."""

from __future__ import annotations

from pathlib import Path


def _syncsafe(b: bytes) -> int:
    return b[0] << 21 | b[1] << 14 | b[2] << 7 | b[3]


def id3_tag(data: bytes) -> bytes:
    """The whole ID3v2 tag at the start of ``data`` (b"" if none)."""
    return data[: 10 + _syncsafe(data[6:10])] if data[:3] == b"ID3" else b""


def id3_frames(data: bytes) -> list[bytes]:
    """Every frame (header and body, exactly as stored) of the ID3v2 tag ``data`` starts."""
    tag = id3_tag(data)
    major, body = tag[3], tag[10:]
    head, id_len = (6, 3) if major == 2 else (10, 4)
    frames, pos = [], 0
    while pos + head <= len(body) and body[pos] != 0:
        raw = body[pos + id_len : pos + id_len + (3 if major == 2 else 4)]
        size = _syncsafe(raw) if major == 4 else int.from_bytes(raw, "big")
        frames.append(body[pos : pos + head + size])
        pos += head + size
    return frames


def frame_ids(frames: list[bytes], major: int) -> list[str]:
    return [f[: 3 if major == 2 else 4].decode() for f in frames]


def id3v1(data: bytes) -> bytes:
    return data[-128:] if data[-128:-125] == b"TAG" else b""


def flac_blocks(path: Path) -> list[tuple[int, bytes]]:
    """(type, body) of every FLAC metadata block, in order."""
    data = Path(path).read_bytes()
    assert data[:4] == b"fLaC"
    pos, out = 4, []
    while True:
        head = data[pos]
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        out.append((head & 0x7F, data[pos + 4 : pos + 4 + size]))
        pos += 4 + size
        if head & 0x80:
            return out


def vorbis_comments(body: bytes) -> tuple[bytes, list[bytes]]:
    """The vendor string and the comments of a VORBIS_COMMENT block body."""
    n = int.from_bytes(body[:4], "little")
    vendor, pos = body[4 : 4 + n], 4 + n
    count, pos = int.from_bytes(body[pos : pos + 4], "little"), pos + 4
    comments = []
    for _ in range(count):
        n = int.from_bytes(body[pos : pos + 4], "little")
        comments.append(body[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return vendor, comments


def _atoms(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos : pos + 4], "big")
        name = data[pos + 4 : pos + 8]
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:
            return
        yield name, pos, pos + size
        pos += size


def mp4_items(path: Path) -> list[bytes]:
    """Every item atom (name, data atoms and all) inside moov/udta/meta/ilst, in order."""
    data = Path(path).read_bytes()

    def child(start: int, end: int, name: bytes, skip: int = 0):
        for n, s, e in _atoms(data, start, end):
            if n == name:
                return s + 8 + skip, e
        raise AssertionError(f"no {name!r} atom")

    span = (0, len(data))
    for name, skip in ((b"moov", 0), (b"udta", 0), (b"meta", 4), (b"ilst", 0)):
        span = child(*span, name, skip)
    return [data[s:e] for _, s, e in _atoms(data, *span)]


def ape_tag(data: bytes) -> tuple[dict[str, int], list[bytes], bytes | None] | None:
    """The APEv2 tag that ends ``data`` (before an ID3v1 block): the footer's fields
    (version, size, count, flags), every item exactly as stored (flags, key and value), and
    the header as stored (None without one); None without a tag."""
    import struct

    end = len(data) - (128 if data[-128:-125] == b"TAG" else 0)
    footer = data[end - 32 : end]
    if footer[:8] != b"APETAGEX":
        return None
    version, size, count, flags = struct.unpack("<4I", footer[8:24])
    start = end - size  # the size counts the items and the footer, not the header
    body = data[start : end - 32]
    items, pos = [], 0
    for _ in range(count):
        length = int.from_bytes(body[pos : pos + 4], "little")
        key_end = body.index(b"\0", pos + 8)
        items.append(body[pos : key_end + 1 + length])
        pos = key_end + 1 + length
    assert pos == len(body), "the items do not fill the tag the footer says"
    header = data[start - 32 : start] if data[start - 32 : start - 24] == b"APETAGEX" else None
    fields = {"version": version, "size": size, "count": count, "flags": flags}
    return fields, items, header


def ape_key(item: bytes) -> str:
    return item[8 : item.index(b"\0", 8)].decode("ascii")


ASF_HEADER = "75B22630-668E-11CF-A6D9-00AA0062CE6C"
ASF_FILE_PROPERTIES = "8CABDCA1-A947-11CF-8EE4-00C00C205365"
ASF_EXTENDED_CONTENT = "D2D0A440-E307-11D2-97F0-00A0C95EA850"


def _guid(text: str) -> bytes:
    import uuid

    return uuid.UUID(text).bytes_le


def asf_header(data: bytes) -> tuple[int, int, list[tuple[bytes, bytes]]]:
    """The ASF header object's size and object count fields, and its child objects (GUID,
    the whole object as stored), checking that the sizes walk the header exactly."""
    assert data[:16] == _guid(ASF_HEADER)
    size = int.from_bytes(data[16:24], "little")
    count = int.from_bytes(data[24:28], "little")
    children, pos = [], 30
    while pos < size:
        child_size = int.from_bytes(data[pos + 16 : pos + 24], "little")
        children.append((data[pos : pos + 16], data[pos : pos + child_size]))
        pos += child_size
    assert pos == size, "the child objects do not fill the header its size says"
    return size, count, children


def asf_descriptors(extended: bytes) -> list[bytes]:
    """Every descriptor of an Extended Content Description object, exactly as stored."""
    count = int.from_bytes(extended[24:26], "little")
    out, pos = [], 26
    for _ in range(count):
        name = int.from_bytes(extended[pos : pos + 2], "little")
        value = int.from_bytes(extended[pos + 4 + name : pos + 6 + name], "little")
        out.append(extended[pos : pos + 6 + name + value])
        pos += 6 + name + value
    assert pos == len(extended), "the descriptors do not fill the object its size says"
    return out


def asf_descriptor_name(descriptor: bytes) -> str:
    name = int.from_bytes(descriptor[:2], "little")
    return descriptor[2 : 2 + name].decode("utf-16-le").rstrip("\0")


def iff_chunks(data: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    """A RIFF (WAV, little-endian sizes) or FORM (AIFF, big-endian) file: its size field
    and every top-level chunk (id, whole chunk with its pad byte), which must fill it."""
    order = "little" if data[:4] == b"RIFF" else "big"
    assert data[:4] in (b"RIFF", b"FORM")
    total = int.from_bytes(data[4:8], order)
    chunks, pos = [], 12
    while pos < 8 + total:
        size = int.from_bytes(data[pos + 4 : pos + 8], order)
        whole = 8 + size + (size & 1)
        chunks.append((data[pos : pos + 4], data[pos : pos + whole]))
        pos += whole
    assert pos == 8 + total == len(data), "the chunks do not fill the file its size says"
    return total, chunks


def ogg_packets(data: bytes) -> list[bytes]:
    """Every packet of an Ogg file's (single) logical stream, reassembled from its pages'
    lacing values, checking the pages walk the file."""
    packets, partial, pos = [], b"", 0
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS", "not an Ogg page"
        segments = data[pos + 26]
        lacing = data[pos + 27 : pos + 27 + segments]
        body = pos + 27 + segments
        for value in lacing:
            partial += data[body : body + value]
            body += value
            if value < 255:
                packets.append(partial)
                partial = b""
        pos = body
    return packets


GENRE_KEYS = {"genre", "wm/genre", "wm/genreid"}


def only_the_genre_changed(before: bytes, after: bytes, suffix: str) -> None:
    """Assert, from the raw bytes, that a write changed the genre and nothing else of what
    the format family stores beside it: every other APEv2 item (and the tag's version,
    flags and header), ASF header object and descriptor (with every size field true), RIFF
    or AIFF chunk, and Ogg packet but the comment header."""
    if before[:4] == b"OggS":
        old, new = ogg_packets(before), ogg_packets(after)
        assert len(old) == len(new) and old[0] == new[0] and old[2:] == new[2:]
        return
    if before[:4] in (b"RIFF", b"FORM"):
        tag_chunks = {b"id3 ", b"ID3 ", b"LIST"}
        _, old = iff_chunks(before)  # (each checks its size field against the file)
        _, new = iff_chunks(after)
        assert [c for i, c in old if i not in tag_chunks] == [
            c for i, c in new if i not in tag_chunks
        ]
        return
    if before[:16] == _guid(ASF_HEADER):
        old_size, old_count, old = asf_header(before)
        new_size, new_count, new = asf_header(after)
        assert (old_count, new_count) == (len(old), len(new))
        assert before[old_size:] == after[new_size:]  # the data and index objects
        extended = _guid(ASF_EXTENDED_CONTENT)
        props = _guid(ASF_FILE_PROPERTIES)

        def kept(objects: list[tuple[bytes, bytes]]) -> tuple[list[bytes], int]:
            """The objects but the descriptors, and the file size field, cut out."""
            out, size = [], 0
            for guid, whole in objects:
                if guid == props:
                    size, whole = int.from_bytes(whole[40:48], "little"), whole[:40] + whole[48:]
                if guid != extended:
                    out.append(whole)
            return out, size

        (old_kept, old_file_size), (new_kept, new_file_size) = kept(old), kept(new)
        assert old_kept == new_kept
        # the file size field moves by what the file grew (a sample whose field was off
        # stays off by as much)
        assert new_file_size - old_file_size == len(after) - len(before)

        def descriptors(objects: list[tuple[bytes, bytes]]) -> list[bytes]:
            found = [whole for guid, whole in objects if guid == extended]
            return [
                d
                for w in found
                for d in asf_descriptors(w)
                if asf_descriptor_name(d).lower() not in GENRE_KEYS
            ]

        assert descriptors(old) == descriptors(new)
        return
    old_tag, new_tag = ape_tag(before), ape_tag(after)
    if old_tag is not None or suffix in (".ape", ".wv", ".mpc", ".tak"):
        assert new_tag is not None, "the APEv2 tag is gone"
        fields, items, header = new_tag
        assert fields["count"] == len(items)
        if old_tag is not None:
            old_fields, old_items, old_header = old_tag
            assert (fields["version"], fields["flags"]) == (
                old_fields["version"],
                old_fields["flags"],
            )
            assert [i for i in old_items if ape_key(i).lower() not in GENRE_KEYS] == [
                i for i in items if ape_key(i).lower() not in GENRE_KEYS
            ]
            assert (header is None) == (old_header is None)
        if header is not None:  # the header repeats the footer's fields
            import struct

            assert struct.unpack("<3I", header[8:20]) == (
                fields["version"],
                fields["size"],
                fields["count"],
            )
