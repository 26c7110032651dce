"""Deterministic synthetic music (numpy only), for tests, benchmarks and the port check.

Real recordings are copyrighted, so everything the project ships or tests with is made here:
chords of harmonic tones with note envelopes, a bass line and noise-burst drums at a tempo,
all derived from one seed. It is "musical content, not silence": it has onsets, pitch and
timbre, so decoders and the CNN do real work on it.
"""

from __future__ import annotations

import numpy as np

_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])  # major scale, semitones


def _tone(freq: float, n: int, sr: int, harmonics: int, decay: float) -> np.ndarray:
    t = np.arange(n) / sr
    wave = sum(np.sin(2 * np.pi * freq * h * t) / h for h in range(1, harmonics + 1))
    return wave * np.exp(-decay * t)


def music(seconds: float, sr: int = 22050, seed: int = 0, channels: int = 1) -> np.ndarray:
    """Return float32 audio in [-1, 1], shape (samples,) or (samples, channels)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    out = np.zeros(n, dtype=np.float64)
    bpm = rng.uniform(70, 160)
    beat = int(sr * 60 / bpm)
    root = 48 + int(rng.integers(0, 12))  # MIDI note of the key
    harmonics = int(rng.integers(2, 7))
    decay = rng.uniform(1.0, 6.0)
    noise_level = rng.uniform(0.05, 0.4)
    for start in range(0, n, beat):
        step = start // beat
        length = min(beat * 2, n - start)
        if step % 4 == 0 or rng.random() < 0.3:  # a chord on the bar, sometimes between
            degree = int(rng.integers(0, 7))
            for third in (0, 2, 4):
                note = root + 12 + _SCALE[(degree + third) % 7]
                out[start : start + length] += 0.15 * _tone(
                    440 * 2 ** ((note - 69) / 12), length, sr, harmonics, decay
                )
        bass = root - 12 + _SCALE[int(rng.integers(0, 7))]
        out[start : start + length] += 0.2 * _tone(
            440 * 2 ** ((bass - 69) / 12), length, sr, 3, 4.0
        )
        hit = min(int(0.05 * sr), n - start)  # a drum: a short burst of decaying noise
        out[start : start + hit] += (
            noise_level * rng.standard_normal(hit) * np.exp(-np.arange(hit) / (0.01 * sr))
        )
    out /= max(1e-9, np.abs(out).max()) / 0.8
    if channels == 1:
        return out.astype(np.float32)
    # a little stereo: each channel a slightly different mix
    pans = np.linspace(0.8, 1.0, channels)
    return np.stack([out * p for p in pans], axis=1).astype(np.float32)


# how pydub's export encodes each format the tagger reads: (ffmpeg format, codec, bitrate,
# extra ffmpeg parameters)
CODECS = {
    "mp3": ("mp3", "libmp3lame", "192k", []),
    "wav": ("wav", None, None, []),  # pydub writes WAV itself
    "flac": ("flac", "flac", None, []),
    "ogg": ("ogg", "libvorbis", None, ["-q:a", "3"]),
    "opus": ("opus", "libopus", "64k", []),
    "m4a": ("ipod", "aac", "128k", []),
    "alac.m4a": ("ipod", "alac", None, []),
    "aiff": ("aiff", "pcm_s16be", None, []),
}


def _pydub():
    """pydub's ``AudioSegment``, pointed at the ffmpeg genretag found (the bundled one, or
    the system's)."""
    import warnings

    from genretag.library.decode import ffmpeg_path

    with warnings.catch_warnings():
        # pydub warns at import when no ffmpeg is on PATH (it is pointed at one below), and
        # its audioop import is deprecated on Python 3.12 (audioop-lts replaces it from
        # 3.13). Silenced here, for this import only, not for the whole program.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub import AudioSegment
    AudioSegment.converter = ffmpeg_path()
    return AudioSegment


def write_audio(path, audio: np.ndarray, sr: int, fmt: str | None = None) -> None:
    """Encode float audio (samples,) or (samples, channels) into ``path``, with pydub's
    ``AudioSegment.export`` (through the ffmpeg genretag found)."""
    AudioSegment = _pydub()
    fmt = fmt or str(path).rsplit(".", 1)[-1]
    container, codec, bitrate, parameters = CODECS[fmt]
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    segment = AudioSegment(data=pcm, sample_width=2, frame_rate=sr, channels=channels)
    with open(path, "wb") as out:  # pydub writes the file itself: odd names are safe
        segment.export(
            out, format=container, codec=codec, bitrate=bitrate, parameters=parameters or None
        )
