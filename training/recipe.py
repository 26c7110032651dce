"""What ``genretag train`` builds, as one function that ``evaluate`` runs per fold.

A model is made of
1. a CNN: by default the pretrained musicnn with a fine-tuned head (``train.fit_head`` on
   cached embeddings), optionally fine-tuned whole afterwards (``--finetune-all``); or a
   smaller musicnn trained from scratch (``--from-scratch``);
2. optionally a feature head (``--features TABLE``): a logistic regression on the GTZAN-style
   feature table, fused with the CNN per track (``GenreNet.fuse``).

``fit_model`` trains exactly that on a subset of clips, so cross-validation measures the very
recipe that produced a shipped model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from tagger.model import Architecture, GenreNet, Model

from .datasets import FeatureTable, Item
from .netfit import SCRATCH_SIZES, NetConfig, fit_net, predict_mels
from .train import HeadConfig, assemble, fit_feature_head, fit_head, predict_clips


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
    device: str = "cpu"  # where whole networks train (heads train on the CPU: they are small)

    @property
    def groups(self) -> list[str]:
        return [i.group for i in self.items]

    @property
    def names(self) -> list[str]:
        """File stems ('blues.00000'), which is how a feature table names its rows."""
        return [i.path.stem for i in self.items]

    def summary(self) -> dict:
        out = {"clips": len(self.items),
               "per_label": {lab: int((self.y == i).sum()) for i, lab in enumerate(self.labels)},
               "groups": len(set(self.groups))}
        if self.table is not None:
            out["feature_table_rows"] = len(self.table.y)
            out["feature_table_per_label"] = {lab: int((self.table.y == i).sum())
                                              for i, lab in enumerate(self.labels)}
        return out


@dataclass
class Recipe:
    head: HeadConfig = field(default_factory=HeadConfig)
    from_scratch: bool = False
    scratch: NetConfig = field(default_factory=NetConfig)
    finetune_epochs: int = 0  # whole-network epochs after the head; 0: head only
    finetune: NetConfig = field(default_factory=lambda: NetConfig(lr=1e-5, freeze_bn=True))
    cnn_weight: float = 0.5  # the CNN's share when fused with a feature head
    feature_c: float = 0.1  # inverse regularisation of the feature head

    @property
    def needs_mels(self) -> bool:
        return self.from_scratch or self.finetune_epochs > 0

    @property
    def cnn_name(self) -> str:
        if self.from_scratch:
            return "from-scratch CNN"
        return "fine-tuned whole network" if self.finetune_epochs else "fine-tuned head"

    def describe(self) -> str:
        if self.from_scratch:
            return "musicnn architecture (narrow) trained from random weights on augmented log-mel windows"
        out = ("frozen musicnn backbone, fine-tuned back end, zero-shot initialised output, "
               "class-balanced loss, L2-SP")
        if self.finetune_epochs:
            out += f"; then the whole network {self.finetune_epochs} epochs at a low rate"
        return out

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Built:
    net: GenreNet
    losses: list[float]
    on_embeddings: bool  # the net's backbone is the pretrained one: predict from embeddings


def fit_model(d: Labelled, idx: np.ndarray, recipe: Recipe, on_epoch=None,
              exclude_names: set[str] = frozenset(), exclude_groups: set[str] = frozenset()
              ) -> Built:
    """Train the recipe's model on the clips ``idx``; the feature head on the table rows not
    in ``exclude_groups`` and not named in ``exclude_names`` (a fold's test side)."""
    labels, n = d.labels, len(d.labels)
    groups = [d.groups[i] for i in idx]
    if recipe.from_scratch:
        torch.manual_seed(recipe.scratch.seed)
        net = GenreNet(Architecture(**SCRATCH_SIZES), d.pretrained.params, n).to(d.device)
        losses = fit_net(net, [d.mels[i] for i in idx], d.y[idx], n, recipe.scratch, on_epoch,
                         groups)
        built = Built(net, losses, on_embeddings=False)
    else:
        head, losses = fit_head(d.pretrained, labels, [d.windows[i] for i in idx], d.y[idx],
                                recipe.head, on_epoch, groups)
        net = assemble(d.pretrained, head, labels)
        built = Built(net, losses, on_embeddings=True)
        if recipe.finetune_epochs:
            cfg = replace(recipe.finetune, epochs=recipe.finetune_epochs)
            built.losses += fit_net(net.to(d.device), [d.mels[i] for i in idx], d.y[idx], n,
                                    cfg, on_epoch, groups)
            built.on_embeddings = False
    if d.table is not None:
        rows = d.table.rows_outside(exclude_groups, exclude_names)
        fh = fit_feature_head(d.table.X[rows], d.table.y[rows], n, recipe.feature_c)
        built.net.attach_features(fh.to(next(built.net.parameters()).device), recipe.cnn_weight)
    built.net.eval()
    return built


def predict_cnn(built: Built, d: Labelled, idx: np.ndarray) -> np.ndarray:
    """The CNN's clip probabilities (len(idx), n_labels), as the tagger's full coverage."""
    if built.on_embeddings:
        return predict_clips(built.net.head, [d.windows[i] for i in idx])
    p = d.pretrained.params
    return predict_mels(built.net, [d.mels[i] for i in idx], p.window_frames, p.window_hop_frames)


@torch.inference_mode()
def predict_fused(built: Built, cnn: np.ndarray, features: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(feature head, fused) probabilities (clips, n_labels) from the CNN's probabilities
    (clips, n_labels) and the clips' table features (clips, columns)."""
    net = built.net
    dev = next(net.parameters()).device
    x = torch.from_numpy(features).float().to(dev)
    alone = torch.softmax(net.features(x), -1)
    fused = net.fuse(torch.from_numpy(cnn).float().to(dev), x)
    return alone.cpu().numpy(), fused.cpu().numpy()
