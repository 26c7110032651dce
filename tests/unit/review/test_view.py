"""The review page's view, apart from HTTP: filters, the queue, pages, and the checks a
decision passes before it is stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from genretag.review.view import (
    TRACKS_PER_PAGE,
    Conflict,
    Filters,
    Review,
    ReviewError,
    Track,
)
from genretag.states import Status


@dataclass
class FakeSession:
    """What the view asks of a Session: the vocabulary and the decisions."""

    stored: dict = field(default_factory=dict)
    vocab: SimpleNamespace = field(
        default_factory=lambda: SimpleNamespace(names={"rock": "Rock", "hiphop": "Hip-Hop"})
    )

    def decisions(self):
        return dict(self.stored)

    def decide(self, decisions):
        self.stored.update((d.path, d) for d in decisions)

    def forget_decisions(self, paths):
        for p in paths:
            self.stored.pop(str(p), None)


def track(folder: Path, i: int, status=Status.WOULD_TAG, group="Album", artist="Artist", **kw):
    path = folder / group / f"{i:04d}.mp3"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(b"x" * (i + 1))
    st = path.stat()
    values = dict(
        id=i, path=str(path), shown=f"{group}/{path.name}", group=group, artist=artist,
        album=group, status=status, proposed=["Rock"], current=[], confidence=0.8,
        best="Rock", probabilities={"Rock": 0.8}, album_probabilities=None, outlier=False,
        error=None, size=st.st_size, mtime_ns=st.st_mtime_ns, fingerprint=None, audio=None,
        duration=2.0,
    )  # fmt: skip
    values.update(kw)
    t = Track(**values)
    t.search = " ".join([t.shown, t.artist, *t.proposed]).casefold()
    return t


def review_of(tracks: list[Track]) -> Review:
    r = Review(FakeSession(), [])  # type: ignore[arg-type]
    r.tracks = {t.id: t for t in tracks}
    return r


def test_filters_by_status_genre_confidence_artist_and_search(tmp_path):
    r = review_of(
        [
            track(tmp_path, 0),
            track(tmp_path, 1, Status.CONFLICT, current=["Jazz"], confidence=0.9),
            track(tmp_path, 2, outlier=True, proposed=["Hip-Hop"], confidence=0.35),
            track(tmp_path, 3, Status.UNSURE, proposed=[], group="B", artist="Other"),
        ]
    )
    ids = lambda **kw: [t.id for t in r.matching(Filters(**kw), {})]  # noqa: E731
    assert ids(status="conflict") == [1]
    assert ids(status="outlier") == [2]
    assert ids(status="would-tag") == [0, 2]  # an outlier is a would-tag too
    assert ids(genre="jazz") == [1]
    assert ids(below=0.5) == [2]
    assert ids(artist="other") == [3]
    assert ids(q="b/0003") == [3]
    with pytest.raises(ReviewError):
        Filters.parse({"status": "../../etc"})
    with pytest.raises(ReviewError):
        Filters.parse({"page": "0"})


def test_the_queue_puts_conflicts_then_unsure_then_outliers_then_suggestions_first(tmp_path):
    r = review_of(
        [
            track(tmp_path, 0, group="Fine"),
            track(tmp_path, 1, outlier=True, group="Outlier"),
            track(tmp_path, 2, Status.UNSURE, group="Unsure"),
            track(tmp_path, 3, Status.CONFLICT, group="Conflict"),
            track(tmp_path, 4, group="Suggested", suggested=True),
        ]
    )
    listing = r.listing(Filters(queue=True), {})
    assert [g.title for g in listing.groups] == ["Conflict", "Unsure", "Outlier", "Suggested"]
    r.decide(3, "rejected")  # decided: out of the queue
    assert r.listing(Filters(queue=True), r.decisions()).groups[0].title == "Unsure"


def test_a_folder_larger_than_a_page_goes_on_over_the_pages(tmp_path):
    n = TRACKS_PER_PAGE * 2 + 50
    r = review_of(
        [track(tmp_path, i, group="Big") for i in range(n)] + [track(tmp_path, n, group="Zed")]
    )
    first = r.listing(Filters(), {})
    assert (
        first.pages == 3
        and len(first.groups) == 1
        and len(first.groups[0].tracks) == TRACKS_PER_PAGE
    )
    last = r.listing(Filters(page=3), {})
    assert [(g.title, g.part, len(g.tracks)) for g in last.groups] == [
        ("Big", 2, 50),
        ("Zed", 0, 1),
    ]
    assert r.group_of(r.tracks[TRACKS_PER_PAGE + 3], {}, Filters()).part == 1


def test_a_decision_is_checked_before_it_is_stored(tmp_path):
    tracks = [
        track(tmp_path, 0, Status.UNSURE, proposed=[], best="Rock"),
        track(tmp_path, 1, Status.ERROR, proposed=[], best=None),
        track(tmp_path, 2),
        track(tmp_path, 3),
    ]
    r = review_of(tracks)
    done, refused = r.decide(0, "accepted")  # an unsure track: its best guess
    assert [t.id for t in done] == [0] and r.decisions()[tracks[0].path].genres == ["Rock"]
    done, refused = r.decide(1, "accepted")
    assert done == [] and "could not hear" in refused[0][1]
    done, _ = r.decide(2, "changed", genres=["hip-hop", " Dub  Techno ", "HIP-HOP"])
    assert r.decisions()[tracks[2].path].genres == ["Hip-Hop", "Dub Techno"]  # its spelling
    for bad in ([], [""], ["x" * 81], ["a\x00b"], "Rock", [1], [f"g{i}" for i in range(9)]):
        with pytest.raises(ReviewError):
            r.decide(3, "changed", genres=bad)
    with pytest.raises(ReviewError):
        r.decide(3, "delete-everything")
    with pytest.raises(ReviewError):
        r.decide(999, "accepted")
    Path(tracks[3].path).write_bytes(b"changed")
    done, refused = r.decide(3, "accepted")
    assert done == [] and "changed on disk" in refused[0][1]


def test_a_tab_that_did_not_see_the_last_decision_is_refused(tmp_path):
    r = review_of([track(tmp_path, 0)])
    r.decide(0, "accepted", seen={"0": 0})
    with pytest.raises(Conflict):
        r.decide(0, "rejected", seen={"0": 0})
    when = r.decisions()[r.tracks[0].path].time
    r.decide(0, "rejected", seen={"0": when})
    assert str(r.decisions()[r.tracks[0].path].action) == "rejected"
    r.decide(0, "clear")
    assert r.decisions() == {}
