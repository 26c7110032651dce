"""Every network body a genre model may have, by the name its file gives it
(``states.Net``): how it is built, how big its embedding is, what hears a window for it
(its frontend), and which back end classifies its embeddings. ``GenreNet`` and the model
file's checks read this table and nothing else; adding an architecture is one module and
one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from genretag.models.featuremlp import FeatureFrontend, FeatureMLP
from genretag.models.frontend import LogMel
from genretag.models.heads import OutputLayer
from genretag.models.musicnn import BackEnd, MusiCNNBackbone
from genretag.models.params import Architecture, AudioParams
from genretag.models.samplecnn import SampleCNN, Waveform
from genretag.models.vgg import VGGBackbone
from genretag.states import Net


@dataclass(frozen=True)
class Body:
    """One architecture: ``build(arch, params)`` -> (backbone, embedding size), its
    ``frontend``, and whether musicnn's dense back end classifies its embeddings (else a
    single output layer)."""

    build: Callable[[Architecture, AudioParams], tuple[nn.Module, int]]
    frontend: Callable[[AudioParams, torch.Tensor | None], nn.Module]
    dense_back_end: bool = False


def _musicnn(arch: Architecture, params: AudioParams) -> tuple[nn.Module, int]:
    return MusiCNNBackbone(arch, params.n_mels), 2 * arch.embedding_size()  # max and mean


def _vgg(arch: Architecture, params: AudioParams) -> tuple[nn.Module, int]:
    filters = int(arch.frontend_filters * 80)
    return VGGBackbone(filters), VGGBackbone.embedding_size(
        filters, params.window_frames, params.n_mels
    )


def _features_mlp(arch: Architecture, params: AudioParams) -> tuple[nn.Module, int]:
    from genretag.models.features import COLUMNS

    return FeatureMLP(len(COLUMNS), arch.backend_units), arch.backend_units


def _raw_cnn(arch: Architecture, params: AudioParams) -> tuple[nn.Module, int]:
    return SampleCNN(arch.midend_filters), 4 * arch.midend_filters


BODIES: dict[Net, Body] = {
    Net.MUSICNN: Body(_musicnn, LogMel, dense_back_end=True),
    Net.VGG: Body(_vgg, LogMel),
    Net.FEATURES_MLP: Body(_features_mlp, lambda params, mel_basis: FeatureFrontend()),
    Net.RAW_CNN: Body(_raw_cnn, lambda params, mel_basis: Waveform()),
}


def body_of(arch: Architecture) -> Body:
    return BODIES[Net(arch.name)]


def frontend_of(
    arch: Architecture, params: AudioParams, mel_basis: torch.Tensor | None = None
) -> nn.Module:
    """What turns a window's samples into the network's input, by architecture."""
    return body_of(arch).frontend(params, mel_basis)


def back_end(arch: Architecture, embedding_dim: int, n_outputs: int) -> nn.Module:
    """What classifies a window's embedding into ``n_outputs``."""
    if body_of(arch).dense_back_end:
        return BackEnd(embedding_dim, arch.backend_units, n_outputs)
    return OutputLayer(embedding_dim, n_outputs)
