"""Where to look next (pure): the image in the ECR console, the workload that uses it, the
runbook, and the ``/ecr`` command to copy."""

from __future__ import annotations

from urllib.parse import quote

from bot.blocks.common import escape, link
from bot.inventory.models import Consumer
from bot.refs import RepositoryKey

_CONSOLE = "https://{region}.console.aws.amazon.com"


def ecr_image_url(repository: RepositoryKey, digest: str) -> str:
    """The image's page in the ECR console.

    Example:
        >>> ecr_image_url(RepositoryKey("123456789012", "us-east-1", "shop/web"), "sha256:ab")
        'https://us-east-1.console.aws.amazon.com/ecr/repositories/private/123456789012/shop/web/_/image/sha256:ab/details?region=us-east-1'
    """
    region = repository.region
    return (
        f"{_CONSOLE.format(region=region)}/ecr/repositories/private/{repository.registry}/"
        f"{quote(repository.name)}/_/image/{quote(digest, safe=':')}/details?region={region}"
    )


def consumer_url(consumer: Consumer) -> str | None:
    """The console page of an ECS service or task definition, or a Lambda function; None for
    the others (Kubernetes has no console of its own to link to).

    Example:
        >>> consumer_url(Consumer("ecs-service", "prod/checkout", region="eu-west-1"))
        'https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/services/checkout/health?region=eu-west-1'
        >>> consumer_url(Consumer("k8s-pod", "shop/web-1")) is None
        True
    """
    region = consumer.region
    if region is None:
        return None
    console = _CONSOLE.format(region=region)
    if consumer.kind == "ecs-service" and "/" in consumer.name:
        cluster, service = consumer.name.split("/", 1)
        return (
            f"{console}/ecs/v2/clusters/{quote(cluster)}/services/{quote(service)}/health"
            f"?region={region}"
        )
    if consumer.kind == "ecs-task-definition":
        return f"{console}/ecs/v2/task-definitions/{quote(consumer.name)}?region={region}"
    if consumer.kind == "lambda-function":
        return f"{console}/lambda/home?region={region}#/functions/{quote(consumer.name)}"
    return None


def workload_name(consumer: Consumer) -> str:
    """A Kubernetes workload as ``namespace/kind/name``; other consumers by their own name.

    Example:
        >>> workload_name(Consumer("k8s-deployment", "shop/web", namespace="shop"))
        'shop/deployment/web'
        >>> workload_name(Consumer("ecs-service", "prod/checkout"))
        'prod/checkout'
    """
    if consumer.kind.startswith("k8s-") and consumer.namespace:
        name = consumer.name.removeprefix(f"{consumer.namespace}/")
        return f"{consumer.namespace}/{consumer.kind.removeprefix('k8s-')}/{name}"
    return consumer.name


def consumer_ref(consumer: Consumer) -> str:
    """The consumer for mrkdwn: a console link when there is one, else its name in code.

    Example:
        >>> consumer_ref(Consumer("k8s-pod", "shop/web-1", cluster="prod", namespace="shop"))
        '`shop/pod/web-1` (prod)'
    """
    url = consumer_url(consumer)
    name = workload_name(consumer)
    shown = link(url, name) if url else f"`{escape(name)}`"
    where = ", ".join(p for p in (consumer.cluster, consumer.account, consumer.region) if p)
    return shown + (f" ({escape(where)})" if where else "")


def protect_command(repository: RepositoryKey, digest: str) -> str:
    """The ``/ecr protect`` command for the image, with its full digest, to copy.

    Example:
        >>> protect_command(RepositoryKey("1", "r", "app"), "sha256:" + "a" * 64)[:30]
        '/ecr protect app@sha256:aaaaaa'
    """
    return f"/ecr protect {repository.name}@{digest}"
