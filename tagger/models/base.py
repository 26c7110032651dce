"""The one interface of a loaded model, whichever runtime runs it: :class:`Network`.

``models.net.Model`` (PyTorch, on a CPU or a GPU) and ``models.onnx.OnnxModel`` (ONNX
Runtime, on a CPU) both keep it; the hearers, the scan and learn use nothing else of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from genretag.models.file import ModelMeta
    from genretag.models.params import AudioParams
    from genretag.models.pooling import WindowPool


class Network(Protocol):
    """A model ready to hear: window outputs from samples, a track's probabilities and
    backbone statistics from its pooled window outputs, probabilities from cached
    statistics. Arrays are float32 numpy arrays; ``dim`` is what a track pools of each
    window (the embedding and the tag logits, for a head on pooled statistics)."""

    runtime: str  # "torch" or "onnx"
    metadata: ModelMeta

    @property
    def labels(self) -> list[str]: ...

    @property
    def params(self) -> AudioParams: ...

    @property
    def model_id(self) -> str: ...

    @property
    def backbone_id(self) -> str:
        """The id of the backbone whose statistics the cache keeps for this model."""
        ...

    @property
    def device_type(self) -> str:
        """Where it runs: "cpu" or "cuda"."""
        ...

    @property
    def pools_statistics(self) -> bool:
        """Its head reads each track's pooled backbone statistics."""
        ...

    @property
    def feature_columns(self) -> list[str] | tuple[str, ...]:
        """The table features its feature head needs (none: no feature head)."""
        ...

    @property
    def independent(self) -> list[str]:
        """The labels whose probabilities stand alone (the others sum to one)."""
        ...

    def window_outputs_of(
        self, samples: np.ndarray, embeddings: bool = False
    ) -> tuple[np.ndarray, float]:
        """(batch, window_samples) samples -> ((batch, dim) window outputs, or with
        ``embeddings`` the backbone's (batch, embedding); the seconds the frontend took
        apart from the network, 0 where one graph runs both)."""
        ...

    def track_probabilities(
        self, pool: WindowPool, features: np.ndarray | None = None
    ) -> np.ndarray:
        """A track's probabilities (n_labels,) from its pooled window outputs."""
        ...

    def statistics(self, pool: WindowPool) -> np.ndarray | None:
        """A track's backbone statistics (2 * embedding + n_tags,), as float16; None for a
        head that does not pool them."""
        ...

    def probabilities_of_statistics(self, stats: np.ndarray) -> np.ndarray:
        """Tracks' cached statistics (tracks, stats) -> (tracks, n_labels)."""
        ...

    def window_probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """Each window heard alone, as if it were a whole track: (windows, dim) ->
        (windows, n_labels)."""
        ...
