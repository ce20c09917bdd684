"""Kubernetes client configuration: kubeconfig contexts, or the service account of the bot's pod.

:func:`kubeconfig_contexts` validates the contexts the settings ask for in the kubeconfig
(``settings.kubeconfig``, else ``KUBECONFIG``, else ``~/.kube/config``; ``a:b`` merges files) and
loads each; :func:`in_cluster` reads the pod's service account. Errors are :mod:`bot.errors`
types: a missing file or context, or a malformed one, is a :class:`~bot.errors.ConfigError`;
credentials that cannot be loaded are a :class:`~bot.errors.CredentialsError`. No
kubernetes_asyncio exception escapes.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config import kube_config
from kubernetes_asyncio.config.config_exception import ConfigException
from kubernetes_asyncio.config.incluster_config import (
    SERVICE_CERT_FILENAME,
    SERVICE_TOKEN_FILENAME,
    InClusterConfigLoader,
)

from bot.edge.kube.objects import _dict
from bot.errors import ConfigError, CredentialsError, LifeguardError
from bot.settings import KubernetesSettings

SERVICE = "kubernetes"
CREDENTIALS_HINT = (
    "renew the credentials of the kubeconfig context (for EKS: valid AWS credentials, "
    "`aws eks update-kubeconfig --name CLUSTER`, and an access entry for the IAM identity)"
)

Refresh = Callable[[Configuration], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class KubeContext:
    """One loaded kubeconfig context: its client configuration, and how to renew its credentials.

    ``refresh`` re-runs the context's credential loading (exec plugins such as ``aws eks
    get-token``) into the configuration; await it before each use of short-lived credentials.
    """

    name: str
    configuration: Configuration
    refresh: Refresh


async def kubeconfig_contexts(settings: KubernetesSettings) -> list[KubeContext]:
    """Every context in ``settings.contexts`` (the current one when empty), loaded in order.

    All contexts are checked to exist before any is loaded. Raises
    :class:`~bot.errors.ConfigError` for a missing file or context and
    :class:`~bot.errors.CredentialsError` when a context's credentials cannot be loaded.

    Example::

        settings = KubernetesSettings(enabled=True, contexts=["prod-eks", "staging-eks"])
        [context.name for context in await kubeconfig_contexts(settings)]
        # ['prod-eks', 'staging-eks']
    """
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
    return [await _load_context(path, context) for context in wanted]


def in_cluster() -> Configuration:
    """The client configuration of the pod's service account; a ConfigError outside a pod."""
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


async def _load_context(path: str, context: str) -> KubeContext:
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
    return KubeContext(context, configuration, loader.load_and_set)


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
        hint=CREDENTIALS_HINT,
    )
