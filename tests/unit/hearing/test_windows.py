"""Windows and coverage: streamed windows equal whole-track windows; fast coverage
spreads over the track."""

from __future__ import annotations

import numpy as np
import pytest

from genretag.hearing.windows import Windower, fast_starts


@pytest.mark.parametrize("n", [1000, 4000, 4095, 10_000, 12_345])
def test_streamed_windows_equal_whole_track_windows(n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    w = Windower(1024, 512)
    parts = [w.feed(c) for c in np.array_split(x, 7)] + [w.finish()]
    starts = np.concatenate([p[0] for p in parts])
    wins = np.concatenate([p[1] for p in parts])
    if n < 1024:
        assert list(starts) == [0] and np.array_equal(wins[0][:n], x) and not wins[0][n:].any()
        return
    expected = list(range(0, n - 1024 + 1, 512))
    if expected[-1] + 1024 < n:
        expected.append(n - 1024)  # the tail window, flush with the end
    assert list(starts) == expected
    for s, win in zip(starts, wins):
        assert np.array_equal(win, x[s : s + 1024])
    assert len(w.buffer) <= 2 * 1024 + max(len(c) for c in np.array_split(x, 7))


def test_fast_starts_spread_over_the_track():
    starts = fast_starts(240.0, 3.0, 8)
    assert len(starts) == 8 and starts == sorted(starts)
    assert 0 < starts[0] < 30 and 210 < starts[-1] < 237
    assert fast_starts(2.0, 3.0, 8) == [0.0]
    assert len(fast_starts(10.0, 3.0, 8)) == 3
