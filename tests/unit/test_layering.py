"""Layers point down: every kgflow module imports only its own layer and those below it, as the layer table
in docs/architecture.md says (this test reads that table, so the map and the code cannot disagree)."""

from __future__ import annotations

import ast
import re

from kgflow.config import REPO_ROOT

PLUGINS = REPO_ROOT / "plugins"
WEB_FRAMEWORKS = ("fastapi", "starlette", "uvicorn")


def _layers() -> list[list[str]]:
    """Packages of each layer, lowest first, from docs/architecture.md's table."""
    text = (REPO_ROOT / "docs" / "architecture.md").read_text()
    table = text[text.index("| layer | packages |"):].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
    return [re.findall(r"`(kgflow(?:\.\w+)+)`", row.split("|")[2]) for row in reversed(rows)]


def _layer(module: str, layers: list[list[str]]) -> int | None:
    """The most specific package's layer (kgflow.gateway.app is an entry point, kgflow.gateway a service)."""
    best = None
    for rank, packages in enumerate(layers):
        for package in packages:
            if (module == package or module.startswith(package + ".")) and (best is None or len(package) > best[1]):
                best = (rank, len(package))
    return best[0] if best else None


def _imports() -> list[tuple[str, str]]:
    """(importer, imported) for every import in kgflow, at any depth of a module (lazy imports too)."""
    edges = []
    for path in (PLUGINS / "kgflow").rglob("*.py"):
        module = ".".join(path.relative_to(PLUGINS).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges += [(module, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                edges.append((module, node.module))
    return edges


def test_every_kgflow_module_has_a_layer():
    layers = _layers()
    assert len(layers) == 6
    unplaced = {m for m, _ in _imports() if m != "kgflow" and _layer(m, layers) is None}
    assert unplaced == set()


def test_no_module_imports_a_layer_above_its_own():
    layers = _layers()
    upward = [(m, i) for m, i in _imports() if i.startswith("kgflow.")
              and (_layer(i, layers) or 0) > (_layer(m, layers) or 0)]
    assert upward == []


def test_only_the_gateway_and_the_entry_points_import_the_gateway():
    layers = _layers()
    entry = len(layers) - 1
    callers = [(m, i) for m, i in _imports() if i.startswith("kgflow.gateway")
               and not m.startswith("kgflow.gateway") and _layer(m, layers) != entry]
    assert callers == []


def test_no_module_outside_the_gateway_imports_a_web_framework():
    web = [(m, i) for m, i in _imports() if i.split(".")[0] in WEB_FRAMEWORKS and not m.startswith("kgflow.gateway")]
    assert web == []


def test_the_layering_check_sees_an_upward_import():
    layers = _layers()
    assert _layer("kgflow.graph.base", layers) < _layer("kgflow.orchestration.tasks", layers)
    assert _layer("kgflow.gateway.app", layers) > _layer("kgflow.gateway.deps", layers)
