"""A model file opened lazily: its metadata at once, its network when a track must be heard.

A scan takes a :class:`LazyModel`: a re-scan of an unchanged library reads only the model's
id and labels from the file's header and never imports torch. When a track must be heard,
``load`` chooses the runtime: on a CPU, ONNX Runtime (``models.onnx.OnnxModel``) where the model
allows it, which imports no torch either; else PyTorch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from genretag.models.file import check_whole, read_metadata
from genretag.states import Runtime

if TYPE_CHECKING:
    from genretag.models.base import Network
    from genretag.models.net import Model
    from genretag.models.onnx import OnnxModel


class RuntimeUnavailable(Exception):
    """A runtime asked for that cannot run this model here; one line for the user."""


TORCH_EXTRA = "pip install 'genretag[torch]'"


def torch_missing() -> bool:
    """Whether PyTorch is not installed (the base install runs the shipped model on ONNX
    Runtime without it; training, a GPU and some models need the torch extra)."""
    from importlib.util import find_spec

    return find_spec("torch") is None


class LazyModel:
    """A model file's metadata now, its network on ``load()`` (once); ``device`` is a
    ``states.Device`` value, ``runtime`` a ``states.Runtime`` one. An ONNX runtime asked
    for and not possible is refused here, before anything is heard."""

    def __init__(self, path: Path, device: str = "auto", runtime: str = "auto"):
        self.path, self.device_request = Path(path), device
        self.runtime_request = Runtime(runtime)
        self.metadata = read_metadata(self.path)
        self.labels: list[str] = list(self.metadata.labels)
        self.model_id: str = self.metadata.model_id
        self._model: Network | None = None
        if self.runtime_request == Runtime.ONNX:
            why = self._onnx_refusal()
            if why:
                raise RuntimeUnavailable(f"--runtime onnx: {why}")

    def load(self) -> Network:
        if self._model is None:
            self._model = self._onnx() if self._uses_onnx() else self._torch()
        return self._model

    def _torch(self, dev: str | None = None) -> Model:
        """The model in PyTorch, on ``dev`` (default: the device asked for)."""
        if torch_missing():
            why = self._why_torch()
            raise RuntimeUnavailable(
                (
                    f"{self.path}: {why}: that needs PyTorch"
                    if why
                    else "--runtime torch needs PyTorch"
                )
                + f": {TORCH_EXTRA}"
            )
        import torch

        from genretag.models.net import load_model

        dev = dev or self.device_request
        if dev == "auto":
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        return load_model(self.path, dev)

    def _why_torch(self) -> str | None:
        """Why this model is not run on ONNX Runtime, in words (None: it was asked for)."""
        if self.runtime_request == Runtime.TORCH:
            return None
        from genretag.models import onnx as runtime

        why = runtime.runs_on_onnx(self.metadata)
        if why:
            return why
        if self.device_request == "cuda":
            return "it runs on a GPU"
        return "exporting it for ONNX Runtime"

    def _onnx_refusal(self) -> str | None:
        """Why this model cannot run on ONNX Runtime here, or None."""
        from genretag.models import onnx as runtime

        why = runtime.runs_on_onnx(self.metadata)
        if why:
            return f"{self.path}: {why}"
        if self.device_request == "cuda":
            return "it runs on the CPU; leave out --device cuda"
        if not runtime.onnx_available():
            return "needs onnxruntime: pip install onnxruntime"
        if runtime.graphs_for(self.path, self.metadata) is None and not runtime.can_export():
            if torch_missing():
                return f"{self.path}: exporting this model needs PyTorch: {TORCH_EXTRA}"
            return f"{self.path}: exporting this model needs the onnx package: pip install onnx"
        return None

    def _uses_onnx(self) -> bool:
        """onnx when asked for (checked at open); with auto, on a CPU where it can run: the
        one asked for (--device cpu), or the machine's when it has no GPU."""
        if self.runtime_request != Runtime.AUTO:
            return self.runtime_request == Runtime.ONNX
        if self.device_request == "cuda" or self._onnx_refusal() is not None:
            return False
        return self.device_request == "cpu" or not _has_cuda()

    def _onnx(self) -> Model | OnnxModel:
        """The model on ONNX Runtime, exported first if need be. Where the export fails
        (an operation ONNX lacks, a cache folder that cannot be written), ``auto`` keeps
        PyTorch, which gives the same results; ``onnx`` says why in one line."""
        from genretag.models import onnx as runtime

        check_whole(self.path)  # the graphs are found by model id: the file must be it
        files = runtime.files_of(self.path, self.model_id)
        if files is None and runtime.base_of(self.metadata):  # a learnt model: its base's
            base = runtime.graphs_for(self.path, self.metadata)
            if base is not None:
                return runtime.OnnxModel(
                    self.metadata, base, library=runtime.LibraryHead.of_file(self.path)
                )
        if files is None:
            torch_model = self._torch("cpu")
            try:
                files = runtime.export_to_cache(torch_model)
            except Exception as e:  # the torch model still runs the scan
                if self.runtime_request == Runtime.AUTO:
                    return torch_model
                raise RuntimeUnavailable(
                    f"--runtime onnx: {self.path}: could not export it ({type(e).__name__}: {e})"
                ) from None
        return runtime.OnnxModel(self.metadata, files)


def _has_cuda() -> bool:
    """Whether a CUDA GPU may be there, without importing torch where its build has no
    CUDA (reading torch/version.py); else torch says."""
    from importlib.util import find_spec

    spec = find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    version = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        text = version.read_text(encoding="utf-8")
    except OSError:
        text = ""
    if "cuda: Optional[str] = None" in text or "cuda = None" in text:
        return False
    import torch

    return torch.cuda.is_available()
