"""``scan --engine ray`` on a real local Ray runtime, started by the scan itself:
the same rows as the local engine, and a cache the local engine then finds complete."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from helpers import run, sigint_as_a_terminal_sends_it

pytest.importorskip("ray.data")
pytestmark = pytest.mark.slow  # a Ray runtime is started by every test here
LOOPBACK = "127.0.0.1"


def rows_of(report: Path) -> dict[str, dict]:
    return {r["path"]: r for r in json.loads(report.read_text())["rows"]}


def test_ray_hears_what_the_local_engine_hears(library, tmp_path, monkeypatch):
    """Every format of the test library, with its unreadable and non-audio files: the same
    statuses, genres and errors, every probability within 1e-5, the library heard as
    several successive datasets (a small chunk here); the Parquet report works with either
    engine; then a local scan on the same cache hears nothing."""
    pq = pytest.importorskip("pyarrow.parquet")
    from genretag.hearing import rayengine

    monkeypatch.setattr(rayengine, "CHUNK_MIN", 5)
    monkeypatch.setattr(rayengine, "CHUNK_PER_CPU", 1)
    album = library / "Artist" / "Album"  # a file name that is not UTF-8 (Arrow's are)
    shutil.copy(album / "plain.mp3", os.fsdecode(os.fsencode(album) + b"/Caf\xe9.mp3"))
    local, remote = tmp_path / "local.json", tmp_path / "ray.json"
    r = run("scan", library, "--db", tmp_path / "l.sqlite", "--dry-run", "--report", local)
    assert r.exit_code == 1, r.output  # the bad files are errors
    db = tmp_path / "r.sqlite"
    r = run("scan", library, "--engine", "ray", "--db", db, "--dry-run", "--report", remote)
    assert r.exit_code == 1, r.output
    a, b = rows_of(local), rows_of(remote)
    assert a.keys() == b.keys()
    assert os.fsencode(album) + b"/Caf\xe9.mp3" in {os.fsencode(p) for p in b}
    for path, x in a.items():
        y = b[path]
        assert (x["status"], x["genres"], x["error"]) == (y["status"], y["genres"], y["error"])
        if x["probabilities"]:
            assert (
                max(abs(x["probabilities"][k] - y["probabilities"][k]) for k in x["probabilities"])
                <= 1e-5
            ), path
    assert any(x["error"] for x in b.values()) and any(x["probabilities"] for x in b.values())
    parquet = tmp_path / "ray.parquet"
    r = run("scan", library, "--db", db, "--dry-run", "--report", parquet)
    assert pq.read_table(parquet).num_rows == len(a)
    again = tmp_path / "again.json"
    r = run("scan", library, "--db", db, "--dry-run", "--report", again)
    assert json.loads(again.read_text())["summary"]["decoded"] == 0, r.output


def test_without_the_extra_or_with_an_old_ray_one_line_with_the_install_hint(
    library, tmp_path, monkeypatch
):
    import importlib.metadata
    import importlib.util

    find_spec, version = importlib.util.find_spec, importlib.metadata.version
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.split(".")[0] == "ray" else find_spec(name, *a),
    )
    r = run("scan", library, "--engine", "ray", "--db", tmp_path / "c.sqlite", "--dry-run")
    assert r.exit_code == 2 and "needs the ray extra: pip install 'genretag[ray]'" in r.output
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: "2.58.1" if name == "ray" else version(name)
    )
    r = run("scan", library, "--engine", "ray", "--db", tmp_path / "c.sqlite", "--dry-run")
    assert r.exit_code == 2, r.output
    assert (
        "needs Ray 2.59 or later, whose local runtimes require a token (this is Ray "
        "2.58.1): pip install -U 'genretag[ray]'" in " ".join(r.output.split())
    )


PROBE = """
import sys
from genretag.cli import main
try:
    sys.argv = ["genretag", *sys.argv[1:]]
    main()
except SystemExit as e:
    import ray
    from ray._private.authentication.authentication_utils import is_token_auth_enabled
    print("EXIT", e.code, "TOKEN", is_token_auth_enabled(),
          "NODES", sorted(n["NodeManagerAddress"] for n in ray.nodes()))
"""


def test_the_runtime_a_scan_starts_needs_a_token_and_talks_on_the_loopback(tmp_path):
    """A token, even with RAY_AUTH_MODE=disabled left in the environment; the loopback,
    by the tests' setting (conftest)."""
    import os
    import subprocess
    import sys

    from synth import music, write_audio

    write_audio(tmp_path / "a.flac", music(4.0, 16000, seed=1), 16000, "flac")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_AUTH_MODE"] = "disabled"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            "scan",
            str(tmp_path / "a.flac"),
            "--engine",
            "ray",
            "--db",
            str(tmp_path / "c.sqlite"),
            "-n",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert "EXIT 0 TOKEN True NODES ['127.0.0.1']" in done.stdout, done.stdout + done.stderr


def test_a_worker_with_another_model_stops_the_run_in_one_line(library, tmp_path, monkeypatch):
    """The driver names the model it loaded; a worker that loads another (here the driver
    is told a different id) stops the run with one line naming the worker, before any
    prediction is stored."""
    from genretag.models import onnx as runtime

    monkeypatch.setattr(runtime.OnnxModel, "model_id", property(lambda self: "0123456789abcdef"))
    db = tmp_path / "c.sqlite"
    r = run("scan", library / "Artist" / "Album", "--engine", "ray", "--db", db, "--dry-run")
    assert r.exit_code == 2, r.output
    assert "--engine ray: worker " in r.output and "not the driver's 0123456789abcdef" in r.output
    from genretag.store.cache import Cache

    assert not [row for row in Cache(db).all_tracks().values() if row.probabilities]


def test_a_killed_model_actor_is_restarted_and_nothing_is_heard_twice(tmp_path):
    """kill -9 on the model actor's process while it hears: Ray restarts it, the scan
    finishes with exit 0, every file has one cache row with its prediction, and the undo
    history holds one write per file."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from genretag.store.cache import Cache

    from synth import music, write_audio

    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(16):
        write_audio(lib / f"{i:02d}.flac", music(8.0, 22050, seed=i), 22050, "flac")
    db = tmp_path / "c.sqlite"
    # this run's Ray processes inherit the tag, so that a Ray test running beside this one
    # (pytest-xdist) never has its actor killed here
    tag = f"GENRETAG_TEST_RUN={os.getpid()}-{time.time_ns()}"
    scan = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "genretag",
            "scan",
            str(lib),
            "--engine",
            "ray",
            "--db",
            str(db),
            "--coverage",
            "full",
            "--min-confidence",
            "0",
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, tag.split("=")[0]: tag.split("=")[1]},
    )

    def ours(pid: int) -> bool:
        try:
            return tag.encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            return False

    killed, deadline = False, time.time() + 240
    while scan.poll() is None and not killed and time.time() < deadline:
        ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
        actors = [
            int(line.split()[0])
            for line in ps.splitlines()
            if "MapWorker(Map(_Hear)).submit" in line and ours(int(line.split()[0]))
        ]
        if actors:
            os.kill(actors[0], signal.SIGKILL)
            killed = True
        time.sleep(0.05)
    out, _ = scan.communicate(timeout=300)
    assert killed, "the model actor was never seen hearing"
    cache = Cache(db)
    assert scan.returncode == 0, (
        out,
        {p: r.error for p, r in cache.all_tracks().items() if r.error},
    )
    rows = cache.all_tracks()
    assert sorted(Path(p).name for p in rows) == [f"{i:02d}.flac" for i in range(16)]
    assert all(row.probabilities for row in rows.values())
    writes = cache.db.execute("select path, count(*) from history group by path").fetchall()
    assert len(writes) == 16 and all(n == 1 for _, n in writes), writes


def test_ctrl_c_keeps_what_was_heard_and_the_next_run_resumes(tmp_path):
    """SIGINT during a Ray scan, once a track has been heard: exit 130, the tracks heard so
    far are cached, and the same command then hears only the rest."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from synth import music, write_audio

    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(16):
        write_audio(lib / f"{i:02d}.flac", music(30.0, 16000, seed=i), 16000, "flac")
    db = tmp_path / "c.sqlite"
    command = [
        sys.executable,
        "-m",
        "genretag",
        "scan",
        str(lib),
        "--engine",
        "ray",
        "--db",
        str(db),
        "--coverage",
        "full",
        "--dry-run",
        "-q",
    ]
    scan = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=sigint_as_a_terminal_sends_it,
    )

    def heard() -> int:  # the scan puts what it heard in the cache file within a second
        try:  # a track's statistics may be stored a moment before its row: either will do
            with sqlite3.connect(db) as con:
                return con.execute(
                    "select count(*) from (select path from tracks where probabilities is "
                    "not null union select path from statistics)"
                ).fetchone()[0]
        except sqlite3.Error:
            return 0

    deadline = time.time() + 240
    while scan.poll() is None and heard() == 0 and time.time() < deadline:
        time.sleep(0.05)
    scan.send_signal(signal.SIGINT)
    out, _ = scan.communicate(timeout=120)
    assert scan.returncode == 130, out
    first = heard()
    assert 1 <= first < 16, first
    report = tmp_path / "again.json"
    again = subprocess.run(
        [*command, "--report", str(report)], capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(report.read_text())["summary"]["decoded"] == 16 - first


def test_a_model_file_missing_on_a_worker_stops_the_run_in_one_line(library, tmp_path, monkeypatch):
    """The workers load the model from the driver's path; where a worker cannot (here the
    path it is given does not exist), one line names the worker and the file, exit 2,
    before any prediction is stored."""
    from genretag.hearing import rayengine
    from genretag.store.cache import Cache

    made = rayengine.RayHearer.__init__

    def elsewhere(self, *args, **kwargs):
        made(self, *args, **kwargs)
        self.model_path = tmp_path / "not-on-this-worker.safetensors"

    monkeypatch.setattr(rayengine.RayHearer, "__init__", elsewhere)
    db = tmp_path / "c.sqlite"
    r = run("scan", library / "Artist" / "Album", "--engine", "ray", "--db", db, "--dry-run")
    assert r.exit_code == 2, r.output
    line = next(x for x in r.output.splitlines() if "--engine ray: worker " in x)
    assert "cannot load" in line and "not-on-this-worker.safetensors" in line, r.output
    assert not [row for row in Cache(db).all_tracks().values() if row.probabilities]


def test_two_nodes_share_the_work_and_hear_what_one_machine_hears(tmp_path):
    """A simulated two-node cluster (ray.cluster_utils): the scan joins it by address,
    both nodes decode and hear tracks, and every probability is within 1e-5 of the local
    engine's."""
    import subprocess
    import sys

    from ray.cluster_utils import Cluster

    from synth import music, write_audio

    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(12):
        write_audio(lib / f"{i:02d}.flac", music(10.0, 16000, seed=i), 16000, "flac")
    local = tmp_path / "local.json"
    r = run("scan", lib, "--db", tmp_path / "l.sqlite", "--dry-run", "--report", local)
    assert r.exit_code == 0, r.output
    # two CPUs a node: one decodes while the node's model actor holds the other
    cluster = Cluster(
        initialize_head=True,  # on the loopback: test traffic stays here
        head_node_args={"num_cpus": 2, "node_ip_address": LOOPBACK},
    )
    try:
        cluster.add_node(num_cpus=2, node_ip_address=LOOPBACK)
        cluster.wait_for_nodes()
        report = tmp_path / "ray.json"
        scan = subprocess.run(
            [
                sys.executable,
                "-m",
                "genretag",
                "scan",
                str(lib),
                "--engine",
                "ray",
                "--ray-address",
                cluster.address,
                "--db",
                str(tmp_path / "r.sqlite"),
                "--dry-run",
                "-q",
                "--report",
                str(report),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        cluster.shutdown()
    assert scan.returncode == 0, scan.stdout + scan.stderr
    summary = json.loads(report.read_text())["summary"]
    assert len(summary["decoded_on"]) == 2 and len(summary["heard_on"]) == 2, summary
    assert sum(summary["heard_on"].values()) == 12
    a, b = rows_of(local), rows_of(report)
    assert a.keys() == b.keys()
    for path, x in a.items():
        assert x["genres"] == b[path]["genres"]
        assert (
            max(
                abs(x["probabilities"][k] - b[path]["probabilities"][k]) for k in x["probabilities"]
            )
            <= 1e-5
        ), path


def test_training_embeddings_on_ray_are_the_local_ones(tmp_path):
    """train/evaluate/learn hear a dataset through the same pipeline: the backbone's
    embeddings of every window, from Ray's actors, equal the local engine's within 1e-5,
    in the same window order; an unreadable file is listed as failed on both."""
    import numpy as np

    from genretag.models.net import load_model
    from genretag.settings import Settings
    from genretag.training.data.datasets import Item
    from genretag.training.data.embed import embed

    from helpers import make_tiny_model
    from synth import music, write_audio

    make_tiny_model(tmp_path / "m.safetensors")
    model = load_model(tmp_path / "m.safetensors")
    items = []
    for i, seconds in enumerate((20.0, 7.0, 13.0)):
        path = tmp_path / f"t{i}.flac"
        write_audio(path, music(seconds, 22050, seed=i), 22050)
        items.append(Item(path, "a" if i % 2 else "b", f"artist{i}"))
    (tmp_path / "bad.flac").write_bytes(b"not audio at all" * 100)
    items.append(Item(tmp_path / "bad.flac", "a", "artist9"))
    here = embed(items, model, tmp_path / "local", batch_size=4)
    there = embed(
        items,
        model,
        tmp_path / "ray",
        batch_size=4,
        settings=Settings(engine="ray"),
        model_path=tmp_path / "m.safetensors",
    )
    assert [p for p, _ in here.failed] == [p for p, _ in there.failed] == [tmp_path / "bad.flac"]
    assert here.windows.keys() == there.windows.keys() and len(here.windows) == 3
    for path, emb in here.windows.items():
        assert emb.shape == there.windows[path].shape and len(emb) > 1
        assert np.abs(emb - there.windows[path]).max() <= 1e-5, path
