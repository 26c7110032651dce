"""The GTZAN feature table's features, computed from audio.

The widely used ``features_30_sec.csv`` of GTZAN describes each 30 s clip by the mean and
(population) variance over frames of a few spectral features, 20 MFCCs, the harmonic and
percussive parts and a tempo. It covers many more artists per genre than labelled audio
usually does, so a model may carry a small classifier over these features beside the CNN
(see ``models.net.FeatureHead``). For that to work at tagging time the features must be computed
exactly as the table's were: librosa on 22.05 kHz audio, ``n_fft=2048``, ``hop_length=512``,
centred frames with reflect padding, 20 MFCCs over 128 mel bands.

The columns are named as in the table, so a model file lists the ones it uses and the table
can be read by name.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

EXTRACTOR = "gtzan-30s-librosa"  # named in model files, for the day there is a second one
SAMPLE_RATE = 22050
N_FFT = 2048
HOP = 512
N_MFCC = 20
CLIP_SECONDS = 30.0  # the table's clips: a track is described by 30 s from its middle

_SPECTRAL = (
    "chroma_stft",
    "rms",
    "spectral_centroid",
    "spectral_bandwidth",
    "rolloff",
    "zero_crossing_rate",
)
# harmony/perceptr need an HPSS (slow: median filters) and tempo a beat tracker; the table's
# README calls the first near zero and noisy and the second octave-prone, so they are left out
COLUMNS = tuple(
    [f"{name}_{stat}" for name in _SPECTRAL for stat in ("mean", "var")]
    + [f"mfcc{i}_{stat}" for i in range(1, N_MFCC + 1) for stat in ("mean", "var")]
)


def clip_span(duration: float | None) -> tuple[float | None, float | None]:
    """(start, length) in seconds of the 30 s a track is described by: its middle."""
    if duration is None or duration <= CLIP_SECONDS:
        return None, None
    return (duration - CLIP_SECONDS) / 2, CLIP_SECONDS


@cache
def _single_threaded_blas() -> None:
    """Keep numpy's BLAS to one thread in this process. It would start a thread per core for
    the filterbank products, spinning beside torch's threads and the ffmpeg processes; in a
    scan that doubled the features' CPU time (0.19 -> 0.09 s for 12 s of audio). Nothing in
    the tagger needs numpy's BLAS in parallel (the CNN runs in torch's own pool)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def features(y: np.ndarray) -> dict[str, float]:
    """Mono float32 samples (n,) at 22.05 kHz -> {column: value} for ``COLUMNS``."""
    import librosa

    _single_threaded_blas()
    y = np.asarray(y, dtype=np.float32)
    if len(y) < N_FFT:
        y = np.pad(y, (0, N_FFT - len(y)))
    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP, center=True, pad_mode="reflect"))
    mel = librosa.feature.melspectrogram(S=S**2, sr=SAMPLE_RATE, n_mels=128)
    centroid = librosa.feature.spectral_centroid(S=S, sr=SAMPLE_RATE)
    series = {
        "chroma_stft": _quiet(librosa.feature.chroma_stft, S=S**2, sr=SAMPLE_RATE),
        "rms": librosa.feature.rms(
            y=y, frame_length=N_FFT, hop_length=HOP, center=True, pad_mode="reflect"
        ),
        "spectral_centroid": centroid,
        "spectral_bandwidth": librosa.feature.spectral_bandwidth(
            S=S, sr=SAMPLE_RATE, centroid=centroid
        ),
        "rolloff": librosa.feature.spectral_rolloff(S=S, sr=SAMPLE_RATE),
        "zero_crossing_rate": librosa.feature.zero_crossing_rate(
            y, frame_length=N_FFT, hop_length=HOP, center=True
        ),
    }
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=N_MFCC)
    for i in range(N_MFCC):
        series[f"mfcc{i + 1}"] = mfcc[i]
    out: dict[str, float] = {}
    for name, s in series.items():
        out[f"{name}_mean"] = float(np.mean(s))
        out[f"{name}_var"] = float(np.var(s))  # ddof=0, as the table
    return out


def resample(y: np.ndarray, rate: int, target: int) -> np.ndarray:
    """(n,) samples at ``rate`` -> at ``target`` (librosa's default, soxr high quality)."""
    import librosa

    return librosa.resample(y, orig_sr=rate, target_sr=target).astype(np.float32)


def _quiet(fn, **kwargs):
    """``fn(**kwargs)`` without librosa's warning that silence has no tuning to estimate."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Trying to estimate tuning")
        return fn(**kwargs)


def vector(values: dict[str, float], columns: Sequence[str]) -> np.ndarray:
    """The values of ``columns``, in that order, as float32 (n_columns,)."""
    return np.array([values[c] for c in columns], dtype=np.float32)


def of_file(path: Path) -> dict[str, float]:
    """The features of a track's middle 30 s, decoded by the tagger's decoder."""
    from genretag.library.decode import decode, duration_of

    start, length = clip_span(duration_of(path))
    return features(decode(path, SAMPLE_RATE, start, length))
