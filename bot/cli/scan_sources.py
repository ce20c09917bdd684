"""Which inventory sources a scan read, which failed, which were skipped and which are missing.

A scan is only as good as its inventory: an image in use where nobody looked is not "safe". So
``scan`` lists every source kind, and a Kubernetes that is simply not configured is a gap (exit 1)
unless the user said there is none to read (``--no-kubernetes`` or ``kubernetes.enabled: false``)
or no repository has a lifecycle policy (then nothing can be at risk, whatever is in use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bot.inventory.sources import Inventory
from bot.settings import Settings
from bot.text import plural

Status = Literal["read", "failed", "skipped", "not configured"]

KINDS = {
    "ecs": "ECS",
    "lambda": "Lambda",
    "kubernetes": "Kubernetes",
    "static": "static references",
}
KUBERNETES_GAP = (
    "Kubernetes: not configured, so no pod or workload was checked: add --kube-context CONTEXT "
    "(repeatable) or --in-cluster, or --no-kubernetes if no cluster runs images from these "
    "repositories"
)


@dataclass(frozen=True, slots=True)
class SourceState:
    """One inventory source as a scan saw it.

    ``name`` is how problems name the source (``ecs default/us-east-1``), or the bare kind when
    there was no source of that kind; ``uses`` counts the image references it reported.

    Example:
        >>> SourceState("ecs", "ecs default/us-east-1", "read", 1).describe()
        'ECS default/us-east-1: 1 image reference'
        >>> SourceState("kubernetes", "kubernetes", "not configured").describe()
        'Kubernetes: not configured'
    """

    kind: str
    name: str
    status: Status
    uses: int = 0

    @property
    def label(self) -> str:
        """The source for people: ``ECS default/us-east-1``, ``Kubernetes prod-eks``."""
        where = self.name.removeprefix(self.kind).strip()
        if where and self.kind == "static":
            where = f"in {where}"
        return f"{KINDS.get(self.kind, self.kind)} {where}".strip()

    def describe(self) -> str:
        """The label and what became of the source."""
        if self.status == "read":
            return f"{self.label}: {plural(self.uses, 'image reference')}"
        if self.status == "failed":
            return f"{self.label}: could not be read"
        return f"{self.label}: {self.status}"

    def as_json(self) -> dict[str, Any]:
        """The source in ``scan --format json``'s summary."""
        document: dict[str, Any] = {"source": self.name, "kind": self.kind, "status": self.status}
        if self.status == "read":
            document["uses"] = self.uses
        return document


def source_states(settings: Settings, inventory: Inventory) -> list[SourceState]:
    """Every source kind, in a fixed order: the sources of that kind, or why there is none.

    Example:
        >>> states = source_states(Settings(), Inventory((), (), (("ecs default/eu-west-1", 3),)))
        >>> [s.describe() for s in states]  # doctest: +NORMALIZE_WHITESPACE
        ['ECS default/eu-west-1: 3 image references', 'Lambda: not configured',
         'Kubernetes: not configured', 'static references: not configured']
    """
    seen = [SourceState(_kind(name), name, "read", count) for name, count in inventory.per_source]
    seen += [SourceState(_kind(f.source), f.source, "failed") for f in inventory.failures]
    states: list[SourceState] = []
    for kind in KINDS:
        found = sorted((s for s in seen if s.kind == kind), key=lambda s: s.name)
        states += found or [SourceState(kind, kind, _missing(kind, settings))]
    return states


def gaps(states: list[SourceState], *, any_policy: bool) -> list[str]:
    """The missing sources that leave the scan incomplete, as problems (one line each).

    Example:
        >>> missing = [SourceState("kubernetes", "kubernetes", "not configured")]
        >>> gaps(missing, any_policy=True)[0].split(",")[0]
        'Kubernetes: not configured'
        >>> gaps(missing, any_policy=False)
        []
    """
    missing = any(s.kind == "kubernetes" and s.status == "not configured" for s in states)
    return [KUBERNETES_GAP] if missing and any_policy else []


def _kind(name: str) -> str:
    return name.split(" ", 1)[0]


def _missing(kind: str, settings: Settings) -> Status:
    """Why a kind has no source: the user turned it off (skipped), or nothing says (not
    configured). ECS and Lambda are on unless turned off."""
    inventory, kubernetes = settings.inventory, settings.kubernetes
    if kind == "ecs" and not inventory.ecs:
        return "skipped"
    if kind == "lambda" and not inventory.lambda_functions:
        return "skipped"
    if kind == "kubernetes" and not kubernetes.enabled and "enabled" in kubernetes.model_fields_set:
        return "skipped"
    return "not configured"
