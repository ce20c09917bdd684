"""Rendering the chart with a real helm binary (``scripts/get_helm.py`` fetches and caches it).

chart = Chart(helm_binary())
objects = chart.render(values_files=[CI / "bundled-redis-values.yaml"])
deployment = one(objects, "Deployment", "t-ecr-lifeguard")
failure = chart.failure(set_values=["replicaCount=x"])   # helm's message, or ""
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "ecr-lifeguard"
CI = CHART / "ci"
RELEASE = "t"
NAMESPACE = "lifeguard"
GET_HELM = ROOT / "scripts" / "get_helm.py"
Json = dict[str, Any]


class HelmUnavailable(RuntimeError):
    """No helm binary could be had; the message says why."""


def helm_binary() -> Path:
    """The cached helm, fetched on first use; raises :class:`HelmUnavailable` with the reason."""
    result = subprocess.run(
        [sys.executable, str(GET_HELM)], capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        raise HelmUnavailable(result.stderr.strip() or "scripts/get_helm.py failed")
    return Path(result.stdout.strip())


@dataclass(frozen=True)
class Chart:
    """The chart at ``path``, rendered by ``helm``."""

    helm: Path
    path: Path = CHART

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``helm ARGS`` (output captured, never raising)."""
        command = [str(self.helm), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    def template(
        self, values_files: Sequence[Path] = (), set_values: Sequence[str] = ()
    ) -> subprocess.CompletedProcess[str]:
        """``helm template`` of the release ``t`` in namespace ``lifeguard``."""
        args = ["template", RELEASE, str(self.path), "--namespace", NAMESPACE]
        for path in values_files:
            args += ["--values", str(path)]
        for value in set_values:
            args += ["--set", value]
        return self.run(*args)

    def render(
        self, values_files: Sequence[Path] = (), set_values: Sequence[str] = ()
    ) -> list[Json]:
        """The rendered objects; fails the test with helm's message when rendering fails."""
        result = self.template(values_files, set_values)
        if result.returncode != 0:
            raise AssertionError(f"helm template failed: {result.stderr}")
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    def failure(self, values_files: Sequence[Path] = (), set_values: Sequence[str] = ()) -> str:
        """helm's error message when rendering fails; ``""`` when it succeeds."""
        result = self.template(values_files, set_values)
        return "" if result.returncode == 0 else result.stderr.strip()

    def notes(self, values_files: Sequence[Path] = (), set_values: Sequence[str] = ()) -> str:
        """NOTES.txt as ``helm install`` would print it (rendered without a cluster)."""
        with notes_chart(self.path) as copy:
            result = Chart(self.helm, copy).template(values_files, set_values)
        if result.returncode != 0:
            raise AssertionError(f"helm template failed: {result.stderr}")
        for doc in yaml.safe_load_all(result.stdout):
            if doc and "notes" in doc:
                return str(doc["notes"])
        raise AssertionError("NOTES.txt was not rendered")


@contextmanager
def notes_chart(path: Path) -> Iterator[Path]:
    """A copy of the chart with a template that outputs NOTES.txt as a YAML document."""
    with tempfile.TemporaryDirectory(prefix="lifeguard-chart-") as scratch:
        copy = Path(scratch) / path.name
        shutil.copytree(path, copy)
        template = '{{ include "ecr-lifeguard/templates/NOTES.txt" . | dict "notes" | toYaml }}\n'
        (copy / "templates" / "zz-notes.yaml").write_text(template)
        yield copy


def of_kind(objects: list[Json], kind: str) -> list[Json]:
    """The rendered objects of one kind."""
    return [o for o in objects if o.get("kind") == kind]


def one(objects: list[Json], kind: str, name: str | None = None) -> Json:
    """The single object of ``kind`` (named ``name`` when given)."""
    found = [o for o in of_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} objects named {name}: {found}"
    return found[0]


def bot_deployment(objects: list[Json]) -> Json:
    """The bot's Deployment (not the bundled Redis)."""
    found = [
        o
        for o in of_kind(objects, "Deployment")
        if o["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/component") == "bot"
    ]
    assert len(found) == 1, found
    return found[0]


def bot_container(objects: list[Json]) -> Json:
    """The bot container of the bot's Deployment."""
    containers = bot_deployment(objects)["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "bot")


def environment(container: Json) -> dict[str, Any]:
    """The container's environment: name → value, or the valueFrom mapping."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
