"""``--arch raw-cnn``: the reference notebooks' recipe 4, mode 2. A 1-D CNN hears the raw
waveform (``models.samplecnn.SampleCNN``, after Lee et al. 2017) in windows of 3^10 = 59,049 samples
at 22.05 kHz (2.7 s), trained from random weights by ``netfit.fit_net`` as the mel CNN is:
class-balanced draws of one random window a clip, sped up or slowed down, louder or softer,
mixed (mixup), with early stopping on held-out artists. A track's probabilities are the
mean over its windows, heard by a scan through the model's ``Waveform`` frontend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genretag.models.net import Architecture
from genretag.models.params import AudioParams
from genretag.training.data.datasets import Item
from genretag.training.data.embed import Embedded, _per_file, clip_samples, params_tag

SAMPLE_RATE = 22050
HOP = 243  # 3^5: 244 frames of 243 samples make the 3^10-sample window
PARAMS = AudioParams(
    sample_rate=SAMPLE_RATE, hop_length=HOP, window_frames=HOP + 1, window_hop_frames=HOP
)  # windows side by side, as GTZAN's segments
ARCH = Architecture(name="raw-cnn", midend_filters=32, head="window")


def clip_audio(items: list[Item], cache_dir: Path, workers: int = 2, on_done=None) -> Embedded:
    """Every item's middle 30 s (the whole clip when shorter) at ``PARAMS.sample_rate``, as
    (samples, 1) float16 (2-D, so training cuts windows as it cuts log-mels); cached."""
    tag = f"audio-{params_tag(PARAMS)}"

    def compute(path: Path) -> np.ndarray:
        return clip_samples(path, PARAMS.sample_rate).astype(np.float16)[:, None]

    return _per_file(items, Path(cache_dir) / tag, tag, compute, workers, on_done)
