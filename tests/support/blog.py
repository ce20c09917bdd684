"""The blog scenario ("The mysterious case of the missing ECR image") loaded into moto.

Repository ``webshop-assets`` gets the 17 images of ``examples/blog/images.json`` with their real
digests, push and pull times, and the blog's lifecycle policy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.lifecycle.timefmt import parse_instant, to_datetime
from tests.support.moto_state import ACCOUNT, REGION, image_manifest, set_image_times

ROOT = Path(__file__).resolve().parents[2]
BLOG = ROOT / "examples" / "blog"
REPOSITORY = "webshop-assets"
SHARED_DIGEST = "sha256:ec1477a7420a97a789dd4b778a0a1141a6c6ba9314fce70599c134964121960c"
NOW = "2022-12-23T12:00:00Z"
REGISTRY_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


def blog_details() -> list[dict[str, Any]]:
    """The image details of the example, as describe-images printed them."""
    details: list[dict[str, Any]] = json.loads((BLOG / "images.json").read_text())["imageDetails"]
    return details


def load_blog_repository(ecr: Any) -> dict[str, str]:
    """Create the repository, push every image, set its times and the policy; tag → digest."""
    ecr.create_repository(repositoryName=REPOSITORY)
    by_tag: dict[str, str] = {}
    for detail in blog_details():
        digest = detail["imageDigest"]
        manifest = image_manifest(digest)
        for tag in detail.get("imageTags") or [None]:
            params: dict[str, Any] = {
                "repositoryName": REPOSITORY,
                "imageManifest": manifest,
                "imageDigest": digest,
                "imageManifestMediaType": detail["imageManifestMediaType"],
            }
            if tag is not None:
                params["imageTag"] = tag
                by_tag[tag] = digest
            ecr.put_image(**params)
        pulled = detail.get("lastRecordedPullTime")
        set_image_times(
            REPOSITORY,
            digest,
            pushed=to_datetime(parse_instant(detail["imagePushedAt"])),
            pulled=to_datetime(parse_instant(pulled)) if pulled else None,
        )
    ecr.put_lifecycle_policy(
        repositoryName=REPOSITORY, lifecyclePolicyText=(BLOG / "policy.json").read_text()
    )
    return by_tag


def image_uri(reference: str) -> str:
    """A full image URI in the test registry: ``image_uri("webshop-assets:tag-1-257-0")``."""
    return f"{REGISTRY_HOST}/{reference}"
