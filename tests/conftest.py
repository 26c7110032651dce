"""Shared fixtures: a tiny model and a generated library in every format (see helpers.py).

All audio is synthesised (training.synth) and encoded with the ffmpeg that pip installed;
nothing copyrighted is used. The library is built once per session and copied per test.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from platformdirs import user_cache_dir

# numba (librosa's) compiles once per machine into the user cache folder, as the command
# line does (cli.set_process_policy), instead of once per test run: about 70 s on 2 cores.
# Set before anything imports librosa; subprocesses of the tests inherit it.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(user_cache_dir("genretag")) / "numba"))
# Ray's nodes in the tests (a scan's own runtime, simulated clusters) take the loopback as
# their address, as Ray does on a laptop, so test traffic stays on 127.0.0.1 (read when
# ray is imported; subprocesses inherit it)
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# no config file of the person running the tests changes what the tests see (an empty one)
os.environ["GENRETAG_CONFIG"] = os.devnull

import pytest

from helpers import make_library, make_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    make_tiny_model(path)
    return path


@pytest.fixture(scope="session")
def _library_master(tmp_path_factory) -> Path:
    return make_library(tmp_path_factory.mktemp("library-master"))


@pytest.fixture
def library(_library_master, tmp_path) -> Path:
    """A fresh copy of the generated library, with a symlink loop and a read-only file."""
    root = tmp_path / "Music"
    shutil.copytree(_library_master, root, symlinks=True)
    os.symlink("..", root / "Artist" / "loop")  # Artist/loop -> Music: a cycle
    ro = root / "readonly"
    ro.mkdir()
    shutil.copy(root / "Artist" / "Album" / "plain.mp3", ro / "locked.mp3")
    os.chmod(ro / "locked.mp3", 0o444)
    return root


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "cache.sqlite"
