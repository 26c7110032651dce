"""musicnn (Pons & Serra, 2019), ported to PyTorch: the backbone and its back end.

Input (batch, frames, n_mels):
- front end: batch norm, then "timbral" convolutions (7 frames x 40%/70% of the mel bands)
  and "temporal" convolutions (128/64/32 frames x 1 band), each max-pooled over frequency;
- mid end: three 1-D convolutions over time (kernel 7) with residual connections, densely
  concatenated with the front end's output;
- back end (:class:`BackEnd`): max and mean over time, a dense layer, and the output layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genretag.models.params import Architecture

BN_EPS = 1e-3  # TensorFlow's default, which musicnn was trained with


def _pad_time(x: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """Zero-pad the time axis (dim 2) of a (batch, channels, time, freq) tensor."""
    return F.pad(x, (0, 0, before, after))


class MusiCNNBackbone(nn.Module):
    """(batch, frames, n_mels) log-mel -> (batch, 2 * embedding_size) pooled features.

    The pooled vector interleaves max and mean per channel, [max_0, mean_0, max_1, ...],
    as musicnn's TensorFlow graph flattens them; keeping that order keeps weights portable.
    """

    def __init__(self, arch: Architecture, n_mels: int):
        super().__init__()
        timbral, temporal, mid = arch.timbral_filters, arch.temporal_filters, arch.midend_filters
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        self.timbral = nn.ModuleList(
            [nn.Conv2d(1, timbral, (7, int(share * n_mels))) for share in (0.4, 0.7)]
        )
        self.timbral_bn = nn.ModuleList([nn.BatchNorm2d(timbral, eps=BN_EPS) for _ in range(2)])
        self.temporal_kernels = (128, 64, 32)
        self.temporal = nn.ModuleList(
            [nn.Conv2d(1, temporal, (k, 1)) for k in self.temporal_kernels]
        )
        self.temporal_bn = nn.ModuleList(
            [nn.BatchNorm2d(temporal, eps=BN_EPS) for _ in self.temporal_kernels]
        )
        channels = arch.frontend_channels()
        self.mid = nn.ModuleList(
            [nn.Conv1d(channels, mid, 7, padding=3)]
            + [nn.Conv1d(mid, mid, 7, padding=3) for _ in range(2)]
        )
        self.mid_bn = nn.ModuleList([nn.BatchNorm1d(mid, eps=BN_EPS) for _ in range(3)])

    def frames(self, mel: torch.Tensor) -> torch.Tensor:
        """(batch, frames, n_mels) -> (batch, embedding_size, frames) per-frame features."""
        x = self.input_bn(mel.unsqueeze(1))
        front = []
        for conv, bn in zip(self.timbral, self.timbral_bn):
            front.append(self._max_over_freq(conv(_pad_time(x, 3, 3)), bn))
        for k, conv, bn in zip(self.temporal_kernels, self.temporal, self.temporal_bn):
            # TensorFlow's "same" padding for an even kernel puts the extra frame after.
            front.append(self._max_over_freq(conv(_pad_time(x, (k - 1) // 2, k // 2)), bn))
        features = [torch.cat(front, dim=1)]
        h = features[0]
        for i, (conv, bn) in enumerate(zip(self.mid, self.mid_bn)):
            out = bn(F.relu(conv(h)))
            h = out if i == 0 else out + h
            features.append(h)
        return torch.cat(features, dim=1)

    def _max_over_freq(self, z: torch.Tensor, bn: nn.Module) -> torch.Tensor:
        """max over frequency of bn(relu(z)): (batch, C, time, freq) -> (batch, C, time).

        In evaluation, batch norm is a per-channel map a*x + b and ReLU is monotonic, so the
        max can be taken first, on a tensor as many times smaller as there are frequency
        positions (docs/performance.md has the gain): where
        a < 0 the max of a*relu(z) + b sits at the min of z. Exactly equal; training keeps
        the plain order, where batch statistics need the whole tensor.
        """
        if self.training:
            return bn(F.relu(z)).amax(dim=3)
        assert isinstance(bn, nn.BatchNorm2d) and bn.running_var is not None
        low, high = torch.aminmax(z, dim=3)
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        picked = torch.where((scale >= 0)[None, :, None], high, low)
        return bn(F.relu(picked).unsqueeze(-1)).squeeze(-1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        f = self.frames(mel)
        return torch.stack([f.amax(dim=2), f.mean(dim=2)], dim=2).flatten(1)


class BackEnd(nn.Module):
    """musicnn's back end: (batch, pooled) -> (batch, n_outputs) logits."""

    def __init__(self, in_features: int, units: int, n_outputs: int, dropout: float = 0.5):
        super().__init__()
        self.bn_in = nn.BatchNorm1d(in_features, eps=BN_EPS)
        self.dense = nn.Linear(in_features, units)
        self.bn_dense = nn.BatchNorm1d(units, eps=BN_EPS)
        self.out = nn.Linear(units, n_outputs)
        self.dropout = nn.Dropout(dropout)

    def hidden(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.bn_dense(F.relu(self.dense(self.dropout(self.bn_in(pooled)))))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(self.hidden(pooled)))
