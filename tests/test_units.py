"""Small pieces: windows, genre choice, tag policy, sniffing, discovery."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tagger.discover import find_audio, sniff
from tagger.genres import Vocabulary, choose
from tagger.segments import Windower, fast_starts
from tagger.tags import decide


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
        assert np.array_equal(win, x[s:s + 1024])
    assert len(w.buffer) <= 2 * 1024 + max(len(c) for c in np.array_split(x, 7))


def test_fast_starts_spread_over_the_track():
    starts = fast_starts(240.0, 3.0, 8)
    assert len(starts) == 8 and starts == sorted(starts)
    assert 0 < starts[0] < 30 and 210 < starts[-1] < 237
    assert fast_starts(2.0, 3.0, 8) == [0.0]
    assert len(fast_starts(10.0, 3.0, 8)) == 3


def test_choose_top_k_threshold_and_merge():
    labels = ["a", "b", "c"]
    vocab = Vocabulary.default(labels)
    c = choose(np.array([0.5, 0.35, 0.15]), labels, vocab, top_k=2, min_confidence=0.3)
    assert c.genres == ["a", "b"] and not c.unsure
    c = choose(np.array([0.25, 0.4, 0.35]), labels, vocab, top_k=0, min_confidence=0.5)
    assert c.unsure and c.genres == []
    merged = Vocabulary({"a": "X", "b": "X", "c": ""})
    c = choose(np.array([0.3, 0.3, 0.4]), labels, merged, min_confidence=0.5)
    assert c.genres == ["X"] and c.probabilities == {"X": pytest.approx(0.6)}


def test_policies():
    assert decide([], ["Jazz"], "fill") == ["Jazz"]
    assert decide(["Rock"], ["Jazz"], "fill") is None
    assert decide(["Rock"], ["Jazz"], "overwrite") == ["Jazz"]
    assert decide(["Jazz"], ["Jazz"], "overwrite") is None  # nothing would change
    assert decide(["Rock"], ["jazz", "rock"], "merge") == ["Rock", "jazz"]


def test_sniff():
    assert sniff(b"ID3\x04") == "mp3" and sniff(b"\xff\xfb\x90") == "mp3"
    assert sniff(b"RIFF\0\0\0\0WAVEfmt ") == "wav" and sniff(b"fLaC") == "flac"
    assert sniff(b"\0\0\0\x20ftypM4A ") == "mp4" and sniff(b"FORM\0\0\0\0AIFF") == "aiff"
    assert sniff(b"hello world") is None


def test_discovery_skips_hidden_appledouble_loops_and_second_links(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "song.mp3").write_bytes(b"ID3")
    (tmp_path / "a" / "._song.mp3").write_bytes(b"ID3")
    (tmp_path / "a" / ".hidden.mp3").write_bytes(b"ID3")
    (tmp_path / "a" / "noext").write_bytes(b"fLaC....")
    (tmp_path / "a" / "readme.txt").write_text("hi")
    os.symlink("..", tmp_path / "a" / "up")
    os.symlink("song.mp3", tmp_path / "a" / "again.mp3")
    found = find_audio([tmp_path])
    # the file and its link are one track: the first in name order is kept
    assert sorted(p.name for p in found.files) == ["again.mp3", "noext"]
    reasons = {p.name: why for p, why in found.skipped}
    assert "AppleDouble" in reasons["._song.mp3"] and "link" in reasons["song.mp3"]
    assert "up" in reasons
