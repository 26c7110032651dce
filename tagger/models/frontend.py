"""Audio parameters and the log-mel frontend.

The numbers themselves live in the model file (see ``model.py``): training and inference both
read an :class:`AudioParams` from there, so there is exactly one source of truth. This module
only knows how to turn mono float32 samples into the model's input, in torch, on the model's
device (after openai/whisper's ``audio.py``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from genretag.models.params import AudioParams

__all__ = ["AudioParams", "LogMel", "mel_filters"]


@lru_cache(maxsize=8)
def mel_filters(params: AudioParams) -> np.ndarray:
    """librosa's Slaney mel filterbank, shape (n_mels, n_fft // 2 + 1)."""
    import librosa  # imported lazily: librosa pulls scipy and numba, slow to import

    return librosa.filters.mel(
        sr=params.sample_rate, n_fft=params.n_fft, n_mels=params.n_mels
    ).astype(np.float32)


class LogMel(torch.nn.Module):
    """Samples (batch, samples) -> log-mel (batch, frames, n_mels), on the module's device.

    Matches ``librosa.feature.melspectrogram`` (power 2, Hann window, centred frames, zero
    padding) followed by ``log10(log_scale * mel + 1)``, computed in float32 throughout:
    musicnn's own extractor casts to float16 first, which overflows on loud music.
    """

    window: torch.Tensor
    mel_basis: torch.Tensor

    def __init__(self, params: AudioParams, mel_basis: torch.Tensor | None = None):
        """``mel_basis`` (n_mels, n_fft // 2 + 1) comes from the model file when it carries
        one (saving librosa's import at start-up); else librosa computes it."""
        super().__init__()
        self.params = params
        self.register_buffer("window", torch.hann_window(params.n_fft), persistent=False)
        if mel_basis is None:
            mel_basis = torch.from_numpy(mel_filters(params))
        self.register_buffer("mel_basis", mel_basis.float(), persistent=False)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        p = self.params
        spec = torch.stft(
            samples.float(),
            n_fft=p.n_fft,
            hop_length=p.hop_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()  # (batch, freqs, frames)
        mel = torch.matmul(self.mel_basis, power)  # (batch, n_mels, frames)
        return torch.log10(p.log_scale * mel + 1.0).transpose(1, 2)
