"""Model files of earlier formats migrate and keep their id; a file says what it is."""

from __future__ import annotations

import json

import pytest


def test_model_files_of_format_1_are_migrated_and_keep_their_id(tmp_path):
    """Files written before models said what they are: the ported taggers (they name their
    source) read as backbones, the rest as genre models, and a file's id is still the one
    computed from its weights and their meaning."""

    from safetensors.torch import load_file, save_file

    from genretag.models.file import read_metadata, shipped, weights_id
    from genretag.states import ModelKind

    default = read_metadata(shipped("genretag-v3.safetensors"))
    assert default.raw["format_version"] == 2 and default.kind == ModelKind.GENRE_MODEL
    assert default.architecture.head == "genres"
    assert default.audio.sample_rate == 16000 and len(default.labels) == 19
    assert default.independent == list(default.labels)
    assert default.parents["rock"] == ("poprock",)
    tensors = load_file(str(shipped("genretag-v3.safetensors")))
    digest = weights_id(default.raw, ((n, tensors[n].numpy().tobytes()) for n in sorted(tensors)))
    assert digest == default.model_id
    # the same file as release 0.1 wrote it: format 1, no kind
    old = {k: v for k, v in default.raw.items() if k != "kind"} | {"format_version": 1}
    path = tmp_path / "old.safetensors"
    save_file(tensors, str(path), metadata={"genretag": json.dumps(old)})
    migrated = read_metadata(path)
    assert migrated.kind == ModelKind.GENRE_MODEL and migrated.model_id == default.model_id
    for name in ("musicnn_msd", "musicnn_mtt", "vgg_msd", "vgg_mtt"):
        meta = read_metadata(shipped(f"{name}.safetensors"))
        assert meta.raw["format_version"] == 1 and meta.kind == ModelKind.BACKBONE, name


def test_a_model_file_says_what_it_is(tmp_path):
    from genretag.models.file import ModelFileError, read_metadata
    from genretag.states import ModelKind

    from helpers import make_tiny_model

    path = tmp_path / "m.safetensors"
    make_tiny_model(path)
    meta = read_metadata(path)
    assert meta.raw["kind"] == "genre-model" and meta.kind == ModelKind.GENRE_MODEL
    with pytest.raises(ModelFileError, match="'kind' must be one of genre-model, backbone"):
        type(meta).from_dict({**meta.raw, "kind": "something"}, "m")
