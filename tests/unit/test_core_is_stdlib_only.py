"""The core imports nothing but the standard library and itself (docs/ledger-model.md: no
framework, driver or ORM in the core), so it can be reused and tested without any of them."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import wallet_core

CORE = Path(wallet_core.__file__).resolve().parent
SOURCES = sorted(CORE.rglob("*.py"))


def imported_top_level_modules(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            first = node.args[0] if node.args else None
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                f"{source}: dynamic import of a computed name at line {node.lineno}"
            )
            names.add(first.value.partition(".")[0])
    return names


def _is_dynamic_import(node: ast.Call) -> bool:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id == "__import__"
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "import_module"
        and isinstance(func.value, ast.Name)
        and func.value.id == "importlib"
    )


def test_the_core_has_sources() -> None:
    relative = {p.relative_to(CORE).as_posix() for p in SOURCES}
    assert {
        "__init__.py",
        "ledger.py",
        "money.py",
        "ports/__init__.py",
        "services/transfers.py",
    } <= relative


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.relative_to(CORE).as_posix())
def test_core_module_imports_only_the_standard_library(source: Path) -> None:
    foreign = {
        name
        for name in imported_top_level_modules(source)
        if name != "wallet_core" and name not in sys.stdlib_module_names
    }
    assert not foreign, f"{source.relative_to(CORE)} imports {sorted(foreign)}"


def test_the_checker_notices_foreign_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os, litestar.app\n"
        "from sqlalchemy.orm import Session\n"
        "from . import sibling\n"
        "from wallet_core.money import Money\n"
        "import importlib\n"
        "redis = importlib.import_module('redis.asyncio')\n"
        "jwt = __import__('jwt')\n"
    )
    assert imported_top_level_modules(sample) == {
        "os",
        "litestar",
        "sqlalchemy",
        "wallet_core",
        "importlib",
        "redis",
        "jwt",
    }
