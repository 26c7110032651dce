"""A model's background file: written beside it, read back whole, refused when damaged or
when it belongs to another model."""

from __future__ import annotations

import numpy as np
import pytest

from genretag.models import background
from genretag.models.file import ModelFileError


def write(tmp_path, model_id="m1"):
    model = tmp_path / "mine.safetensors"
    rng = np.random.default_rng(0)
    targets = np.array([[1, 0], [np.nan, 1], [0, 0]])
    background.write(
        background.path_of(model),
        rng.normal(size=(3, 5)),
        targets,
        np.array([0, 1, 1]),
        ["a", "b"],
        model_id,
        4,
    )
    return model


def test_a_background_lies_beside_its_model_and_reads_back(tmp_path):
    model = write(tmp_path)
    assert background.path_of(model).name == "mine-background.safetensors"
    bg = background.load(model, "m1", ["a", "b"])
    assert bg is not None and len(bg) == 3 and bg.statistics.dtype == np.float32
    assert bg.targets.tolist() == [[1, 0], [-1, 1], [0, 0]]  # -1: its dataset cannot tell
    assert bg.groups.tolist() == [0, 1, 1]


def test_a_model_without_a_background_has_none(tmp_path):
    assert background.load(tmp_path / "other.safetensors", "m1", ["a"]) is None


def test_a_truncated_or_foreign_background_is_refused_in_one_line(tmp_path):
    model = write(tmp_path)
    with pytest.raises(ModelFileError, match="not the background of model m2"):
        background.load(model, "m2", ["a", "b"])
    path = background.path_of(model)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ModelFileError) as e:
        background.load(model, "m1", ["a", "b"])
    assert "truncated" in str(e.value) and "\n" not in str(e.value)
