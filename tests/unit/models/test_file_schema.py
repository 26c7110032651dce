"""A model file's header: the schema names the first problem."""

from __future__ import annotations

from genretag.models.file import SCHEMA, check


def test_the_model_schema_names_the_first_problem():
    good = {
        "kind": "genre-model",
        "labels": ["a"],
        "model_id": "x",
        "audio": {
            "sample_rate": 16000,
            "n_fft": 512,
            "hop_length": 256,
            "n_mels": 96,
            "window_frames": 187,
            "window_hop_frames": 93,
        },
        "architecture": {"frontend_filters": 1.6, "midend_filters": 64, "backend_units": 200},
    }
    assert check(good, SCHEMA) is None
    assert (
        check({**good, "labels": 3}, SCHEMA)
        == "'labels' must be a list of strings (count) within 1..1000"
    )
    bad_audio = {**good, "audio": {**good["audio"], "n_mels": 10_000_000}}
    assert check(bad_audio, SCHEMA) == "'audio.n_mels' must be a whole number within 1..512"
    assert check({k: v for k, v in good.items() if k != "model_id"}, SCHEMA) == "no 'model_id'"
    assert check({**good, "kind": "x"}, SCHEMA) == "'kind' must be one of genre-model, backbone"
