"""The tagger type-checks: mypy over the ``genretag`` package as it is installed (tagger/
is the package; its configuration is pyproject.toml's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from platformdirs import user_cache_dir

from helpers import ROOT


@pytest.mark.slow
def test_the_tagger_type_checks(tmp_path):
    pytest.importorskip("mypy")
    (tmp_path / "genretag").symlink_to(ROOT / "tagger")  # the package's own name
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "-p",
            "genretag",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(Path(user_cache_dir("genretag")) / "mypy"),
        ],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "Success" in r.stdout
