"""What ``genretag train`` builds, as one function that ``evaluate`` runs per fold.

A model is made of
1. by default (``head="track"``), the pretrained musicnn kept whole and frozen, with a track
   head fitted on its pooled window outputs (``probe.fit_track_head``, nested choices) and
   the independent genres its tags name (``probe.fit_tag_genres``); or
2. a window head (``head="window"``): musicnn's back end fine-tuned per window
   (``windowhead.fit_head``), optionally fine-tuned whole afterwards (``--finetune-all``); or a
   smaller musicnn trained from scratch (``--from-scratch``);
3. optionally a feature head (``--features TABLE``): a logistic regression on the GTZAN-style
   feature table, fused per track (``GenreNet.fuse``).

``fit_model`` trains exactly that on a subset of clips, and ``predict`` hears the other clips
through the tagger's own path (``Model.track_probabilities`` on pooled window outputs, or the
tagger's ``Predictor`` on the files when the backbone itself was trained), so
cross-validation measures the very recipe and code that ship.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from genretag.models import features
from genretag.models.file import FeatureHead, ModelMeta
from genretag.models.net import Architecture, GenreNet, Model
from genretag.models.pooling import WindowPool
from genretag.models.registry import frontend_of
from genretag.states import ModelKind
from genretag.training.data.datasets import FeatureTable, Item
from genretag.training.recipes import rawcnn
from genretag.training.recipes.featuremlp import MLPConfig
from genretag.training.recipes.netfit import SCRATCH_SIZES, NetConfig, fit_net
from genretag.training.recipes.probe import (
    Chosen,
    Pooled,
    ProbeConfig,
    fit_linear,
    fit_tag_genres,
    fit_track_head,
)
from genretag.training.recipes.windowhead import HeadConfig, assemble, fit_head


@dataclass
class Labelled:
    """A dataset ready for training: per clip its window embeddings (windows, features),
    its log-mel (frames, n_mels) when a recipe trains at that level, its label; and the
    feature table with the same columns computed from each clip's audio, when given."""

    pretrained: Model
    items: list[Item]
    labels: list[str]
    windows: list[np.ndarray]
    y: np.ndarray
    table: FeatureTable | None = None
    clip_features: np.ndarray | None = None  # (clips, columns)
    mels: list[np.ndarray] | None = None
    feature_windows: list[np.ndarray] | None = None  # (windows, n_columns): features-mlp
    audio: list[np.ndarray] | None = None  # (samples, 1): raw-cnn
    device: str = "cpu"  # where whole networks train (heads train on the CPU: they are small)
    workers: int = 2  # decoders, when clips are heard again through the tagger
    _pooled: Pooled | None = None

    @property
    def groups(self) -> list[str]:
        return [i.group for i in self.items]

    @property
    def names(self) -> list[str]:
        """File stems ('blues.00000'), which is how a feature table names its rows."""
        return [i.path.stem for i in self.items]

    @property
    def tags(self) -> list[str]:
        """The pretrained tagger's own labels."""
        return self.pretrained.labels

    def pooled(self) -> Pooled:
        """Every clip pooled as the tagger pools a track, through the pretrained tagger
        taken as a track model (its window outputs: embeddings and tag logits)."""
        if self._pooled is None:
            tagger = track_model(self.pretrained, None, None, self.labels, {})
            emb = self.pretrained.net.embedding_dim
            self._pooled = Pooled.of([tagger.outputs_of_embeddings(w) for w in self.windows], emb)
        return self._pooled

    def fast_statistics(self, k: int) -> np.ndarray:
        """Every clip's backbone statistics (clips, 2 * embedding + n_tags) pooled as a fast
        scan pools a track: over the ``k`` full-coverage windows nearest to the starts
        ``windows.fast_starts`` gives (a fast scan seeks to those starts; the cache holds
        full coverage, every half window)."""
        from genretag.hearing.windows import fast_starts

        tagger = track_model(self.pretrained, None, None, self.labels, {})
        params = self.pretrained.params
        hop, size = params.window_hop_samples, params.window_samples
        emb = self.pretrained.net.embedding_dim
        out = []
        for w in self.windows:
            starts = np.arange(len(w)) * hop
            if len(w) > 1:  # the last full-coverage window is flush with the end
                starts[-1] = max(starts[-2] + 1, starts[-1])
            duration = (starts[-1] + size) / params.sample_rate
            want = np.array(fast_starts(duration, params.window_seconds, k)) * params.sample_rate
            pick = np.unique(np.abs(starts[None] - want[:, None]).argmin(1))
            o = tagger.outputs_of_embeddings(w[pick])
            out.append(np.concatenate([o[:, :emb].mean(0), o[:, :emb].max(0), o[:, emb:].mean(0)]))
        return np.stack(out)

    def summary(self) -> dict:
        out = {
            "clips": len(self.items),
            "per_label": {lab: int((self.y == i).sum()) for i, lab in enumerate(self.labels)},
            "groups": len(set(self.groups)),
            "groups_per_label": {
                lab: len({i.group for i in self.items if i.label == lab}) for lab in self.labels
            },
        }
        if self.table is not None:
            out["feature_table_rows"] = len(self.table.y)
            out["feature_table_per_label"] = {
                lab: int((self.table.y == i).sum()) for i, lab in enumerate(self.labels)
            }
        return out


@dataclass
class Recipe:
    head_kind: str = "track"  # track: probes on pooled windows; window: fine-tuned back end
    features_mlp: MLPConfig | None = None  # --arch features-mlp: no musicnn at all
    raw_cnn: bool = False  # --arch raw-cnn: from scratch (``scratch``), on the waveform
    n_mels: int = 0  # mel bands of a CNN from scratch (0: the backbone's, 96)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    from_scratch: bool = False
    scratch: NetConfig = field(default_factory=NetConfig)
    finetune_epochs: int = 0  # whole-network epochs after the head; 0: head only
    finetune: NetConfig = field(default_factory=lambda: NetConfig(lr=1e-5, freeze_bn=True))
    cnn_weight: float = 0.5  # the CNN's share when fused with a feature head
    feature_c: float = 0.1  # inverse regularisation of the feature head

    @property
    def genres(self) -> bool:
        """The default model's recipe (``recipes.genres``): several datasets, every genre
        independent."""
        return self.head_kind == "genres"

    @property
    def track(self) -> bool:
        return (
            self.head_kind == "track"
            and not self.from_scratch
            and not self.finetune_epochs
            and self.features_mlp is None
        )

    @property
    def needs_mels(self) -> bool:
        return (self.from_scratch and not self.raw_cnn) or self.finetune_epochs > 0

    @property
    def needs_audio(self) -> bool:
        return self.raw_cnn

    @property
    def needs_window_features(self) -> bool:
        return self.features_mlp is not None

    @property
    def cnn_name(self) -> str:
        if self.features_mlp is not None:
            return "features MLP"
        if self.raw_cnn:
            return "raw-waveform CNN"
        if self.from_scratch:
            return "from-scratch CNN"
        if self.track:
            return "track head"
        return "fine-tuned whole network" if self.finetune_epochs else "fine-tuned head"

    def describe(self) -> str:
        if self.raw_cnn:
            return (
                "SampleCNN-style 1-D CNN on the raw waveform (3^10-sample windows at "
                "22.05 kHz) trained from random weights on augmented windows"
            )
        if self.features_mlp is not None:
            return (
                "feed-forward network (two hidden layers, batch norm, dropout) on each "
                "3-second window's table features, class-balanced, early-stopped on "
                "held-out artists; a track is the mean of its windows"
            )
        if self.from_scratch:
            return (
                "musicnn architecture (narrow) trained from random weights on augmented "
                "log-mel windows"
            )
        if self.genres:
            return (
                "frozen musicnn tagger; one class-balanced logistic regression per genre "
                "on its pooled embeddings (mean, max) and tag logits (mean), learnt from "
                "several datasets with each genre masked where a dataset cannot tell it; "
                "regularisation, calibration and thresholds chosen in artist-grouped folds"
            )
        if self.track:
            return (
                "frozen musicnn tagger; class-balanced linear probes on its pooled "
                "embeddings (mean, max) and tag logits (mean), fused and temperature-"
                "scaled, every choice nested in artist-grouped folds; independent genres "
                "from its tags, calibrated on the dataset's genres it names"
            )
        out = (
            "frozen musicnn backbone, fine-tuned back end, zero-shot initialised output, "
            "class-balanced loss, L2-SP"
        )
        if self.finetune_epochs:
            out += f"; then the whole network {self.finetune_epochs} epochs at a low rate"
        return out

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Built:
    model: Model
    losses: list[float]
    on_embeddings: bool  # the backbone is the pretrained one: predict from cached windows
    window_features: bool = False  # features-mlp: predict from cached window features
    chosen: Chosen | None = None  # the track head's nested choices

    @property
    def net(self) -> GenreNet:
        return self.model.net


def track_model(
    pretrained: Model,
    head,
    tag_genres,
    labels: list[str],
    genres: dict[str, list[str]],
    feature_head=None,
    cnn_weight: float = 1.0,
) -> Model:
    """The pretrained tagger whole (backbone and tag layer) with a track head over
    ``labels`` and the independent ``genres`` after them, as one model."""
    src = pretrained.net
    arch = replace(src.arch, head="track", activation="softmax")
    all_labels = list(labels) + list(genres)
    net = GenreNet(
        arch,
        pretrained.params,
        len(all_labels),
        n_tags=len(pretrained.labels),
        n_tag_genres=len(genres),
    )
    net.backbone.load_state_dict(src.backbone.state_dict())
    net.head.load_state_dict(src.head.state_dict())
    if head is not None:
        net.track.load_state_dict(head.state_dict())
    if tag_genres is not None:
        net.tag_genres.load_state_dict(tag_genres.state_dict())
    if feature_head is not None:
        net.attach_features(feature_head, cnn_weight)
    return as_model(
        net.eval(),
        pretrained,
        all_labels,
        tags=tuple(pretrained.labels),
        tag_genres={lab: tuple(tags) for lab, tags in genres.items()},
    )


def as_model(
    net: GenreNet,
    pretrained: Model,
    labels: list[str],
    tags: tuple[str, ...] = (),
    tag_genres: dict[str, tuple[str, ...]] | None = None,
) -> Model:
    """A trained network as a :class:`Model`, before it is saved (id "unsaved")."""
    feats = (
        FeatureHead(tuple(features.COLUMNS), net.cnn_weight) if net.features is not None else None
    )
    meta = ModelMeta(
        "unsaved",
        ModelKind.GENRE_MODEL,
        tuple(labels),
        net.params,
        net.arch,
        tags=tags,
        tag_genres=tag_genres or {},
        features=feats,
    )
    frontend = (
        pretrained.frontend
        if net.params == pretrained.params
        else frontend_of(net.arch, net.params)
    )
    return Model(net, frontend, list(labels), net.params, "unsaved", meta)


def fit_model(
    d: Labelled,
    idx: np.ndarray,
    recipe: Recipe,
    on_epoch=None,
    exclude_names: set[str] = frozenset(),
    exclude_groups: set[str] = frozenset(),
) -> Built:
    """Train the recipe's model on the clips ``idx``; the feature head on the table rows not
    in ``exclude_groups`` and not named in ``exclude_names`` (a fold's test side)."""
    labels, n = d.labels, len(d.labels)
    groups = [d.groups[i] for i in idx]
    feature_head = None
    if d.table is not None:
        rows = d.table.rows_outside(exclude_groups, exclude_names)
        feature_head = fit_linear(d.table.X[rows], d.table.y[rows], n, recipe.feature_c)
    if recipe.features_mlp is not None:
        from genretag.training.recipes.featuremlp import fit

        cfg = replace(recipe.features_mlp, seed=recipe.scratch.seed)
        net, losses = fit([d.feature_windows[i] for i in idx], d.y[idx], groups, n, cfg, on_epoch)
        return Built(
            as_model(net, d.pretrained, labels), losses, on_embeddings=False, window_features=True
        )
    if recipe.track:
        x = d.pooled().take(idx)
        head, chosen = fit_track_head(x, d.y[idx], groups, n, recipe.probe)
        fitted = fit_tag_genres(x.tags, d.y[idx], labels, d.tags)
        tag_genres, genres = fitted if fitted else (None, {})
        model = track_model(
            d.pretrained, head, tag_genres, labels, genres, feature_head, recipe.cnn_weight
        )
        return Built(model, [], on_embeddings=True, chosen=chosen)
    if recipe.from_scratch:
        torch.manual_seed(recipe.scratch.seed)
        if recipe.raw_cnn:
            net = GenreNet(rawcnn.ARCH, rawcnn.PARAMS, n).to(d.device)
        else:
            params = replace(
                d.pretrained.params, n_mels=recipe.n_mels or d.pretrained.params.n_mels
            )
            net = GenreNet(Architecture(**SCRATCH_SIZES), params, n).to(d.device)
        clips = d.audio if recipe.raw_cnn else d.mels
        losses = fit_net(
            net, [clips[i] for i in idx], d.y[idx], n, recipe.scratch, on_epoch, groups
        )
        on_embeddings = False
    else:
        head, losses = fit_head(
            d.pretrained,
            labels,
            [d.windows[i] for i in idx],
            d.y[idx],
            recipe.head,
            on_epoch,
            groups,
        )
        net = assemble(d.pretrained, head, labels)
        on_embeddings = True
        if recipe.finetune_epochs:
            cfg = replace(recipe.finetune, epochs=recipe.finetune_epochs)
            losses += fit_net(
                net.to(d.device), [d.mels[i] for i in idx], d.y[idx], n, cfg, on_epoch, groups
            )
            on_embeddings = False
    if feature_head is not None:
        net.attach_features(feature_head.to(next(net.parameters()).device), recipe.cnn_weight)
    return Built(as_model(net.eval(), d.pretrained, labels), losses, on_embeddings)


def predict(built: Built, d: Labelled, idx: np.ndarray) -> np.ndarray:
    """Track probabilities (len(idx), n_labels) of the clips ``idx``, through the tagger's
    own path at full coverage: the cached window embeddings when the backbone is the
    pretrained one, else the tagger's ``Predictor`` on the files."""
    model = built.model.to("cpu") if built.on_embeddings or built.window_features else built.model
    if built.window_features:  # the windows' features, as the model's frontend made them
        with torch.inference_mode():
            return np.stack(
                [
                    model.track_probabilities(
                        WindowPool.of(
                            model.net.window_outputs(
                                model.net.backbone(torch.from_numpy(d.feature_windows[i]))
                            ).numpy()
                        )
                    )
                    for i in idx
                ]
            )
    if built.on_embeddings:
        feats = d.clip_features if model.feature_columns else None
        return np.stack(
            [
                model.track_probabilities(
                    WindowPool.of(model.outputs_of_embeddings(d.windows[i])),
                    None if feats is None else feats[i],
                )
                for i in idx
            ]
        )
    from genretag.hearing.local import Predictor
    from genretag.hearing.windows import Coverage
    from genretag.states import CoverageMode

    out = np.zeros((len(idx), len(model.labels)))
    paths = [d.items[i].path for i in idx]
    for res in Predictor(model, Coverage(CoverageMode.FULL), workers=d.workers).predict(paths):
        if res.error:
            raise RuntimeError(f"{paths[res.key]}: {res.error}")
        out[res.key] = res.probabilities
    return out
