"""The PyTorch port of musicnn reproduces musicnn's own TensorFlow outputs.

The reference probabilities were recorded once from musicnn's graph by
``training/convert_musicnn.py dump`` on synthesised inputs; this test needs no TensorFlow.
"""

import json

import numpy as np
import pytest
import torch

from genretag.models.net import load_model
from genretag.training.convert_musicnn import reference_audio

from helpers import ROOT

REFERENCE = json.loads((ROOT / "tests/fixtures/musicnn_reference.json").read_text())
PORTS = {  # model file -> musicnn's own outputs for it
    "musicnn_msd.safetensors": "musicnn_reference.json",
    "musicnn_mtt.safetensors": "musicnn_mtt_reference.json",
    "vgg_msd.safetensors": "musicnn_vgg_msd_reference.json",
    "vgg_mtt.safetensors": "musicnn_vgg_mtt_reference.json",
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


@pytest.mark.slow  # librosa's numba-compiled DSP (compiled once per machine)
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
        mel = model.frontend(
            torch.from_numpy(np.stack([reference_audio(spec) for spec in REFERENCE["inputs"][:2]]))
        )
        fast = backbone(mel)
        backbone.training = True  # the plain path, with batch norm still in eval mode
        plain = backbone(mel)
    assert torch.allclose(fast, plain, atol=1e-5)


def test_shipped_model_writes_only_genres_validated_on_artists_it_never_heard():
    """The default model: small; every genre an independent probability; a scan writes by
    default only the genres whose held-out precision reached 0.7 (each at its own
    threshold), never the Pop/Rock umbrella; the GTZAN label set; and the model card
    describing this very file."""
    from genretag.models import background
    from genretag.models.file import default_model_path

    path = default_model_path()
    assert path.stat().st_size + background.path_of(path).stat().st_size < 20 * 2**20
    model = load_model(path)
    # its background (what learn fits against) is its training clips, each with targets
    bg = background.load(path, model.model_id, list(model.labels))
    assert bg is not None and len(bg) == 1422 and bg.statistics.shape[1] == 3062
    assert set(np.unique(bg.targets)) <= {-1, 0, 1} and (bg.targets == 1).any(0).all()
    meta = model.metadata
    assert meta.architecture.head == "genres" and meta.independent == list(meta.labels)
    names = set(meta.display_names.values())
    assert {"Electronic", "Folk", "Hip-Hop", "Country", "R&B", "Latin", "World"} <= names
    validated = meta.label_sets["validated"]
    assert set(meta.thresholds) == set(validated) and "poprock" not in validated
    held_out = meta.raw["training"]["config"]["validation"]["per_label"]
    assert all(held_out[lab]["precision"] >= 0.7 for lab in validated)
    from genretag.training.data.labelspace import GTZAN

    assert meta.label_sets["gtzan"] == GTZAN
    card = (ROOT / "weights" / "README.md").read_text()
    assert f"model id `{model.model_id}`" in card
    # a window of the tagger's reference input: each genre a probability of its own
    audio = torch.from_numpy(reference_audio(REFERENCE["inputs"][0]))[None]
    from genretag.models.pooling import WindowPool

    outputs = model.window_outputs(model.frontend(audio)).numpy()
    probs = model.track_probabilities(WindowPool.of(outputs))
    assert probs.shape == (len(meta.labels),) and ((probs > 0) & (probs < 1)).all()


def test_rounding_noise_moves_no_probability_of_the_shipped_model():
    """Inputs that differ only at float32 rounding level (as two inference runtimes' do)
    give the same probabilities within 1e-4: no input of the track head is standardised by a
    spread that is itself rounding noise. Checked on the four reference inputs,
    each heard as a track of one window, with every pooled number moved by a few ulps."""
    from genretag.models.file import default_model_path
    from genretag.models.pooling import WindowPool

    model = load_model(default_model_path())
    rng = np.random.default_rng(0)
    for name in REFERENCE["inputs"]:
        audio = torch.from_numpy(reference_audio(name))[None]
        outputs = model.window_outputs(model.frontend(audio)).numpy().astype(np.float32)
        probs = model.track_probabilities(WindowPool.of(outputs))
        for _ in range(5):
            ulps = rng.integers(-4, 5, outputs.shape).astype(np.float32)
            moved = outputs + ulps * np.spacing(outputs)
            shifted = model.track_probabilities(WindowPool.of(moved))
            assert np.abs(shifted - probs).max() <= 1e-4, (name, np.abs(shifted - probs).max())
