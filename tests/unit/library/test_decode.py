"""Decoding: fast coverage's spans in one ffmpeg process."""

from __future__ import annotations

import numpy as np


def test_one_ffmpeg_process_decodes_every_span_as_separate_seeks_would(tmp_path):
    """decode_spans (fast coverage: one process per track) gives exactly the samples that
    one ffmpeg process per span gives, and zeros where a span runs past the audio, which
    it counts as not decoded."""
    from genretag.library.decode import decode, decode_spans

    from synth import music, write_audio

    path = tmp_path / "ten.mp3"
    write_audio(path, music(10.0, 44100, seed=4, channels=2), 44100, "mp3")
    starts, seconds = [0.5, 3.25, 7.0], 2.0
    spans = decode_spans(path, 16000, starts, seconds)
    assert spans.samples.shape == (3, 32000) and spans.decoded.tolist() == [32000] * 3
    for start, got in zip(starts, spans.samples):
        assert np.array_equal(got, decode(path, 16000, start, seconds))
    past = decode_spans(path, 16000, [9.5, 20.0], seconds)
    assert past.samples[0, :4000].any() and not past.samples[0, 16000:].any()
    assert not past.samples[1].any()
    assert 7000 < past.decoded[0] < 9000 and past.decoded[1] == 0
