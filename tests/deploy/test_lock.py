"""The lock files the image installs from pin every dependency, within its range, with hashes.

After changing a dependency in pyproject.toml, run ``bash scripts/lock.sh`` and commit
``requirements/``.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
BUILD_LOCK = ROOT / "requirements" / "build.txt"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REGENERATE = "run `bash scripts/lock.sh` and commit requirements/"
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)(?: ; (?P<marker>.+?))?\s*\\?$"
)
# The image's Python may be any 3.11 (Debian's is 3.11.2): check the lock for the oldest.
IMAGE_ENVIRONMENT = {
    **default_environment(),
    "python_version": "3.11",
    "python_full_version": "3.11.2",
    "sys_platform": "linux",
    "platform_system": "Linux",
}


@dataclass(frozen=True)
class Pin:
    """One ``name==version`` line of a lock file and the hashes under it."""

    version: str
    marker: str | None
    hashes: tuple[str, ...]


def read_lock(path: Path) -> dict[NormalizedName, Pin]:
    """The pins of a pip-compile/uv lock file, by normalised name."""
    pins: dict[NormalizedName, Pin] = {}
    current: tuple[NormalizedName, str, str | None] | None = None
    hashes: list[str] = []
    for line in [*path.read_text().splitlines(), "#"]:
        stripped = line.strip()
        if stripped.startswith("--hash="):
            hashes.append(stripped.removeprefix("--hash=").rstrip(" \\"))
            continue
        if current is not None and (not line.startswith(" ") or stripped.startswith("#")):
            name, version, marker = current
            pins[name] = Pin(version, marker, tuple(hashes))
            current, hashes = None, []
        match = PIN.match(line)
        if match:
            current = (canonicalize_name(match["name"]), match["version"], match["marker"])
    return pins


RUNTIME = read_lock(RUNTIME_LOCK)


@pytest.mark.parametrize("requirement", PYPROJECT["project"]["dependencies"])
def test_every_dependency_is_pinned_within_its_range(requirement: str) -> None:
    wanted = Requirement(requirement)
    pin = RUNTIME.get(canonicalize_name(wanted.name))
    assert pin is not None, f"{wanted.name} is not in {RUNTIME_LOCK.name}: {REGENERATE}"
    assert wanted.specifier.contains(pin.version, prereleases=True), (
        f"{RUNTIME_LOCK.name} pins {wanted.name}=={pin.version}, outside {wanted.specifier}: "
        f"{REGENERATE}"
    )


def test_the_build_backend_is_pinned_within_its_range() -> None:
    build = read_lock(BUILD_LOCK)
    for requirement in PYPROJECT["build-system"]["requires"]:
        wanted = Requirement(requirement)
        pin = build.get(canonicalize_name(wanted.name))
        assert pin is not None and wanted.specifier.contains(pin.version), (
            f"{BUILD_LOCK.name} does not pin {requirement}: {REGENERATE}"
        )


@pytest.mark.parametrize("path", [RUNTIME_LOCK, BUILD_LOCK], ids=lambda p: p.name)
def test_every_pin_carries_sha256_hashes(path: Path) -> None:
    pins = read_lock(path)
    assert pins
    unhashed = [name for name, pin in pins.items() if not pin.hashes]
    assert not unhashed, f"{path.name}: no --hash for {unhashed}: {REGENERATE}"
    for name, pin in pins.items():
        for digest in pin.hashes:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), (name, digest)


def test_the_lock_says_how_to_regenerate_it() -> None:
    assert "bash scripts/lock.sh" in RUNTIME_LOCK.read_text().split("\n", 3)[1]


def test_what_the_locked_packages_need_is_locked_too() -> None:
    """Each pin's own requirements (as installed here, same version) are pinned as well."""
    unlocked = []
    for name, pin in RUNTIME.items():
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if distribution.version != pin.version:
            continue
        for text in distribution.requires or []:
            needed = Requirement(text)
            applies = needed.marker is None or needed.marker.evaluate(
                {**IMAGE_ENVIRONMENT, "extra": ""}
            )
            if applies and canonicalize_name(needed.name) not in RUNTIME:
                unlocked.append(f"{needed.name} (needed by {name})")
    assert not unlocked, f"not in {RUNTIME_LOCK.name}: {unlocked}: {REGENERATE}"
