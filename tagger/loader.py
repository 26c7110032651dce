"""A model file opened lazily: its metadata at once, its network when a track must be heard.

A scan takes a :class:`LazyModel`: a re-scan of an unchanged library reads only the model's
id and labels from the file's header and never imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .modelfile import read_metadata

if TYPE_CHECKING:
    from .model import Model


class LazyModel:
    """A model file's metadata now, its network on ``load()`` (once); ``device`` is a
    ``states.Device`` value."""

    def __init__(self, path: Path, device: str = "auto"):
        self.path, self.device_request = Path(path), device
        self.metadata = read_metadata(self.path)
        self.labels: list[str] = list(self.metadata.labels)
        self.model_id: str = self.metadata.model_id
        self._model: Model | None = None

    def load(self) -> Model:
        if self._model is None:
            import torch

            from .model import load_model

            dev = self.device_request
            if dev == "auto":
                dev = "cuda" if torch.cuda.is_available() else "cpu"
            self._model = load_model(self.path, dev)
        return self._model
