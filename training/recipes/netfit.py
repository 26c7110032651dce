"""Training a whole network on log-mel windows (or raw ones, for ``raw-cnn``): from
scratch, or fine-tuning everything.

The head-only path (``windowhead.fit_head``) works on cached embeddings and is the default. This
one runs the CNN forward and backward on every step, so it is what a large dataset or a GPU
is for:
- ``--from-scratch``: a (smaller) musicnn from random weights, batch norm learning;
- ``--finetune-all``: the fine-tuned model (backbone + head) trained further at a low rate,
  with batch-norm statistics frozen (batches are small and the pretrained ones are good).

Each epoch draws windows class-balanced (every label equally often, a random window of a
random clip), augments them (``augment.py``) and mixes them (``train.mix``). With a
validation split the best epoch's weights are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from genretag.models.net import GenreNet
from genretag.models.pooling import WindowPool
from genretag.training.data.augment import Augment, augment, augment_waveform, crop, random_windows
from genretag.training.recipes.losses import (
    EarlyStopping,
    class_weights,
    clip_loss,
    mix,
    soft_cross_entropy,
    validation_split,
)

# a from-scratch musicnn an eighth as wide: trainable on a CPU, and data this size does
# not feed more (the pretrained one is 1.6 / 64 / 200)
SCRATCH_SIZES = dict(frontend_filters=0.2, midend_filters=32, backend_units=64)


@dataclass
class NetConfig:
    epochs: int = 30
    lr: float = 1e-3
    batch_size: int = 16
    windows_per_epoch: int = 0  # 0: one per clip
    mixup: float = 0.2
    augment: Augment | None = field(default_factory=Augment)
    freeze_bn: bool = False  # keep batch-norm statistics (fine-tuning a pretrained net)
    patience: int = 0
    seed: int = 0


def balanced_draw(y: np.ndarray, n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` clip indices drawn with every present label equally likely."""
    w = class_weights(y, int(y.max()) + 1).numpy()[y]
    return torch.multinomial(torch.from_numpy(w).double(), n, replacement=True, generator=gen)


@torch.inference_mode()
def predict_mels(
    net: GenreNet, mels: list[np.ndarray], frames: int, hop: int, batch_size: int = 16
) -> np.ndarray:
    """Clip probabilities (clips, n_labels) from cached log-mels, windows every ``hop``
    frames pooled as the tagger pools a track: the validation loss while a net trains
    (evaluation hears the files through the tagger itself, ``recipe.predict``)."""
    net.eval()
    device = next(net.parameters()).device
    out = []
    for mel in mels:
        starts = list(range(0, max(1, len(mel) - frames + 1), hop))
        if len(mel) > frames and starts[-1] != len(mel) - frames:
            starts.append(len(mel) - frames)  # the tail too, flush with the end
        windows = torch.stack([crop(mel, s, frames) for s in starts])
        outputs = (
            torch.cat(
                [net.window_outputs(net.backbone(w.to(device))) for w in windows.split(batch_size)]
            )
            .cpu()
            .numpy()
        )
        pool = WindowPool.of(outputs)
        probs = net.track_probabilities(
            torch.from_numpy(pool.mean).float()[None].to(device),
            torch.from_numpy(pool.max).float()[None].to(device),
        )
        out.append(probs[0].cpu().numpy())
    return np.stack(out)


def fit_net(
    net: GenreNet,
    mels: list[np.ndarray],
    y: np.ndarray,
    n_labels: int,
    cfg: NetConfig,
    on_epoch=None,
    groups: list[str] | None = None,
) -> list[float]:
    """Train ``net`` on clips' log-mels (frames, n_mels) labelled ``y``; returns the mean
    training loss per epoch. With ``cfg.patience`` (and ``groups``), a grouped fifth of the
    clips is held out and the best epoch kept, as in ``windowhead.fit_head``;
    ``on_epoch(epoch, loss, val_loss)``."""
    val = None
    if cfg.patience and groups is not None:
        tr, va = validation_split(groups, y, cfg.seed)
        val = ([mels[i] for i in va], y[va])
        mels, y = [mels[i] for i in tr], y[tr]
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    raw = net.arch.hears_waveform  # clips of samples (samples, 1), not log-mels
    p = net.params
    frames, hop = (
        (p.window_samples, p.window_hop_samples) if raw else (p.window_frames, p.window_hop_frames)
    )
    device = next(net.parameters()).device
    if hasattr(net.backbone, "input_bn"):
        # musicnn's input batch norm's two affine numbers would need the gradient through
        # the first convolutions (128-tap kernels): freezing them makes a step 2-4x faster
        net.backbone.input_bn.requires_grad_(False)
    opt = torch.optim.AdamW(
        [p for p in net.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=1e-4
    )
    stopper = EarlyStopping(cfg.patience)
    per_epoch = cfg.windows_per_epoch or len(y)
    losses = []
    for epoch in range(cfg.epochs):
        net.train()
        if cfg.freeze_bn:
            for m in net.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()
        total, n = 0.0, 0
        for batch in balanced_draw(y, per_epoch, gen).split(cfg.batch_size):
            x = random_windows([mels[i] for i in batch], frames, cfg.augment, gen)
            if cfg.augment is not None:
                x = (augment_waveform if raw else augment)(x, cfg.augment, gen)
            x, target = mix(x, torch.from_numpy(y[batch.numpy()]), n_labels, cfg.mixup, gen)
            # balanced draws already even out the labels: no class weights on top
            loss = soft_cross_entropy(
                net(x.to(device)), target.to(device), torch.ones(n_labels, device=device)
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, n = total + float(loss.detach()) * len(batch), n + len(batch)
        losses.append(total / max(n, 1))
        validate = None
        if val is not None and len(val[1]):

            def validate():
                return clip_loss(
                    predict_mels(net, val[0], frames, hop),
                    val[1],
                    n_labels,
                )

        if stopper.epoch_done(epoch, losses[-1], validate, net, on_epoch):
            break
    stopper.restore(net)
    net.eval()
    return losses
