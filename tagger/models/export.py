"""A genre model exported to ONNX, for the CPU runtime (``models.onnx.OnnxModel``).

Two graphs, both from the model's own torch modules, so there is one definition of the
network:
- ``windows``: samples (batch, window_samples) -> window outputs (batch, dim): the log-mel
  frontend as a convolution with the windowed DFT basis (an STFT that ONNX runs as one
  Conv), then the backbone and ``GenreNet.window_outputs``;
- ``head``: a track's pooled window outputs, mean and max (tracks, dim) -> its
  probabilities (tracks, n_labels) and backbone statistics (tracks, stats):
  ``GenreNet.track_probabilities`` and ``GenreNet.statistics``.

The files are named by the model id, which is a hash of the weights and what they mean:
a file of another model is never taken for this one's.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from genretag.models.net import GenreNet, Model

OPSET = 17


class WindowGraph(torch.nn.Module):
    """Samples (batch, window_samples) -> window outputs (batch, dim), as
    ``Model.window_outputs(Model.frontend(samples))`` computes them."""

    basis: torch.Tensor
    mel_basis: torch.Tensor

    def __init__(self, model: Model):
        super().__init__()
        self.net, p = model.net, model.params
        self.n_fft, self.hop, self.log_scale = p.n_fft, p.hop_length, p.log_scale
        k = torch.arange(p.n_fft // 2 + 1, dtype=torch.float64)[:, None]
        t = torch.arange(p.n_fft, dtype=torch.float64)[None]
        angle = 2 * torch.pi * k * t / p.n_fft
        window = torch.hann_window(p.n_fft, dtype=torch.float64)
        basis = torch.cat([torch.cos(angle) * window, -torch.sin(angle) * window])
        self.register_buffer("basis", basis.float()[:, None, :])  # (2 * freqs, 1, n_fft)
        mel_basis = model.frontend.mel_basis  # a LogMel's
        assert isinstance(mel_basis, torch.Tensor)
        self.register_buffer("mel_basis", mel_basis.detach().clone())

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        padded = F.pad(samples[:, None, :], (self.n_fft // 2, self.n_fft // 2))
        spec = F.conv1d(padded, self.basis, stride=self.hop)  # centred frames, zero padded
        half = spec.shape[1] // 2
        power = spec[:, :half].square() + spec[:, half:].square()  # (batch, freqs, frames)
        mel = torch.matmul(self.mel_basis, power)
        logmel = torch.log10(self.log_scale * mel + 1.0).transpose(1, 2)
        return self.net.window_outputs(self.net.backbone(logmel))


class HeadGraph(torch.nn.Module):
    """Pooled window outputs, mean and max (tracks, dim) -> probabilities (tracks, n_labels)
    and backbone statistics (tracks, stats)."""

    def __init__(self, net: GenreNet):
        super().__init__()
        self.net = net

    def forward(
        self, mean: torch.Tensor, maximum: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.net.track_probabilities(mean, maximum), self.net.statistics(mean, maximum))


@torch.inference_mode()
def export(model: Model, folder: Path) -> dict[str, Path]:
    """Write the model's two graphs into ``folder`` (``<model id>.windows.onnx`` and
    ``.head.onnx``), each written whole before it is moved into place; returns their
    paths."""
    model = model.to("cpu")
    folder.mkdir(parents=True, exist_ok=True)
    dim = model.net.embedding_dim + len(model.metadata.tags)
    example_samples = torch.zeros(2, model.params.window_samples)
    example_pool = torch.zeros(2, dim)
    graphs = {
        "windows": (WindowGraph(model).eval(), (example_samples,), ["samples"], ["outputs"]),
        "head": (
            HeadGraph(model.net).eval(),
            (example_pool, example_pool),
            ["mean", "maximum"],
            ["probabilities", "statistics"],
        ),
    }
    paths = {}
    for name, (module, args, inputs, outputs) in graphs.items():
        target = folder / f"{model.model_id}.{name}.onnx"
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".tmp", delete=False) as tmp:
            part = Path(tmp.name)
        try:
            torch.onnx.export(
                module,
                args,
                str(part),
                input_names=inputs,
                output_names=outputs,
                opset_version=OPSET,
                dynamo=False,
                dynamic_axes={n: {0: "batch"} for n in inputs + outputs},
            )
            part.chmod(0o644)  # readable as the model file is
            part.replace(target)
        finally:
            part.unlink(missing_ok=True)
        paths[name] = target
    return paths
