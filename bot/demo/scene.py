"""The blog's repository, set up in the emulator: images, policy, and the ECS service using it.

"The mysterious case of the missing ECR image": ``webshop-assets`` holds 17 images on
2022-12-23, the policy keeps the last 5 ``tag*`` images, and one digest carries both
``tag-1-252-0`` and ``tag-1-253-0``, first pushed before ``tag-1-251-0``. The data is the
package's own copy of ``examples/blog`` (``scenario/``). The ECS service ``prod/checkout`` runs
``tag-1-253-0`` and can roll back to ``tag-1-251-0``; the Kubernetes side is
:mod:`bot.demo.cluster`. A second repository, ``webshop-assets-copy``, holds the same images
and policy and is not protected: the lifecycle run of the story deletes from it.

Example::

    with Emulator.started() as aws:
        scene = await set_scene(aws, settings.aws)
        scene.digest("tag-1-253-0")     # 'sha256:ec1477a7420a…'
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from importlib.resources import files
from typing import Any

from bot.demo.emulator import REGISTRY_HOST, Emulator
from bot.edge.aws.clients import AwsClients, targets
from bot.settings import AwsSettings

REPOSITORY = "webshop-assets"
COPY = "webshop-assets-copy"
CLUSTER = "prod"
SERVICE = "checkout"
RUNNING_TAG = "tag-1-253-0"
ROLLBACK_TAG = "tag-1-251-0"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
FARGATE: dict[str, Any] = {
    "launchType": "FARGATE",
    "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0demo"]}},
}


def scenario_text(name: str) -> str:
    """One file of the embedded scenario (``policy.json``, ``images.json``, ``kubernetes.json``).

    Example:
        >>> json.loads(scenario_text("policy.json"))["rules"][0]["rulePriority"]
        1
    """
    return files("bot.demo").joinpath("scenario", name).read_text(encoding="utf-8")


def image_uri(reference: str) -> str:
    """A full image URI in the demo registry.

    Example:
        >>> image_uri("webshop-assets:tag-1-253-0")
        '123456789012.dkr.ecr.us-east-1.amazonaws.com/webshop-assets:tag-1-253-0'
    """
    return f"{REGISTRY_HOST}/{reference}"


def image_manifest(seed: str) -> str:
    """A small, valid OCI image manifest whose content depends on ``seed``.

    Example:
        >>> json.loads(image_manifest("a"))["mediaType"]
        'application/vnd.oci.image.manifest.v1+json'
    """

    def blob(kind: str) -> str:
        return "sha256:" + hashlib.sha256(f"{kind}-{seed}".encode()).hexdigest()

    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": 1469,
            "digest": blob("config"),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "size": 2811478,
                "digest": blob("layer"),
            }
        ],
    }
    return json.dumps(document, separators=(",", ":"))


def manifest_digest(manifest: str) -> str:
    """The digest of a manifest: the sha256 of its bytes.

    Example:
        >>> manifest_digest("{}")[:19]
        'sha256:44136fa355b3'
    """
    return "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


@dataclass
class Scene:
    """What was set up: the digest of every tag, and the running ECS task."""

    by_tag: dict[str, str] = field(default_factory=dict)
    task_arn: str = ""

    def digest(self, tag: str) -> str:
        """The digest a tag of the blog repository points at."""
        return self.by_tag[tag]


Call = Callable[..., Awaitable[Any]]


async def set_scene(aws: Emulator, settings: AwsSettings) -> Scene:
    """Create both repositories and the ECS service through the emulator's API; return them."""
    scene = Scene()
    async with AwsClients(settings) as clients:
        call = partial(clients.call, targets(settings)[0])
        for name in (REPOSITORY, COPY):
            scene.by_tag = await load_repository(aws, call, name)
        scene.task_arn = await start_service(aws, call, scene)
    return scene


async def load_repository(aws: Emulator, call: Call, name: str) -> dict[str, str]:
    """Create a repository with the blog's images (digests, push times) and policy."""
    await call("ecr", "create_repository", repositoryName=name)
    details = json.loads(scenario_text("images.json"))["imageDetails"]
    pushed = await asyncio.gather(*(_push(aws, call, name, detail) for detail in details))
    policy = scenario_text("policy.json")
    await call("ecr", "put_lifecycle_policy", repositoryName=name, lifecyclePolicyText=policy)
    return {tag: digest for tags in pushed for tag, digest in tags.items()}


async def _push(aws: Emulator, call: Call, name: str, detail: dict[str, Any]) -> dict[str, str]:
    """Push one image of the example under each of its tags, then backdate it."""
    digest = detail["imageDigest"]
    tags: list[str | None] = detail.get("imageTags") or [None]
    for tag in tags:
        params: dict[str, Any] = {
            "repositoryName": name,
            "imageManifest": image_manifest(digest),
            "imageDigest": digest,
            "imageManifestMediaType": detail["imageManifestMediaType"],
        }
        if tag is not None:
            params["imageTag"] = tag
        await call("ecr", "put_image", **params)
    aws.set_pushed_at(name, digest, datetime.fromisoformat(detail["imagePushedAt"]).timestamp())
    return {tag: digest for tag in tags if tag is not None}


async def start_service(aws: Emulator, call: Call, scene: Scene) -> str:
    """``prod/checkout`` on task definition ``checkout:2`` (``tag-1-253-0``, one running task);
    ``checkout:1`` (``tag-1-251-0``) is what it rolls back to. Returns the task's ARN."""
    await call("ecs", "create_cluster", clusterName=CLUSTER)
    definitions = [await _register(call, tag) for tag in (ROLLBACK_TAG, RUNNING_TAG)]
    await call(
        "ecs",
        "create_service",
        cluster=CLUSTER,
        serviceName=SERVICE,
        taskDefinition=definitions[-1],
        desiredCount=1,
    )
    started = await call(
        "ecs",
        "run_task",
        cluster=CLUSTER,
        taskDefinition=definitions[-1],
        group=f"service:{SERVICE}",
        **FARGATE,
    )
    task_arn = str(started["tasks"][0]["taskArn"])
    aws.set_task_digests(CLUSTER, task_arn, [scene.digest(RUNNING_TAG)])
    return task_arn


async def _register(call: Call, tag: str) -> str:
    definition = await call(
        "ecs",
        "register_task_definition",
        family=SERVICE,
        containerDefinitions=[
            {"name": "checkout", "image": image_uri(f"{REPOSITORY}:{tag}"), "memory": 256}
        ],
    )
    return str(definition["taskDefinition"]["taskDefinitionArn"])
