"""Kubernetes inventory: the images pods run now, and those workloads launch or roll back to.

One :class:`KubernetesSource` reads one cluster with cluster-wide ``list`` calls, 500 objects a
page, and reports ECR images only (``nginx:1.27`` and other registries are left out):

- pods: the digest each container, init container and ephemeral container runs, from
  ``status.*ContainerStatuses[].imageID`` (for a multi-arch image, the index digest) → RUNNING; a
  container without an ``imageID`` yet (pending pod) → its spec image (tag) as LAUNCH. Pods that
  finished (``Succeeded``/``Failed``) run nothing and are skipped;
- Deployments, StatefulSets, DaemonSets, CronJobs, and ReplicaSets no Deployment controls (with
  replicas): the pod template → LAUNCH;
- the newest ``rollback_revisions`` older ReplicaSets of a Deployment (by the
  ``deployment.kubernetes.io/revision`` annotation) and ControllerRevisions of a StatefulSet or
  DaemonSet → ROLLBACK, detail ``revision N``.

The annotation ``ecr-lifeguard/channel`` on a workload (or its pod template) names the Slack
channel that owns it; pods take their own annotation, else their controller's (ReplicaSet →
Deployment, StatefulSet, DaemonSet). :func:`kubernetes_sources` builds one source per kubeconfig
context, or one for the cluster the bot runs in. :func:`rbac_rules` lists the permissions needed.
Errors are :mod:`bot.errors` types; no kubernetes_asyncio or aiohttp exception escapes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import yaml
from kubernetes_asyncio.client import ApiClient, AppsV1Api, BatchV1Api, Configuration, CoreV1Api
from kubernetes_asyncio.config import kube_config
from kubernetes_asyncio.config.config_exception import ConfigException
from kubernetes_asyncio.config.incluster_config import (
    SERVICE_CERT_FILENAME,
    SERVICE_TOKEN_FILENAME,
    InClusterConfigLoader,
)

from bot.errors import (
    AccessDenied,
    ConfigError,
    CredentialsError,
    LifeguardError,
    NotFound,
    Throttled,
    Unreachable,
    UpstreamError,
)
from bot.inventory.models import CHANNEL_TAG, Consumer, ImageUse, UseKind
from bot.refs import ImageRef, ecr_image_ref
from bot.settings import KubernetesSettings

CHANNEL_ANNOTATION = CHANNEL_TAG
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
IN_CLUSTER = "in-cluster"
PAGE_SIZE = 500
SERVICE = "kubernetes"

Json = dict[str, Any]
Refresh = Callable[[Configuration], Awaitable[None]]

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
_CREDENTIALS_HINT = (
    "renew the credentials of the kubeconfig context (for EKS: valid AWS credentials, "
    "`aws eks update-kubeconfig --name CLUSTER`, and an access entry for the IAM identity)"
)


@dataclass(frozen=True, slots=True)
class _Kind:
    """One resource the source lists cluster-wide, and where its pod template is."""

    plural: str
    group: str
    template: tuple[str, ...] | None  # None: the object is a pod
    api: type[CoreV1Api | AppsV1Api | BatchV1Api]
    method: str  # list_<method>_for_all_namespaces

    @property
    def permission(self) -> str:
        return f"list {self.plural} in all namespaces"

    def lister(self, api: ApiClient) -> Callable[..., Awaitable[Any]]:
        """The generated client's cluster-wide list call for this resource."""
        method: Callable[..., Awaitable[Any]] = getattr(
            self.api(api), f"list_{self.method}_for_all_namespaces"
        )
        return method


_TEMPLATE = ("spec", "template")
KINDS = (
    _Kind("pods", "", None, CoreV1Api, "pod"),
    _Kind("deployments", "apps", _TEMPLATE, AppsV1Api, "deployment"),
    _Kind("replicasets", "apps", _TEMPLATE, AppsV1Api, "replica_set"),
    _Kind("statefulsets", "apps", _TEMPLATE, AppsV1Api, "stateful_set"),
    _Kind("daemonsets", "apps", _TEMPLATE, AppsV1Api, "daemon_set"),
    _Kind("controllerrevisions", "apps", ("data", *_TEMPLATE), AppsV1Api, "controller_revision"),
    _Kind("cronjobs", "batch", ("spec", "jobTemplate", *_TEMPLATE), BatchV1Api, "cron_job"),
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
    """Every ECR image use in one cluster's listed objects (see the module docstring)."""
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


# --- the source: listing with paging, errors translated ---


class KubernetesSource:
    """The ECR images one Kubernetes cluster uses (an ``InventorySource``).

    Give it a kubernetes_asyncio ``Configuration`` (each :meth:`collect` opens and closes its own
    ``ApiClient``) or an ``ApiClient`` (borrowed: the caller closes it). ``refresh`` is awaited
    with the configuration before each collection, to renew short-lived credentials (kubeconfig
    exec plugins such as ``aws eks get-token``); :func:`kubernetes_sources` sets it.

    Example::

        configuration = Configuration(host="https://ABC.gr7.eu-west-1.eks.amazonaws.com")
        configuration.api_key = {"BearerToken": token}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        source = KubernetesSource(configuration, "prod-eks", rollback_revisions=3)
        uses = await source.collect()   # [ImageUse(ref=..., kind=UseKind.RUNNING, ...), ...]
    """

    def __init__(
        self,
        client: Configuration | ApiClient,
        cluster: str,
        *,
        rollback_revisions: int = 3,
        page_size: int = PAGE_SIZE,
        timeout: float = 60.0,
        refresh: Refresh | None = None,
    ) -> None:
        self.cluster = cluster
        self.rollback_revisions = rollback_revisions
        self.page_size = page_size
        self.timeout = timeout
        self._client = client
        self._refresh = refresh

    @property
    def name(self) -> str:
        """``kubernetes <cluster>``, for progress and error messages."""
        return f"{SERVICE} {self.cluster}"

    async def collect(self) -> list[ImageUse]:
        """List the cluster's pods and workloads and return their ECR image uses.

        Raises :class:`~bot.errors.AccessDenied` naming the missing ``list`` permissions,
        :class:`~bot.errors.Unreachable`, :class:`~bot.errors.CredentialsError` or another
        :class:`~bot.errors.UpstreamError`.
        """
        async with self._api() as api:
            listed = await self._list_everything(api)
        return _cluster_uses(listed, self.cluster, self.rollback_revisions)

    @asynccontextmanager
    async def _api(self) -> AsyncIterator[ApiClient]:
        if isinstance(self._client, ApiClient):
            yield self._client
            return
        await self._refreshed(self._client)
        try:
            api = ApiClient(self._client)
        except (OSError, ValueError) as exc:  # unreadable CA or client certificate files
            raise ConfigError(f"cluster {self.cluster}: cannot set up TLS: {exc}") from exc
        try:
            yield api
        finally:
            await api.close()

    async def _refreshed(self, configuration: Configuration) -> None:
        if self._refresh is None:
            return
        try:
            await self._refresh(configuration)
        except Exception as exc:  # exec plugins, OIDC and token files fail in many ways
            raise CredentialsError(
                SERVICE,
                "load credentials",
                "CredentialsUnavailable",
                f"cluster {self.cluster}: {exc}",
                hint=_CREDENTIALS_HINT,
            ) from exc

    async def _list_everything(self, api: ApiClient) -> dict[str, list[_Object]]:
        results = await asyncio.gather(
            *(self._list(api, kind) for kind in KINDS), return_exceptions=True
        )
        listed: dict[str, list[_Object]] = {}
        failures: list[tuple[_Kind, BaseException]] = []
        for kind, result in zip(KINDS, results, strict=True):
            if isinstance(result, BaseException):
                failures.append((kind, result))
            else:
                listed[kind.plural] = result
        if failures:
            raise _combined(failures)
        return listed

    async def _list(self, api: ApiClient, kind: _Kind) -> list[_Object]:
        found: list[_Object] = []
        token: str | None = None
        while True:
            page = await self._page(api, kind, token)
            found.extend(_summarise(kind, item) for item in _dicts(page.get("items")))
            token = _dict(page.get("metadata")).get("continue") or None
            if token is None:
                return found

    async def _page(self, api: ApiClient, kind: _Kind, token: str | None) -> Json:
        params: dict[str, Any] = {
            "limit": self.page_size,
            "_preload_content": False,
            "_request_timeout": self.timeout,
        }
        if token:
            params["_continue"] = token
        try:
            response = await kind.lister(api)(**params)
            async with response:
                status, body = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._unreachable(api, kind, exc) from exc
        except ConfigException as exc:  # the in-cluster token hook could not read its file
            raise CredentialsError(
                SERVICE, kind.permission, "CredentialsUnavailable", str(exc)
            ) from exc
        if not 200 <= status < 300:
            raise self._http_error(kind, status, body)
        return self._json(kind, body)

    def _unreachable(self, api: ApiClient, kind: _Kind, exc: BaseException) -> Unreachable:
        detail = str(exc) or type(exc).__name__
        return Unreachable(
            SERVICE,
            kind.permission,
            "Unreachable",
            f"cluster {self.cluster} at {api.configuration.host}: {detail}",
            hint="check the server address of the kubeconfig context, the network and any proxy",
        )

    def _http_error(self, kind: _Kind, status: int, body: bytes) -> UpstreamError:
        reported = _status_message(body)
        reason = str(reported.get("reason") or f"HTTP{status}")
        message = f"cluster {self.cluster}: {reported.get('message') or f'HTTP {status}'}"
        error, hint = _ERRORS.get(status, (UpstreamError, None))
        if status == 403:
            hint = _grant_hint([kind])
        elif status == 404:
            hint = f"the API server does not serve {kind.plural} ({kind.group or 'core'} API)"
        return error(SERVICE, kind.permission, reason, message, hint=hint)

    def _json(self, kind: _Kind, body: bytes) -> Json:
        try:
            return _dict(json.loads(body))
        except ValueError as exc:
            raise UpstreamError(
                SERVICE,
                kind.permission,
                "InvalidResponse",
                f"cluster {self.cluster}: the API server did not answer JSON: {exc}",
            ) from exc


_ERRORS: dict[int, tuple[type[UpstreamError], str | None]] = {
    401: (CredentialsError, _CREDENTIALS_HINT),
    403: (AccessDenied, None),
    404: (NotFound, None),
    410: (UpstreamError, "the listing outlived its continue token; run it again"),
    429: (Throttled, "the API server is rate limiting; run again later"),
}


def _status_message(body: bytes) -> Json:
    """The ``Status`` object an API server error carries, if any."""
    try:
        return _dict(json.loads(body))
    except ValueError:
        text = body.decode("utf-8", "replace").strip()[:200]
        return {"message": text} if text else {}


def _combined(failures: Sequence[tuple[_Kind, BaseException]]) -> BaseException:
    """The first failure, or one AccessDenied naming every permission that is missing."""
    denied = [(kind, exc) for kind, exc in failures if isinstance(exc, AccessDenied)]
    if len(denied) < 2:
        return failures[0][1]
    kinds = [kind for kind, _ in denied]
    return AccessDenied(
        SERVICE,
        f"list {', '.join(k.plural for k in kinds)} in all namespaces",
        "Forbidden",
        denied[0][1].message,
        hint=_grant_hint(kinds),
    )


# --- building sources from the settings ---


async def kubernetes_sources(settings: KubernetesSettings) -> list[KubernetesSource]:
    """One source per configured cluster; none when ``settings.enabled`` is false.

    With ``in_cluster``, the pod's service account; otherwise the kubeconfig
    (``settings.kubeconfig``, else ``KUBECONFIG``, else ``~/.kube/config``), one source per
    context in ``settings.contexts`` (the current context when the list is empty), labelled with
    the context name. Raises :class:`~bot.errors.ConfigError` for a missing file or context and
    :class:`~bot.errors.CredentialsError` when a context's credentials cannot be loaded.

    Example::

        settings = KubernetesSettings(enabled=True, contexts=["prod-eks", "staging-eks"])
        sources = await kubernetes_sources(settings)
        [s.name for s in sources]   # ['kubernetes prod-eks', 'kubernetes staging-eks']
    """
    if not settings.enabled:
        return []
    revisions = settings.rollback_revisions
    if settings.in_cluster:
        return [KubernetesSource(_in_cluster(), IN_CLUSTER, rollback_revisions=revisions)]
    path = settings.kubeconfig or kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    names, current = _kubeconfig_contexts(path)
    wanted = list(settings.contexts) or ([current] if current else [])
    if not wanted:
        raise ConfigError(
            f"kubeconfig {path} has no current context: name one in kubernetes.contexts "
            f"(available: {', '.join(names) or 'none'})"
        )
    for context in wanted:
        if context not in names:
            raise ConfigError(
                f'kubeconfig {path} has no context "{context}" '
                f"(available: {', '.join(names) or 'none'}); fix kubernetes.contexts"
            )
    return [await _context_source(path, context, revisions) for context in wanted]


def _in_cluster() -> Configuration:
    configuration = Configuration()
    loader = InClusterConfigLoader(SERVICE_TOKEN_FILENAME, SERVICE_CERT_FILENAME)
    try:
        loader.load_and_set(configuration)
    except (ConfigException, OSError) as exc:
        raise ConfigError(
            f"kubernetes.in_cluster: cannot use the pod's service account ({exc}); run the bot "
            "in a pod with a service account token, or set in_cluster to false and use a "
            "kubeconfig"
        ) from exc
    return configuration


def _kubeconfig_contexts(path: str) -> tuple[list[str], str | None]:
    """The context names of a kubeconfig (``a:b`` merges files) and its current context."""
    files = [p for p in path.split(kube_config.ENV_KUBECONFIG_PATH_SEPARATOR) if p]
    if not any(os.path.isfile(os.path.expanduser(p)) for p in files):
        raise ConfigError(
            f"kubeconfig {path} does not exist: set kubernetes.kubeconfig or KUBECONFIG, or "
            "kubernetes.in_cluster when the bot runs in a pod"
        )
    try:
        merged = kube_config.KubeConfigMerger(path).config
        document = _dict(merged.value if merged is not None else None)
        names = [str(_plain(context)["name"]) for context in document.get("contexts") or []]
        current = document.get("current-context")
    except (
        OSError,
        yaml.YAMLError,
        ConfigException,
        LookupError,
        TypeError,
        AttributeError,
    ) as exc:
        raise ConfigError(f"kubeconfig {path} cannot be read: {exc}") from exc
    return names, str(current) if current else None


def _plain(node: Any) -> Any:
    return node.value if isinstance(node, kube_config.ConfigNode) else node


async def _context_source(path: str, context: str, revisions: int) -> KubernetesSource:
    configuration = Configuration()
    try:
        loader = await kube_config.load_kube_config(
            config_file=path,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except Exception as exc:  # exec plugins, OIDC and certificate files fail in many ways
        raise _load_error(path, context, exc) from exc
    return KubernetesSource(
        configuration, context, rollback_revisions=revisions, refresh=loader.load_and_set
    )


def _load_error(path: str, context: str, exc: Exception) -> LifeguardError:
    """A malformed context is a :class:`ConfigError`; anything else failed to get credentials."""
    where = f'kubeconfig {path}, context "{context}"'
    if isinstance(exc, ConfigException) and str(exc).startswith("Invalid kube-config"):
        return ConfigError(f"{where}: {exc}")
    return CredentialsError(
        SERVICE,
        "load kubeconfig",
        "CredentialsUnavailable",
        f"{where}: {exc}",
        hint=_CREDENTIALS_HINT,
    )
