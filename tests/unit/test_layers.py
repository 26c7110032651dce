"""The import graph, read from the source: no module imports itself round a cycle (lazy
imports inside functions count too), each layer imports only the layers below it, and the
tagger never imports ``training``."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

PACKAGES = {"genretag": "tagger", "genretag.training": "training"}


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join([package, *parts])
            found[name.removesuffix(".__init__")] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the genretag modules it imports, wherever in it the import stands."""
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    if full in mods or target in mods:
                        graph[name].add(full if full in mods else target)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in mods)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 50 and graph["genretag.scan"], "the graph was not read"
    assert cycles(graph) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# the tagger's layers, lowest first: a module may import its own layer and those before it
LAYERS = [
    {"states", "settings"},  # plain values: enums and the one Settings
    {"library"},  # files on disk: discovery, the format registry, safe writes, decoding
    {"tags"},  # what files hold: containers of tags, raw byte editors, fingerprints
    {"store"},  # the SQLite cache: tracks, statistics, history
    {"models"},  # model files, networks, runtimes
    {"hearing"},  # windows, the local and Ray hearers
    {"deciding"},  # genres, albums, policy, the decider
    {"scan", "undo", "learn"},  # the pipelines
    {"render"},  # tables, reports, progress
    {"api"},  # Session, the one entry point
    {"review"},  # the review page: a front end over Session, served over HTTP
    {"cli", "__main__", ""},  # the command line, and the package's own __init__
]


def layer_of(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    return next(i for i, names in enumerate(LAYERS) if part in names)


def test_each_layer_imports_only_the_layers_below_it():
    graph = import_graph()
    upward = sorted(
        f"{m} -> {t}"
        for m, targets in graph.items()
        if not m.startswith("genretag.training")
        for t in targets
        if layer_of(t) > layer_of(m)
    )
    assert upward == []


def test_the_tagger_never_imports_training():
    graph = import_graph()
    wrong = {
        m: sorted(t for t in targets if t.startswith("genretag.training"))
        for m, targets in graph.items()
        if not m.startswith("genretag.training")
    }
    assert {m: t for m, t in wrong.items() if t} == {}
