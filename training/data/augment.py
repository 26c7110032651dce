"""Augmentation of log-mel training windows, in torch, on a batch at a time.

Training a whole network (``netfit.py``) reads random windows out of each clip's log-mel
spectrogram (frames, n_mels), in the model's input scale ``L = log10(s * mel + 1)``. Working
on the spectrogram rather than on audio keeps an epoch cheap on a CPU (no re-decoding, no
phase vocoder); what each step does to the audio:

- time shift: a window starts anywhere in the clip, not on the 50% grid the tagger uses;
- time stretch: ``r * window`` frames are read and resampled to ``window`` frames (tempo
  changes by 1/r, pitch stays);
- pitch shift: the mel axis is resampled by ``2 ** (semitones / 12)``; exact on a log-frequency
  axis, and the mel scale is close to one above ~1 kHz;
- gain: exact in this scale, ``L' = log10(g * (10 ** L - 1) + 1)``;
- SpecAugment masks (Park et al. 2019): bands of mels and of frames set to silence (L = 0);
- mixup lives in ``train.mix`` (it mixes labels too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    stretch: float = 0.2  # r drawn from [1 - stretch, 1 + stretch]
    semitones: float = 2.0  # pitch shift drawn from [-semitones, +semitones]
    gain_db: float = 6.0  # gain drawn from [-gain_db, +gain_db]
    freq_masks: int = 2
    freq_width: int = 12  # mel bands, at most
    time_masks: int = 2
    time_width: int = 20  # frames, at most


def crop(mel: np.ndarray, start: int, length: int) -> torch.Tensor:
    """``length`` frames of a clip's log-mel (frames, n_mels) from ``start``, zero-padded
    (silence) past the end: (length, n_mels)."""
    part = torch.from_numpy(np.asarray(mel[max(0, start) : start + length], dtype=np.float32))
    if len(part) < length:
        part = F.pad(part, (0, 0, 0, length - len(part)))
    return part


def random_windows(
    mels: list[np.ndarray], frames: int, aug: Augment | None, gen: torch.Generator
) -> torch.Tensor:
    """One window per clip: (len(mels), frames, n_mels), shifted and stretched when ``aug``."""
    out = []
    for mel in mels:
        r = 1.0
        if aug is not None and aug.stretch:
            r = 1 + aug.stretch * (2 * float(torch.rand(1, generator=gen)) - 1)
        length = max(2, round(frames * r))
        start = int(torch.randint(0, max(1, len(mel) - length + 1), (1,), generator=gen))
        w = crop(mel, start, length)
        if length != frames:  # (frames', n_mels) -> (frames, n_mels) along time
            w = F.interpolate(w.T[None], size=frames, mode="linear", align_corners=False)[0].T
        out.append(w)
    return torch.stack(out)


def pitch_shift(x: torch.Tensor, semitones: torch.Tensor) -> torch.Tensor:
    """(batch, frames, n_mels) windows, each moved up by its ``semitones`` along mels."""
    n_mels = x.shape[-1]
    factor = 2.0 ** (semitones / 12.0)  # (batch,)
    # output band j reads input band j / factor (linear interpolation, silence outside)
    src = torch.arange(n_mels, dtype=x.dtype)[None] / factor[:, None]  # (batch, n_mels)
    lo = src.floor().long().clamp(0, n_mels - 1)
    hi = (lo + 1).clamp(max=n_mels - 1)
    frac = (src - src.floor())[:, None, :]
    inside = (src <= n_mels - 1)[:, None, :]
    idx = lambda i: i[:, None, :].expand(-1, x.shape[1], -1)  # noqa: E731
    out = x.gather(2, idx(lo)) * (1 - frac) + x.gather(2, idx(hi)) * frac
    return torch.where(inside, out, torch.zeros_like(out))


def gain(x: torch.Tensor, db: torch.Tensor) -> torch.Tensor:
    """Scale the power of (batch, frames, n_mels) windows by ``db`` (batch,), in the model's
    log scale ``log10(s * mel + 1)``."""
    g = (10.0 ** (db / 10.0))[:, None, None]
    return torch.log10(g * (10.0**x - 1) + 1)


def spec_augment(x: torch.Tensor, aug: Augment, gen: torch.Generator) -> torch.Tensor:
    """Set random bands of mels and of frames to silence, per window."""
    x = x.clone()
    batch, frames, n_mels = x.shape
    for b in range(batch):
        for _ in range(aug.freq_masks):
            w = int(torch.randint(0, aug.freq_width + 1, (1,), generator=gen))
            f0 = int(torch.randint(0, max(1, n_mels - w), (1,), generator=gen))
            x[b, :, f0 : f0 + w] = 0.0
        for _ in range(aug.time_masks):
            w = int(torch.randint(0, aug.time_width + 1, (1,), generator=gen))
            t0 = int(torch.randint(0, max(1, frames - w), (1,), generator=gen))
            x[b, t0 : t0 + w, :] = 0.0
    return x


def augment(x: torch.Tensor, aug: Augment, gen: torch.Generator) -> torch.Tensor:
    """Pitch shift, gain and SpecAugment on (batch, frames, n_mels) windows."""
    u = lambda: 2 * torch.rand(len(x), generator=gen) - 1  # noqa: E731  uniform in [-1, 1]
    if aug.semitones:
        x = pitch_shift(x, aug.semitones * u())
    if aug.gain_db:
        x = gain(x, aug.gain_db * u())
    return spec_augment(x, aug, gen)


def augment_waveform(x: torch.Tensor, aug: Augment, gen: torch.Generator) -> torch.Tensor:
    """(batch, samples, 1) raw windows, each with a random gain (``aug.gain_db``) and a
    random polarity (the ear does not hear it; a 1-D CNN must learn not to)."""
    db = (2 * torch.rand(len(x), generator=gen) - 1) * aug.gain_db
    sign = torch.where(torch.rand(len(x), generator=gen) < 0.5, -1.0, 1.0)
    return x * (sign * 10 ** (db / 20))[:, None, None]
