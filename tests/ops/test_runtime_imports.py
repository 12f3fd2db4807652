"""The import graph: the runtime never imports the test doubles (no module of the package outside
``liqmap.testing`` names it), every layer imports only layers below it, and the pure layers import no
third-party library but numpy / numba / orjson. Imports inside functions count."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import liqmap

PACKAGE = Path(liqmap.__file__).parent


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from liqmap import exactmap`
    return names


def test_no_runtime_module_imports_liqmap_testing():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PACKAGE / "testing"):
            continue
        imported = _imported(ast.parse(path.read_text(), str(path)))
        if any(name == "liqmap.testing" or name.startswith("liqmap.testing.") for name in imported):
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


def test_the_check_sees_an_import_of_the_test_doubles():
    tree = ast.parse("from liqmap.testing.mock import binance\nimport liqmap.testing\n")
    assert {"liqmap.testing.mock", "liqmap.testing"} <= _imported(tree)


# The layers, lowest first. A module may import its own group and the groups of lower layers only; groups
# in one layer do not import each other. A new module or package gets a place here (the test names it).
LAYERS: tuple[frozenset[str], ...] = tuple(frozenset(layer.split()) for layer in (
    "types errors palette __init__",           # records, the exception hierarchy, constants
    "symbols validation settings lru metrics viewspec",  # vocabulary, record checks, config, helpers, the view declaration
    "model venues store",                       # pure numpy model; pure venue parsers; the Store protocol
    "analysis data feed ingest exactmap",       # pure analysis; shipped data; transports; file import
    "render warmbooks",                         # pictures; warm-up books kept between requests
    "query",                                    # store -> frames -> model -> Heatmap
    "evaluate liveviews",                       # model vs realized; live views extended bar by bar
    "calibrate",                                # store glue: calibration, reach volatility, bad ticks
    "alerts",                                   # rules -> delivery, storage
    "service",                                  # FastAPI app
    "commands",                                 # CLI features
    "cli",                                      # the click group
    "__main__",                                 # `python -m liqmap`
))
PURE = {"model": {"numpy", "numba"}, "analysis": {"numpy"}, "venues": {"orjson", "numpy"}}  # third-party they may use


def _group(module: str) -> str | None:
    """``liqmap.model.book`` -> ``model``; ``liqmap`` -> ``__init__``; not ours -> None."""
    parts = module.split(".")
    if parts[0] != "liqmap":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _rank(group: str) -> int | None:
    return next((i for i, layer in enumerate(LAYERS) if group in layer), None)


def _modules() -> dict[str, set[str]]:
    """Every runtime module of the package (``liqmap.testing`` excluded) -> the modules it imports."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PACKAGE / "testing"):
            continue
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out[name] = _imported(ast.parse(path.read_text(), str(path)))
    return out


def _upward(modules: dict[str, set[str]]) -> list[str]:
    found = []
    for module, imported in modules.items():
        group = _group(module)
        assert group is not None
        for name in sorted(imported):
            target = _group(name)
            if target is None or target == group or target == "testing":  # testing: the test above
                continue
            below, rank = _rank(target), _rank(group)
            if below is not None and rank is not None and below < rank:
                continue
            if name.rsplit(".", 1)[0] in imported and _group(name.rsplit(".", 1)[0]) == target:
                continue  # `from liqmap.x import name`: the module liqmap.x is checked
            found.append(f"{module} -> {name}")
    return found


def test_every_module_has_a_layer() -> None:
    groups = {_group(m) for m in _modules()}
    assert sorted(g for g in groups if g is not None and _rank(g) is None) == []


def test_every_layer_imports_only_layers_below_it() -> None:
    assert _upward(_modules()) == []


def test_the_layer_check_sees_an_upward_and_a_sideways_import() -> None:
    modules = {
        "liqmap.model.book": {"numpy", "liqmap.types", "liqmap.store", "liqmap.store.DuckDBStore"},
        "liqmap.feed.ws": {"liqmap.ingest.batch", "liqmap.venues._spec"},
        "liqmap.store.schema": {"liqmap", "liqmap.types", "liqmap.query"},
        "liqmap.query": {"liqmap", "liqmap.exactmap", "liqmap.ingest.frames", "liqmap.ingest.frames.load_frame"},
    }
    assert _upward(modules) == ["liqmap.model.book -> liqmap.store", "liqmap.feed.ws -> liqmap.ingest.batch",
                                "liqmap.store.schema -> liqmap.query"]


def test_pure_layers_import_no_io_library() -> None:
    offenders = []
    for module, imported in _modules().items():
        allowed = PURE.get(_group(module) or "")
        if allowed is None:
            continue
        for name in imported:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top != "liqmap" and top not in allowed:
                offenders.append(f"{module} -> {name}")
    assert offenders == []
