"""A track's prediction: the value that travels from the model to the genre choice, the
cache and the report without changing form."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """The model's probability of each of its labels for one track."""

    labels: tuple[str, ...]
    probabilities: np.ndarray  # (n_labels,), in the order of ``labels``

    @classmethod
    def from_dict(cls, probabilities: dict[str, float]) -> Prediction:
        """As the cache keeps it: label -> probability."""
        return cls(tuple(probabilities), np.array(list(probabilities.values()), dtype=float))

    def as_dict(self) -> dict[str, float]:
        return {lab: float(p) for lab, p in zip(self.labels, self.probabilities)}
