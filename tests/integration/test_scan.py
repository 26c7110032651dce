"""End-to-end: genretag scan / undo / report / predict on a generated library."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from genretag import tags
from genretag.settings import Settings

import rawtags
from helpers import GOOD, album, audio_hash, file_hash, make_tiny_model, run, scan, snapshot

GENRE_KEYS = {"TCON", "GENRE", "\xa9gen", "gnre"}
BAD = {"empty.mp3", "notes.mp3", "corrupt.mp3", "locked.mp3"}


def other_tags(path: Path) -> dict:
    return {k: v for k, v in tags.read_all_tags(path).items() if k.split(":")[0] not in GENRE_KEYS}


def test_dry_run_changes_no_byte_and_reports(library, tiny_model, db, tmp_path):
    before = snapshot(library)
    report = tmp_path / "report.json"
    r = scan(library, tiny_model, db, "--dry-run", "--report", report)
    assert r.exit_code == 1, r.output  # the bad files
    assert snapshot(library) == before
    rows = {Path(row["path"]).name: row for row in json.loads(report.read_text())["rows"]}
    assert set(rows) == set(GOOD) | BAD
    for row in rows.values():
        assert set(row) >= {"path", "status", "genres", "probabilities", "previous", "error"}
        assert row["status"] in {"would-tag", "kept", "unsure", "conflict", "error"}
    assert rows["plain.mp3"]["status"] == "would-tag"
    assert rows["plain.mp3"]["genres"] == ["jazz"]
    assert rows["plain.mp3"]["probabilities"]["jazz"] > 0.9
    # it has genres, and the audio contradicts its Rock (p < 0.05, jazz > 0.9): a conflict,
    # which the default policy (fill) leaves alone
    assert rows["v24.mp3"]["status"] == "conflict"
    assert rows["v24.mp3"]["previous"] == ["Rock", "Pop"]
    for bad in BAD - {"locked.mp3"}:
        assert rows[bad]["status"] == "error" and rows[bad]["error"]
    # a dry run never writes, so the read-only file is not an error there
    assert rows["locked.mp3"]["status"] == "would-tag"
    # the per-track table and summary were shown
    assert "would-tag" in r.output and "plain.mp3" in r.output


def test_real_run_tags_every_format_and_changes_nothing_else(library, tiny_model, db):
    files = {name: album(library) / name for name in GOOD}
    raw = {n: p.read_bytes() for n, p in files.items()}
    audio = {n: audio_hash(p) for n, p in files.items()}
    others = {n: other_tags(p) for n, p in files.items()}
    r = scan(library, tiny_model, db, "--overwrite")
    assert r.exit_code == 1, r.output
    for name, path in files.items():
        assert tags.read_genres(path) == ["jazz"], name
        assert audio_hash(path) == audio[name], f"{name}: audio changed"
        assert other_tags(path) == others[name], f"{name}: other tags changed"
        rawtags.only_the_genre_changed(raw[name], path.read_bytes(), path.suffix)
    # the formats' own conventions
    assert ID3version(files["v23.mp3"]) == (2, 3, 0)
    assert ID3version(files["v24.mp3"]) == (2, 4, 0)
    assert files["v1only.mp3"].read_bytes()[-128:-125] == b"TAG"  # ID3v1 still there
    from mutagen.apev2 import APEv2

    assert APEv2(files["ape.mp3"])["Artist"] == "Ape Artist"
    # the failures were named, one line each, and the run went on
    for bad in BAD:
        assert bad in r.output
    assert "read-only" in r.output
    assert tags.read_genres(library / "readonly" / "locked.mp3") == []


def ID3version(path: Path):
    from mutagen.id3 import ID3

    return ID3(path).version


def test_multiple_genres_use_each_formats_convention(library, tmp_path, db):
    model = tmp_path / "flat.safetensors"
    make_tiny_model(model, favourite=1, seed=3)
    r = run(
        "scan",
        album(library),
        "--model",
        model,
        "--db",
        db,
        "--overwrite",
        "--top-k",
        "3",
        "--min-confidence",
        "0.0",
    )
    assert r.exit_code == 0, r.output
    v23 = album(library) / "v23.mp3"
    v24 = album(library) / "v24.mp3"
    flac = album(library) / "tagged.flac"
    assert len(tags.read_genres(v24)) == 3
    from mutagen.flac import FLAC
    from mutagen.id3 import ID3

    assert len(ID3(v24).getall("TCON")[0].text) == 3  # v2.4: one value per genre
    assert ID3(v23).version[:2] == (2, 3)  # v2.3 stays v2.3, its values NUL-separated
    assert len(ID3(v23).getall("TCON")[0].text) == 3
    assert len(tags.read_genres(v23)) == 3  # and read back as three genres
    assert len(FLAC(flac)["GENRE"]) == 3  # one field per value


def test_policies_fill_merge_overwrite(library, tiny_model, db, tmp_path):
    v24 = album(library) / "v24.mp3"  # Rock; Pop: Rock is contradicted by this model
    ogg = album(library) / "vorbis.ogg"  # Folk: a genre this model cannot judge
    scan(library, tiny_model, db)
    assert tags.read_genres(v24) == ["Rock", "Pop"]  # fill: kept
    assert tags.read_genres(ogg) == ["Folk"]
    scan(library, tiny_model, tmp_path / "b.sqlite", "--merge")
    assert tags.read_genres(ogg) == ["Folk", "jazz"]
    assert tags.read_genres(v24) == ["Rock", "Pop"]  # a conflict is not merged into
    scan(library, tiny_model, tmp_path / "c.sqlite", "--overwrite")
    assert tags.read_genres(v24) == ["jazz"]
    assert run("scan", library, "--merge", "--overwrite").exit_code == 2


def test_second_run_decodes_nothing(library, tiny_model, db, monkeypatch):
    assert scan(library, tiny_model, db).exit_code == 1
    import genretag.hearing.source

    def no_decoding(*a, **k):
        raise AssertionError("decoded on a re-run")

    monkeypatch.setattr(genretag.hearing.source, "stream", no_decoding)
    monkeypatch.setattr(genretag.hearing.source, "decode_spans", no_decoding)
    report = library.parent / "second.json"
    r = scan(library, tiny_model, db, "--report", report)
    rows = json.loads(report.read_text())["rows"]
    sources = {Path(x["path"]).name: x["source"] for x in rows}
    assert all(sources[n] == "cache" for n in GOOD), sources
    # files that failed are tried again (and fail again without decoding: the patch says so)
    assert r.exit_code == 1


def test_tags_edited_elsewhere_are_read_again_without_decoding(
    library, tiny_model, db, monkeypatch, tmp_path
):
    """Another program changed the genre (and so the file's size and bytes): the audio is
    the same, so the scan reads the tags again and does not decode. Ogg and Opus are the
    exception: a longer comment renumbers their pages (see fingerprint.audio)."""
    from mutagen.easyid3 import EasyID3

    import genretag.hearing.source

    assert scan(album(library), tiny_model, db, "--dry-run").exit_code == 0
    edited = [n for n in GOOD if not n.endswith((".ogg", ".opus"))]
    for name in edited:
        tags.write_genres(album(library) / name, ["Changed Elsewhere " * 80])  # tag grows
    EasyID3(album(library) / "v23.mp3").save(v2_version=3, padding=lambda info: 9000)
    decoded = []
    monkeypatch.setattr(genretag.hearing.source, "stream", lambda *a, **k: decoded.append(a))
    monkeypatch.setattr(genretag.hearing.source, "decode_spans", lambda *a, **k: decoded.append(a))
    report = tmp_path / "again.json"
    scan(album(library), tiny_model, db, "--dry-run", "--report", report)
    rows = {Path(x["path"]).name: x for x in json.loads(report.read_text())["rows"]}
    assert decoded == []
    for name in edited:
        assert rows[name]["source"] == "cache", name
        assert rows[name]["previous"] == ["Changed Elsewhere " * 80], name


def test_moved_file_is_recognised_and_new_model_reclassifies(library, tiny_model, db, tmp_path):
    scan(library, tiny_model, db, "--dry-run")
    src = album(library) / "plain.mp3"
    dst = library / "moved-and-renamed.mp3"
    src.rename(dst)
    report = tmp_path / "r.json"
    r = scan(library, tiny_model, db, "--dry-run", "--report", report)
    assert "decoded 0 files" in r.output
    rows = {Path(x["path"]).name: x for x in json.loads(report.read_text())["rows"]}
    assert rows["moved-and-renamed.mp3"]["status"] == "would-tag"
    other = tmp_path / "other.safetensors"
    make_tiny_model(other, favourite=2, seed=1)
    r = scan(library, other, db, "--dry-run", "--report", report)
    assert f"decoded {len(GOOD) + len(BAD)} files" in r.output
    rows = {Path(x["path"]).name: x for x in json.loads(report.read_text())["rows"]}
    assert rows["moved-and-renamed.mp3"]["genres"] == ["rock"]


def test_undo_restores_exactly(library, tiny_model, db):
    """Every file byte for byte; Ogg Vorbis and Opus their genre state and audio (mutagen
    keeps the padding it added to the comment packet: docs/safety.md)."""
    files = [album(library) / n for n in GOOD]
    states = {p: tags.read_state(p) for p in files}
    audio = {p: audio_hash(p) for p in files}
    exact = {p: file_hash(p) for p in files if p.suffix not in (".ogg", ".opus")}
    scan(library, tiny_model, db, "--overwrite")
    assert all(tags.read_genres(p) == ["jazz"] for p in files)
    r = run("undo", "--all", "--db", db, "--dry-run")
    assert all(tags.read_genres(p) == ["jazz"] for p in files)
    r = run("undo", album(library), "--db", db)
    assert r.exit_code == 0, r.output
    for p in files:
        assert tags.read_state(p) == states[p], p.name
        assert audio_hash(p) == audio[p]
    assert {p: file_hash(p) for p in exact} == exact
    assert run("undo", "--all", "--db", db).output.strip().endswith("0 restored, 0 failed")


def test_undo_follows_a_moved_file(library, tiny_model, db):
    src = album(library) / "v24.mp3"
    scan(library, tiny_model, db, "--overwrite")
    dst = library / "renamed.mp3"
    src.rename(dst)
    scan(library, tiny_model, db)  # the next scan finds it by fingerprint
    r = run("undo", dst, "--db", db)
    assert r.exit_code == 0, r.output
    assert tags.read_genres(dst) == ["Rock", "Pop"]


def test_undo_leaves_files_edited_since(library, tiny_model, db):
    scan(library, tiny_model, db)
    p = album(library) / "plain.mp3"
    tags.write_genres(p, ["Edited By Hand"])
    r = run("undo", p, "--db", db)
    assert r.exit_code == 1 and "changed since" in r.output
    assert tags.read_genres(p) == ["Edited By Hand"]
    assert run("undo", p, "--db", db, "--force").exit_code == 0
    assert tags.read_genres(p) == []


def test_interrupted_run_resumes(library, tiny_model, db):
    from genretag.deciding.genres import Vocabulary
    from genretag.models.loader import LazyModel
    from genretag.scan import Scanner, ScanOptions
    from genretag.store.cache import Cache

    model = LazyModel(tiny_model, "cpu")
    heard = []

    def stop_after_three():
        heard.append(1)
        if len(heard) == 3:
            raise KeyboardInterrupt

    cache = Cache(db)
    opts = ScanOptions(Settings(min_confidence=0.5), vocab=Vocabulary.default(model.labels))
    before = {p.name: file_hash(p) for p in album(library).iterdir()}
    res = Scanner(model, cache, opts, on_progress=stop_after_three).run([album(library)])
    cache.close()
    assert res.interrupted and res.rows == []  # heard, cached, but nothing decided
    assert res.undecided == {"heard": 3}  # and the summary counts them
    assert res.decoded == 3  # what was heard before the interruption, not what was to be
    from rich.console import Console

    from genretag.render.report import summary_table

    console = Console(width=200, record=True)
    console.print(summary_table(res, dry_run=False))
    shown = " ".join(console.export_text().split())
    assert "tracks │ 3" in shown
    assert "heard, not decided (interrupted; cached for the next run) │ 3" in shown
    assert "predictions heard now │ 3" in shown and "from the cache │ 0" in shown
    assert {p.name: file_hash(p) for p in album(library).iterdir()} == before
    cache = Cache(db)
    res = Scanner(model, cache, opts).run([album(library)])
    assert res.decoded == len(GOOD) - 3  # the three it had heard are not heard again
    assert {Path(r.path).name for r in res.rows} == set(GOOD)


def test_usage_errors_exit_2(library, tiny_model, db, tmp_path):
    assert run("scan", tmp_path / "nope", "--db", db).exit_code == 2
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a model")
    r = run("scan", library, "--model", broken, "--db", db)
    assert r.exit_code == 2 and "broken.safetensors" in r.output
    import torch

    if not torch.cuda.is_available():
        assert (
            run("scan", library, "--model", tiny_model, "--db", db, "--device", "cuda").exit_code
            == 2
        )
    assert run("scan", library, "--device", "tpu").exit_code == 2
    bad_map = tmp_path / "map.toml"
    bad_map.write_text('polka = "Polka"\n')
    r = run("scan", library, "--model", tiny_model, "--db", db, "--map", bad_map)
    assert r.exit_code == 2 and "polka" in r.output


def test_map_renames_and_merges(library, tiny_model, db, tmp_path):
    mapping = tmp_path / "map.toml"
    mapping.write_text('[genres]\njazz = "Jazz & Blues"\nblues = "Jazz & Blues"\n')
    report = tmp_path / "r.json"
    scan(album(library), tiny_model, db, "--map", mapping, "--overwrite", "--report", report)
    assert tags.read_genres(album(library) / "plain.mp3") == ["Jazz & Blues"]
    row = json.loads(report.read_text())["rows"][0]
    assert set(row["probabilities"]) == {"Jazz & Blues", "rock"}


def test_unsure_tracks_stay_untagged(library, tiny_model, db, tmp_path):
    report = tmp_path / "r.json"
    r = run(
        "scan",
        album(library),
        "--model",
        tiny_model,
        "--db",
        db,
        "--min-confidence",
        "0.999",
        "--report",
        report,
    )
    assert r.exit_code == 0
    rows = json.loads(report.read_text())["rows"]
    assert {x["status"] for x in rows} == {"unsure"}
    assert tags.read_genres(album(library) / "plain.mp3") == []


def test_csv_and_html_reports(library, tiny_model, db, tmp_path):
    scan(album(library), tiny_model, db, "--dry-run", "--report", tmp_path / "r.csv")
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0].startswith("path,status,source,genres") and len(lines) == 1 + len(GOOD)
    scan(album(library), tiny_model, db, "--dry-run", "--report", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "<svg" in page and "sortBy" in page and "plain.mp3" in page
    assert "http://" not in page and "https://" not in page  # self-contained
    assert run("scan", library, "--report", tmp_path / "r.pdf").exit_code == 2
    r = scan(album(library), tiny_model, db, "--dry-run", "--report", tmp_path / "no" / "r.json")
    assert r.exit_code == 2 and "no such folder" in r.output  # said before the scan


def test_report_and_predict_commands(library, tiny_model, db):
    scan(library, tiny_model, db)
    r = run("report", "--db", db)
    assert r.exit_code == 0 and "tagged" in r.output and "corrupt.mp3" in r.output
    # on a CPU (asked for, so that a runner with a GPU checks the same): fast coverage
    r = run(
        "predict", album(library) / "plain.mp3", "--model", tiny_model, "--json", "--device", "cpu"
    )
    data = json.loads(r.output)
    assert max(data["probabilities"], key=data["probabilities"].get) == "jazz"
    assert data["timeline"][0]["start"] == 0.0 and data["timeline"][-1]["end"] > 3.9
    assert run("predict", library / "bad" / "notes.mp3", "--model", tiny_model).exit_code == 1
    r = run("predict", album(library), "--model", tiny_model)  # a folder
    assert r.exit_code == 2 and "a folder; predict takes one audio file" in r.output
    assert "genretag scan --dry-run shows a folder's verdicts" in r.output
    assert data["coverage"] == "fast" and data["windows"] == 2  # a scan on a CPU: 4 s, 2 windows
    r = run("predict", album(library) / "plain.mp3", "--model", tiny_model, "--coverage", "full")
    assert r.exit_code == 0 and "coverage full: every window" in r.output


def test_the_last_progress_line_gives_the_summarys_rate(library, tiny_model, db):
    """A real run of tracks all in the cache: they are found at thousands a second, then
    written much slower. The last progress line and the summary give the same rate."""
    assert scan(library, tiny_model, db, "--dry-run").exit_code == 1
    r = scan(library, tiny_model, db)
    lines = [x for x in r.output.splitlines() if x.startswith("tagging: ") and "/" in x]
    rate = re.search(r"([\d.]+) tracks/s", lines[-1])[1]
    summary = re.search(r"time\s+│\s+[\d.]+ s \(([\d.]+) tracks/s\)", r.output)
    assert summary and summary[1] == rate, r.output


def test_report_counts_an_error_a_real_run_saw_after_a_dry_run_as_a_real_runs(
    library, tiny_model, db
):
    bad = library / "bad"
    assert run("scan", bad, "--model", tiny_model, "--db", db, "-n").exit_code == 1
    for _ in range(2):
        assert run("scan", bad, "--model", tiny_model, "--db", db).exit_code == 1
    r = run("report", "--db", db)
    assert "(dry run)" not in r.output and "last seen by a dry run" not in r.output, r.output
    assert "empty.mp3: empty file (0 bytes)" in r.output


def test_report_reads_a_cache_whose_folder_cannot_be_written(library, tiny_model, tmp_path):
    """report only reads: it opens the cache read-only, in write-ahead mode too, where no
    shared-memory file can be made beside it. Root passes over a folder's permissions, so
    there the folder is mounted read-only in a mount namespace of its own."""
    import shutil
    import subprocess
    import sys

    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "cache.sqlite"
    assert run("scan", album(library), "--model", tiny_model, "--db", db, "-n").exit_code == 0
    report = [sys.executable, "-m", "genretag", "report", "--db", str(db)]
    if os.geteuid() == 0:
        if not shutil.which("unshare"):
            pytest.skip("unshare (util-linux) is not installed")
        mount = f'mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && exec "$@"'
        command = ["unshare", "-m", "sh", "-c", mount, "sh", *report]
        if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
            pytest.skip("no mount namespace here")
    else:
        folder.chmod(0o555)
        command = report
    try:
        r = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        folder.chmod(0o755)
    assert r.returncode == 0, r.stderr
    assert "would-tag" in r.stdout and "cache.sqlite" in r.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["cache.sqlite"]


@pytest.mark.parametrize("stage", ["replace", "save"])
def test_killed_write_leaves_a_valid_file(library, stage, tmp_path):
    """Kill -9 the writer mid-write: the original file must be intact and readable."""
    import subprocess
    import sys
    import textwrap

    target = album(library) / "tagged.flac"
    before = file_hash(target)
    code = textwrap.dedent(f"""
        import os, signal, mutagen.flac
        from pathlib import Path
        from genretag import tags
        def die(*a, **k):
            os.kill(os.getpid(), signal.SIGKILL)
        if {stage!r} == "replace":
            os.replace = die
        else:
            real = mutagen.flac.FLAC.save
            def half_then_die(self, *a, **k):
                real(self, *a, **k)
                with open(self.filename, "r+b") as f:
                    f.truncate(1000)  # leave the copy half-written
                die()
            mutagen.flac.FLAC.save = half_then_die
        tags.write_genres(Path({str(target)!r}), ["Killed"])
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path)
    assert proc.returncode == -9
    assert file_hash(target) == before
    assert tags.read_genres(target) == []
    leftovers = [p for p in target.parent.iterdir() if p.name.endswith(".genretag.tmp")]
    assert leftovers and all(p.name.startswith(".") for p in leftovers)  # hidden: skipped


def test_entry_point_main_loads_plugins_and_reports_usage_errors(tmp_path):
    """Through main(), as the console script runs: the training plug-in's commands are
    there, and a bad path is one line and exit status 2."""
    import subprocess
    import sys

    def main(*args):
        return subprocess.run(
            [sys.executable, "-m", "tagger", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "120"},
            timeout=120,
        )

    r = main("--help")
    assert r.returncode == 0
    for command in ("scan", "predict", "report", "undo", "train", "evaluate"):
        assert command in r.stdout
    r = main("evaluate", "--help")
    assert r.returncode == 0 and "--seeds" in r.stdout and "--compare-backbone" in r.stdout
    r = main("scan", str(tmp_path / "nowhere"), "--db", str(tmp_path / "db.sqlite"))
    assert r.returncode == 2
    assert r.stderr.strip() == f"genretag: error: {tmp_path / 'nowhere'}: no such file or folder"


def test_a_parquet_report_reads_back_with_pyarrow(library, tiny_model, db, tmp_path, monkeypatch):
    """One row per file, the JSON report's values typed, and one column per label's
    probability holding what was written (null for a file that was not heard)."""
    pq = pytest.importorskip("pyarrow.parquet")
    report, js = tmp_path / "r.parquet", tmp_path / "r.json"
    r = scan(library, tiny_model, db, "--dry-run", "--report", report)
    assert r.exit_code in (0, 1), r.output
    r = scan(library, tiny_model, db, "--dry-run", "--report", js)
    rows = {x["path"]: x for x in json.loads(js.read_text())["rows"]}
    table = pq.read_table(report)
    assert table.num_rows == len(rows) and set(table.column("path").to_pylist()) == set(rows)
    labels = {k for x in rows.values() for k in (x["probabilities"] or {})}
    assert {f"p_{label}" for label in labels} <= set(table.column_names)
    for got in table.to_pylist():
        want = rows[got["path"]]
        assert got["status"] == want["status"] and got["genres"] == want["genres"]
        assert got["would_write"] == want["would_write"]
        for label in labels:
            expected = (want["probabilities"] or {}).get(label)
            assert got[f"p_{label}"] == expected, (got["path"], label)
    assert any(got["error"] for got in table.to_pylist())  # the bad files are rows too
    # without pyarrow (importlib finds none): one line with the install hint, before
    # anything is heard
    import importlib.util

    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.split(".")[0] == "pyarrow" else found(name, *a),
    )
    r = scan(library, tiny_model, tmp_path / "x.sqlite", "--dry-run", "--report", report)
    assert r.exit_code == 2, r.output
    assert "a .parquet report needs pyarrow: pip install pyarrow" in r.output
