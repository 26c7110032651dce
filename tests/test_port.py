"""The PyTorch port of musicnn reproduces musicnn's own TensorFlow outputs.

The reference probabilities were recorded once from musicnn's graph by
``training/convert_musicnn.py dump`` on synthesised inputs; this test needs no TensorFlow.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tagger.model import load_model
from training.convert_musicnn import reference_audio

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = json.loads((ROOT / "tests/fixtures/musicnn_reference.json").read_text())
PORTS = {  # model file -> musicnn's own outputs for it
    "musicnn_msd.safetensors": "musicnn_reference.json",
    "musicnn_mtt.safetensors": "musicnn_mtt_reference.json",
}


@pytest.mark.parametrize("weights", sorted(PORTS))
def test_port_matches_musicnn_within_1e3(weights):
    reference = json.loads((ROOT / "tests/fixtures" / PORTS[weights]).read_text())
    model = load_model(ROOT / "weights" / weights)
    assert model.labels == reference["tags"]
    audio = np.stack([reference_audio(spec) for spec in reference["inputs"]])
    assert audio.shape[1] == model.params.window_samples
    ours = model.predict_windows(torch.from_numpy(audio)).numpy()
    theirs = np.array([spec["probabilities"] for spec in reference["inputs"]])
    assert np.abs(ours - theirs).max() < 1e-3
    # and the outputs are informative, not a constant the test could pass by accident
    assert np.ptp(theirs, axis=1).min() > 0.05


def test_frontend_matches_librosa():
    import librosa

    model = load_model(ROOT / "weights/musicnn_msd.safetensors")
    audio = reference_audio(REFERENCE["inputs"][0])
    mel = librosa.feature.melspectrogram(y=audio, sr=16000, hop_length=256, n_fft=512, n_mels=96).T
    expected = np.log10(10000 * mel + 1)
    ours = model.frontend(torch.from_numpy(audio)[None])[0].numpy()
    assert ours.shape == expected.shape == (187, 96)
    assert np.abs(ours - expected).max() < 1e-3


def test_pooling_shortcut_is_exact():
    """Evaluation pools over frequency before ReLU and batch norm; it must equal the plain
    order (which training uses) exactly, negative batch-norm scales included."""
    model = load_model(ROOT / "weights/musicnn_msd.safetensors")
    backbone = model.net.backbone
    with torch.no_grad():
        backbone.timbral_bn[0].weight[:5] *= -1  # make sure some channels have a < 0
        mel = model.frontend(torch.from_numpy(np.stack(
            [reference_audio(spec) for spec in REFERENCE["inputs"][:2]])))
        fast = backbone(mel)
        backbone.training = True  # the plain path, with batch norm still in eval mode
        plain = backbone(mel)
    assert torch.allclose(fast, plain, atol=1e-5)
