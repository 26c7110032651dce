"""The network on ONNX Runtime: a CPU scan that never imports torch.

:class:`OnnxModel` answers what a scan asks of a model (``Predictor`` and ``Scanner``): each
batch of windows' outputs, a track's probabilities and backbone statistics from its pool,
and probabilities from cached statistics. It runs the two graphs ``export`` writes from the
model's own torch modules (``windows`` and ``head``), in float32, so its probabilities stay
within 1e-4 of PyTorch's (``tests/test_runtime.py``).

Where the graphs come from, in order: beside the model file (the shipped model's are in the
package), then the user cache folder (``~/.cache/genretag/onnx/<model id>.*.onnx``), where
the first scan with a model exports them (this once, it imports torch; it needs the
``onnx`` package, which the torch extra brings). A model ``genretag learn`` made runs on
its base model's graphs with its own head in numpy (``LibraryHead``): nothing is exported.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genretag.models.file import ModelMeta
from genretag.models.params import AudioParams
from genretag.models.pooling import WindowPool, clipped_logit, pools_of_statistics

GRAPHS = ("windows", "head")
# intra-op threads; GENRETAG_ONNX_THREADS overrides it (to measure the split of the cores
# between the decoders and the network, docs/performance.md)
THREADS = 2


def cache_folder() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("genretag")) / "onnx"


def files_of(model_path: Path, model_id: str) -> dict[str, Path] | None:
    """The exported graphs of a model, and their sidecar, where they exist whole: the
    sidecar names this model id and each graph's sha256 (``vouches``). Graphs that do
    not match (damaged, swapped, or exported by an older release) are passed over, and a
    scan exports them again."""
    for folder in (Path(model_path).parent, cache_folder()):
        found = {name: folder / f"{model_id}.{name}.onnx" for name in GRAPHS}
        found["about"] = folder / f"{model_id}.json"
        if all(p.is_file() for p in found.values()) and vouches(found, model_id):
            return found
    return None


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def vouches(files: dict[str, Path], model_id: str) -> bool:
    """Whether the sidecar ``files["about"]`` says these graphs are this model's, and they
    are as they were written."""
    try:
        about = json.loads(Path(files["about"]).read_text())
        digests = about["sha256"]
        return about["model_id"] == model_id and all(
            digests[name] == sha256_of(files[name]) for name in GRAPHS
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def runs_on_onnx(meta: ModelMeta) -> str | None:
    """Why a model cannot run on the ONNX runtime, or None, from the metadata alone (what
    ``models.export.export`` can write graphs for)."""
    if meta.features is not None:
        return "its feature head needs the torch runtime"
    if meta.architecture.head not in ("track", "library", "genres"):
        return "its head is per window; the ONNX runtime runs heads on pooled statistics"
    return None


def onnx_available() -> bool:
    from importlib.util import find_spec

    return find_spec("onnxruntime") is not None


def can_export() -> bool:
    """Whether a model can be exported here: torch.onnx writes the graphs with onnx."""
    from importlib.util import find_spec

    return find_spec("onnx") is not None and find_spec("torch") is not None


def export_to_cache(model) -> dict[str, Path]:
    """Export a loaded torch ``Model`` into the user cache folder, with its sidecar (what
    the runtime needs that the graphs do not say: the backbone id and embedding size)."""
    from genretag.models.export import export

    folder = cache_folder()
    paths = export(model, folder)
    about = folder / f"{model.model_id}.json"
    part = folder / f"{model.model_id}.json.{os.getpid()}.tmp"
    part.write_text(
        json.dumps(
            {
                "model_id": model.model_id,
                "backbone_id": model.backbone_id,
                "embedding_dim": model.net.embedding_dim,
                "sha256": {name: sha256_of(paths[name]) for name in GRAPHS},
            }
        )
    )
    part.replace(about)  # last and whole: files_of finds the graphs only once it is there
    return {**paths, "about": about}


@dataclass(frozen=True)
class LibraryHead:
    """A learnt model's own head (``genretag learn``), in numpy, computed as PyTorch does
    (float32 where it can). Over a base with a ``genres`` head (``stacked``): the layer of
    ``heads.StackedHead``, on the statistics and the base's genre logits, with its
    familiarity gate. In files made before it: one logistic regression per learnt label
    over the standardised statistics, then the labels its base fills in (``take``)."""

    mean: np.ndarray  # (stats,)
    scale: np.ndarray  # (stats,)
    weight: np.ndarray  # (labels, stats)
    bias: np.ndarray  # (labels,)
    take: np.ndarray | None  # the base's labels filled in, by index; None: none
    stacked: dict | None = None  # base weight, basis, spread, points, owner, radius

    @classmethod
    def of_file(cls, path: Path) -> LibraryHead:
        from genretag.models.file import LIBRARY_KEYS, read_tensors

        found = read_tensors(path, (*LIBRARY_KEYS, "fill", *STACKED_KEYS))
        mean, scale, weight, bias = (found[k] for k in LIBRARY_KEYS)
        stacked = (
            {k.removeprefix("library."): found[k] for k in STACKED_KEYS}
            if STACKED_KEYS[0] in found
            else None
        )
        return cls(mean, scale, weight, bias, found.get("fill"), stacked)

    def probabilities(self, stats: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Statistics (tracks, stats) and the base's probabilities (tracks, base labels)
        -> (tracks, labels)."""
        xs = (stats.astype(np.float32) - self.mean) / self.scale
        z = xs @ self.weight.T + self.bias
        if self.stacked is not None:
            z = z + clipped_logit(base) @ self.stacked["base.weight"].T
        learnt = (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)  # sigmoid, no overflow
        if self.stacked is not None:
            return np.where(self._familiar(xs), learnt, np.float32(0.0))
        if self.take is None:
            return learnt
        return np.concatenate([learnt, base[:, self.take]], axis=-1)

    def _familiar(self, xs: np.ndarray) -> np.ndarray:
        """(tracks, stats) standardised -> (tracks, labels): whether each label may fire
        (``heads.StackedHead``)."""
        s = self.stacked
        assert s is not None
        radius = s["radius"]
        out = np.ones((len(xs), len(radius)), dtype=bool)
        if not len(s["points"]):
            return out
        near = ((xs @ s["basis"].T) / s["spread"]).astype(np.float64)
        pts = s["points"].astype(np.float64)
        d2 = (near**2).sum(1)[:, None] - 2 * near @ pts.T + (pts**2).sum(1)[None]
        d = np.sqrt(np.maximum(d2, 0.0))
        for j in np.unique(s["owner"]):
            out[:, j] = d[:, s["owner"] == j].min(1) <= radius[j]
        return out


# a stacked library head's tensors beyond LIBRARY_KEYS (heads.StackedHead)
STACKED_KEYS = (
    "library.base.weight",
    "library.basis",
    "library.spread",
    "library.points",
    "library.owner",
    "library.radius",
)


def base_of(meta: ModelMeta) -> str | None:
    """The id of the model a learnt one was made from (its backbone and heads), or None."""
    if meta.architecture.head != "library":
        return None
    learnt = meta.raw.get("learnt") or {}
    return learnt.get("base_model")


def graphs_for(model_path: Path, meta: ModelMeta) -> dict[str, Path] | None:
    """The graphs a model runs on: its own (``files_of``), or for a learnt model its base's
    (the shipped model's, or where a scan exported them), under which its own head runs
    in numpy (``LibraryHead``)."""
    own = files_of(model_path, meta.model_id)
    base = base_of(meta)
    if own is not None or base is None:
        return own
    from genretag.models.file import default_model_path

    return files_of(model_path, base) or files_of(default_model_path(), base)


@dataclass
class OnnxModel:
    """A genre model on ONNX Runtime's CPU provider (see the module docstring)."""

    metadata: ModelMeta
    files: dict[str, Path]
    threads: int = 0  # 0: GENRETAG_ONNX_THREADS, else THREADS

    library: LibraryHead | None = None  # a learnt model's own head, over its base's graphs

    runtime = "onnx"
    pools_statistics = True  # runs_on_onnx admits only heads on pooled statistics
    feature_columns: tuple = ()
    device_type = "cpu"

    def __post_init__(self) -> None:
        import onnxruntime as ort

        self.threads = self.threads or int(os.environ.get("GENRETAG_ONNX_THREADS", THREADS))
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # one memory plan per batch shape grows with every shape seen (batches of a
        # track's last windows vary); planning per run keeps memory flat
        options.enable_mem_pattern = False
        self._sessions = {
            name: ort.InferenceSession(
                str(self.files[name]), options, providers=["CPUExecutionProvider"]
            )
            for name in GRAPHS
        }
        about = json.loads(Path(self.files["about"]).read_text())
        self.backbone_id: str = about["backbone_id"]
        self.embedding_dim: int = int(about["embedding_dim"])

    @property
    def labels(self) -> list[str]:
        return list(self.metadata.labels)

    @property
    def params(self) -> AudioParams:
        return self.metadata.audio

    @property
    def model_id(self) -> str:
        return self.metadata.model_id

    @property
    def independent(self) -> list[str]:
        return self.metadata.independent

    def window_outputs_of(
        self, samples: np.ndarray, embeddings: bool = False
    ) -> tuple[np.ndarray, float]:
        """(batch, window_samples) float32 samples -> ((batch, dim) window outputs, 0: one
        graph runs the frontend and the network)."""
        if embeddings:
            raise ValueError("the ONNX graphs give window outputs, not bare embeddings")
        (out,) = self._sessions["windows"].run(
            None, {"samples": np.ascontiguousarray(samples, dtype=np.float32)}
        )
        return out, 0.0

    def _head(self, mean: np.ndarray, maximum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs, stats = self._sessions["head"].run(
            None, {"mean": mean.astype(np.float32), "maximum": maximum.astype(np.float32)}
        )
        if self.library is not None:
            probs = self.library.probabilities(stats, probs)
        return probs, stats

    def track_probabilities(
        self, pool: WindowPool, features: np.ndarray | None = None
    ) -> np.ndarray:
        """A track's probabilities (n_labels,) from its pooled window outputs."""
        return self._head(pool.mean[None], pool.max[None])[0][0]

    def statistics(self, pool: WindowPool) -> np.ndarray:
        """A track's backbone statistics as float16 (what the cache keeps)."""
        return self._head(pool.mean[None], pool.max[None])[1][0].astype(np.float16)

    def probabilities_of_statistics(self, stats: np.ndarray) -> np.ndarray:
        """Tracks' cached statistics (tracks, stats) -> (tracks, n_labels)."""
        mean, maximum = pools_of_statistics(np.asarray(stats, dtype=np.float32), self.embedding_dim)
        return self._head(mean, maximum)[0]

    def window_probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """Each window heard alone, as if it were a whole track (windows, n_labels)."""
        return self._head(outputs, outputs)[0]
