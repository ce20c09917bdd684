"""A small fake Kubernetes API server for inventory tests, and builders for the objects it serves.

It serves the cluster-wide list endpoints ECR Lifeguard reads, in the real JSON wire format
(``PodList``, ``DeploymentList``...), pages them with ``limit``/``continue`` like the API server,
answers ``401`` without the expected ``Authorization: Bearer`` token and ``403`` (a real
``Status`` object) for a resource told to deny. It runs on 127.0.0.1, port 0, in the test's event
loop::

    api = await FakeKubeApi().start()
    api.add("pods", pod("shop", "web-1", [container("web", IMAGE, image_id=IMAGE_ID)]))
    config_path = api.kubeconfig(tmp_path / "kubeconfig")
    ...
    await api.stop()
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web

Json = dict[str, Any]
TOKEN = "fake-token"
USER = "system:serviceaccount:lifeguard:ecr-lifeguard"
RESOURCE_VERSION = "4242"

# plural -> (list path, list kind, apiVersion, API group)
RESOURCES = {
    "pods": ("/api/v1/pods", "PodList", "v1", ""),
    "deployments": ("/apis/apps/v1/deployments", "DeploymentList", "apps/v1", "apps"),
    "replicasets": ("/apis/apps/v1/replicasets", "ReplicaSetList", "apps/v1", "apps"),
    "statefulsets": ("/apis/apps/v1/statefulsets", "StatefulSetList", "apps/v1", "apps"),
    "daemonsets": ("/apis/apps/v1/daemonsets", "DaemonSetList", "apps/v1", "apps"),
    "controllerrevisions": (
        "/apis/apps/v1/controllerrevisions",
        "ControllerRevisionList",
        "apps/v1",
        "apps",
    ),
    "cronjobs": ("/apis/batch/v1/cronjobs", "CronJobList", "batch/v1", "batch"),
}


@dataclass(frozen=True, slots=True)
class Request:
    """One request the fake received: which list, its query, and whether it was authorised."""

    resource: str
    query: dict[str, str]
    authorised: bool


class FakeKubeApi:
    """The fake API server. Load objects with :meth:`add`, deny a resource with :meth:`deny`."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.objects: dict[str, list[Json]] = {plural: [] for plural in RESOURCES}
        self.forbidden: set[str] = set()
        self.requests: list[Request] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> FakeKubeApi:
        """Listen on 127.0.0.1 on a free port; :attr:`url` is then ``http://127.0.0.1:<port>``."""
        app = web.Application()
        for plural, (path, *_) in RESOURCES.items():
            app.router.add_get(path, partial(self._list, plural))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        """Close the listener and every open connection."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def add(self, resource: str, *objects: Json) -> None:
        """Serve these objects in the list of ``resource`` (``pods``, ``deployments``...)."""
        self.objects[resource].extend(objects)

    def deny(self, *resources: str) -> None:
        """Answer 403 Forbidden to lists of these resources, as RBAC does."""
        self.forbidden.update(resources)

    def requests_for(self, resource: str) -> list[Request]:
        """The requests received for one resource's list."""
        return [r for r in self.requests if r.resource == resource]

    def kubeconfig(self, path: Path, context: str = "fake", token: str | None = None) -> Path:
        """Write a kubeconfig whose (current) context ``context`` points at this server."""
        return write_kubeconfig(path, [KubeContext(context, self.url, token or self.token)])

    async def _list(self, resource: str, request: web.Request) -> web.Response:
        authorised = request.headers.get("Authorization") == f"Bearer {self.token}"
        self.requests.append(Request(resource, dict(request.query), authorised))
        if not authorised:
            return _status(401, "Unauthorized", "Unauthorized")
        _, list_kind, api_version, group = RESOURCES[resource]
        if resource in self.forbidden:
            message = (
                f'{resource} is forbidden: User "{USER}" cannot list resource "{resource}" '
                f'in API group "{group}" at the cluster scope'
            )
            return _status(403, "Forbidden", message, details={"kind": resource})
        items = self.objects[resource]
        try:
            start = _decode_continue(request.query.get("continue"))
        except ValueError:
            return _status(400, "BadRequest", "continue key is not valid: incorrect encoded start")
        limit = int(request.query.get("limit") or 0) or len(items) or 1
        metadata: Json = {"resourceVersion": RESOURCE_VERSION}
        end = start + limit
        if end < len(items):
            metadata["continue"] = _encode_continue(end)
            metadata["remainingItemCount"] = len(items) - end
        body = {"kind": list_kind, "apiVersion": api_version, "metadata": metadata}
        return web.json_response({**body, "items": items[start:end]})


def _status(code: int, reason: str, message: str, details: Json | None = None) -> web.Response:
    status: Json = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        status["details"] = details
    return web.json_response(status, status=code)


def _encode_continue(offset: int) -> str:
    key = {"v": "meta.k8s.io/v1", "rv": int(RESOURCE_VERSION), "start": str(offset)}
    return base64.b64encode(json.dumps(key).encode()).decode()


def _decode_continue(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.b64decode(token))["start"])
    except (KeyError, TypeError, json.JSONDecodeError, binascii.Error) as exc:
        raise ValueError(token) from exc


@dataclass(frozen=True, slots=True)
class KubeContext:
    """One context of a generated kubeconfig: its name, API server and bearer token."""

    name: str
    server: str
    token: str


def write_kubeconfig(
    path: Path, contexts: Sequence[KubeContext], current: str | None = "first"
) -> Path:
    """Write a kubeconfig with one cluster and user per context; ``current`` defaults to the first.

    ``current=None`` writes no ``current-context``.
    """
    document: Json = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": c.name, "cluster": {"server": c.server}} for c in contexts],
        "users": [{"name": c.name, "user": {"token": c.token}} for c in contexts],
        "contexts": [
            {"name": c.name, "context": {"cluster": c.name, "user": c.name, "namespace": "default"}}
            for c in contexts
        ],
    }
    if current == "first" and contexts:
        document["current-context"] = contexts[0].name
    elif current is not None:
        document["current-context"] = current
    path.write_text(json.dumps(document, indent=2))  # JSON is YAML
    return path


# --- object builders: the fields the API server really returns, without the noise ---


def container(name: str, image: str, image_id: str | None = None) -> Json:
    """A container spec; ``image_id`` (the runtime's ``imageID``) goes into the pod's status."""
    spec: Json = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent"}
    if image_id is not None:
        spec["x-image-id"] = image_id
    return spec


def metadata(
    namespace: str,
    name: str,
    *,
    owner: tuple[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> Json:
    """Object metadata; ``owner`` is the controlling (kind, name)."""
    meta: Json = {
        "name": name,
        "namespace": namespace,
        "uid": uid(namespace, name),
        "resourceVersion": "101",
        "creationTimestamp": "2026-11-01T10:00:00Z",
    }
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    if owner is not None:
        kind, owner_name = owner
        meta["ownerReferences"] = [
            {
                "apiVersion": "batch/v1" if kind in {"Job", "CronJob"} else "apps/v1",
                "kind": kind,
                "name": owner_name,
                "uid": uid(namespace, owner_name),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return meta


def uid(namespace: str, name: str) -> str:
    """A stable uid for an object, so owners and owned objects agree."""
    digest = base64.b16encode(f"{namespace}/{name}".encode()).decode().lower().ljust(32, "0")
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _status_of(spec: Json, *, ready: bool) -> Json:
    image_id = spec.get("x-image-id")
    state: Json = (
        {"running": {"startedAt": "2026-11-01T10:00:05Z"}}
        if image_id
        else {"waiting": {"reason": "ContainerCreating"}}
    )
    return {
        "name": spec["name"],
        "image": spec["image"],
        "imageID": image_id or "",
        "ready": ready and bool(image_id),
        "restartCount": 0,
        "started": bool(image_id),
        "state": state,
        **({"containerID": f"containerd://{spec['name']}0001"} if image_id else {}),
    }


def _clean(specs: Sequence[Json]) -> list[Json]:
    return [{k: v for k, v in spec.items() if k != "x-image-id"} for spec in specs]


def pod(
    namespace: str,
    name: str,
    containers: Sequence[Json],
    *,
    init: Sequence[Json] = (),
    ephemeral: Sequence[Json] = (),
    phase: str | None = None,
    owner: tuple[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    statuses: bool = True,
) -> Json:
    """A pod; each container's ``image_id`` (see :func:`container`) becomes its status ``imageID``.

    ``statuses=False`` leaves the status without container statuses (a pod not scheduled yet).
    """
    running = all(c.get("x-image-id") for c in containers)
    status: Json = {
        "phase": phase or ("Running" if running else "Pending"),
        "qosClass": "BestEffort",
    }
    if statuses:
        status["containerStatuses"] = [_status_of(c, ready=True) for c in containers]
        if init:
            status["initContainerStatuses"] = [_status_of(c, ready=False) for c in init]
        if ephemeral:
            status["ephemeralContainerStatuses"] = [_status_of(c, ready=False) for c in ephemeral]
    spec: Json = {
        "containers": _clean(containers),
        "restartPolicy": "Always",
        "nodeName": "ip-10-0-1-23.eu-west-1.compute.internal",
    }
    if init:
        spec["initContainers"] = _clean(init)
    if ephemeral:
        spec["ephemeralContainers"] = _clean(ephemeral)
    return {
        "metadata": metadata(namespace, name, owner=owner, annotations=annotations),
        "spec": spec,
        "status": status,
    }


def pod_template(containers: Sequence[Json], init: Sequence[Json] = ()) -> Json:
    """A pod template (``spec.template``) running these containers."""
    spec: Json = {"containers": _clean(containers), "restartPolicy": "Always"}
    if init:
        spec["initContainers"] = _clean(init)
    return {"metadata": {"labels": {"app": "x"}}, "spec": spec}


def deployment(
    namespace: str,
    name: str,
    containers: Sequence[Json],
    *,
    revision: int = 1,
    annotations: dict[str, str] | None = None,
) -> Json:
    """A Deployment at ``revision`` (its ``deployment.kubernetes.io/revision`` annotation)."""
    notes = {"deployment.kubernetes.io/revision": str(revision), **(annotations or {})}
    return {
        "metadata": metadata(namespace, name, annotations=notes),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(containers),
            "revisionHistoryLimit": 10,
        },
        "status": {"observedGeneration": revision, "replicas": 2, "readyReplicas": 2},
    }


def replica_set(
    namespace: str,
    name: str,
    containers: Sequence[Json],
    *,
    deployment: str | None,
    revision: int | None = None,
    replicas: int = 0,
    annotations: dict[str, str] | None = None,
) -> Json:
    """A ReplicaSet, controlled by ``deployment`` (None: a bare one) at ``revision``."""
    notes = dict(annotations or {})
    if revision is not None:
        notes["deployment.kubernetes.io/revision"] = str(revision)
    owner = ("Deployment", deployment) if deployment else None
    return {
        "metadata": metadata(namespace, name, owner=owner, annotations=notes),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(containers),
        },
        "status": {"replicas": replicas},
    }


def stateful_set(
    namespace: str, name: str, containers: Sequence[Json], *, annotations: Json | None = None
) -> Json:
    """A StatefulSet running these containers."""
    spec: Json = {
        "replicas": 1,
        "serviceName": name,
        "selector": {"matchLabels": {"app": name}},
        "template": pod_template(containers),
    }
    return {"metadata": metadata(namespace, name, annotations=annotations), "spec": spec}


def daemon_set(
    namespace: str, name: str, containers: Sequence[Json], *, annotations: Json | None = None
) -> Json:
    """A DaemonSet running these containers."""
    spec: Json = {"selector": {"matchLabels": {"app": name}}, "template": pod_template(containers)}
    return {"metadata": metadata(namespace, name, annotations=annotations), "spec": spec}


def controller_revision(
    namespace: str, owner: tuple[str, str], revision: int, containers: Sequence[Json]
) -> Json:
    """A ControllerRevision of a StatefulSet or DaemonSet: ``data`` is a template patch."""
    template = {**pod_template(containers), "$patch": "replace"}
    return {
        "metadata": metadata(namespace, f"{owner[1]}-{revision:010d}", owner=owner),
        "data": {"spec": {"template": template}},
        "revision": revision,
    }


def cron_job(
    namespace: str,
    name: str,
    containers: Sequence[Json],
    *,
    annotations: dict[str, str] | None = None,
) -> Json:
    """A CronJob running these containers every night."""
    template = pod_template(containers)
    template["spec"]["restartPolicy"] = "OnFailure"
    return {
        "metadata": metadata(namespace, name, annotations=annotations),
        "spec": {
            "schedule": "0 3 * * *",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"template": template}},
        },
    }
