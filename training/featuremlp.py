"""``--arch features-mlp``: the reference notebooks' recipe 4, mode 1. Each 3-second
window is described by the GTZAN table's features (``tagger.features``: MFCCs, chroma,
spectral centroid, bandwidth, roll-off, zero-crossing rate, RMS), and a feed-forward network
(``model.FeatureMLP``: two hidden layers, batch norm, dropout) names its genre. A track's
probabilities are the mean over its windows, as for any window head.

The windows are the ones a full-coverage scan hears (``source.TrackSource`` with the
model's own ``PARAMS``), and their features come from the model's own frontend
(``model.FeatureFrontend``). Training, evaluation and a scan therefore see the same
numbers. The table's tempo, harmony and perceptual columns are not computed
(``tagger.features`` says why).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genretag.tagger import features
from genretag.tagger.model import Architecture, FeatureFrontend, GenreNet
from genretag.tagger.params import AudioParams

from .datasets import Item
from .embed import Embedded, _per_file
from .probe import standardiser

WINDOW_SECONDS = 3.0  # the table's 3-second rows
HOP = 2205  # 0.1 s: the frames only set the window's length here
PARAMS = AudioParams(sample_rate=features.SAMPLE_RATE, n_fft=features.N_FFT, hop_length=HOP,
                     n_mels=128, window_frames=int(WINDOW_SECONDS * features.SAMPLE_RATE) // HOP
                     + 1, window_hop_frames=int(WINDOW_SECONDS * features.SAMPLE_RATE) // HOP)
ARCH = Architecture(name="features-mlp", backend_units=256, head="window")


@dataclass
class MLPConfig:
    epochs: int = 300  # at most: early stopping on an artist-grouped validation split
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    patience: int = 30  # epochs without a better validation loss before stopping
    validation: float = 0.2  # the share of artists held out for early stopping
    seed: int = 0


def window_features(items: list[Item], cache_dir: Path, workers: int = 2,
                    on_done=None) -> Embedded:
    """Every item's windows' features (windows, n_columns), as a scan with a features-mlp
    model hears them at full coverage; cached per file."""
    from genretag.tagger.decode import DecodeError
    from genretag.tagger.segments import Coverage
    from genretag.tagger.source import TrackSource
    from genretag.tagger.states import CoverageMode

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


def _split(groups: list[str], y: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Clip indices held out for early stopping: whole artists, about ``share`` of each
    genre's artists, none from a genre with fewer than 3 (all its artists train)."""
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for label in np.unique(y):
        artists = sorted({g for g, v in zip(groups, y) if v == label} - held)
        if len(artists) >= 3:
            held |= set(rng.choice(artists, max(1, int(share * len(artists))), replace=False))
    return np.array([i for i, g in enumerate(groups) if g in held], dtype=int)


def fit(windows: list[np.ndarray], y: np.ndarray, groups: list[str], n_labels: int,
        cfg: MLPConfig, on_epoch: Callable | None = None) -> tuple[GenreNet, list[float]]:
    """A features-mlp network trained on clips' window features (each (windows, n_columns))
    with their clips' labels; class-balanced, early-stopped on held-out artists. Returns
    the network (evaluation mode) and the training loss of each epoch."""
    torch.manual_seed(cfg.seed)
    held = _split(groups, y, cfg.validation, cfg.seed)
    train = np.setdiff1d(np.arange(len(y)), held)

    def stack(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        if not len(idx):
            return torch.zeros(0, len(features.COLUMNS)), torch.zeros(0, dtype=torch.long)
        x = np.concatenate([windows[i] for i in idx]).astype(np.float32)
        t = np.concatenate([np.full(len(windows[i]), y[i]) for i in idx])
        return torch.from_numpy(x), torch.from_numpy(t).long()

    x, t = stack(train)
    vx, vt = stack(held)
    net = GenreNet(ARCH, PARAMS, n_labels)
    mean, scale = standardiser(x.numpy())
    net.backbone.mean.copy_(torch.from_numpy(mean).float())
    net.backbone.scale.copy_(torch.from_numpy(scale).float())
    counts = np.bincount(t.numpy(), minlength=n_labels).astype(np.float64)
    weight = torch.tensor(np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / n_labels,
                                   0.0), dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best, best_state, waited, losses = float("inf"), None, 0, []
    gen = torch.Generator().manual_seed(cfg.seed)
    for epoch in range(cfg.epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), cfg.batch_size):
            batch = order[i:i + cfg.batch_size]
            if len(batch) < 2:  # batch norm needs two rows
                continue
            opt.zero_grad()
            loss = loss_fn(net(x[batch]), t[batch])
            loss.backward()
            opt.step()
            total += float(loss) * len(batch)
        losses.append(total / max(1, len(x)))
        val = None
        if len(vx):
            net.eval()
            with torch.inference_mode():
                val = float(loss_fn(net(vx), vt))
            if val < best - 1e-4:
                best, waited = val, 0
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
            else:
                waited += 1
        if on_epoch:
            on_epoch(epoch, losses[-1], val)
        if len(vx) and waited >= cfg.patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    return net.eval(), losses
