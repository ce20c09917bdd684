"""The demo's Kubernetes cluster: the Deployment ``shop/web`` as an API server would list it.

No API server runs: :class:`StaticCluster` is an inventory source over the embedded objects
(``scenario/kubernetes.json``), read by the same summarising code the real Kubernetes source
runs on what it lists, so pods, Deployments and rollback ReplicaSets become image uses exactly
as in a real cluster.

Example::

    uses = await StaticCluster.embedded().collect()
    {use.kind.label for use in uses}     # {'running now', 'launched on scale-out...', ...}
"""

from __future__ import annotations

import json
from typing import Any

from bot.demo.scene import scenario_text
from bot.edge.kube.objects import KINDS, _cluster_uses, _summarise
from bot.inventory.models import ImageUse

ROLLBACK_REVISIONS = 3


class StaticCluster:
    """An :class:`~bot.inventory.sources.InventorySource` over listed Kubernetes objects."""

    def __init__(self, cluster: str, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.cluster = cluster
        self.objects = objects

    @classmethod
    def embedded(cls) -> StaticCluster:
        """The cluster of the story.

        Example:
            >>> StaticCluster.embedded().name
            'kubernetes demo-eks'
        """
        document = json.loads(scenario_text("kubernetes.json"))
        return cls(str(document.pop("cluster")), document)

    @property
    def name(self) -> str:
        """``kubernetes <cluster>``, as the real source is named."""
        return f"kubernetes {self.cluster}"

    async def collect(self) -> list[ImageUse]:
        """The image uses of the listed objects."""
        listed = {
            kind.plural: [_summarise(kind, item) for item in self.objects.get(kind.plural, [])]
            for kind in KINDS
        }
        return _cluster_uses(listed, self.cluster, ROLLBACK_REVISIONS)
