"""Albums: which tracks are decided together, compilations, outliers, pooling."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genretag.deciding.albums import Member, group, is_compilation, is_outlier, pooled
from genretag.hearing.prediction import Prediction
from genretag.states import GroupBy
from genretag.tags.base import AlbumInfo


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
