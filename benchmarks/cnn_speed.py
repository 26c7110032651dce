"""CNN time per window by batch size: PyTorch against ONNX Runtime, and PyTorch with and
without the pooling shortcut.

    python benchmarks/cnn_speed.py

Runs the shipped model's network on random windows on this machine's CPU (or GPU with
--device cuda) and prints milliseconds per window:
1. samples to window outputs (frontend included), as a scan runs them, on each runtime, in
   interleaved rounds (the median of 5), with the largest output difference;
2. for PyTorch, the evaluation path (max over frequency before ReLU and batch norm) and the
   plain order that training uses, with the process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from genretag.models.file import default_model_path
from genretag.models.loader import LazyModel


def per_window_ms(model, mel: torch.Tensor, repeats: int = 3) -> float:
    """What a scan runs per window: ``Model.window_outputs`` (backbone and head)."""
    with torch.inference_mode():
        model.window_outputs(mel)  # warm-up
        if mel.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(repeats):
            model.window_outputs(mel)
        if mel.device.type == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeats / len(mel) * 1000


def runtimes(path: Path, batches: list[int], rounds: int = 5) -> None:
    """Samples -> window outputs on PyTorch and ONNX Runtime, rounds interleaved."""
    import numpy as np

    models = {
        "torch": LazyModel(path, "cpu", "torch").load(),
        "onnx": LazyModel(path, "cpu", "onnx").load(),
    }

    def torch_run(samples):
        with torch.inference_mode():
            m = models["torch"]
            return m.window_outputs(m.frontend(torch.from_numpy(samples))).numpy()

    run = {"torch": torch_run, "onnx": models["onnx"].window_outputs_of}
    print(
        f"{torch.get_num_threads()} torch threads, onnx intra-op threads {models['onnx'].threads}"
    )
    for b in batches:
        samples = (
            np.random.default_rng(b).standard_normal((b, models["torch"].params.window_samples))
            * 0.1
        ).astype(np.float32)
        outs = {name: fn(samples) for name, fn in run.items()}  # warm-up
        times: dict[str, list[float]] = {name: [] for name in run}
        for _ in range(rounds):
            for name, fn in run.items():
                t0 = time.perf_counter()
                fn(samples)
                times[name].append((time.perf_counter() - t0) / b * 1000)
        ms = {name: float(np.median(v)) for name, v in times.items()}
        print(
            f"batch {b:3}: torch {ms['torch']:6.1f} ms/window, onnx {ms['onnx']:6.1f} "
            f"ms/window ({ms['onnx'] / ms['torch']:.2f}x); largest output difference "
            f"{np.abs(outs['torch'] - outs['onnx']).max():.1e}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=default_model_path())
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 16, 32, 64])
    a = ap.parse_args()
    if a.device == "cpu":
        runtimes(a.model, a.batches)
    model = LazyModel(a.model, a.device, "torch").load()
    print(f"device {model.device}, {torch.get_num_threads()} torch threads, {os.cpu_count()} cores")
    for plain in (False, True):
        model.net.backbone.training = plain  # batch norm itself stays in evaluation mode
        name = "plain order (training path)" if plain else "pool first (evaluation path)"
        for b in a.batches:
            samples = torch.randn(b, model.params.window_samples, device=model.device) * 0.1
            mel = model.frontend(samples)
            ms = per_window_ms(model, mel)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"{name:30} batch {b:3}: {ms:6.1f} ms/window   peak RSS so far {rss:5.0f} MB",
                flush=True,
            )


if __name__ == "__main__":
    main()
