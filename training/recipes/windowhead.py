"""Fine-tuning a genre head on the pretrained musicnn backbone.

The backbone (front and mid end of musicnn MSD) stays frozen; its pooled window embeddings
are computed once (``embed.py``). The head is musicnn's own back end, initialised from the
pretrained one; its new output layer starts as a *zero-shot* genre classifier: the row of a
genre is the mean of the pretrained rows of the MSD tags that name it (``ZERO_SHOT``). It is
then trained on the labelled windows with class-balanced cross-entropy and an L2 pull toward
that initialisation ("L2-SP"), so genres with few examples keep what the pretrained tagger
knew about them rather than being fitted to one artist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genretag.models.musicnn import BackEnd
from genretag.models.net import GenreNet, Model
from genretag.models.pooling import WindowPool
from genretag.training.recipes.losses import (
    EarlyStopping,
    class_weights,
    clip_loss,
    mix,
    soft_cross_entropy,
    validation_split,
)

# GTZAN genre -> MSD tags of the pretrained tagger that name it (reggae has none).
ZERO_SHOT = {
    "blues": ["blues"],
    "classical": ["instrumental", "beautiful", "ambient"],
    "country": ["country"],
    "disco": ["dance", "funk", "80s", "70s", "party"],
    "hiphop": ["Hip-Hop", "rnb"],
    "jazz": ["jazz"],
    "metal": ["metal", "heavy metal", "hard rock"],
    "pop": ["pop", "catchy", "female vocalists"],
    "rock": ["rock", "classic rock", "alternative rock"],
}


@dataclass
class HeadConfig:
    epochs: int = 8
    lr: float = 1e-3
    l2sp: float = 1.0  # pull toward the pretrained / zero-shot initialisation
    batch_size: int = 128
    seed: int = 0
    mixup: float = 0.0  # Beta(a, a) mixing of window embeddings and their labels; 0: off
    patience: int = 0  # early stopping on a grouped validation split; 0: off


def zero_shot_tags(label: str, tags: list[str]) -> list[str]:
    """The pretrained tags naming ``label``: from ZERO_SHOT, else a tag of the same name."""
    if label in ZERO_SHOT:
        return [t for t in ZERO_SHOT[label] if t in tags]
    same = [t for t in tags if t.casefold().replace("-", "") == label.casefold().replace("-", "")]
    return same


def init_head(pretrained: Model, labels: list[str]) -> BackEnd:
    """musicnn's back end with the pretrained weights and a zero-shot output layer."""
    src = pretrained.net.head
    head = BackEnd(src.dense.in_features, src.dense.out_features, len(labels))
    state = {k: v for k, v in src.state_dict().items() if not k.startswith("out.")}
    head.load_state_dict(state, strict=False)
    with torch.no_grad():
        head.out.weight.zero_()
        head.out.bias.fill_(float(src.out.bias.mean()))
        for c, label in enumerate(labels):
            idx = [pretrained.labels.index(t) for t in zero_shot_tags(label, pretrained.labels)]
            if idx:
                head.out.weight[c] = src.out.weight[idx].mean(0)
                head.out.bias[c] = src.out.bias[idx].mean()
    return head


def fit_head(
    pretrained: Model,
    labels: list[str],
    windows: list[np.ndarray],
    y: np.ndarray,
    cfg: HeadConfig,
    on_epoch=None,
    groups: list[str] | None = None,
) -> tuple[BackEnd, list[float]]:
    """Train a head on ``windows[i]`` (n_i, features) of clips labelled ``y[i]``.

    Classes are weighted by the inverse of their window counts, so that 8 blues clips weigh
    as much as 75 rock clips. With ``cfg.patience`` (and ``groups``), a grouped fifth of the
    clips is held out and the epoch with the lowest validation loss is kept. Returns the head
    and the mean training loss of each epoch; ``on_epoch(epoch, loss, val_loss)``.
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    val_idx = np.array([], dtype=int)
    if cfg.patience and groups is not None:
        train_idx, val_idx = validation_split(groups, y, cfg.seed)
        windows, y, val_windows, val_y = (
            [windows[i] for i in train_idx],
            y[train_idx],
            [windows[i] for i in val_idx],
            y[val_idx],
        )
    head = init_head(pretrained, labels)
    anchor = {n: p.detach().clone() for n, p in head.named_parameters()}
    X = torch.from_numpy(np.concatenate(windows)).float()
    Y = torch.from_numpy(np.concatenate([np.full(len(w), c) for w, c in zip(windows, y)]))
    class_weight = class_weights(Y.numpy(), len(labels))
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=0.0)
    stopper = EarlyStopping(cfg.patience)
    losses = []
    for epoch in range(cfg.epochs):
        head.train()
        total, n = 0.0, 0
        for batch in torch.randperm(len(X), generator=gen).split(cfg.batch_size):
            x, target = mix(X[batch], Y[batch], len(labels), cfg.mixup, gen)
            loss = soft_cross_entropy(head(x), target, class_weight)
            pull = sum(((p - anchor[name]) ** 2).sum() for name, p in head.named_parameters())
            opt.zero_grad()
            (loss + cfg.l2sp * pull).backward()
            opt.step()
            total, n = total + float(loss.detach()) * len(batch), n + len(batch)
        losses.append(total / max(n, 1))
        validate = None
        if len(val_idx):

            def validate():
                return clip_loss(
                    head_probabilities(head, val_windows),
                    val_y,
                    len(labels),
                )

        if stopper.epoch_done(epoch, losses[-1], validate, head, on_epoch):
            break
    stopper.restore(head)
    head.eval()
    return head, losses


@torch.inference_mode()
def head_probabilities(head: BackEnd, windows: list[np.ndarray]) -> np.ndarray:
    """Clip probabilities (clips, n_labels) of a window head on cached embeddings, pooled as
    the tagger pools a track (for the validation loss while the head trains)."""
    head.eval()
    dev = next(head.parameters()).device
    return np.stack(
        [
            WindowPool.of(
                torch.softmax(head(torch.from_numpy(w).float().to(dev)), -1).cpu().numpy()
            ).mean
            for w in windows
        ]
    )


def assemble(pretrained: Model, head: BackEnd, labels: list[str]) -> GenreNet:
    """The pretrained backbone with the new head, as one network."""
    from dataclasses import replace

    arch = replace(pretrained.net.arch, activation="softmax")
    net = GenreNet(arch, pretrained.params, len(labels))
    net.backbone.load_state_dict(pretrained.net.backbone.state_dict())
    net.head.load_state_dict(head.state_dict())
    return net.eval()
