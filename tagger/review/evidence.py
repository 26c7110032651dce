"""Why genretag proposed what it did for one track: its top genres, and a timeline of the
windows it heard (each window's best genre), heard again when a person opens the track."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genretag.review.view import Review, Track

TOP = 5  # genres shown as bars
KEPT = 64  # tracks whose windows are remembered while the page runs
TIMELINE_WIDTH = 600  # the SVG's own units
# one colour per genre, by its place in the vocabulary (colour-blind-safe first: Okabe-Ito)
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#000000",
    "#999999",
    "#7f3c8d",
    "#11a579",
    "#3969ac",
)


@dataclass(frozen=True)
class Window:
    """One window heard: where it starts (s), how long it is, its best genre."""

    start: float
    seconds: float
    genre: str
    probability: float
    colour: str
    x: float  # in the timeline's units
    width: float


@dataclass
class Shown:
    """What the evidence panel shows of one track."""

    own: list[tuple[str, float]]  # the track's own top genres
    album: list[tuple[str, float]]  # its album's, where it was decided with one
    windows: list[Window] = field(default_factory=list)
    duration: float = 0.0
    coverage: str = ""
    error: str | None = None
    legend: list[tuple[str, str]] = field(default_factory=list)  # genre, colour


def top(probabilities: dict[str, float] | None, n: int = TOP) -> list[tuple[str, float]]:
    if not probabilities:
        return []
    return sorted(probabilities.items(), key=lambda kv: -kv[1])[:n]


class Evidence:
    """The evidence of tracks of ``review``, heard on demand and remembered (``KEPT``)."""

    def __init__(self, review: Review):
        self.review = review
        self._kept: OrderedDict[int, Shown] = OrderedDict()

    def forget(self) -> None:
        self._kept.clear()

    def of(self, t: Track) -> Shown:
        if t.id in self._kept:
            self._kept.move_to_end(t.id)
            return self._kept[t.id]
        shown = Shown(top(t.probabilities), top(t.album_probabilities))
        if t.decidable:
            self._windows(t, shown)
        self._kept[t.id] = shown
        while len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        return shown

    def _windows(self, t: Track, shown: Shown) -> None:
        from genretag.library.decode import DecodeError
        from genretag.settings import ConfigError

        try:
            heard = self.review.session.predict(t.path)
        except (DecodeError, ConfigError, OSError) as e:
            shown.error = f"could not hear it again: {e}"
            return
        names = heard.labels
        colours = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(self.review.genres)}
        duration = max(
            t.duration or 0.0,
            max((s + heard.window_seconds for s in heard.window_starts), default=0.0),
        )
        scale = TIMELINE_WIDTH / duration if duration > 0 else 0.0
        used: dict[str, str] = {}
        for start, probs in zip(heard.window_starts, heard.window_probabilities):
            best = max(range(len(probs)), key=probs.__getitem__)
            genre = names[best]
            colour = colours.get(genre, PALETTE[best % len(PALETTE)])
            used.setdefault(genre, colour)
            shown.windows.append(
                Window(
                    start,
                    heard.window_seconds,
                    genre,
                    probs[best],
                    colour,
                    round(start * scale, 2),
                    max(1.0, round(heard.window_seconds * scale, 2)),
                )
            )
        shown.duration, shown.coverage = duration, str(heard.coverage)
        shown.legend = sorted(used.items())
