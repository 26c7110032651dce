"""Stage 1 of a track's way: from a path to the model's windows, as the coverage asks.

- ``fast``: K windows spread over the track, decoded by one ffmpeg process that seeks to each
  in the input (``library.decode.decode_spans``); a model with a feature head gets their
  audio at the features' rate, so one decode serves both;
- ``full`` (and the fallback for short tracks or unknown durations): every window at the
  model's hop, streamed, so memory stays flat however long the track is.

Windows of silence are never heard: they say nothing about a genre (``loud``). A track that
is silent wherever it was heard is ``Silent``. Silence is told from missing audio (a truncated
file whose headers promise more) by what ffmpeg says it decoded, not by the zeros.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genretag.hearing.windows import Coverage, Windower, fast_starts, pad_or_trim
from genretag.library.decode import (
    SILENCE_PEAK,
    DecodeError,
    Silent,
    decode_spans,
    duration_of,
    stream,
)
from genretag.library.discover import EMPTY
from genretag.models import features
from genretag.states import CoverageMode

if TYPE_CHECKING:  # torch comes in with the model, not with a re-scan that hears nothing
    from genretag.models.frontend import AudioParams

Chunk = tuple[np.ndarray, np.ndarray]  # starts (m,) sample offsets, windows (m, window_samples)
FRAMES = 32  # a window is judged loud or silent in 32 frames (about 94 ms each for 3 s)
LOUD_SHARE = 0.1  # the share of them that must hold sound: 300 ms of a 3-s window


@dataclass
class TrackAudio:
    """One track ready for the model: its windows, a chunk at a time, and the audio its table
    features come from (``feature_audio`` (samples,) at ``models.features.SAMPLE_RATE``; None: the
    file's middle 30 s, decoded when asked)."""

    path: Path
    chunks: Iterator[Chunk]
    feature_audio: np.ndarray | None = None

    def features(self, columns: Sequence[str]) -> np.ndarray | None:
        """The track's table features (n_columns,), None where one is not finite (the CNN
        alone then, rather than NaN genres). Ask after the chunks are consumed."""
        if self.feature_audio is not None:
            values = features.features(self.feature_audio)
        else:
            values = features.of_file(self.path)
        v = features.vector(values, columns)
        return v if np.isfinite(v).all() else None


class TrackSource:
    """Opens tracks for one model: ``params`` from its file, ``coverage`` resolved."""

    def __init__(
        self,
        params: AudioParams,
        coverage: Coverage,
        chunk: int,
        feature_rate: bool = False,
        fixed_chunks: bool = False,
        stopped: Callable[[], bool] = lambda: False,
    ):
        """``chunk``: the most windows a chunk holds; ``fixed_chunks``: exactly that many,
        at fixed offsets in the track (the last chunk shorter), whatever the decoder gives;
        ``feature_rate``: fast coverage decodes at the features' rate too."""
        self.params, self.coverage, self.chunk = params, coverage, chunk
        self.feature_rate, self.fixed_chunks, self.stopped = feature_rate, fixed_chunks, stopped

    def open(self, path: Path) -> TrackAudio:
        if path.stat().st_size == 0:
            raise DecodeError(EMPTY)
        audio = self._fast(path) if self.coverage.mode == CoverageMode.FAST else None
        if audio is None:
            audio = TrackAudio(path, self._full(path))
        if self.fixed_chunks:
            audio.chunks = fixed(audio.chunks, self.chunk)
        return audio

    def _fast(self, path: Path) -> TrackAudio | None:
        """K windows, decoded in one process by seeking; None when the track is too short
        for them or its duration unknown."""
        p, k = self.params, self.coverage.windows
        duration = duration_of(path)
        if duration is None or duration <= k * p.window_seconds:
            return None
        rate = features.SAMPLE_RATE if self.feature_rate else p.sample_rate
        starts_s = fast_starts(duration, p.window_seconds, k)
        try:
            spans = decode_spans(path, rate, starts_s, p.window_seconds)
        except DecodeError:
            # a truncated file: its headers promise more than is there, and a seek past the
            # real end fails; the whole file, decoded, is what exists (bounded by its size)
            return None
        n = spans.samples.shape[1]
        starts, windows, heard, quiet = [], [], [], 0
        for start, samples, decoded in zip(starts_s, spans.samples, spans.decoded):
            if decoded < n // 2:
                continue  # past the end of the audio: the headers overstated the length
            if not loud(samples[:decoded]):
                quiet += 1
                continue
            if rate != p.sample_rate:
                heard.append(samples)
                samples = features.resample(samples, rate, p.sample_rate)
            starts.append(int(start * p.sample_rate))
            windows.append(pad_or_trim(samples, p.window_samples))
        if not windows:
            if quiet == len(starts_s):  # every part decoded, and every one silent
                raise Silent(f"silent: no sound in all {quiet} parts heard")
            return None  # audio missing where the headers promised it: hear what exists
        return TrackAudio(
            path,
            iter([(np.array(starts), np.stack(windows))]),
            np.concatenate(heard) if heard else None,
        )

    def _full(self, path: Path) -> Iterator[Chunk]:
        p = self.params
        cutter = Windower(p.window_samples, p.window_hop_samples)
        heard = 0
        for samples in stream(path, p.sample_rate):
            starts, windows = audible(*cutter.feed(samples))
            heard += len(windows)
            for i in range(0, len(windows), self.chunk):
                yield starts[i : i + self.chunk], windows[i : i + self.chunk]
            if self.stopped():
                return
        starts, windows = audible(*cutter.finish())
        if len(windows):
            yield starts, windows
        elif heard:
            return
        elif cutter.total == 0:
            raise DecodeError("no audio decoded")
        else:
            seconds = cutter.total / p.sample_rate
            raise Silent(
                f"silent: silence, or too little sound to hear (under "
                f"{LOUD_SHARE * p.window_seconds:.1f} s), in all its {seconds:.1f} s"
            )


def loud(samples: np.ndarray) -> np.ndarray:
    """Not silence in the band the model hears: whether, in at least ``LOUD_SHARE`` of the
    ``FRAMES`` frames of each row of ``samples`` (..., n), n > 0, a sample strays from the
    frame's own mean by SILENCE_PEAK or more; (...,) bools.

    Digital silence is zeros, but a constant offset is no sound either: a DSD file of
    silence decodes to one (below the band the model hears; what lies above it the
    decoder's resampling already took out), after a ramp of a few milliseconds where
    the decoder's filter starts, which one frame holds."""
    n = samples.shape[-1]
    k = FRAMES if n >= FRAMES else 1
    frames = samples[..., : n // k * k].reshape(*samples.shape[:-1], k, n // k)
    strays = np.abs(frames - frames.mean(axis=-1, keepdims=True)).max(axis=-1)
    return (strays >= SILENCE_PEAK).mean(axis=-1) >= LOUD_SHARE


def audible(starts: np.ndarray, windows: np.ndarray) -> Chunk:
    """The windows of (m, window_samples) that are not silence (``loud``), with their starts."""
    if not len(windows):
        return starts, windows
    keep = loud(windows)
    return (starts, windows) if keep.all() else (starts[keep], windows[keep])


def fixed(chunks: Iterator[Chunk], size: int) -> Iterator[Chunk]:
    """The same (starts, windows) re-cut into chunks of exactly ``size`` windows (the last
    one shorter), whatever sizes came in."""
    starts, windows = [], []
    for s, w in chunks:
        starts.append(s)
        windows.append(w)
        have = sum(len(x) for x in windows)
        while have >= size:
            all_s, all_w = np.concatenate(starts), np.concatenate(windows)
            yield all_s[:size], all_w[:size]
            starts, windows, have = [all_s[size:]], [all_w[size:]], have - size
    if windows and sum(len(x) for x in windows):
        yield np.concatenate(starts), np.concatenate(windows)
