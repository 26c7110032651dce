"""The CNN (a PyTorch port of musicnn) and the model file that carries it.

A model file is a ``.safetensors`` file: tensors plus one JSON metadata entry holding the
labels, the :class:`~tagger.audio.AudioParams`, the architecture sizes, the columns of an
optional feature head (``LinearHead`` over ``tagger.features``, fused per track), the
pretrained tagger's tags and the genres named by them (``TagGenres``) and a model id. It is
loaded without pickle, so a model from anywhere cannot run code.

Architecture (Pons & Serra, "musicnn", 2019), input (batch, frames, n_mels):
- front end: batch norm, then "timbral" convolutions (7 frames x 40%/70% of the mel bands) and
  "temporal" convolutions (128/64/32 frames x 1 band), each max-pooled over frequency;
- mid end: three 1-D convolutions over time (kernel 7) with residual connections, densely
  concatenated with the front end's output;
- back end: max and mean over time, a dense layer, and the output layer.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genretag.models.file import (
    FORMAT,
    FORMAT_VERSION,
    MEL_KEY,
    FeatureHead,
    FillIn,
    ModelFileError,
    ModelMeta,
    check_whole,
    default_model_path,
    read_metadata,
    weights_id,
    write_model_file,
)
from genretag.models.frontend import AudioParams, LogMel, mel_filters
from genretag.models.params import Architecture
from genretag.models.pooling import WindowPool, pools_of_statistics
from genretag.states import ModelKind

__all__ = ["Architecture", "GenreNet", "LinearHead", "Model", "ModelFileError",
           "default_model_path", "load_model", "read_metadata", "save_model"]

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

    def _max_over_freq(self, z: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
        """max over frequency of bn(relu(z)): (batch, C, time, freq) -> (batch, C, time).

        In evaluation, batch norm is a per-channel map a*x + b and ReLU is monotonic, so the
        max can be taken first, on a tensor as many times smaller as there are frequency
        positions (docs/performance.md has the gain): where
        a < 0 the max of a*relu(z) + b sits at the min of z. Exactly equal; training keeps
        the plain order, where batch statistics need the whole tensor.
        """
        if self.training:
            return bn(F.relu(z)).amax(dim=3)
        low, high = torch.aminmax(z, dim=3)
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        picked = torch.where((scale >= 0)[None, :, None], high, low)
        return bn(F.relu(picked).unsqueeze(-1)).squeeze(-1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        f = self.frames(mel)
        return torch.stack([f.amax(dim=2), f.mean(dim=2)], dim=2).flatten(1)


class VGGBackbone(nn.Module):
    """musicnn's VGG baseline: (batch, frames, n_mels) log-mel -> (batch, embedding) the
    flattened last pooling (time, frequency, channel order, as TensorFlow flattens it).

    Five 3x3 convolutions, each followed by ReLU, batch norm and a max pooling ((4, 1) then
    (2, 2) three times, strides 2, then (4, 4) stride 4; TensorFlow's "valid" pooling).
    """

    POOLS = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)),
             ((4, 4), (4, 4)))

    def __init__(self, filters: int):
        super().__init__()
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        self.convs = nn.ModuleList([nn.Conv2d(1 if i == 0 else filters, filters, 3, padding=1)
                                    for i in range(5)])
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


class FeatureFrontend(nn.Module):
    """Samples (batch, samples) at ``models.features.SAMPLE_RATE`` -> each window's table features
    (batch, n_columns), computed by ``tagger.features`` (librosa, on the CPU) as the GTZAN
    table's 3-second rows were: the frontend of a ``features-mlp`` network."""

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        from genretag.models import features

        rows = [features.vector(features.features(x), features.COLUMNS)
                for x in samples.detach().cpu().numpy()]
        return torch.from_numpy(np.stack(rows)).to(samples.device)


class FeatureMLP(nn.Module):
    """A feed-forward network on a window's table features: (batch, n_columns) raw values ->
    (batch, units), standardised by the training windows' mean and scale, then two hidden
    layers (linear, batch norm, ReLU, dropout)."""

    def __init__(self, n_in: int, units: int, dropout: float = 0.3):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("scale", torch.ones(n_in))
        self.layers = nn.Sequential(
            nn.Linear(n_in, units), nn.BatchNorm1d(units), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(units, units), nn.BatchNorm1d(units), nn.ReLU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers((x - self.mean) / self.scale)


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
        self.stem = nn.Sequential(nn.Conv1d(1, chans[0], 3, stride=3),
                                  nn.BatchNorm1d(chans[0]), nn.ReLU())
        self.blocks = nn.Sequential(*[
            nn.Sequential(nn.Conv1d(chans[i - 1], chans[i], 3, padding=1),
                          nn.BatchNorm1d(chans[i]), nn.ReLU(), nn.MaxPool1d(3))
            for i in range(1, len(chans))])
        self.dropout = nn.Dropout(dropout)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        if samples.dim() == 3:  # (batch, samples, 1): training's windows, cut as 2-D clips
            samples = samples.squeeze(-1)
        x = self.blocks(self.stem(samples.unsqueeze(1)))
        return self.dropout(x.amax(dim=-1))


def frontend_of(arch: Architecture, params: AudioParams,
                mel_basis: torch.Tensor | None = None) -> nn.Module:
    """What turns a window's samples into the network's input, by architecture."""
    if arch.hears_features:
        return FeatureFrontend()
    if arch.hears_waveform:
        return Waveform()
    return LogMel(params, mel_basis)


class OutputLayer(nn.Module):
    """The VGG baseline's back end: one dense layer, (batch, embedding) -> (batch, n)."""

    def __init__(self, in_features: int, n_outputs: int):
        super().__init__()
        self.out = nn.Linear(in_features, n_outputs)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.out(pooled)


class Head(nn.Module):
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


class LinearHead(nn.Module):
    """A logistic regression over standardised inputs: (batch, n_in) raw values ->
    (batch, n_out) logits (trained with scikit-learn, run without it)."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("scale", torch.ones(n_in))
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x - self.mean) / self.scale)


def geometric_mix(log_a: torch.Tensor, log_b: torch.Tensor, weight: float | torch.Tensor,
                  temperature: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Two distributions' log-probabilities (..., n) -> the log-probabilities of their
    normalised weighted geometric mean, ``weight`` giving the first one's share, sharpened or
    flattened by ``temperature``. Every fusion of two heads goes through here."""
    return torch.log_softmax((weight * log_a + (1 - weight) * log_b) / temperature, dim=-1)


class Familiarity(nn.Module):
    """How much a track is like the music a head was trained on: the distance of its
    standardised embedding statistics from the nearest genre's centre among the training
    clips, through a logistic map ``sigmoid(slope * log(distance) + bias)`` fitted on genres
    held out of training. The exclusive genres are multiplied by it, so music of a genre the
    head never heard comes out unsure instead of confidently Rock. The defaults (slope 0)
    find every track familiar: model files from before it have none.

    (batch, dim) standardised statistics -> (batch,) in (0, 1].
    """

    def __init__(self, n_labels: int, dim: int):
        super().__init__()
        self.register_buffer("centres", torch.zeros(n_labels, dim))
        self.register_buffer("slope", torch.tensor(0.0))
        self.register_buffer("bias", torch.tensor(30.0))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.slope * torch.log(centre_distance(z, self.centres))
                             + self.bias)


def centre_distance(z: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """(batch, dim) points, (n, dim) centres -> (batch,) the root mean square difference
    from the nearest centre."""
    d2 = (z[:, None, :] - centres[None]).pow(2).mean(-1)
    return d2.min(-1).values.clamp_min(1e-12).sqrt()


class TrackHead(nn.Module):
    """A track's exclusive genres from its pooled window outputs (a GTZAN clip has one genre).

    Two linear heads, fused as a weighted geometric mean and temperature-scaled:
    - on the backbone's embeddings, their mean and max over windows (batch, 2 * emb);
    - on the pretrained tagger's tag logits, their mean over windows (batch, n_tags): the
      tagger learned its tags from far more artists than a genre dataset has.
    """

    def __init__(self, emb: int, n_tags: int, n_labels: int):
        super().__init__()
        self.embedding = LinearHead(2 * emb, n_labels)
        self.tags = LinearHead(n_tags, n_labels)
        self.register_buffer("embedding_weight", torch.tensor(0.5))
        self.register_buffer("temperature", torch.tensor(1.0))
        self.familiarity = Familiarity(n_labels, 2 * emb)

    def familiar(self, emb_mean: torch.Tensor, emb_max: torch.Tensor) -> torch.Tensor:
        """(batch,) how familiar each track's music is (:class:`Familiarity`), on the
        embedding probe's own standardisation."""
        z = (torch.cat([emb_mean, emb_max], -1) - self.embedding.mean) / self.embedding.scale
        return self.familiarity(z)

    def forward(self, emb_mean: torch.Tensor, emb_max: torch.Tensor, tag_mean: torch.Tensor
                ) -> torch.Tensor:
        """-> (batch, n_labels) log-probabilities."""
        return geometric_mix(
            torch.log_softmax(self.embedding(torch.cat([emb_mean, emb_max], -1)), -1),
            torch.log_softmax(self.tags(tag_mean), -1), self.embedding_weight, self.temperature)


class TagGenres(nn.Module):
    """Genres the pretrained tagger names and the genre dataset lacks (Electronic, Folk...),
    each an independent probability: the highest mean logit among the genre's tags, through
    one logistic calibration ``sigmoid(a * logit + b)`` shared by all of them.

    (batch, n_tags) mean tag logits -> (batch, n_genres) probabilities.
    """

    def __init__(self, n_genres: int, n_tags: int):
        super().__init__()
        self.register_buffer("members", torch.zeros(n_genres, n_tags))  # 1 where a tag names it
        self.register_buffer("scale", torch.tensor(1.0))
        self.register_buffer("bias", torch.tensor(0.0))

    def scores(self, tag_mean: torch.Tensor) -> torch.Tensor:
        masked = tag_mean[:, None, :].masked_fill(self.members[None] == 0, float("-inf"))
        return masked.amax(-1)

    def forward(self, tag_mean: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.scale * self.scores(tag_mean) + self.bias)


class GenreNet(nn.Module):
    """The musicnn backbone with one of two kinds of genre head (``Architecture.head``).

    - ``window``: musicnn's back end classifies each log-mel window (batch, frames, n_mels);
      a track's probabilities are the mean over its windows. It may carry a feature head
      (:class:`LinearHead` over ``tagger.features``), fused per track as the normalised
      weighted geometric mean, ``cnn_weight`` giving the CNN's share (``fuse``).
    - ``track``: each window yields its embedding and the pretrained tagger's tag logits;
      a :class:`TrackHead` classifies the track from their pooled statistics into the
      exclusive labels, and :class:`TagGenres` adds independent genres from the tags.

    Either way a window's outputs (``window_outputs``) are pooled per track
    (``tagger.pooling.WindowPool``) and ``track_probabilities`` turns the pool into the
    track's probabilities: the one path from windows to a track, for scans and evaluation.
    """

    def __init__(self, arch: Architecture, params: AudioParams, n_labels: int,
                 n_features: int = 0, cnn_weight: float = 1.0, n_tags: int = 0,
                 n_tag_genres: int = 0, fill: FillIn | None = None):
        super().__init__()
        self.arch, self.params = arch, params
        if arch.name == "vgg":
            filters = int(arch.frontend_filters * 80)
            self.backbone: nn.Module = VGGBackbone(filters)
            self.embedding_dim = VGGBackbone.embedding_size(filters, params.window_frames,
                                                            params.n_mels)
        elif arch.hears_features:
            from genretag.models.features import COLUMNS

            self.backbone = FeatureMLP(len(COLUMNS), arch.backend_units)
            self.embedding_dim = arch.backend_units
        elif arch.hears_waveform:
            self.backbone = SampleCNN(arch.midend_filters)
            self.embedding_dim = 4 * arch.midend_filters
        else:
            self.backbone = MusiCNNBackbone(arch, params.n_mels)
            self.embedding_dim = 2 * arch.embedding_size()  # max and mean over time

        def back_end(n_outputs: int) -> nn.Module:
            if arch.name in ("vgg", "features-mlp", "raw-cnn"):
                return OutputLayer(self.embedding_dim, n_outputs)
            return Head(self.embedding_dim, arch.backend_units, n_outputs)

        self.library: LinearHead | None = None
        self.register_buffer("fill", None)  # the base model's outputs a learnt one fills in
        if arch.head == "track":
            n_exclusive = n_labels - n_tag_genres
            self.head = back_end(n_tags)  # the pretrained tagger
            self.track: TrackHead | None = TrackHead(self.embedding_dim, n_tags, n_exclusive)
            self.tag_genres = TagGenres(n_tag_genres, n_tags) if n_tag_genres else None
        elif arch.head == "library":  # genres learnt from a library's own tags
            self.head = back_end(n_tags)
            self.track, self.tag_genres = None, None
            n_learnt = n_labels - (len(fill.take) if fill else 0)
            self.library = LinearHead(2 * self.embedding_dim + n_tags, n_learnt)
            if fill:  # the base model's heads, for the labels they fill in
                self.track = TrackHead(self.embedding_dim, n_tags, fill.exclusive)
                self.tag_genres = TagGenres(fill.tag_genres, n_tags) if fill.tag_genres \
                    else None
                self.register_buffer("fill", torch.tensor(fill.take, dtype=torch.long))
        else:
            self.head = back_end(n_labels)
            self.track, self.tag_genres = None, None
        self.features = LinearHead(n_features, n_labels - n_tag_genres) if n_features else None
        self.cnn_weight = cnn_weight if n_features else 1.0

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(mel))

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        if self.arch.activation == "sigmoid":
            return torch.sigmoid(logits)
        return torch.softmax(logits, dim=-1)

    def window_outputs(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(batch, embedding) backbone outputs -> what a track pools of each window:
        (batch, n_labels) probabilities for a ``window`` head; the embedding and the
        tagger's tag logits, (batch, embedding + n_tags), for a ``track`` head."""
        if not self.pools_statistics:
            return self.probabilities(self.head(embeddings))
        return torch.cat([embeddings, self.head(embeddings)], dim=-1)

    @property
    def pools_statistics(self) -> bool:
        """A head on each track's pooled backbone statistics (``statistics``), rather
        than on each window."""
        return self.track is not None or self.library is not None

    def statistics(self, mean: torch.Tensor, maximum: torch.Tensor) -> torch.Tensor:
        """Pooled window outputs (batch, embedding + n_tags), their mean and max -> the
        track's backbone statistics (batch, 2 * embedding + n_tags): the embeddings' mean
        and max, and the tag logits' mean."""
        emb = self.embedding_dim
        return torch.cat([mean[:, :emb], maximum[:, :emb], mean[:, emb:]], dim=-1)

    def track_probabilities(self, mean: torch.Tensor, maximum: torch.Tensor,
                            features: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled window outputs, their mean and max over windows (batch, dim), and the
        tracks' table features (batch, n_features) or None -> (batch, n_labels)."""
        if self.library is not None:  # independent, calibrated probabilities
            learnt = torch.sigmoid(self.library(self.statistics(mean, maximum)))
            if self.fill is None:
                return learnt
            return torch.cat([learnt, self._track_head(mean, maximum, None)[:, self.fill]], -1)
        if self.track is None:
            return self.fuse(mean, features)
        return self._track_head(mean, maximum, features)

    def _track_head(self, mean: torch.Tensor, maximum: torch.Tensor,
                    features: torch.Tensor | None) -> torch.Tensor:
        """The exclusive genres (``TrackHead``), then the tagger's genres (``TagGenres``)."""
        emb = mean.shape[-1] - self.head.out.out_features
        exclusive = self.fuse(torch.softmax(self.track(mean[:, :emb], maximum[:, :emb],
                                                       mean[:, emb:]), -1), features) \
            * self.track.familiar(mean[:, :emb], maximum[:, :emb])[:, None]
        if self.tag_genres is None:
            return exclusive
        return torch.cat([exclusive, self.tag_genres(mean[:, emb:])], dim=-1)

    def attach_features(self, head: LinearHead, cnn_weight: float) -> "GenreNet":
        """Give the net a feature head, weighted ``1 - cnn_weight`` in ``fuse``."""
        self.features, self.cnn_weight = head, cnn_weight
        return self

    def fuse(self, cnn: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        """(batch, n) CNN probabilities and (batch, n_features) features -> fused (batch, n)
        probabilities; the CNN's alone without a feature head."""
        if self.features is None or features is None:
            return cnn
        return torch.exp(geometric_mix(torch.log(cnn.clamp_min(1e-9)),
                                       torch.log_softmax(self.features(features), dim=-1),
                                       self.cnn_weight))


@dataclass
class Model:
    """A loaded model on PyTorch: network, frontend and the metadata that came with it
    (a ``models.base.Network``)."""

    runtime = "torch"  # beside runtime.OnnxModel, which answers the same questions
    net: GenreNet
    frontend: nn.Module  # LogMel, FeatureFrontend or Waveform (``frontend_of``)
    labels: list[str]
    params: AudioParams
    model_id: str
    metadata: ModelMeta

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def device_type(self) -> str:
        return self.device.type

    @property
    def pools_statistics(self) -> bool:
        """Its head reads pooled backbone statistics (``GenreNet.pools_statistics``)."""
        return self.net.pools_statistics

    def window_outputs_of(self, samples: np.ndarray, embeddings: bool = False
                          ) -> tuple[np.ndarray, float]:
        """(batch, window_samples) float32 samples -> their window outputs (batch, dim),
        or (``embeddings``) the backbone's (batch, embedding), and the frontend's seconds."""
        import time

        t0 = time.perf_counter()
        with torch.inference_mode():
            mel = self.frontend(torch.from_numpy(samples).to(self.device, non_blocking=True))
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            frontend = time.perf_counter() - t0
            outputs = (self.embeddings if embeddings else self.window_outputs)(mel)
            return outputs.cpu().numpy(), frontend

    def to(self, device: torch.device | str) -> "Model":
        self.net.to(device)
        self.frontend.to(device)
        return self

    def _autocast(self, mel: torch.Tensor):
        """On CUDA the CNN runs in float16 (the frontend stays float32: its log needs the
        range); elsewhere in float32."""
        import contextlib

        if mel.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def predict_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """(batch, frames, n_mels) log-mel -> (batch, n_outputs) probabilities of the
        network's own output layer, window by window (a tagger's tags)."""
        with self._autocast(mel):
            logits = self.net(mel)
        return self.net.probabilities(logits.float())

    @torch.inference_mode()
    def embeddings(self, mel: torch.Tensor) -> torch.Tensor:
        """(batch, frames, n_mels) log-mel -> (batch, embedding) backbone outputs."""
        with self._autocast(mel):
            return self.net.backbone(mel).float()

    @torch.inference_mode()
    def window_outputs(self, mel: torch.Tensor) -> torch.Tensor:
        """(batch, frames, n_mels) log-mel -> (batch, dim) what a track pools of each
        window (``GenreNet.window_outputs``)."""
        with self._autocast(mel):
            return self.net.window_outputs(self.net.backbone(mel)).float()

    @torch.inference_mode()
    def outputs_of_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """Cached backbone outputs (windows, embedding) -> window outputs (windows, dim),
        as ``window_outputs`` computes them from audio (training caches embeddings)."""
        x = torch.from_numpy(embeddings).float().to(self.device)
        return self.net.window_outputs(x).cpu().numpy()

    @property
    def feature_columns(self) -> list[str]:
        """The table features the model needs per track ([] when it has no feature head)."""
        return list(self.metadata.features.columns) if self.metadata.features else []

    @property
    def independent(self) -> list[str]:
        """Labels whose probability stands alone (a track can have several); the others
        are exclusive (their probabilities add up to one)."""
        return self.metadata.independent

    @torch.inference_mode()
    def track_probabilities(self, pool: WindowPool, features: np.ndarray | None = None
                            ) -> np.ndarray:
        """A track's probabilities (n_labels,) from its pooled window outputs and, for a
        model with a feature head, its table features (n_features,)."""
        dev = self.device

        def tensor(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.asarray(x, dtype=np.float32))[None].to(dev)

        fx = tensor(features) if self.net.features is not None and features is not None \
            else None
        return self.net.track_probabilities(tensor(pool.mean), tensor(pool.max), fx)[0] \
            .cpu().numpy()

    @torch.inference_mode()
    def probabilities_of_statistics(self, stats: np.ndarray) -> np.ndarray:
        """Tracks' backbone statistics (tracks, 2 * embedding + n_tags), as ``statistics``
        gives them -> (tracks, n_labels), the probabilities ``track_probabilities`` gives
        for the pools they came from; for a head on pooled statistics only."""
        mean, maximum = pools_of_statistics(np.asarray(stats, dtype=np.float32),
                                            self.net.embedding_dim)
        return self.net.track_probabilities(torch.from_numpy(mean).to(self.device),
                                            torch.from_numpy(maximum).to(self.device)
                                            ).cpu().numpy()

    @torch.inference_mode()
    def statistics(self, pool: WindowPool) -> np.ndarray | None:
        """A track's backbone statistics (``GenreNet.statistics``) as float16, compact
        enough for the cache (what ``genretag learn`` learns from); None for a model
        whose head does not pool them."""
        if not self.net.pools_statistics:
            return None
        mean = torch.from_numpy(pool.mean.astype(np.float32))[None]
        maximum = torch.from_numpy(pool.max.astype(np.float32))[None]
        return self.net.statistics(mean, maximum)[0].numpy().astype(np.float16)

    @functools.cached_property
    def backbone_id(self) -> str:
        """An id of what makes the statistics: the audio parameters, the backbone and the
        tagger's weights. Models that share them (the default model, and every model
        ``learn`` made from it) share the statistics in the cache."""
        h = hashlib.sha256(json.dumps(self.params.to_dict(), sort_keys=True).encode())
        state = self.net.state_dict()
        for name in sorted(k for k in state if k.startswith(("backbone.", "head."))):
            h.update(name.encode())
            h.update(state[name].detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def window_probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """Each window heard alone, as if it were a whole track: window outputs
        (windows, dim) -> (windows, n_labels), for a timeline."""
        return np.stack([self.track_probabilities(WindowPool.of(o[None])) for o in outputs])

    @torch.inference_mode()
    def predict_windows(self, samples: torch.Tensor) -> torch.Tensor:
        """(batch, window_samples) float32 samples -> (batch, n_outputs) per-window
        probabilities of the network's output layer (``predict_mel``)."""
        return self.predict_mel(self.frontend(samples.to(self.device, non_blocking=True)))


def model_id_of(tensors: dict[str, torch.Tensor], meta: dict) -> str:
    """A stable id from the weights and what they mean (``models.file.weights_id``)."""
    return weights_id(meta, ((name, tensors[name].detach().cpu().contiguous().numpy().tobytes())
                             for name in sorted(tensors)))


def save_model(
    path: Path,
    net: GenreNet,
    labels: list[str],
    params: AudioParams,
    extra: dict | None = None,
    kind: ModelKind = ModelKind.GENRE_MODEL,
) -> str:
    """Write ``net`` with its metadata to ``path`` (safetensors); returns the model id.
    ``kind``: a genre model, or a pretrained backbone (whose tags are not genres)."""
    tensors = {k: v.detach().cpu().contiguous().numpy() for k, v in net.state_dict().items()
               if not k.endswith("num_batches_tracked")}
    # the mel filterbank travels with the audio parameters it was made from
    if net.arch.hears_mels:
        tensors[MEL_KEY] = mel_filters(params)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": ModelKind(kind).value,
        "labels": list(labels),
        "audio": params.to_dict(),
        "architecture": net.arch.to_dict(),
        **(extra or {}),
    }
    if net.features is not None:
        meta["features"] = {**meta.get("features", {}), "cnn_weight": net.cnn_weight}
    return write_model_file(path, tensors, meta)


def build_net(meta: ModelMeta) -> GenreNet:
    arch = meta.architecture
    if arch.head not in ("window", "track", "library"):
        raise ModelFileError(f"unknown genre head {arch.head!r}")
    if arch.name not in ("musicnn", "vgg", "features-mlp", "raw-cnn"):
        raise ModelFileError(f"unknown architecture {arch.name!r}")
    feats = meta.features or FeatureHead()
    return GenreNet(arch, meta.audio, len(meta.labels), len(feats.columns), feats.cnn_weight,
                    len(meta.tags), len(meta.tag_genres), meta.fill_in)


def load_model(path: Path, device: torch.device | str = "cpu") -> Model:
    """Load a model file onto ``device``, in evaluation mode."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    check_whole(path)
    try:
        net = build_net(meta)
    except (KeyError, TypeError, ValueError, ModelFileError) as e:
        raise ModelFileError(f"{path}: not a usable genretag model ({e})") from None
    try:
        state = load_file(str(path))
        mel_basis = state.pop(MEL_KEY, None)
        missing, unexpected = net.load_state_dict(state, strict=False)
    except Exception as e:
        raise ModelFileError(f"{path}: weights do not fit the architecture ({e})") from None
    # a file from before the familiarity (``Familiarity``) keeps its defaults: all familiar
    missing = [k for k in missing if not k.endswith("num_batches_tracked")
               and ".familiarity." not in k]
    if missing or unexpected:
        raise ModelFileError(f"{path}: weights do not fit the architecture "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    from genretag.models.features import COLUMNS

    unknown = [c for c in (meta.features.columns if meta.features else ()) if c not in COLUMNS]
    if unknown:
        raise ModelFileError(f"{path}: needs features this version cannot compute "
                             f"({', '.join(unknown[:3])})")
    net.eval()
    model = Model(net, frontend_of(net.arch, meta.audio, mel_basis), list(meta.labels),
                  meta.audio, meta.model_id, meta)
    return model.to(device)
