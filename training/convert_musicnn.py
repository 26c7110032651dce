"""One-off converter: musicnn's TensorFlow checkpoints -> our PyTorch model files.

The musicnn 0.1.0 wheel ships MSD_musicnn, MTT_musicnn, MSD_vgg and MTT_vgg; all four are
converted here (``--checkpoint``): the musicnn ones to our musicnn port, the VGG ones to
``tagger.model.VGGBackbone``. (MSD_musicnn_big is not in the wheel.)

The project never depends on TensorFlow. The conversion runs in two steps:

1. In a throwaway venv with TensorFlow (numpy and librosa too), read the checkpoint and run
   musicnn's own graph on synthesised inputs to record reference outputs::

       python -m venv /tmp/tfvenv
       /tmp/tfvenv/bin/pip install tensorflow-cpu==2.21.0 tf-keras==2.21.0 librosa
       /tmp/tfvenv/bin/pip download --no-deps musicnn==0.1.0 -d /tmp/mn
       unzip -q /tmp/mn/musicnn-0.1.0-py3-none-any.whl -d /tmp/mn/src
       TF_USE_LEGACY_KERAS=1 /tmp/tfvenv/bin/python -m training.convert_musicnn dump \\
           /tmp/mn/src /tmp/mn/msd.npz --reference tests/fixtures/musicnn_reference.json
       TF_USE_LEGACY_KERAS=1 /tmp/tfvenv/bin/python -m training.convert_musicnn dump \\
           /tmp/mn/src /tmp/mn/mtt.npz --checkpoint MTT_musicnn \\
           --reference tests/fixtures/musicnn_mtt_reference.json

2. In the project's environment, write the model files::

       python -m genretag.training.convert_musicnn write /tmp/mn/msd.npz \\
           weights/musicnn_msd.safetensors
       python -m genretag.training.convert_musicnn write /tmp/mn/mtt.npz \\
           weights/musicnn_mtt.safetensors \\
           --checkpoint MTT_musicnn

``tests/test_port.py`` then checks, without TensorFlow, that each port reproduces the recorded
50 tag probabilities within 1e-3.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

MSD_LABELS = [
    "rock",
    "pop",
    "alternative",
    "indie",
    "electronic",
    "female vocalists",
    "dance",
    "00s",
    "alternative rock",
    "jazz",
    "beautiful",
    "metal",
    "chillout",
    "male vocalists",
    "classic rock",
    "soul",
    "indie rock",
    "Mellow",
    "electronica",
    "80s",
    "folk",
    "90s",
    "chill",
    "instrumental",
    "punk",
    "oldies",
    "blues",
    "hard rock",
    "ambient",
    "acoustic",
    "experimental",
    "female vocalist",
    "guitar",
    "Hip-Hop",
    "70s",
    "party",
    "country",
    "easy listening",
    "sexy",
    "catchy",
    "funk",
    "electro",
    "heavy metal",
    "Progressive rock",
    "60s",
    "rnb",
    "indie pop",
    "sad",
    "House",
    "happy",
]
MTT_LABELS = [
    "guitar",
    "classical",
    "slow",
    "techno",
    "strings",
    "drums",
    "electronic",
    "rock",
    "fast",
    "piano",
    "ambient",
    "beat",
    "violin",
    "vocal",
    "synth",
    "female",
    "indian",
    "opera",
    "male",
    "singing",
    "vocals",
    "no vocals",
    "harpsichord",
    "loud",
    "quiet",
    "flute",
    "woman",
    "male vocal",
    "no vocal",
    "pop",
    "soft",
    "sitar",
    "solo",
    "man",
    "classic",
    "choir",
    "voice",
    "new age",
    "dance",
    "male voice",
    "female vocal",
    "beats",
    "harp",
    "cello",
    "no voice",
    "weird",
    "country",
    "metal",
    "female voice",
    "choral",
]
# checkpoint -> (tags, what the model file calls it, the dataset its tags come from)
CHECKPOINTS = {
    "MSD_musicnn": (MSD_LABELS, "musicnn MSD (PyTorch port)", "Million Song Dataset"),
    "MTT_musicnn": (MTT_LABELS, "musicnn MTT (PyTorch port)", "MagnaTagATune"),
    "MSD_vgg": (MSD_LABELS, "musicnn's VGG, MSD (PyTorch port)", "Million Song Dataset"),
    "MTT_vgg": (MTT_LABELS, "musicnn's VGG, MTT (PyTorch port)", "MagnaTagATune"),
}

# Reference inputs: one model window each (47616 samples at 16 kHz = 187 frames), so that
# musicnn's whole-clip spectrogram and our per-window one are the same frames.
REFERENCE_INPUTS = [
    {"seed": 1, "gain": 1.0},
    {"seed": 2, "gain": 0.3},
    {"seed": 3, "gain": 1.0},
    {"seed": 4, "gain": 0.05},
]
WINDOW_SAMPLES = 186 * 256
SR = 16000


def reference_audio(spec: dict) -> np.ndarray:
    """The synthesised input ``spec`` describes, float32 (WINDOW_SAMPLES,)."""
    # the tests' synthetic music (tests/synth.py): this tool runs from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from synth import music

    audio = music(WINDOW_SAMPLES / SR + 0.01, sr=SR, seed=spec["seed"])[:WINDOW_SAMPLES]
    return (audio * spec["gain"]).astype(np.float32)


# TensorFlow variable scope -> our parameter prefix, in musicnn's graph-building order.
def _layer_map(vgg: bool = False) -> dict[str, str]:
    m = {"batch_normalization": "backbone.input_bn"}
    if vgg:
        for i in range(5):
            m[f"{i + 1}CNN"] = f"backbone.convs.{i}"
            m[f"batch_normalization_{i + 1}"] = f"backbone.bns.{i}"
        m["dense"] = "head.out"
        return m
    for i, name in enumerate(["timbral.0", "timbral.1", "temporal.0", "temporal.1", "temporal.2"]):
        m["conv2d" if i == 0 else f"conv2d_{i}"] = f"backbone.{name}"
        bn = name.replace("timbral", "timbral_bn").replace("temporal", "temporal_bn")
        m[f"batch_normalization_{i + 1}"] = f"backbone.{bn}"
    for j in range(3):
        m[f"conv2d_{5 + j}"] = f"backbone.mid.{j}"
        m[f"batch_normalization_{6 + j}"] = f"backbone.mid_bn.{j}"
    m["batch_normalization_9"] = "head.bn_in"
    m["dense"] = "head.dense"
    m["batch_normalization_10"] = "head.bn_dense"
    m["dense_1"] = "head.out"
    return m


def tf_to_torch(variables: dict[str, np.ndarray], vgg: bool = False) -> dict[str, np.ndarray]:
    """Rename and transpose TensorFlow variables into our state-dict layout."""
    out = {}
    bn_names = {
        "gamma": "weight",
        "beta": "bias",
        "moving_mean": "running_mean",
        "moving_variance": "running_var",
    }
    for scope, prefix in _layer_map(vgg).items():
        if scope.startswith("batch_normalization"):
            for tf_name, pt_name in bn_names.items():
                out[f"{prefix}.{pt_name}"] = variables[f"{scope}/{tf_name}"]
            continue
        kernel, bias = variables[f"{scope}/kernel"], variables[f"{scope}/bias"]
        if kernel.ndim == 2:  # dense: (in, out) -> (out, in)
            out[f"{prefix}.weight"] = kernel.T
        elif prefix.startswith("backbone.mid."):  # (7, C, 1, out) -> Conv1d (out, C, 7)
            out[f"{prefix}.weight"] = kernel[:, :, 0, :].transpose(2, 1, 0)
        else:  # (kh, kw, in, out) -> Conv2d (out, in, kh, kw)
            out[f"{prefix}.weight"] = kernel.transpose(3, 2, 0, 1)
        out[f"{prefix}.bias"] = bias
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def dump(src: Path, npz: Path, reference: Path | None, checkpoint: str = "MSD_musicnn") -> None:
    """Step 1 (TensorFlow venv): checkpoint -> npz, and musicnn's outputs -> reference JSON."""
    import librosa
    import tensorflow as tf

    tags = CHECKPOINTS[checkpoint][0]
    ckpt = str(src / "musicnn" / checkpoint) + "/"
    reader = tf.compat.v1.train.NewCheckpointReader(ckpt)
    variables = {
        k: reader.get_tensor(k)
        for k in reader.get_variable_to_shape_map()
        if "Adam" not in k and "power" not in k
    }
    np.savez(npz, **variables)
    print(f"wrote {len(variables)} variables to {npz}")
    if reference is None:
        return

    sys.path.insert(0, str(src))
    tf.compat.v1.disable_eager_execution()
    from musicnn import models

    tf.compat.v1.reset_default_graph()
    x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
    with tf.name_scope("model"):
        logits = models.define_model(x, False, checkpoint, len(tags))[0]
    probs = tf.nn.sigmoid(logits)
    sess = tf.compat.v1.Session()
    tf.compat.v1.train.Saver().restore(sess, ckpt)
    rows = []
    for spec in REFERENCE_INPUTS:
        audio = reference_audio(spec)
        mel = librosa.feature.melspectrogram(y=audio, sr=SR, hop_length=256, n_fft=512, n_mels=96).T
        # float32 throughout: musicnn casts to float16 here, which overflows on loud input
        rep = np.log10(10000 * mel.astype(np.float32) + 1)
        out = sess.run(probs, feed_dict={x: rep[None, :187]})[0]
        rows.append({**spec, "probabilities": [round(float(p), 7) for p in out]})
    reference.write_text(
        json.dumps(
            {
                "model": f"{checkpoint} (musicnn 0.1.0)",
                "note": "musicnn's TensorFlow graph on log10(10000*mel+1) of synthesised "
                "inputs (tests/synth.py), "
                "written by training/convert_musicnn.py dump",
                "tags": tags,
                "inputs": rows,
            },
            indent=1,
        )
    )
    print(f"wrote reference outputs for {len(rows)} inputs to {reference}")


def write(npz: Path, out: Path, checkpoint: str = "MSD_musicnn") -> None:
    """Step 2 (project env): npz -> safetensors model file with genretag metadata."""
    import torch

    from genretag.models.frontend import AudioParams
    from genretag.models.net import Architecture, GenreNet, save_model
    from genretag.states import ModelKind

    tags, name, dataset = CHECKPOINTS[checkpoint]
    variables = dict(np.load(npz))
    vgg = checkpoint.endswith("_vgg")
    state = {k: torch.from_numpy(v) for k, v in tf_to_torch(variables, vgg).items()}
    params = AudioParams()
    arch = Architecture(activation="sigmoid", name="vgg" if vgg else "musicnn")
    net = GenreNet(arch, params, len(tags))
    net.load_state_dict(state, strict=False)
    missing = [k for k in net.state_dict() if k not in state and "num_batches" not in k]
    if missing:
        raise SystemExit(f"converter left parameters unset: {missing}")
    model_id = save_model(
        out,
        net,
        tags,
        params,
        extra={
            "name": name,
            "source": f"musicnn 0.1.0 {checkpoint} checkpoint (tags of the {dataset}), "
            "(c) Music Technology Group, Universitat Pompeu Fabra 2019, ISC licence",
        },
        kind=ModelKind.BACKBONE,
    )
    print(f"wrote {out} (model id {model_id})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="step", required=True)
    d = sub.add_parser("dump")
    d.add_argument("src", type=Path, help="folder the musicnn wheel was unzipped into")
    d.add_argument("npz", type=Path)
    d.add_argument("--reference", type=Path)
    w = sub.add_parser("write")
    w.add_argument("npz", type=Path)
    w.add_argument("out", type=Path)
    for p in (d, w):
        p.add_argument("--checkpoint", choices=sorted(CHECKPOINTS), default="MSD_musicnn")
    a = ap.parse_args()
    if a.step == "dump":
        dump(a.src, a.npz, a.reference, a.checkpoint)
    else:
        write(a.npz, a.out, a.checkpoint)


if __name__ == "__main__":
    main()
