"""Scan speed of each ``--arch``: milliseconds per window, frontend included, as a scan
runs them (``hearing.local.outputs_of`` on a batch of 16 random windows), the median of 5
rounds, on this machine's CPU.

    python benchmarks/arch_speed.py

musicnn-track is the shipped model, on the runtime a scan picks (ONNX Runtime on a CPU);
the others are their untrained networks (speed does not depend on the weights), on
PyTorch, which a scan uses for window heads.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from genretag.hearing.local import outputs_of
from genretag.models.file import ModelMeta, default_model_path
from genretag.models.loader import LazyModel
from genretag.models.net import GenreNet, Model, frontend_of
from genretag.states import ModelKind
from genretag.training.recipes import featuremlp, rawcnn
from genretag.training.recipes.netfit import SCRATCH_SIZES

BATCH = 16


def model_of(net: GenreNet) -> Model:
    labels = [f"g{i}" for i in range(10)]
    meta = ModelMeta("bench", ModelKind.GENRE_MODEL, tuple(labels), net.params, net.arch)
    return Model(net.eval(), frontend_of(net.arch, net.params), labels, net.params, "bench", meta)


def ms_per_window(model, rounds: int = 5) -> float:
    windows = (
        np.random.default_rng(0)
        .normal(0, 0.1, (BATCH, model.params.window_samples))
        .astype(np.float32)
    )
    outputs_of(model, windows)  # warm-up (and numba's compilation, for the features)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        outputs_of(model, windows)
        times.append((time.perf_counter() - t0) / BATCH * 1000)
    return statistics.median(times)


def main() -> None:
    from genretag.models.net import Architecture, load_model

    shipped = LazyModel(default_model_path())
    backbone = load_model(
        Path(__file__).resolve().parent.parent / "weights" / "musicnn_msd.safetensors"
    )
    p = backbone.params
    arches = {
        f"musicnn-track ({shipped.load().runtime})": shipped.load(),
        "mel-cnn (64 mels)": model_of(
            GenreNet(Architecture(**SCRATCH_SIZES), replace(p, n_mels=64), 10)
        ),
        "raw-cnn": model_of(GenreNet(rawcnn.ARCH, rawcnn.PARAMS, 10)),
        "features-mlp": model_of(GenreNet(featuremlp.ARCH, featuremlp.PARAMS, 10)),
        "musicnn-finetune (torch)": model_of(
            GenreNet(replace(backbone.net.arch, head="window"), p, 10)
        ),
    }
    for name, model in arches.items():
        seconds = model.params.window_samples / model.params.sample_rate
        print(
            f"{name:28} {ms_per_window(model):7.1f} ms a window ({seconds:.2f} s of audio)",
            flush=True,
        )


if __name__ == "__main__":
    main()
