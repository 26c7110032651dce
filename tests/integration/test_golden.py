"""The outputs recorded in ``tests/fixtures/golden`` (see ``golden.py``) are what genretag
still answers: a restructuring changes no row, no model id and no probability."""

from __future__ import annotations

import pytest

import golden


def test_a_dry_run_over_every_format_gives_the_recorded_report(tmp_path):
    assert golden.same(golden.load("dry_run.json"), golden.dry_run(tmp_path)) == []


def test_the_shipped_models_keep_their_ids():
    assert golden.model_ids() == golden.load("model_ids.json")


def test_predict_gives_the_recorded_probabilities_on_generated_clips(tmp_path):
    clips = golden.write_clips(tmp_path / "clips")
    assert (
        golden.same(golden.load("predict.json"), golden.predictions(clips, tmp_path / "clips"))
        == []
    )


def test_predict_gives_the_recorded_probabilities_on_real_clips():
    clips = golden.real_clips()
    if len(clips) < len(golden.REAL_CLIPS):
        pytest.skip("the real clips are in ../shared/data, which this machine lacks")
    assert (
        golden.same(golden.load("predict_real.json"), golden.predictions(clips, golden.SHARED))
        == []
    )
