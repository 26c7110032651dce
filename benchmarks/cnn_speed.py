"""CNN time per window by batch size, with and without the pooling shortcut.

    python benchmarks/cnn_speed.py

Runs the shipped model's network on random windows on this machine's CPU (or GPU with
--device cuda) and prints milliseconds per window and the process's peak RSS for each batch
size, for the evaluation path (max over frequency before ReLU and batch norm) and for the
plain order that training uses.
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

from genretag.tagger.loader import LazyModel  # noqa: E402
from genretag.tagger.modelfile import default_model_path  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=default_model_path())
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 16, 32, 64])
    a = ap.parse_args()
    model = LazyModel(a.model, a.device).load()
    print(f"device {model.device}, {torch.get_num_threads()} torch threads, "
          f"{os.cpu_count()} cores")
    for plain in (False, True):
        model.net.backbone.training = plain  # batch norm itself stays in evaluation mode
        name = "plain order (training path)" if plain else "pool first (evaluation path)"
        for b in a.batches:
            samples = torch.randn(b, model.params.window_samples, device=model.device) * 0.1
            mel = model.frontend(samples)
            ms = per_window_ms(model, mel)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{name:30} batch {b:3}: {ms:6.1f} ms/window   peak RSS so far {rss:5.0f} MB",
                  flush=True)


if __name__ == "__main__":
    main()
