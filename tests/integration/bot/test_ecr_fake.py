"""The ECR fake answers what moto lacks as ECR does."""

from __future__ import annotations

from typing import Any

import pytest

from bot.edge.aws.clients import AwsClients, targets
from bot.errors import UpstreamError
from bot.settings import AwsSettings
from tests.support.bot_kit import (
    REPO,
    create_repository,
    push_image,
)
from tests.support.ecr_fake import EcrFake
from tests.support.moto_state import (
    ACCOUNT,
    ecr_image,
)


async def test_the_ecr_fake_answers_storage_class_changes_as_ecr_does(
    ecr: Any, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1"])
    settings = AwsSettings(regions=["us-east-1"], max_attempts=1)
    target = targets(settings)[0]
    ids = {"registryId": ACCOUNT, "repositoryName": REPO}
    async with AwsClients(settings) as aws:
        archived = await aws.call(
            target,
            "ecr",
            "update_image_storage_class",
            imageId={"imageTag": "v1"},
            targetStorageClass="ARCHIVE",
            **ids,
        )
        assert archived == {
            "ResponseMetadata": archived["ResponseMetadata"],
            **ids,
            "imageId": {"imageDigest": digest, "imageTag": "v1"},
            "imageStatus": "ARCHIVED",
        }
        failures = {
            "ImageStorageClassUpdateNotSupportedException": ({"imageTag": "v1"}, "ARCHIVE", REPO),
            "ImageNotFoundException": ({"imageTag": "nope"}, "STANDARD", REPO),
            "RepositoryNotFoundException": ({"imageTag": "v1"}, "STANDARD", "nope"),
        }
        for code, (image_id, storage_class, repository) in failures.items():
            with pytest.raises(UpstreamError) as failed:
                await aws.call(
                    target,
                    "ecr",
                    "update_image_storage_class",
                    repositoryName=repository,
                    imageId=image_id,
                    targetStorageClass=storage_class,
                )
            assert failed.value.code == code
    with pytest.raises(AssertionError, match="not being restored"):
        fake.finish_restore(REPO, digest)
    assert ecr_image(REPO, digest).image_status == "ARCHIVED"


# --- protect: keep tag and lease ------------------------------------------------------------------
