"""The pure part of the Kubernetes inventory: listed objects in, image uses out.

:mod:`bot.edge.kube.inventory` lists the resources of :data:`KINDS` cluster-wide and hands each item
over as the plain JSON dict the API server sent (no kubernetes_asyncio model). :func:`_summarise`
keeps what the inventory needs of one item, and :func:`_cluster_uses` turns one cluster's
summaries into image uses, as the :mod:`bot.edge.kube.inventory` docstring describes. Nothing here
does I/O or imports an I/O library; :func:`rbac_rules` lists the permissions the listing needs.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.inventory.models import CHANNEL_TAG, Consumer, ImageUse, UseKind
from bot.refs import ImageRef, ecr_image_ref

CHANNEL_ANNOTATION = CHANNEL_TAG
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"

Json = dict[str, Any]

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
_POD_CONTAINERS = (
    ("containers", "containerStatuses"),
    ("initContainers", "initContainerStatuses"),
    ("ephemeralContainers", "ephemeralContainerStatuses"),
)
# list name -> (owner kind in ownerReferences, consumer kind, list of its revision history)
_WORKLOADS = {
    "deployments": ("Deployment", "k8s-deployment", "replicasets"),
    "statefulsets": ("StatefulSet", "k8s-statefulset", "controllerrevisions"),
    "daemonsets": ("DaemonSet", "k8s-daemonset", "controllerrevisions"),
    "cronjobs": ("CronJob", "k8s-cronjob", None),
}


@dataclass(frozen=True, slots=True)
class _Kind:
    """One resource the source lists cluster-wide, and where its pod template is."""

    plural: str
    group: str  # "" is the core API; bot.edge.kube.inventory picks the generated client by group
    template: tuple[str, ...] | None  # None: the object is a pod
    method: str  # list_<method>_for_all_namespaces

    @property
    def permission(self) -> str:
        return f"list {self.plural} in all namespaces"


_TEMPLATE = ("spec", "template")
KINDS = (
    _Kind("pods", "", None, "pod"),
    _Kind("deployments", "apps", _TEMPLATE, "deployment"),
    _Kind("replicasets", "apps", _TEMPLATE, "replica_set"),
    _Kind("statefulsets", "apps", _TEMPLATE, "stateful_set"),
    _Kind("daemonsets", "apps", _TEMPLATE, "daemon_set"),
    _Kind("controllerrevisions", "apps", ("data", *_TEMPLATE), "controller_revision"),
    _Kind("cronjobs", "batch", ("spec", "jobTemplate", *_TEMPLATE), "cron_job"),
)


def rbac_rules() -> list[dict[str, list[str]]]:
    """The ClusterRole rules a :class:`KubernetesSource` needs (``list``, cluster-wide).

    Example:
        >>> [rule["apiGroups"][0] for rule in rbac_rules()]
        ['', 'apps', 'batch']
        >>> rbac_rules()[2]
        {'apiGroups': ['batch'], 'resources': ['cronjobs'], 'verbs': ['list']}
    """
    return _rules(KINDS)


def _rules(kinds: Sequence[_Kind]) -> list[dict[str, list[str]]]:
    by_group: dict[str, list[str]] = {}
    for kind in kinds:
        by_group.setdefault(kind.group, []).append(kind.plural)
    return [
        {"apiGroups": [group], "resources": plurals, "verbs": ["list"]}
        for group, plurals in by_group.items()
    ]


def _grant_hint(kinds: Sequence[_Kind]) -> str:
    rules = "; ".join(
        f"apiGroups {json.dumps(r['apiGroups'])}, resources {json.dumps(r['resources'])}, "
        'verbs ["list"]'
        for r in _rules(kinds)
    )
    return f"grant the identity running ECR Lifeguard a ClusterRole with {rules}"


# --- what the inventory keeps of each listed object (pods come by thousands: keep it small) ---


@dataclass(frozen=True, slots=True)
class _Container:
    name: str
    image: str
    image_id: str | None = None  # pods only: "" until the runtime has pulled the image


@dataclass(frozen=True, slots=True)
class _Owner:
    kind: str
    name: str
    uid: str | None


@dataclass(frozen=True, slots=True)
class _Object:
    namespace: str
    name: str
    uid: str | None
    channel: str | None
    owner: _Owner | None
    revision: int | None
    replicas: int
    containers: tuple[_Container, ...]


def _dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[Json]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _at(item: Json, path: Sequence[str]) -> Json:
    for key in path:
        item = _dict(item.get(key))
    return item


def _summarise(kind: _Kind, item: Json) -> _Object:
    meta = _dict(item.get("metadata"))
    channel = _channel(meta)
    if kind.template is None:
        containers = _pod_containers(item)
    else:
        template = _at(item, kind.template)
        containers = _template_containers(_dict(template.get("spec")))
        channel = channel or _channel(_dict(template.get("metadata")))
    return _Object(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=meta.get("uid"),
        channel=channel,
        owner=_controller(meta),
        revision=_revision(item, meta),
        replicas=_replicas(item),
        containers=containers,
    )


def _channel(meta: Json) -> str | None:
    value = _dict(meta.get("annotations")).get(CHANNEL_ANNOTATION)
    return (value.strip() or None) if isinstance(value, str) else None


def _controller(meta: Json) -> _Owner | None:
    for ref in _dicts(meta.get("ownerReferences")):
        if ref.get("controller") and ref.get("kind") and ref.get("name"):
            return _Owner(str(ref["kind"]), str(ref["name"]), ref.get("uid"))
    return None


def _revision(item: Json, meta: Json) -> int | None:
    value = item.get("revision", _dict(meta.get("annotations")).get(REVISION_ANNOTATION))
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _replicas(item: Json) -> int:
    value = _dict(item.get("spec")).get("replicas", 1)
    return value if isinstance(value, int) else 1


def _template_containers(spec: Json) -> tuple[_Container, ...]:
    return tuple(
        _Container(str(c.get("name") or ""), str(c.get("image") or ""))
        for key in ("containers", "initContainers")
        for c in _dicts(spec.get(key))
    )


def _pod_containers(pod: Json) -> tuple[_Container, ...]:
    spec, status = _dict(pod.get("spec")), _dict(pod.get("status"))
    if status.get("phase") in _TERMINAL_PHASES:
        return ()
    found = []
    for spec_key, status_key in _POD_CONTAINERS:
        statuses = {s.get("name"): s for s in _dicts(status.get(status_key))}
        for container in _dicts(spec.get(spec_key)):
            state = statuses.get(container.get("name"), {})
            image = container.get("image") or state.get("image") or ""
            found.append(
                _Container(str(container.get("name")), str(image), str(state.get("imageID") or ""))
            )
    return tuple(found)


# --- from the listed objects to image uses (pure) ---


def _running_ref(container: _Container) -> ImageRef | None:
    """The spec image with the digest the runtime reports (``repo@sha256:…``), when it has one."""
    _, at, digest = (container.image_id or "").rpartition("@")
    digest_found = digest if at and _DIGEST.fullmatch(digest) else None
    named = ecr_image_ref(container.image)
    if named is None:
        return ecr_image_ref(container.image_id or "") if digest_found else None
    return replace(named, digest=digest_found) if digest_found else named


def _consumer(kind: str, obj: _Object, cluster: str, channel: str | None) -> Consumer:
    return Consumer(
        kind,
        f"{obj.namespace}/{obj.name}",
        cluster=cluster,
        namespace=obj.namespace,
        channel=channel,
    )


def _template_uses(
    obj: _Object, kind: UseKind, consumer: Consumer, detail: str | None
) -> Iterator[ImageUse]:
    for container in obj.containers:
        ref = ecr_image_ref(container.image)
        if ref is not None:
            yield ImageUse(ref, kind, consumer, detail or container.name)


def _pod_uses(pod: _Object, consumer: Consumer) -> Iterator[ImageUse]:
    for container in pod.containers:
        if container.image_id:
            ref, kind = _running_ref(container), UseKind.RUNNING
        else:
            ref, kind = ecr_image_ref(container.image), UseKind.LAUNCH
        if ref is not None:
            yield ImageUse(ref, kind, consumer, container.name)


def _rollback_targets(owner: _Object, history: Sequence[_Object], keep: int) -> list[_Object]:
    """The ``keep`` newest revisions older than the current one (the owner's, else the newest)."""
    numbered = sorted(
        (obj for obj in history if obj.revision is not None),
        key=lambda obj: obj.revision or 0,
        reverse=True,
    )
    if not numbered:
        return []
    current = owner.revision if owner.revision is not None else numbered[0].revision or 0
    return [obj for obj in numbered if (obj.revision or 0) < current][:keep]


def _by_owner(objects: Sequence[_Object]) -> dict[tuple[str, str, str], list[_Object]]:
    found: dict[tuple[str, str, str], list[_Object]] = defaultdict(list)
    for obj in objects:
        if obj.owner is not None:
            found[(obj.owner.kind, obj.namespace, obj.owner.name)].append(obj)
    return found


def _owned(
    children: Mapping[tuple[str, str, str], list[_Object]], kind: str, owner: _Object
) -> list[_Object]:
    candidates = children.get((kind, owner.namespace, owner.name), [])
    return [
        c
        for c in candidates
        if owner.uid is None or c.owner is None or c.owner.uid in (None, owner.uid)
    ]


def _channels(listed: Mapping[str, Sequence[_Object]]) -> dict[tuple[str, str, str], str]:
    """The channel of every workload a pod can belong to, by (kind, namespace, name)."""
    found = {
        (owner_kind, obj.namespace, obj.name): obj.channel
        for plural, (owner_kind, _, _) in _WORKLOADS.items()
        for obj in listed[plural]
        if obj.channel
    }
    for rs in listed["replicasets"]:
        owner = rs.owner
        channel = rs.channel or (
            found.get((owner.kind, rs.namespace, owner.name)) if owner else None
        )
        if channel:
            found[("ReplicaSet", rs.namespace, rs.name)] = channel
    return found


def _cluster_uses(
    listed: Mapping[str, Sequence[_Object]], cluster: str, rollback_revisions: int
) -> list[ImageUse]:
    """Every ECR image use in one cluster's listed objects (see :mod:`bot.edge.kube.inventory`)."""
    uses = list(_workload_uses(listed, cluster, rollback_revisions))
    for rs in listed["replicasets"]:  # ReplicaSets of no Deployment (bare, Argo Rollouts...)
        if (rs.owner is None or rs.owner.kind != "Deployment") and rs.replicas > 0:
            consumer = _consumer("k8s-replicaset", rs, cluster, rs.channel)
            uses.extend(_template_uses(rs, UseKind.LAUNCH, consumer, None))
    channels = _channels(listed)
    for pod in listed["pods"]:
        owner = pod.owner
        channel = pod.channel or (
            channels.get((owner.kind, pod.namespace, owner.name)) if owner else None
        )
        uses.extend(_pod_uses(pod, _consumer("k8s-pod", pod, cluster, channel)))
    return uses


def _workload_uses(
    listed: Mapping[str, Sequence[_Object]], cluster: str, rollback_revisions: int
) -> Iterator[ImageUse]:
    for plural, (owner_kind, consumer_kind, history) in _WORKLOADS.items():
        children = _by_owner(listed[history]) if history else {}
        for obj in listed[plural]:
            consumer = _consumer(consumer_kind, obj, cluster, obj.channel)
            yield from _template_uses(obj, UseKind.LAUNCH, consumer, None)
            older = _owned(children, owner_kind, obj)
            for old in _rollback_targets(obj, older, rollback_revisions):
                yield from _template_uses(
                    old, UseKind.ROLLBACK, consumer, f"revision {old.revision}"
                )
