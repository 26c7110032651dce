"""The package as pip builds it: the wheel carries the shipped models,
the model card and the licences, under one ``genretag`` namespace, and the default model
loads from an unpacked copy outside the checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import ROOT

pytestmark = pytest.mark.slow  # builds wheels and an sdist


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(ROOT), "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if r.returncode != 0 and "Could not find a version that satisfies" in r.stderr:
        pytest.skip("no network to fetch the build backend")  # pip's isolated build env
    assert r.returncode == 0, r.stderr
    (whl,) = out.glob("genretag-*.whl")
    return whl


def test_the_wheel_holds_models_card_licences_and_one_namespace(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in (
        "genretag-v3.safetensors",
        "musicnn_msd.safetensors",
        "README.md",
        "LICENSE-musicnn.txt",
        "evaluation/metrics.json",
        "evaluation/tables.md",
    ):
        assert f"genretag/weights/{shipped}" in names, shipped
    for page in ("report.html", "report.css", "report.js"):  # the HTML report's
        assert f"genretag/render/page/{page}" in names, page
    for container in ("base", "id3", "vorbis", "mp4", "state"):  # the tags subpackage
        assert f"genretag/tags/{container}.py" in names, container
    # one namespace of genretag's own, and its portion of beets' plugin namespace
    assert {n.split("/")[0] for n in names} == {
        "genretag",
        "beetsplug",
        wheel.name.split("-py3")[0] + ".dist-info",
    }
    assert "beetsplug/genretag.py" in names and "beetsplug/__init__.py" not in names
    info = wheel.name.split("-py3")[0] + ".dist-info"
    assert f"{info}/licenses/LICENSE" in names
    meta = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    assert "License-Expression: MIT" in meta
    entry = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert "genretag = genretag.cli:main" in entry
    assert "training = genretag.training.cli:register" in entry


def test_the_default_model_loads_from_an_unpacked_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = f"""
import sys
sys.path.insert(0, {str(site)!r})
import genretag.cli
assert genretag.cli.__file__.startswith({str(site)!r}), genretag.cli.__file__
from genretag.models.file import default_model_path
from genretag.models.net import load_model
path = default_model_path()
assert str(path).startswith({str(site)!r}), path
print(load_model(path).model_id)
"""
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    from genretag.models.file import read_metadata

    shipped = read_metadata(ROOT / "weights" / "genretag-v3.safetensors").model_id
    assert r.stdout.strip() == shipped


def test_the_sdist_carries_the_models_and_licences(tmp_path):
    """The source distribution, built by the same backend from a copy of the checkout (so
    the checkout gets no build files), holds what the wheel is built from."""
    import shutil
    import tarfile

    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip("the build backend needs setuptools >= 77 (pip fetches it for wheels)")
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".work", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"
        ),
    )
    out = tmp_path / "sdist"
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta; "
            "print(build_meta.build_sdist(sys.argv[1]))",
            str(out),
        ],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    with tarfile.open(out / r.stdout.strip().splitlines()[-1]) as sdist:
        names = sdist.getnames()
    top = names[0].split("/")[0]
    for shipped in (
        "LICENSE",
        "weights/genretag-v3.safetensors",
        "weights/README.md",
        "weights/LICENSE-musicnn.txt",
        "beetsplug/genretag.py",
        "tagger/cli/__init__.py",
    ):
        assert f"{top}/{shipped}" in names, shipped
