"""Test helpers that drive moto's in-process backends.

moto cannot be told everything real AWS reports (push times, pull times, archive status, ECS
digests); these helpers set them in its backend state, which its API responses then serialise.
They depend on moto internals, so they live here and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from moto.ecr.models import ecr_backends
from moto.ecs.models import ecs_backends

ACCOUNT = "123456789012"
REGION = "us-east-1"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def image_manifest(seed: str) -> str:
    """A small, valid OCI image manifest whose content (and digest) depends on ``seed``."""
    layer = "sha256:" + hashlib.sha256(f"layer-{seed}".encode()).hexdigest()
    config = "sha256:" + hashlib.sha256(f"config-{seed}".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": 1469,
                "digest": config,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "size": 2811478,
                    "digest": layer,
                }
            ],
        },
        separators=(",", ":"),
    )


def index_manifest(children: list[str]) -> str:
    """An OCI image index listing these child digests (linux/amd64, linux/arm64...)."""
    platforms = [("linux", "amd64"), ("linux", "arm64"), ("linux", "s390x")]
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "size": 500,
                    "digest": child,
                    "platform": {"os": os_name, "architecture": arch},
                }
                for child, (os_name, arch) in zip(children, platforms, strict=False)
            ],
        },
        separators=(",", ":"),
    )


def digest_of(manifest: str) -> str:
    """The real digest of a manifest: sha256 of its bytes (moto computes another unless told)."""
    return "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


def push(
    client: Any,
    repository: str,
    manifest: str,
    tags: list[str] | None = None,
    media_type: str = OCI_MANIFEST,
) -> str:
    """Push a manifest (untagged when ``tags`` is empty) and add every tag; return the digest."""
    digest = digest_of(manifest)
    for index, tag in enumerate(tags or [None]):  # type: ignore[list-item]
        params: dict[str, Any] = {
            "repositoryName": repository,
            "imageManifest": manifest,
            "imageManifestMediaType": media_type,
            "imageDigest": digest,
        }
        if tag is not None:
            params["imageTag"] = tag
        try:
            client.put_image(**params)
        except client.exceptions.ImageAlreadyExistsException:
            if index == 0:
                raise
    return digest


def ecr_image(repository: str, digest: str, account: str = ACCOUNT, region: str = REGION) -> Any:
    """moto's image object for a digest."""
    repo = ecr_backends[account][region].repositories[repository]
    for image in repo.images:
        if image.image_digest == digest:
            return image
    raise KeyError(f"{repository}@{digest}")


def set_image_times(
    repository: str,
    digest: str,
    *,
    pushed: datetime | None = None,
    pulled: datetime | None = None,
    account: str = ACCOUNT,
    region: str = REGION,
) -> None:
    """Set imagePushedAt and lastRecordedPullTime of an image."""
    image = ecr_image(repository, digest, account, region)
    if pushed is not None:
        image.image_pushed_at = int(pushed.timestamp())
    if pulled is not None:
        image.last_recorded_pull_time = pulled


def archive(
    repository: str,
    digest: str,
    archived_at: datetime,
    *,
    activating: bool = False,
    account: str = ACCOUNT,
    region: str = REGION,
) -> None:
    """Mark an image ARCHIVED (or ACTIVATING) since ``archived_at``."""
    image = ecr_image(repository, digest, account, region)
    image.image_status = "ACTIVATING" if activating else "ARCHIVED"
    image.last_archived_at = archived_at


def set_task_digests(
    cluster: str, task_arn: str, digests: list[str], account: str = ACCOUNT, region: str = REGION
) -> None:
    """Give the containers of a running ECS task the digests ECS resolved."""
    task = ecs_backends[account][region].tasks[cluster][task_arn]
    for container, digest in zip(task.containers, digests, strict=False):
        container.image_digest = digest
