"""Cutting a track into the model's windows.

Two coverages:
- ``full``: every window at a hop of half a window (50% overlap), from a streamed decode, plus
  one last window flush with the end so the tail is heard too;
- ``fast``: ``K`` windows spread evenly over the track, each decoded on its own by seeking in
  the input, so a 4-minute track costs K windows of decoding and inference instead of ~160.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genretag.states import CoverageMode


@dataclass(frozen=True)
class Coverage:
    mode: CoverageMode = CoverageMode.FULL  # AUTO: see resolved
    windows: int = 4  # K, for "fast"

    def resolved(self, device_type: str) -> Coverage:
        """``auto`` is full coverage on a GPU, where decoding sets the pace, fast on a CPU."""
        mode = CoverageMode(self.mode)  # a ValueError for an unknown one
        if mode == CoverageMode.AUTO:
            return Coverage(
                CoverageMode.FULL if device_type == "cuda" else CoverageMode.FAST, self.windows
            )
        return Coverage(mode, self.windows)


def pad_or_trim(samples: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad (at the end) or cut ``samples`` (n,) to exactly ``length``."""
    if len(samples) >= length:
        return samples[:length]
    return np.pad(samples, (0, length - len(samples)))


def fast_starts(duration: float, window_seconds: float, k: int) -> list[float]:
    """Start times (s) of ``k`` windows centred on ``(i + 0.5) / k`` of the track.

    A track too short to hold ``k`` separate windows gets fewer (at least one, at 0).
    """
    if duration <= window_seconds:
        return [0.0]
    k = max(1, min(k, int(duration // window_seconds)))
    centres = (np.arange(k) + 0.5) / k * duration
    starts = np.clip(centres - window_seconds / 2, 0.0, duration - window_seconds)
    return [float(s) for s in starts]


class Windower:
    """Turns a stream of sample chunks into full-coverage windows.

    ``feed`` returns (starts, windows): sample offsets (m,) and windows (m, window) as soon as
    they are complete; ``finish`` returns the last ones. At most about two windows of samples
    are held at any time, whatever the track's length.
    """

    def __init__(self, window: int, hop: int):
        self.window, self.hop = window, hop
        self.buffer = np.zeros(0, dtype=np.float32)
        self.base = 0  # absolute sample index of buffer[0]
        self.next_start = 0
        self.total = 0
        self.emitted = 0
        self.last_end = 0

    def feed(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.buffer = np.concatenate([self.buffer, chunk]) if len(self.buffer) else chunk.copy()
        self.total += len(chunk)
        starts = []
        while self.next_start + self.window <= self.total:
            starts.append(self.next_start)
            self.next_start += self.hop
        windows = self._cut(starts)
        if starts:
            self.emitted += len(starts)
            self.last_end = starts[-1] + self.window
        # keep what the next windows and a possible tail window need
        keep_from = max(self.base, min(self.next_start, self.total - self.window))
        self.buffer = self.buffer[keep_from - self.base :]
        self.base = keep_from
        return np.asarray(starts, dtype=np.int64), windows

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """The tail: a window flush with the end, or the whole short track zero-padded."""
        if self.total == 0:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.window), dtype=np.float32)
        if self.emitted == 0:
            padded = pad_or_trim(self.buffer, self.window)
            return np.zeros(1, dtype=np.int64), padded[None].astype(np.float32)
        if self.last_end >= self.total:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.window), dtype=np.float32)
        start = self.total - self.window
        return np.array([start], dtype=np.int64), self._cut([start])

    def _cut(self, starts: list[int]) -> np.ndarray:
        if not starts:
            return np.zeros((0, self.window), dtype=np.float32)
        return np.stack([self.buffer[s - self.base : s - self.base + self.window] for s in starts])
