"""SampleCNN: a 1-D CNN on the raw waveform, heard through :class:`Waveform`."""

from __future__ import annotations

import torch
from torch import nn


class Waveform(nn.Module):
    """Samples (batch, samples) -> the same, as float32: the frontend of a ``raw-cnn``."""

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        return samples.float()


class SampleCNN(nn.Module):
    """A 1-D CNN on the raw waveform after SampleCNN (Lee et al. 2017, the 3^9 model):
    (batch, samples) -> (batch, 4 * width). A convolution of 3 samples with stride 3, then
    nine blocks of a 3-sample convolution, batch norm, ReLU and a max-pooling by 3; a window
    of 3^10 = 59,049 samples ends as one step per channel (longer inputs are max-pooled over
    what is left). ``width`` channels at first, twice that from the fourth block, four
    times in the last."""

    def __init__(self, width: int, dropout: float = 0.5):
        super().__init__()
        chans = [width] * 3 + [2 * width] * 6 + [4 * width]
        self.stem = nn.Sequential(
            nn.Conv1d(1, chans[0], 3, stride=3), nn.BatchNorm1d(chans[0]), nn.ReLU()
        )
        self.blocks = nn.Sequential(
            *[
                nn.Sequential(
                    nn.Conv1d(chans[i - 1], chans[i], 3, padding=1),
                    nn.BatchNorm1d(chans[i]),
                    nn.ReLU(),
                    nn.MaxPool1d(3),
                )
                for i in range(1, len(chans))
            ]
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        if samples.dim() == 3:  # (batch, samples, 1): training's windows, cut as 2-D clips
            samples = samples.squeeze(-1)
        x = self.blocks(self.stem(samples.unsqueeze(1)))
        return self.dropout(x.amax(dim=-1))
