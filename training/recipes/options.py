"""What train and evaluate let a person change in a recipe; read without torch, so the
command line starts light."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    """What train and evaluate let a person change in a recipe (their options)."""

    epochs: int | None = None
    seed: int = 0
    mixup: float = 0.0
    patience: int | None = None
    finetune: int = 0  # --finetune-all: whole-network epochs of musicnn-finetune
    finetune_lr: float = 1e-5
    augment: bool = True
    cnn_weight: float = 0.5
    n_mels: int | None = None
