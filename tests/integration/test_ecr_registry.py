"""The ECR adapter against moto in server mode, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.edge.aws.clients import AwsClients, AwsTarget, targets
from bot.edge.aws.ecr import EcrRegistry, Repository
from bot.errors import CredentialsError, NotFound, Unreachable
from bot.lifecycle.images import ImageStatus
from bot.refs import RepositoryKey
from bot.settings import AwsAccount, AwsSettings
from tests.support.moto_state import (
    ACCOUNT,
    OCI_INDEX,
    archive,
    image_manifest,
    index_manifest,
    push,
    set_image_times,
)

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = AwsSettings(regions=["us-east-1"], max_attempts=1)


async def registry_calls(work: Any) -> tuple[Any, dict[str, int]]:
    async with AwsClients(SETTINGS) as aws:
        registry = EcrRegistry(aws, targets(SETTINGS)[0])
        result = await work(registry)
        return result, dict(aws.calls)


async def test_repositories_images_and_policy(boto: Any) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="team/app", imageTagMutability="IMMUTABLE")
    tagged = push(ecr, "team/app", image_manifest("a"), ["v1", "latest"])
    untagged = push(ecr, "team/app", image_manifest("b"))
    set_image_times(
        "team/app",
        tagged,
        pushed=datetime(2024, 1, 1, tzinfo=UTC),
        pulled=datetime(2024, 2, 1, tzinfo=UTC),
    )
    archive("team/app", untagged, datetime(2024, 3, 1, tzinfo=UTC))
    policy_text = (ROOT / "examples/blog/policy.json").read_text()
    ecr.put_lifecycle_policy(repositoryName="team/app", lifecyclePolicyText=policy_text)

    async def work(registry: EcrRegistry) -> Any:
        [repository] = await registry.repositories()
        return (
            repository,
            await registry.images(repository),
            await registry.lifecycle_policy_text(repository),
        )

    (repository, images, policy), calls = await registry_calls(work)
    assert repository.key == RepositoryKey(ACCOUNT, "us-east-1", "team/app")
    assert repository.tag_mutability == "IMMUTABLE"
    by_digest = {image.digest: image for image in images}
    assert by_digest[tagged].tags == ("v1", "latest")
    assert by_digest[tagged].pushed_at == datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    assert by_digest[tagged].last_pulled_at == datetime(2024, 2, 1, tzinfo=UTC).timestamp()
    assert by_digest[untagged].status is ImageStatus.ARCHIVED
    assert policy == policy_text
    assert calls == {
        "ecr.DescribeRepositories": 1,
        "ecr.DescribeImages": 1,
        "ecr.GetLifecyclePolicy": 1,
    }


async def test_missing_policy_is_none_but_missing_repository_is_an_error(boto: Any) -> None:
    boto("ecr").create_repository(repositoryName="app")
    ghost = Repository(RepositoryKey(ACCOUNT, "us-east-1", "ghost"), "", "")

    async def work(registry: EcrRegistry) -> Any:
        [repository] = await registry.repositories()
        assert await registry.lifecycle_policy_text(repository) is None
        assert await registry.repository("ghost") is None
        with pytest.raises(NotFound) as caught:
            await registry.lifecycle_policy_text(ghost)
        return caught.value

    error, _ = await registry_calls(work)
    assert error.code == "RepositoryNotFoundException"


async def test_index_children_come_from_the_stored_manifest(boto: Any) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="multi")
    amd = push(ecr, "multi", image_manifest("amd64"))
    arm = push(ecr, "multi", image_manifest("arm64"))
    index = push(ecr, "multi", index_manifest([amd, arm]), ["v2"], media_type=OCI_INDEX)

    async def work(registry: EcrRegistry) -> Any:
        [repository] = await registry.repositories()
        return await registry.index_children(repository, await registry.images(repository))

    children, calls = await registry_calls(work)
    assert children == {index: (amd, arm)}
    assert calls["ecr.BatchGetImage"] == 1


async def test_unreachable_endpoint_and_missing_credentials(
    monkeypatch: pytest.MonkeyPatch, moto: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    async with AwsClients(SETTINGS) as aws:
        with pytest.raises(Unreachable) as caught:
            await EcrRegistry(aws, targets(SETTINGS)[0]).repositories()
    assert "AWS_ENDPOINT_URL" in (caught.value.hint or "")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    async with AwsClients(SETTINGS) as aws:
        with pytest.raises(CredentialsError) as missing:
            await EcrRegistry(aws, AwsTarget(AwsAccount(), "us-east-1")).repositories()
    assert "AWS_PROFILE" in (missing.value.hint or "")
