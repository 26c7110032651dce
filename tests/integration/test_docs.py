"""The documentation says what the code does: the formats come from the one registry the
scan uses, every ``module.name`` the docs and docstrings cite exists, every benchmark is
listed, and the user's README names no path outside the repository."""

from __future__ import annotations

import importlib
import re

import pytest

from genretag.library import formats

from helpers import ROOT

PACKAGES = {"tagger": "genretag", "training": "genretag.training"}


def words(text: str) -> str:
    return " ".join(text.split())


def test_the_format_tables_and_lists_are_the_registrys():
    assert formats.markdown_table() in (ROOT / "docs" / "formats.md").read_text()
    for doc in ("README.md", "docs/usage.md"):
        assert words(formats.sentence()) in words((ROOT / doc).read_text()), doc
    assert "not tagged yet" not in (ROOT / "README.md").read_text()


def test_discovery_takes_every_tagged_format_and_skips_the_others(tmp_path):
    from genretag.library.discover import find_audio

    for f in formats.FORMATS:
        for ext in f.extensions:
            (tmp_path / f"x{ext}").write_bytes(b"\0" * 64)
    walk = find_audio([tmp_path])
    assert {p.suffix for p in walk.files} == set(formats.TAGGED_EXTENSIONS)
    assert {p.suffix for p, _ in walk.skipped} == set(formats.SKIPPED_EXTENSIONS)


def module_names() -> dict[str, str]:
    """How the docs may name a module: its dotted path under genretag (``hearing.base.base``,
    ``training.data.datasets``), or its file's stem where no other module has it."""
    full = {}
    for folder, pkg in PACKAGES.items():
        for p in (ROOT / folder).rglob("*.py"):
            parts = p.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join([pkg, *parts]).removesuffix(".__init__")
            full[name.removeprefix("genretag.")] = name
    stems: dict[str, list[str]] = {}
    for short, name in full.items():
        stems.setdefault(short.rsplit(".", 1)[-1], []).append(name)
    return {**{s: n[0] for s, n in stems.items() if len(n) == 1}, **full}


def cited() -> list[tuple[str, str, str]]:
    """(where, module, name) for every `module.name` of genretag's the docs cite, and every
    ``module.name`` in the packages' docstrings and comments."""
    modules = module_names()
    found = []
    sources = [
        *ROOT.glob("*.md"),
        *(ROOT / "docs").glob("*.md"),
        ROOT / "weights" / "README.md",
        *(ROOT / "tagger").rglob("*.py"),
        *(ROOT / "training").rglob("*.py"),
    ]
    for path in sources:
        for dotted in re.findall(r"``?([\w.]+)(?:\(\))?``?", path.read_text()):
            module, _, name = dotted.rpartition(".")
            if module in modules and name != "py":  # a file, not a name
                found.append((str(path.relative_to(ROOT)), modules[module], name))
    return found


@pytest.mark.parametrize("where,module,name", sorted(set(cited())))
def test_every_module_and_name_cited_exists(where, module, name):
    pytest.importorskip("sklearn")
    mod = importlib.import_module(module)
    assert hasattr(mod, name) or importlib.util.find_spec(f"{module}.{name}"), (
        f"{where} cites {module}.{name}, which does not exist"
    )


def test_every_benchmark_is_listed():
    listed = (ROOT / "benchmarks" / "README.md").read_text()
    for script in (ROOT / "benchmarks").glob("*.py"):
        assert f"`{script.name}`" in listed, script.name


def test_the_readme_names_no_path_outside_the_repository():
    assert "../" not in (ROOT / "README.md").read_text()


def test_ci_runs_exactly_the_readmes_test_command_and_the_readme_stays_short():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"    {ci}\n" in readme  # the set-up's second command, as CI runs it
    assert "ruff format --check" in ci and "python -m pytest" in ci
    assert len(readme.splitlines()) <= 200
