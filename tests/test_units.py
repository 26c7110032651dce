"""Small pieces: windows, genre choice, tag policy, sniffing, discovery."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from genretag.deciding.genres import Vocabulary, choose
from genretag.hearing.prediction import Prediction
from genretag.hearing.windows import Windower, fast_starts
from genretag.library.discover import find_audio, sniff


@pytest.mark.parametrize("n", [1000, 4000, 4095, 10_000, 12_345])
def test_streamed_windows_equal_whole_track_windows(n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    w = Windower(1024, 512)
    parts = [w.feed(c) for c in np.array_split(x, 7)] + [w.finish()]
    starts = np.concatenate([p[0] for p in parts])
    wins = np.concatenate([p[1] for p in parts])
    if n < 1024:
        assert list(starts) == [0] and np.array_equal(wins[0][:n], x) and not wins[0][n:].any()
        return
    expected = list(range(0, n - 1024 + 1, 512))
    if expected[-1] + 1024 < n:
        expected.append(n - 1024)  # the tail window, flush with the end
    assert list(starts) == expected
    for s, win in zip(starts, wins):
        assert np.array_equal(win, x[s : s + 1024])
    assert len(w.buffer) <= 2 * 1024 + max(len(c) for c in np.array_split(x, 7))


def test_fast_starts_spread_over_the_track():
    starts = fast_starts(240.0, 3.0, 8)
    assert len(starts) == 8 and starts == sorted(starts)
    assert 0 < starts[0] < 30 and 210 < starts[-1] < 237
    assert fast_starts(2.0, 3.0, 8) == [0.0]
    assert len(fast_starts(10.0, 3.0, 8)) == 3


def P(labels: list[str], probabilities: list[float]) -> Prediction:
    return Prediction(tuple(labels), np.array(probabilities))


def test_choose_top_k_threshold_and_merge():
    labels = ["a", "b", "c"]
    vocab = Vocabulary.default(labels)
    c = choose(P(labels, [0.5, 0.35, 0.15]), vocab, top_k=2, min_confidence=0.3)
    assert c.genres == ["a", "b"] and not c.unsure
    c = choose(P(labels, [0.25, 0.4, 0.35]), vocab, top_k=0, min_confidence=0.5)
    assert c.unsure and c.genres == []
    merged = Vocabulary({"a": "X", "b": "X", "c": ""})
    c = choose(P(labels, [0.3, 0.3, 0.4]), merged, min_confidence=0.5)
    assert c.genres == ["X"] and c.probabilities == {"X": pytest.approx(0.6)}


def test_independent_genres_merge_as_independent_events_and_bring_parents():
    labels = ["rock", "pop", "indie", "indie-rock", "house", "dance", "electronic"]
    vocab = Vocabulary.default(
        labels,
        {
            "rock": "Rock",
            "pop": "Pop",
            "indie": "Indie",
            "indie-rock": "Indie Rock",
            "house": "House",
            "dance": "Dance",
            "electronic": "Electronic",
        },
        independent=["indie", "indie-rock", "house", "dance", "electronic"],
        parents={"indie-rock": ["rock", "indie"], "house": ["dance"], "dance": ["electronic"]},
    )
    probs = P(labels, [0.7, 0.3, 0.6, 0.5, 0.1, 0.2, 0.4])
    c = choose(probs, vocab, top_k=3, min_confidence=0.45)
    assert c.genres == ["Rock", "Indie", "Indie Rock"]  # a track can be Rock and Indie
    assert choose(probs, vocab, top_k=2, min_confidence=0.45).genres == ["Rock", "Indie"]
    c = choose(probs, vocab, top_k=3, min_confidence=0.45, parents=True)
    assert c.genres == ["Rock", "Indie", "Indie Rock"]  # its parents are already there
    assert vocab.with_parents(["House"]) == ["House", "Dance", "Electronic"]
    # mapped together: exclusive labels add up, independent ones combine as noisy-or
    both = Vocabulary(
        {**vocab.names, "pop": "Rock", "indie": "Rock"}, vocab.independent, vocab.parents
    )
    merged = both.merge(probs)
    assert merged["Rock"] == pytest.approx(1 - (1 - 1.0) * (1 - 0.6))
    assert vocab.merge(probs)["Indie"] == pytest.approx(0.6)
    # --labels: a set of the model's labels, the others never written
    only = vocab.only(["rock", "pop"])
    assert choose(probs, only, top_k=5, min_confidence=0.0).genres == ["Rock", "Pop"]


def shipped_vocabulary() -> Vocabulary:
    from genretag.models.file import default_model_path, read_metadata

    meta = read_metadata(default_model_path())
    return Vocabulary.of_model(meta)


def shipped(**p: float) -> Prediction:
    """The shipped model's 22 outputs: the ten exclusive shares given (the rest of the
    share spread evenly), and the independent probabilities given (others 0.01)."""
    vocab = shipped_vocabulary()
    labels = tuple(vocab.names)
    exclusive = [lab for lab in labels if lab not in vocab.independent]
    rest = (1.0 - sum(p.get(lab, 0.0) for lab in exclusive)) / sum(
        lab not in p for lab in exclusive
    )
    return Prediction(
        labels,
        np.array(
            [p.get(lab.replace("-", "_"), rest if lab in exclusive else 0.01) for lab in labels]
        ),
    )


def test_the_first_genre_is_exclusive_and_a_child_comes_only_beside_its_parent():
    vocab = shipped_vocabulary()
    # the pop album that was voted Soul: Pop leads the exclusive share
    album = shipped(pop=0.36, hiphop=0.31, reggae=0.21, soul=0.43)
    assert choose(album, vocab).genres == ["Pop"]
    assert choose(album, vocab, top_k=3).genres == ["Pop", "Soul", "Hip-Hop"]
    # the metal track written Hard Rock: Hard Rock's parent is Rock, not Metal
    metal = shipped(metal=0.81, hard_rock=0.87, heavy_metal=0.5)
    assert choose(metal, vocab).genres == ["Metal"]
    assert choose(metal, vocab, top_k=3).genres == ["Metal", "Heavy Metal"]
    rock = shipped(rock=0.7, hard_rock=0.87, metal=0.1)
    assert choose(rock, vocab, top_k=2).genres == ["Rock", "Hard Rock"]
    # no exclusive genre is sure: an independent genre without a parent may be first,
    # and House comes only beside Dance
    electronic = shipped(disco=0.2, electronic=0.9, house=0.8, dance=0.2)
    c = choose(electronic, vocab, top_k=3)
    assert c.genres == ["Electronic"] and c.confidence == pytest.approx(0.9)
    c = choose(shipped(disco=0.2, electronic=0.2, hard_rock=0.9), vocab)
    assert c.unsure and c.best == "Disco"  # Hard Rock alone, without Rock, is no verdict
    # an album: its first genre is one that a track ranks first
    assert choose(
        shipped(blues=0.3, jazz=0.45, rock=0.3), vocab, among={"Blues", "Rock"}
    ).genres == ["Blues"]


def test_sniff():
    assert sniff(b"ID3\x04") == "mp3" and sniff(b"\xff\xfb\x90") == "mp3"
    assert sniff(b"RIFF\0\0\0\0WAVEfmt ") == "wav" and sniff(b"fLaC") == "flac"
    assert sniff(b"\0\0\0\x20ftypM4A ") == "mp4" and sniff(b"FORM\0\0\0\0AIFF") == "aiff"
    assert sniff(b"MAC \x96\x0f") == "ape" and sniff(b"wvpk") == "wavpack"
    assert sniff(b"MPCK") == sniff(b"MP+\x07") == "musepack" and sniff(b"tBaK") == "tak"
    assert sniff(b"TTA1") == "tta" and sniff(b"DSD \x1c\0") == "dsf"
    assert sniff(bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")) == "asf"
    assert sniff(b"hello world") is None


def test_discovery_skips_hidden_appledouble_loops_and_second_links(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "song.mp3").write_bytes(b"ID3")
    (tmp_path / "a" / "._song.mp3").write_bytes(b"ID3")
    (tmp_path / "a" / ".hidden.mp3").write_bytes(b"ID3")
    (tmp_path / "a" / "noext").write_bytes(b"fLaC....")
    (tmp_path / "a" / "readme.txt").write_text("hi")
    os.symlink("..", tmp_path / "a" / "up")
    os.symlink("song.mp3", tmp_path / "a" / "again.mp3")
    found = find_audio([tmp_path])
    # the file and its link are one track: the first in name order is kept
    assert sorted(p.name for p in found.files) == ["again.mp3", "noext"]
    reasons = {p.name: why for p, why in found.skipped}
    assert "AppleDouble" in reasons["._song.mp3"] and "link" in reasons["song.mp3"]
    assert "up" in reasons


def test_spectrogram_augmentations():
    import torch
    from synth import music

    from genretag.models.frontend import AudioParams, LogMel
    from genretag.training.data.augment import (
        Augment,
        gain,
        pitch_shift,
        random_windows,
        spec_augment,
    )

    p = AudioParams()
    frontend = LogMel(p)
    y = torch.from_numpy(music(3.0, p.sample_rate, seed=1))[None]
    x = frontend(y)
    # gain is exact in the model's log scale: +10 dB of power is 10x the samples' power
    assert torch.allclose(gain(x, torch.tensor([10.0])), frontend(y * 10**0.5), atol=1e-3)
    assert torch.allclose(gain(x, torch.tensor([0.0])), x, atol=1e-5)
    assert torch.equal(pitch_shift(x, torch.tensor([0.0])), x)
    up = pitch_shift(x, torch.tensor([12.0]))  # an octave up: band j reads band j / 2
    assert torch.allclose(up[0, :, 40], x[0, :, 20]) and torch.equal(up[0, :, 0], x[0, :, 0])
    gen = torch.Generator().manual_seed(0)
    masked = spec_augment(x, Augment(freq_masks=1, freq_width=96, time_masks=0), gen)
    assert (masked == 0).any() and masked.shape == x.shape
    mel = x[0].numpy()
    w = random_windows([mel, mel[:50]], 100, Augment(), gen)
    assert w.shape == (2, 100, p.n_mels)
    assert torch.equal(random_windows([mel], len(mel), None, gen)[0], x[0])


def test_early_stopping_keeps_the_best_epoch():
    import torch

    from genretag.training.recipes.losses import EarlyStopping, validation_split

    net = torch.nn.Linear(1, 1)
    stop = EarlyStopping(patience=2)
    losses = [3.0, 1.0, 2.0, 2.5, 0.5]
    for epoch, loss in enumerate(losses):
        with torch.no_grad():
            net.bias.fill_(loss)
        if stop.update(epoch, loss, net):
            break
    assert epoch == 3 and stop.best_epoch == 1
    stop.restore(net)
    assert float(net.bias.detach()) == 1.0
    groups = ["a", "a", "b", "c", "d", "e"]
    y = np.array([0, 0, 1, 0, 1, 0])
    tr, va = validation_split(groups, y, seed=0, share=0.4)
    assert not {groups[i] for i in tr} & {groups[i] for i in va}
    assert set(y[tr]) == {0, 1} and len(va) >= 2


def test_a_cache_of_release_0_1_migrates_with_every_row_and_undo_entry(tmp_path):
    """tests/fixtures/cache-release-0.1.sqlite was written by release 0.1's Cache (no schema
    version): opening it migrates it, and every track row and history entry survives."""
    import shutil
    import sqlite3

    from genretag.store.cache import SCHEMA_VERSION, Cache, CacheError

    path = tmp_path / "cache.sqlite"
    shutil.copy(Path(__file__).parent / "fixtures" / "cache-release-0.1.sqlite", path)
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 0
        before_tracks = con.execute("select * from tracks order by path").fetchall()
        before_history = con.execute("select * from history order by id").fetchall()
    cache = Cache(path)
    rows = cache.all_tracks()
    assert rows["/music/Artist/Album/02 Two.flac"].previous == ["Jazz"]
    assert rows["/music/Artist/Album/01 One.mp3"].probabilities == {"rock": 0.8, "pop": 0.2}
    (entry,) = cache.writes()["/music/Artist/Album/01 One.mp3"]
    assert entry.before["values"] == ["Ünïcode Genre"] and entry.after == ["Rock"]
    cache.close()
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tracks = con.execute("select * from tracks order by path").fetchall()
        assert [row[: len(before_tracks[0])] for row in tracks] == before_tracks
        history = con.execute("select * from history order by id").fetchall()
        before_at = 4  # the genre state: now its container's own record (schema 5)
        assert [
            row[:before_at] + row[before_at + 1 : len(before_history[0])] for row in history
        ] == [row[:before_at] + row[before_at + 1 :] for row in before_history]
        assert json.loads(history[0][before_at]) == {
            "kind": "id3",
            "format": 2,
            "values": ["Ünïcode Genre"],
            "read": False,
            "frame": "",
            "v1": 12,
            "tagless": False,
            "tag_size": 0,
            "ignr": None,
        }
        states = con.execute("select state, run from history").fetchall()  # new columns:
        assert set(states) == {("done", None)}  # their writes had all happened, in no run
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")  # a newer release's cache
    with pytest.raises(CacheError, match="newer genretag"):
        Cache(path)


def test_one_ffmpeg_process_decodes_every_span_as_separate_seeks_would(tmp_path):
    """decode_spans (fast coverage: one process per track) gives exactly the samples that
    one ffmpeg process per span gives, and zeros where a span runs past the audio, which
    it counts as not decoded."""
    from synth import music, write_audio

    from genretag.library.decode import decode, decode_spans

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


def test_a_map_takes_the_names_shown_and_reports_every_bad_key():
    from genretag.deciding.genres import MapError

    vocab = shipped_vocabulary()
    mapped = vocab.with_names({"Hip-Hop": "Rap", "hard rock": "Rock", "jazz": "Jazz & Blues"})
    assert mapped.names["hiphop"] == "Rap" and mapped.names["hard-rock"] == "Rock"
    assert mapped.names["jazz"] == "Jazz & Blues"
    with pytest.raises(MapError) as e:
        vocab.with_names({"polka": "Polka", "Hip-Hop": 3, "zydeco": "Z", "rock": "a\0b"}, "m")
    message = str(e.value)
    assert "'polka', 'zydeco': not labels of this model" in message
    assert "the name for 'Hip-Hop' must be a string" in message
    assert "the name for 'rock' must be one line" in message and "\n" not in message


def test_model_files_of_format_1_are_migrated_and_keep_their_id(tmp_path):
    """Files written before models said what they are: the ported taggers (they name their
    source) read as backbones, the rest as genre models, and a file's id is still the one
    computed from its weights and their meaning."""
    import json

    from safetensors.torch import load_file, save_file

    from genretag.models.file import read_metadata, shipped
    from genretag.models.net import model_id_of
    from genretag.states import ModelKind

    default = read_metadata(shipped("genretag-gtzan.safetensors"))
    assert default.raw["format_version"] == 2 and default.kind == ModelKind.GENRE_MODEL
    assert default.architecture.head == "track"
    assert default.audio.sample_rate == 16000 and len(default.labels) == 22
    assert default.independent[:2] == ["electronic", "dance"]
    assert default.parents["hard-rock"] == ("rock",)
    tensors = load_file(str(shipped("genretag-gtzan.safetensors")))
    assert model_id_of(tensors, default.raw) == default.model_id
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


def test_a_cache_written_by_release_8f518e1_still_undoes_byte_for_byte(tmp_path):
    """tests/fixtures/cache-8f518e1 holds files that release 8f518e1 tagged with
    ``scan --overwrite`` and the cache it wrote (one record for every container's undo
    state; the fixture's make.py made them). The migration to schema 5
    turns each into its container's record, and undo gives back every original file (an
    Ogg file its genre, as the README says: its comment header keeps the padding)."""
    import hashlib
    import shutil
    import sqlite3

    from helpers import run

    fixture = Path(__file__).parent / "fixtures" / "cache-8f518e1"
    lib = tmp_path / "lib"
    shutil.copytree(fixture, lib)
    db = lib / "cache.sqlite"
    with sqlite3.connect(db) as con:  # the library lived in /tmp/fxlib when it was made
        assert con.execute("PRAGMA user_version").fetchone()[0] == 4
        for table in ("tracks", "history"):
            con.execute(f"update {table} set path = replace(path, '/tmp/fxlib', ?)", [str(lib)])
    originals = json.loads((lib / "originals.json").read_text())
    r = run("report", "--db", db)  # report reads it read-only once it is migrated
    assert r.exit_code == 0 and "writes that undo can restore" in r.output, r.output
    r = run("undo", lib, "--db", db)
    assert r.exit_code == 0, r.output
    from genretag import tags

    for name, digest in originals.items():
        if name.endswith(".ogg"):
            assert tags.read_genres(lib / name) == []
        else:
            assert hashlib.sha256((lib / name).read_bytes()).hexdigest() == digest, name
