"""The features MLP: a feed-forward network on each window's table features
(``models.features``), heard through :class:`FeatureFrontend`."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class FeatureFrontend(nn.Module):
    """Samples (batch, samples) at ``models.features.SAMPLE_RATE`` -> each window's table features
    (batch, n_columns), computed by ``tagger.features`` (librosa, on the CPU) as the GTZAN
    table's 3-second rows were: the frontend of a ``features-mlp`` network."""

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        from genretag.models import features

        rows = [
            features.vector(features.features(x), features.COLUMNS)
            for x in samples.detach().cpu().numpy()
        ]
        return torch.from_numpy(np.stack(rows)).to(samples.device)


class FeatureMLP(nn.Module):
    """A feed-forward network on a window's table features: (batch, n_columns) raw values ->
    (batch, units), standardised by the training windows' mean and scale, then two hidden
    layers (linear, batch norm, ReLU, dropout)."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, n_in: int, units: int, dropout: float = 0.3):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("scale", torch.ones(n_in))
        self.layers = nn.Sequential(
            nn.Linear(n_in, units),
            nn.BatchNorm1d(units),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(units, units),
            nn.BatchNorm1d(units),
            nn.ReLU(),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers((x - self.mean) / self.scale)
