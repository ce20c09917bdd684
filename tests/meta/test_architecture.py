"""The pure core stays pure: no I/O libraries in the engine, and handlers never imported by bot."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_PACKAGES = ["bot/lifecycle"]
ALLOWED_THIRD_PARTY = {"pydantic", "pydantic_core"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def pure_files() -> list[Path]:
    return sorted(p for package in PURE_PACKAGES for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", pure_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_modules_import_only_stdlib_pydantic_and_the_core(path: Path) -> None:
    for module in imported_modules(path):
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY:
            continue
        assert module.startswith("bot.lifecycle"), f"{path.name} imports {module}"


def test_bot_never_imports_handlers() -> None:
    for path in (ROOT / "bot").rglob("*.py"):
        for module in imported_modules(path):
            assert not module.startswith("handlers"), f"{path} imports {module}"


def test_every_public_function_has_a_docstring() -> None:
    missing = []
    for path in (ROOT / "bot").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            is_def = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            if is_def and not node.name.startswith("_") and ast.get_docstring(node) is None:
                missing.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert not missing, missing
