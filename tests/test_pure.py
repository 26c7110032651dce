"""Direct unit tests of the pure pieces (issue 20): the ID3 splicer, album grouping, the
vocabulary and the model-file schema. No audio, no model, no CLI: each runs in
milliseconds, and a failure names the piece at fault."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from mutagen.id3 import ID3, TALB, TCON, TIT2

from genretag.deciding.albums import Member, group, is_compilation, is_outlier, pooled
from genretag.deciding.genres import Vocabulary
from genretag.hearing.prediction import Prediction
from genretag.models.file import SCHEMA, check
from genretag.states import GroupBy
from genretag.tags.base import AlbumInfo
from genretag.tags.raw import id3 as id3splice


def id3_bytes(version: int, *frames) -> bytes:
    """A whole ID3v2 tag as mutagen writes it (its own parser, not the splicer's)."""
    tag = ID3()
    for frame in frames:
        tag.add(frame)
    out = io.BytesIO()  # in memory: a test writes nothing into the source tree
    tag.save(out, v2_version=version, padding=lambda info: 64)
    return out.getvalue()


@pytest.mark.parametrize("version", [3, 4])
def test_splicing_a_genre_keeps_every_other_frame_and_the_size(version):
    raw = id3_bytes(
        version,
        TIT2(encoding=1, text="Title"),
        TCON(encoding=1, text="Rock"),
        TALB(encoding=1, text="Album"),
    )
    tag = id3splice.parse(raw)
    assert tag.major == version and len(tag.frames) == 3 and len(tag.genre_frames()) == 1
    new = id3splice.with_genre(tag, id3splice.genre_frame(version, ["Jazz", "R&B/Soul"]))
    out = id3splice.render(new)
    assert len(out) == len(raw)  # it fits in the padding: the audio would not move
    again = id3splice.parse(out)
    assert again.other_frames() == tag.other_frames()  # byte for byte, in order
    assert [again.frame_id(f) for f in again.frames] == [tag.frame_id(f) for f in tag.frames]
    assert ID3(io.BytesIO(out)).getall("TCON")[0].text == ["Jazz", "R&B/Soul"]  # NUL-separated


def test_splicing_grows_a_full_tag_and_removes_a_genre():
    raw = id3_bytes(4, TIT2(encoding=3, text="T"), TCON(encoding=3, text="Rock"))
    tag = id3splice.parse(raw)
    big = id3splice.with_genre(tag, id3splice.genre_frame(4, ["x" * 500]))
    out = id3splice.render(big)
    assert len(out) > len(raw) and len(out) - len(raw) >= id3splice.GROW_PADDING
    none = id3splice.render(id3splice.with_genre(tag, None))
    assert id3splice.parse(none).genre_frames() == [] and len(none) == len(raw)


def test_tags_the_splicer_does_not_edit_are_refused():
    raw = bytearray(id3_bytes(3, TIT2(encoding=0, text="T")))
    unsync = bytes(raw[:5]) + bytes([0x80]) + bytes(raw[6:])
    with pytest.raises(id3splice.SpliceError, match="unsynchronised"):
        id3splice.parse(unsync)
    with pytest.raises(id3splice.SpliceError, match="damaged"):
        id3splice.parse(raw[:20])
    junk = bytes(raw[:10]) + b"\x01\x02\x03\x04" + bytes(raw[14:])  # a frame id of junk
    with pytest.raises(id3splice.SpliceError, match="cannot be walked"):
        id3splice.parse(junk)
    assert id3splice.tag_size(b"ID3\x04\x00\x00\x00\x00\x01\x00") == 10 + 128
    assert id3splice.tag_size(b"RIFF....WAVE") == 0


def test_the_id3v1_genre_byte_alone_changes():
    block = b"TAG" + b"t" * 124 + bytes([17])
    assert id3splice.v1_genre(block) == 17 and id3splice.v1_genre(block[:-1]) is None
    assert id3splice.with_v1_genre(block, 8)[:127] == block[:127]


def members(*specs) -> list[Member]:
    """(folder, album, album artist, artist[, compilation]) -> members of 60 s each."""
    out = []
    for i, (folder, album, aa, artist, *comp) in enumerate(specs):
        out.append(
            Member(
                Path(folder) / f"{i}.mp3",
                AlbumInfo(album, aa, artist, bool(comp and comp[0])),
                60.0,
            )
        )
    return out


def test_albums_by_tags_folders_and_another_programs_ids():
    m = members(
        ("a", "One", "", "X"),
        ("a", "One", "", "X"),
        ("b", "one ", "", "x"),
        ("c", "Hits", "Various Artists", "Y"),
        ("c", "Hits", "Various Artists", "Z"),
        ("d", "", "", "Q"),
        ("d", "", "", "Q"),
        ("e", "Solo", "", "R"),
    )
    albums = group(m, GroupBy.ALBUM)
    assert [a.members for a in albums] == [(0, 1, 2)]  # case and spaces aside; the rest alone
    assert albums[0].title == "One — X"
    assert sorted(a.members for a in group(m, GroupBy.FOLDER)) == [(0, 1), (3, 4), (5, 6)]
    assert group(m, GroupBy.TRACK) == []
    known = {str(m[i].path): "album-7" for i in (5, 6)}  # beets' album, without a tag
    assert [a.members for a in group(m, GroupBy.ALBUM, known)] == [(5, 6)]


def test_compilations_outliers_and_pooling():
    assert is_compilation([AlbumInfo("A", "", "X", True)])
    assert is_compilation([AlbumInfo("A", "", a) for a in "XYZ"])  # many artists
    assert not is_compilation([AlbumInfo("A", "", a) for a in "XXXY"])  # one guest
    assert is_outlier({"Rock": 0.01, "Jazz": 0.9}, "Rock", 0.3)
    assert not is_outlier({"Rock": 0.01, "Jazz": 0.2}, "Rock", 0.3)  # nothing of its own
    p = pooled(
        [
            Prediction(("a", "b"), np.array([1.0, 0.0])),
            Prediction(("a", "b"), np.array([0.0, 1.0])),
        ],
        [30.0, 90.0],
    )
    assert np.allclose(p.probabilities, [0.25, 0.75])  # weighted by duration


def test_a_vocabulary_merges_renames_and_knows_families():
    v = Vocabulary.default(
        ["metal", "rock", "heavy-metal"],
        {"metal": "Metal", "rock": "Rock", "heavy-metal": "Heavy Metal"},
        independent=["heavy-metal"],
        parents={"heavy-metal": ["metal"]},
    )
    assert v.family("metal") == {"Metal", "Heavy Metal"} and v.family("Polka") == set()
    assert v.exclusive_names(("metal", "rock", "heavy-metal")) == {"Metal", "Rock"}
    assert v.parent_names("Heavy Metal") == {"Metal"} and v.parent_names("Rock") == set()
    merged = v.with_names({"Rock": "Guitar", "metal": "Guitar"})  # by shown name or label
    assert merged.merge(Prediction(("metal", "rock", "heavy-metal"), np.array([0.3, 0.5, 0.5])))[
        "Guitar"
    ] == pytest.approx(0.8)


def test_the_model_schema_names_the_first_problem():
    good = {
        "kind": "genre-model",
        "labels": ["a"],
        "model_id": "x",
        "audio": {
            "sample_rate": 16000,
            "n_fft": 512,
            "hop_length": 256,
            "n_mels": 96,
            "window_frames": 187,
            "window_hop_frames": 93,
        },
        "architecture": {"frontend_filters": 1.6, "midend_filters": 64, "backend_units": 200},
    }
    assert check(good, SCHEMA) is None
    assert (
        check({**good, "labels": 3}, SCHEMA)
        == "'labels' must be a list of strings (count) within 1..1000"
    )
    bad_audio = {**good, "audio": {**good["audio"], "n_mels": 10_000_000}}
    assert check(bad_audio, SCHEMA) == "'audio.n_mels' must be a whole number within 1..512"
    assert check({k: v for k, v in good.items() if k != "model_id"}, SCHEMA) == "no 'model_id'"
    assert check({**good, "kind": "x"}, SCHEMA) == "'kind' must be one of genre-model, backbone"


def test_pure_modules_stay_pure():
    """Finding files needs no tag library, and reading a model file's header no torch."""
    import subprocess
    import sys

    code = (
        "import sys, genretag.library.discover, genretag.models.file, "
        "genretag.deciding.policy, genretag.deciding.genres; "
        "print(sorted(m for m in ('mutagen', 'torch', 'pydub', 'librosa') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
