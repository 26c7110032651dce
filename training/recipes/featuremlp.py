"""``--arch features-mlp``: the reference notebooks' recipe 4, mode 1. Each 3-second
window is described by the GTZAN table's features (``models.features``: MFCCs, chroma,
spectral centroid, bandwidth, roll-off, zero-crossing rate, RMS), and a feed-forward
network (``models.featuremlp.FeatureMLP``: two hidden layers, batch norm, dropout) names
its genre. A track's probabilities are the mean over its windows, as for any window head.

The windows are the ones a full-coverage scan hears (``hearing.source.TrackSource`` with
the model's own ``PARAMS``), and their features come from the model's own frontend
(``models.featuremlp.FeatureFrontend``). Training, evaluation and a scan therefore see the
same numbers. The table's tempo, harmony and perceptual columns are not computed
(``models.features`` says why).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genretag.models import features
from genretag.models.featuremlp import FeatureFrontend
from genretag.models.net import Architecture, GenreNet
from genretag.models.params import AudioParams
from genretag.models.pooling import standardiser
from genretag.training.data.datasets import Item
from genretag.training.data.embed import Embedded, _per_file
from genretag.training.recipes.losses import EarlyStopping, class_weights, validation_split

WINDOW_SECONDS = 3.0  # the table's 3-second rows
HOP = 2205  # 0.1 s: the frames only set the window's length here
PARAMS = AudioParams(
    sample_rate=features.SAMPLE_RATE,
    n_fft=features.N_FFT,
    hop_length=HOP,
    n_mels=128,
    window_frames=int(WINDOW_SECONDS * features.SAMPLE_RATE) // HOP + 1,
    window_hop_frames=int(WINDOW_SECONDS * features.SAMPLE_RATE) // HOP,
)
ARCH = Architecture(name="features-mlp", backend_units=256, head="window")


@dataclass
class MLPConfig:
    epochs: int = 300  # at most: early stopping on an artist-grouped validation split
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    patience: int = 30  # epochs without a better validation loss before stopping (0: off)
    validation: float = 0.2  # the share of clips (whole artists) held out for that
    seed: int = 0


def window_features(items: list[Item], cache_dir: Path, workers: int = 2, on_done=None) -> Embedded:
    """Every item's windows' features (windows, n_columns), as a scan with a features-mlp
    model hears them at full coverage; cached per file."""
    from genretag.hearing.source import TrackSource
    from genretag.hearing.windows import Coverage
    from genretag.library.decode import DecodeError
    from genretag.states import CoverageMode

    source = TrackSource(PARAMS, Coverage(CoverageMode.FULL), 64)
    frontend = FeatureFrontend()
    tag = f"{features.EXTRACTOR}-windows-{PARAMS.window_samples}"

    def compute(path: Path) -> np.ndarray:
        parts = [w for _, w in source.open(path).chunks]
        if not parts:
            raise DecodeError("no audio decoded")
        with torch.inference_mode():
            return frontend(torch.from_numpy(np.concatenate(parts))).numpy()

    return _per_file(items, Path(cache_dir) / tag, tag, compute, workers, on_done)


def fit(
    windows: list[np.ndarray],
    y: np.ndarray,
    groups: list[str],
    n_labels: int,
    cfg: MLPConfig,
    on_epoch: Callable | None = None,
) -> tuple[GenreNet, list[float]]:
    """A features-mlp network trained on clips' window features (each (windows, n_columns))
    with their clips' labels; class-balanced, early-stopped on a grouped validation split
    (``losses.validation_split``). Returns the network (evaluation mode) and the training
    loss of each epoch; ``on_epoch(epoch, loss, val_loss)``."""
    torch.manual_seed(cfg.seed)
    train, held = (
        validation_split(groups, y, cfg.seed, cfg.validation)
        if cfg.patience
        else (np.arange(len(y)), np.zeros(0, dtype=int))
    )

    def stack(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = [windows[i] for i in idx] or [np.zeros((0, len(features.COLUMNS)))]
        t = [np.full(len(windows[i]), y[i]) for i in idx] or [np.zeros(0)]
        return (
            torch.from_numpy(np.concatenate(x).astype(np.float32)),
            torch.from_numpy(np.concatenate(t)).long(),
        )

    x, t = stack(train)
    vx, vt = stack(held)
    net = GenreNet(ARCH, PARAMS, n_labels)
    mean, scale = standardiser(x.numpy())
    net.backbone.mean.copy_(torch.from_numpy(mean).float())
    net.backbone.scale.copy_(torch.from_numpy(scale).float())
    weight = class_weights(t.numpy(), n_labels)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    stopper = EarlyStopping(cfg.patience)
    gen = torch.Generator().manual_seed(cfg.seed)

    def validate() -> float:
        net.eval()
        with torch.inference_mode():
            return float(F.cross_entropy(net(vx), vt, weight=weight))

    losses = []
    for epoch in range(cfg.epochs):
        net.train()
        total = 0.0
        for batch in torch.randperm(len(x), generator=gen).split(cfg.batch_size):
            if len(batch) < 2:  # batch norm needs two rows
                continue
            loss = F.cross_entropy(net(x[batch]), t[batch], weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
        losses.append(total / max(1, len(x)))
        if stopper.epoch_done(epoch, losses[-1], validate if len(vx) else None, net, on_epoch):
            break
    stopper.restore(net)
    return net.eval(), losses
