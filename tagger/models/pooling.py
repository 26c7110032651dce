"""A track's window outputs, pooled as they arrive.

The model loop hears a track a batch of windows at a time, mixed with other tracks' windows,
and a long track has hundreds of them. :class:`WindowPool` keeps only running statistics of
each track's window outputs (count, sum, maximum), so memory stays flat, and
the model turns those statistics into the track's probabilities (``Model.track_probabilities``).
Training pools its cached windows with the same class, so what is measured is what ships.
"""

from __future__ import annotations

import numpy as np


class WindowPool:
    """Running statistics over window outputs of one track, each (dim,)."""

    def __init__(self, dim: int):
        self.count = 0
        self.total = np.zeros(dim, dtype=np.float64)
        self.max = np.full(dim, -np.inf, dtype=np.float64)

    @classmethod
    def of(cls, outputs: np.ndarray) -> WindowPool:
        """The pool of a whole track's window outputs (windows, dim)."""
        pool = cls(outputs.shape[1])
        pool.add(outputs)
        return pool

    def add(self, outputs: np.ndarray) -> None:
        """Add window outputs (m, dim)."""
        if len(outputs) == 0:
            return
        x = outputs.astype(np.float64, copy=False)
        self.count += len(x)
        self.total += x.sum(0)
        self.max = np.maximum(self.max, x.max(0))

    @property
    def mean(self) -> np.ndarray:
        return self.total / max(self.count, 1)


def pools_of_statistics(stats: np.ndarray, embedding: int) -> tuple[np.ndarray, np.ndarray]:
    """Tracks' backbone statistics (tracks, 2 * embedding + n_tags), as the model's head
    gives them (the embeddings' mean and max, the tag logits' mean) -> pooled window
    outputs, mean and max (tracks, embedding + n_tags), that give the same probabilities:
    the heads read no tag logit's max."""
    tag_mean = stats[:, 2 * embedding :]
    return (
        np.concatenate([stats[:, :embedding], tag_mean], 1),
        np.concatenate([stats[:, embedding : 2 * embedding], tag_mean], 1),
    )


# A column whose spread is within this many rounding steps is constant: the dead channels
# of a network, whose values differ only by float rounding. Standardised with their tiny
# spread, rounding noise of 1e-12 became logit changes of 0.1.
CONSTANT_STEPS = 4
FLOAT32_EPS = float(np.finfo(np.float32).eps)


def standardiser(X: np.ndarray, storage_eps: float = FLOAT32_EPS) -> tuple[np.ndarray, np.ndarray]:
    """The mean and scale (columns,) that standardise ``X`` (rows, columns), with the scale
    of a constant column set to 1, as scikit-learn's ``StandardScaler`` does. Constant means
    constant up to rounding: that of the float32 network that computed the values (a sum of
    terms as large as the largest value, so relative to that), and that of the precision
    they were stored with (relative to the column's own values)."""
    X = np.asarray(X, dtype=np.float64)
    mean, std = X.mean(0), X.std(0)
    size = np.abs(X)
    noise = FLOAT32_EPS * size.max(initial=0.0) + storage_eps * size.max(0, initial=0.0)
    return mean, np.where(std <= CONSTANT_STEPS * noise, 1.0, std)


LOGIT_EPS = 1e-6  # probabilities are clipped this far from 0 and 1 before their logit


def clipped_logit(p: np.ndarray) -> np.ndarray:
    """(..., n) probabilities -> their logits, in float32, as ``heads.StackedHead`` takes
    a base model's genres (a learnt head reads them as inputs)."""
    p = np.clip(np.asarray(p, dtype=np.float32), LOGIT_EPS, 1 - LOGIT_EPS)
    return (np.log(p) - np.log1p(-p)).astype(np.float32)
