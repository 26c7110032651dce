"""musicnn's VGG baseline: five 3x3 convolutions over the log-mel window."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genretag.models.musicnn import BN_EPS


class VGGBackbone(nn.Module):
    """musicnn's VGG baseline: (batch, frames, n_mels) log-mel -> (batch, embedding) the
    flattened last pooling (time, frequency, channel order, as TensorFlow flattens it).

    Five 3x3 convolutions, each followed by ReLU, batch norm and a max pooling ((4, 1) then
    (2, 2) three times, strides 2, then (4, 4) stride 4; TensorFlow's "valid" pooling).
    """

    POOLS = (
        ((4, 1), (2, 2)),
        ((2, 2), (2, 2)),
        ((2, 2), (2, 2)),
        ((2, 2), (2, 2)),
        ((4, 4), (4, 4)),
    )

    def __init__(self, filters: int):
        super().__init__()
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        self.convs = nn.ModuleList(
            [nn.Conv2d(1 if i == 0 else filters, filters, 3, padding=1) for i in range(5)]
        )
        self.bns = nn.ModuleList([nn.BatchNorm2d(filters, eps=BN_EPS) for _ in range(5)])

    @classmethod
    def embedding_size(cls, filters: int, frames: int, n_mels: int) -> int:
        for (kt, kf), (st, sf) in cls.POOLS:
            frames, n_mels = (frames - kt) // st + 1, (n_mels - kf) // sf + 1
        return filters * frames * n_mels

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.input_bn(mel.unsqueeze(1))
        for conv, bn, (kernel, stride) in zip(self.convs, self.bns, self.POOLS):
            x = F.max_pool2d(bn(F.relu(conv(x))), kernel, stride)
        return x.permute(0, 2, 3, 1).flatten(1)
