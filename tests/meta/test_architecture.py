"""The pure core stays pure: no I/O libraries in the engine, and handlers never imported by bot."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The pure core: standard library and pydantic only, and each other. No I/O library. Whole
# folders are pure; in the flow packages, the modules listed.
PURE_FOLDERS = [
    "bot/lifecycle",
    "bot/risk",
    "bot/blocks",
    "bot/diagnose",
    "bot/state",
    "bot/inventory",
    "bot/events",
]
PURE_MODULES_OUTSIDE = [
    "bot/refs.py",
    "bot/errors.py",
    "bot/durations.py",
    "bot/text.py",
    "bot/settings.py",
    "bot/ports.py",
    "bot/watch/scan.py",
    "bot/watch/reconcile.py",
    "bot/watch/routing.py",
    "bot/ops/verb.py",
    "bot/ops/args.py",
    "bot/ops/authorize.py",
    "bot/ops/results.py",
]
PURE = PURE_FOLDERS + PURE_MODULES_OUTSIDE
ALLOWED_THIRD_PARTY = {"pydantic", "pydantic_core", "pydantic_settings", "yaml"}
IO_LIBRARIES = {
    "aiobotocore",
    "botocore",
    "boto3",
    "redis",
    "slack_sdk",
    "slack_bolt",
    "aiohttp",
    "kubernetes_asyncio",
}


def _type_checking_nodes(tree: ast.AST) -> set[ast.AST]:
    """Imports under ``if TYPE_CHECKING:`` (annotations only: never imported at run time)."""
    found: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.body:
                found.update(ast.walk(child))
    return found


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    skipped = _type_checking_nodes(tree)
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def pure_files() -> list[Path]:
    files: list[Path] = []
    for entry in PURE:
        path = ROOT / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


PURE_MODULES = {module_name(path) for path in pure_files()}


@pytest.mark.parametrize("path", pure_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_modules_import_only_stdlib_pydantic_and_pure_modules(path: Path) -> None:
    for module in imported_modules(path):
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY:
            continue
        assert top not in IO_LIBRARIES, f"{path.name} imports the I/O library {module}"
        assert module in PURE_MODULES, f"{path.name} imports {module}, which is not pure"


def test_every_io_library_is_used_only_at_the_edge() -> None:
    """aiobotocore, redis, slack_sdk, kubernetes and aiohttp live in bot/edge, the composition
    root, the CLI and handlers/ only."""
    allowed = ("bot/edge/", "bot/app.py", "bot/cli/")
    for path in (ROOT / "bot").rglob("*.py"):
        relative = str(path.relative_to(ROOT))
        if relative.startswith(allowed):
            continue
        for module in imported_modules(path):
            assert module.split(".")[0] not in IO_LIBRARIES, f"{relative} imports {module}"


def test_bot_never_imports_handlers() -> None:
    """Only the composition root (bot/app.py) wires the handlers in."""
    for path in (ROOT / "bot").rglob("*.py"):
        if path == ROOT / "bot" / "app.py":
            continue
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


@pytest.mark.parametrize("module", sorted(PURE_MODULES))
def test_pure_modules_pull_in_no_io_library_even_indirectly(module: str) -> None:
    probe = (
        f"import sys, {module}; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(IO_LIBRARIES)!r})))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()
    assert found == "[]", f"importing {module} loads {found}"
