"""The house rules a reader relies on: small modules, short functions, each module says what it owns.

import-linter keeps the dependency direction (pyproject.toml) and ruff the complexity of each
function; this keeps their size, which neither measures. It sits outside tests/unit on purpose:
mutation testing runs tests/unit over mutated copies of the source, which are much longer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ticketbridge"
MODULES = sorted(PACKAGE.rglob("*.py"))
# "No module over ~400 lines, no function over ~60" (issue 7), with a little room.
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_a_module_is_small_and_opens_by_saying_what_it_owns(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    docstring = ast.get_docstring(tree)
    assert docstring and docstring.strip(), f"{_name(path)} has no module docstring"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_function_is_longer_than_a_screen(path: Path) -> None:
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{_name(path)}: {', '.join(long)}"
