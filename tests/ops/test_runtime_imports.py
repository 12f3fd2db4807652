"""The runtime never imports the test doubles: no module of the package outside ``liqmap.testing`` names it."""

from __future__ import annotations

import ast
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
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
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
