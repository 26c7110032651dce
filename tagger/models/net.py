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
from torch import nn

from genretag.models import registry
from genretag.models.file import (
    MEL_KEY,
    FeatureHead,
    FillIn,
    ModelFileError,
    ModelMeta,
    Stacking,
    check_whole,
    default_model_path,
    header,
    read_metadata,
    write_model_file,
)
from genretag.models.frontend import AudioParams, mel_filters
from genretag.models.heads import LinearHead, StackedHead, TagGenres, TrackHead, geometric_mix
from genretag.models.params import Architecture
from genretag.models.pooling import WindowPool, pools_of_statistics
from genretag.models.registry import body_of, frontend_of
from genretag.states import Head, ModelKind, Net

__all__ = [
    "Architecture",
    "GenreNet",
    "LinearHead",
    "Model",
    "ModelFileError",
    "default_model_path",
    "load_model",
    "read_metadata",
    "save_model",
]


class GenreNet(nn.Module):
    """The musicnn backbone with one of its genre heads (``Architecture.head``).

    - ``window``: musicnn's back end classifies each log-mel window (batch, frames, n_mels);
      a track's probabilities are the mean over its windows. It may carry a feature head
      (:class:`LinearHead` over ``tagger.features``), fused per track as the normalised
      weighted geometric mean, ``cnn_weight`` giving the CNN's share (``fuse``).
    - ``genres`` (the default model): each window yields its embedding and the pretrained
      tagger's tag logits; one logistic regression per genre (a :class:`LinearHead`, through
      a sigmoid) reads the track's pooled statistics (``statistics``). Every genre is an
      independent probability.
    - ``track``: the same window outputs; a :class:`TrackHead` classifies the track from
      their pooled statistics into the exclusive labels, and :class:`TagGenres` adds
      independent genres from the tags.
    - ``library`` (``genretag learn``): over a base with a ``genres`` head, a
      :class:`StackedHead` on the statistics and the base's genres (``stacking``); in files
      made before it, a ``genres`` head learnt from a library's tags, then the outputs of
      its base model's own heads that fill in labels (``fill``).

    Either way a window's outputs (``window_outputs``) are pooled per track
    (``tagger.pooling.WindowPool``) and ``track_probabilities`` turns the pool into the
    track's probabilities: the one path from windows to a track, for scans and evaluation.
    """

    fill: torch.Tensor | None
    track: TrackHead | None
    tag_genres: TagGenres | None
    genres: LinearHead | None

    def __init__(
        self,
        arch: Architecture,
        params: AudioParams,
        n_labels: int,
        n_features: int = 0,
        cnn_weight: float = 1.0,
        n_tags: int = 0,
        n_tag_genres: int = 0,
        fill: FillIn | None = None,
        stacking: Stacking | None = None,
    ):
        super().__init__()
        self.arch, self.params, self.n_tags = arch, params, n_tags
        self.backbone, self.embedding_dim = body_of(arch).build(arch, params)

        def back_end(n_outputs: int) -> nn.Module:
            return registry.back_end(arch, self.embedding_dim, n_outputs)

        self.library: LinearHead | None = None
        self.genres = None
        self.track, self.tag_genres = None, None
        self.register_buffer("fill", None)  # the base model's outputs a learnt one fills in
        stats = 2 * self.embedding_dim + n_tags
        if arch.head == Head.GENRES:
            self.head = back_end(n_tags)  # the pretrained tagger
            self.genres = LinearHead(stats, n_labels)
        elif arch.head == Head.TRACK:
            n_exclusive = n_labels - n_tag_genres
            self.head = back_end(n_tags)  # the pretrained tagger
            self.track = TrackHead(self.embedding_dim, n_tags, n_exclusive)
            self.tag_genres = TagGenres(n_tag_genres, n_tags) if n_tag_genres else None
        elif arch.head == Head.LIBRARY and stacking:  # learnt over the base's genres
            self.head = back_end(n_tags)
            self.genres = LinearHead(stats, stacking.base)
            self.library = StackedHead(
                stats, stacking.base, n_labels, stacking.points, stacking.axes
            )
        elif arch.head == Head.LIBRARY:  # genres learnt from a library's own tags
            self.head = back_end(n_tags)
            n_learnt = n_labels - (len(fill.take) if fill else 0)
            self.library = LinearHead(stats, n_learnt)
            if fill and fill.genres:  # the base model's head, for the labels it fills in
                self.genres = LinearHead(stats, fill.genres)
            elif fill:
                self.track = TrackHead(self.embedding_dim, n_tags, fill.exclusive)
                self.tag_genres = TagGenres(fill.tag_genres, n_tags) if fill.tag_genres else None
            if fill:
                self.register_buffer("fill", torch.tensor(fill.take, dtype=torch.long))
        else:
            self.head = back_end(n_labels)
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
        return any(h is not None for h in (self.track, self.library, self.genres))

    def statistics(self, mean: torch.Tensor, maximum: torch.Tensor) -> torch.Tensor:
        """Pooled window outputs (batch, embedding + n_tags), their mean and max -> the
        track's backbone statistics (batch, 2 * embedding + n_tags): the embeddings' mean
        and max, and the tag logits' mean."""
        emb = self.embedding_dim
        return torch.cat([mean[:, :emb], maximum[:, :emb], mean[:, emb:]], dim=-1)

    def track_probabilities(
        self, mean: torch.Tensor, maximum: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pooled window outputs, their mean and max over windows (batch, dim), and the
        tracks' table features (batch, n_features) or None -> (batch, n_labels)."""
        if isinstance(self.library, StackedHead):
            assert self.genres is not None  # built beside it: the base's genres
            stats = self.statistics(mean, maximum)
            return self.library.probabilities(stats, torch.sigmoid(self.genres(stats)))
        if self.library is not None:  # independent, calibrated probabilities
            learnt = torch.sigmoid(self.library(self.statistics(mean, maximum)))
            if self.fill is None:
                return learnt
            return torch.cat([learnt, self._base_head(mean, maximum, None)[:, self.fill]], -1)
        if self.track is None and self.genres is None:
            return self.fuse(mean, features)
        return self._base_head(mean, maximum, features)

    def _base_head(
        self, mean: torch.Tensor, maximum: torch.Tensor, features: torch.Tensor | None
    ) -> torch.Tensor:
        """A model's own genre heads (a learnt model's base's): ``genres``, else the track
        head's."""
        if self.genres is not None:
            return torch.sigmoid(self.genres(self.statistics(mean, maximum)))
        return self._track_head(mean, maximum, features)

    def _track_head(
        self, mean: torch.Tensor, maximum: torch.Tensor, features: torch.Tensor | None
    ) -> torch.Tensor:
        """The exclusive genres (``TrackHead``), then the tagger's genres (``TagGenres``)."""
        assert self.track is not None  # a track head, or a library head's fill-in
        emb = mean.shape[-1] - self.n_tags
        exclusive = (
            self.fuse(
                torch.softmax(self.track(mean[:, :emb], maximum[:, :emb], mean[:, emb:]), -1),
                features,
            )
            * self.track.familiar(mean[:, :emb], maximum[:, :emb])[:, None]
        )
        if self.tag_genres is None:
            return exclusive
        return torch.cat([exclusive, self.tag_genres(mean[:, emb:])], dim=-1)

    def attach_features(self, head: LinearHead, cnn_weight: float) -> GenreNet:
        """Give the net a feature head, weighted ``1 - cnn_weight`` in ``fuse``."""
        self.features, self.cnn_weight = head, cnn_weight
        return self

    def fuse(self, cnn: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        """(batch, n) CNN probabilities and (batch, n_features) features -> fused (batch, n)
        probabilities; the CNN's alone without a feature head."""
        if self.features is None or features is None:
            return cnn
        return torch.exp(
            geometric_mix(
                torch.log(cnn.clamp_min(1e-9)),
                torch.log_softmax(self.features(features), dim=-1),
                self.cnn_weight,
            )
        )


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

    def window_outputs_of(
        self, samples: np.ndarray, embeddings: bool = False
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

    def to(self, device: torch.device | str) -> Model:
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
    def track_probabilities(
        self, pool: WindowPool, features: np.ndarray | None = None
    ) -> np.ndarray:
        """A track's probabilities (n_labels,) from its pooled window outputs and, for a
        model with a feature head, its table features (n_features,)."""
        dev = self.device

        def tensor(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.asarray(x, dtype=np.float32))[None].to(dev)

        fx = tensor(features) if self.net.features is not None and features is not None else None
        return (
            self.net.track_probabilities(tensor(pool.mean), tensor(pool.max), fx)[0].cpu().numpy()
        )

    @torch.inference_mode()
    def probabilities_of_statistics(self, stats: np.ndarray) -> np.ndarray:
        """Tracks' backbone statistics (tracks, 2 * embedding + n_tags), as ``statistics``
        gives them -> (tracks, n_labels), the probabilities ``track_probabilities`` gives
        for the pools they came from; for a head on pooled statistics only."""
        mean, maximum = pools_of_statistics(
            np.asarray(stats, dtype=np.float32), self.net.embedding_dim
        )
        return (
            self.net.track_probabilities(
                torch.from_numpy(mean).to(self.device), torch.from_numpy(maximum).to(self.device)
            )
            .cpu()
            .numpy()
        )

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
    tensors = {
        k: v.detach().cpu().contiguous().numpy()
        for k, v in net.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    # the mel filterbank travels with the audio parameters it was made from
    if net.arch.hears_mels:
        tensors[MEL_KEY] = mel_filters(params)
    meta = {**header(kind, labels, params, net.arch), **(extra or {})}
    if net.features is not None:
        meta["features"] = {**meta.get("features", {}), "cnn_weight": net.cnn_weight}
    return write_model_file(path, tensors, meta)


def build_net(meta: ModelMeta) -> GenreNet:
    arch = meta.architecture
    if arch.head not in set(Head):
        raise ModelFileError(f"unknown genre head {arch.head!r}")
    if arch.name not in set(Net):
        raise ModelFileError(f"unknown architecture {arch.name!r}")
    feats = meta.features or FeatureHead()
    return GenreNet(
        arch,
        meta.audio,
        len(meta.labels),
        len(feats.columns),
        feats.cnn_weight,
        len(meta.tags),
        len(meta.tag_genres),
        meta.fill_in,
        meta.stacking,
    )


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
    missing = [
        k for k in missing if not k.endswith("num_batches_tracked") and ".familiarity." not in k
    ]
    if missing or unexpected:
        raise ModelFileError(
            f"{path}: weights do not fit the architecture "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    from genretag.models.features import COLUMNS

    unknown = [c for c in (meta.features.columns if meta.features else ()) if c not in COLUMNS]
    if unknown:
        raise ModelFileError(
            f"{path}: needs features this version cannot compute ({', '.join(unknown[:3])})"
        )
    net.eval()
    model = Model(
        net,
        frontend_of(net.arch, meta.audio, mel_basis),
        list(meta.labels),
        meta.audio,
        meta.model_id,
        meta,
    )
    return model.to(device)
