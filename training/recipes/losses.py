"""What every recipe trained in epochs shares (the window head, whole networks): the
class-balanced and mixup losses, a validation split grouped by artist, and early stopping
on it."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class EarlyStopping:
    """Keeps the weights of the epoch with the lowest validation loss, and says when
    ``patience`` epochs have gone by without a better one."""

    def __init__(self, patience: int):
        self.patience, self.best, self.best_epoch, self.state = patience, float("inf"), -1, None

    def update(self, epoch: int, loss: float, module: torch.nn.Module) -> bool:
        """Record an epoch; True when training should stop."""
        if loss < self.best:
            self.best, self.best_epoch = loss, epoch
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        return epoch - self.best_epoch >= self.patience

    def epoch_done(
        self, epoch: int, loss: float, validate, module: torch.nn.Module, on_epoch=None
    ) -> bool:
        """Close an epoch: validate (``validate() -> loss``, or None without a validation
        split), report ``on_epoch(epoch, loss, val_loss)``; True when training should stop."""
        val_loss = validate() if validate is not None else None
        if on_epoch:
            on_epoch(epoch, loss, val_loss)
        return val_loss is not None and self.update(epoch, val_loss, module)

    def restore(self, module: torch.nn.Module) -> None:
        if self.state is not None:
            module.load_state_dict(self.state)


def validation_split(
    groups: list[str], y: np.ndarray, seed: int, share: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices with whole groups on one side: about ``share`` of the
    clips, drawn so that every label keeps at least one group for training."""
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    rng.shuffle(names)
    val: set[str] = set()
    target = share * len(groups)
    for g in names:
        members = [i for i, gi in enumerate(groups) if gi == g]
        rest = [i for i, gi in enumerate(groups) if gi != g and gi not in val]
        if set(y[members]) - set(y[rest]):
            continue  # would take a label's last training group
        val.add(g)
        if sum(gi in val for gi in groups) >= target:
            break
    is_val = np.array([g in val for g in groups])
    return np.where(~is_val)[0], np.where(is_val)[0]


def mix(
    x: torch.Tensor, y: torch.Tensor, n_labels: int, alpha: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """mixup (Zhang et al. 2018): (batch, ...) inputs and label indices -> mixed inputs and
    soft targets (batch, n_labels). ``alpha`` 0 returns one-hot targets."""
    target = F.one_hot(y, n_labels).float()
    if alpha <= 0 or len(x) < 2:
        return x, target
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(len(x), generator=gen)
    return lam * x + (1 - lam) * x[perm], lam * target + (1 - lam) * target[perm]


def soft_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, class_weight: torch.Tensor
) -> torch.Tensor:
    """Class-weighted cross-entropy against soft targets (batch, n_labels), normalised by
    the batch's total weight as ``F.cross_entropy(weight=...)`` is."""
    w = target @ class_weight
    return -(w * (target * F.log_softmax(logits, -1)).sum(-1) / target.sum(-1)).sum() / w.sum()


def class_weights(y: np.ndarray, n_labels: int) -> torch.Tensor:
    """Per-class weights (n_labels,) that give every present class the same total weight
    over the samples ``y`` (absent classes get 0)."""
    count = np.bincount(y, minlength=n_labels).astype(np.float64)
    weight = np.where(count > 0, 1.0 / np.maximum(count, 1), 0.0)
    weight *= len(y) / max(1, (count > 0).sum())
    return torch.tensor(weight, dtype=torch.float32)


def clip_loss(probabilities: np.ndarray, y: np.ndarray, n_labels: int) -> float:
    """Class-balanced negative log-likelihood of clip probabilities (clips, n_labels)."""
    w = class_weights(y, n_labels).numpy()[y]
    nll = -np.log(np.clip(probabilities[np.arange(len(y)), y], 1e-9, None))
    return float((w * nll).sum() / w.sum())
