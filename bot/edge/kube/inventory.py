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

The pure part (summarising listed objects, building image uses, the RBAC rules) is
:mod:`bot.edge.kube.objects`; loading kubeconfig contexts and the in-cluster service account is
:mod:`bot.edge.kube.config`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient, AppsV1Api, BatchV1Api, Configuration, CoreV1Api
from kubernetes_asyncio.config.config_exception import ConfigException

from bot.edge.kube.config import CREDENTIALS_HINT, SERVICE, Refresh, in_cluster, kubeconfig_contexts
from bot.edge.kube.objects import (
    CHANNEL_ANNOTATION,
    KINDS,
    REVISION_ANNOTATION,
    Json,
    _cluster_uses,
    _dict,
    _dicts,
    _grant_hint,
    _Kind,
    _Object,
    _summarise,
    rbac_rules,
)
from bot.errors import (
    AccessDenied,
    ConfigError,
    CredentialsError,
    NotFound,
    Throttled,
    Unreachable,
    UpstreamError,
)
from bot.inventory.models import ImageUse
from bot.settings import KubernetesSettings

__all__ = [
    "CHANNEL_ANNOTATION",
    "IN_CLUSTER",
    "KINDS",
    "PAGE_SIZE",
    "REVISION_ANNOTATION",
    "SERVICE",
    "Json",
    "KubernetesSource",
    "Refresh",
    "kubernetes_sources",
    "rbac_rules",
]

IN_CLUSTER = "in-cluster"
PAGE_SIZE = 500

# The generated client class that serves each API group a listed kind belongs to.
_APIS: dict[str, type[CoreV1Api | AppsV1Api | BatchV1Api]] = {
    "": CoreV1Api,
    "apps": AppsV1Api,
    "batch": BatchV1Api,
}


def _lister(api: ApiClient, kind: _Kind) -> Callable[..., Awaitable[Any]]:
    """The generated client's cluster-wide list call for this resource."""
    method: Callable[..., Awaitable[Any]] = getattr(
        _APIS[kind.group](api), f"list_{kind.method}_for_all_namespaces"
    )
    return method


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
                hint=CREDENTIALS_HINT,
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
            response = await _lister(api, kind)(**params)
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
    401: (CredentialsError, CREDENTIALS_HINT),
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
        return [KubernetesSource(in_cluster(), IN_CLUSTER, rollback_revisions=revisions)]
    return [
        KubernetesSource(
            context.configuration,
            context.name,
            rollback_revisions=revisions,
            refresh=context.refresh,
        )
        for context in await kubeconfig_contexts(settings)
    ]
