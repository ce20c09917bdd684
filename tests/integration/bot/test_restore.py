"""restore: from archive (followed to ACTIVE) and re-pushed from a saved manifest."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.errors import CommandError
from bot.ops.deps import Dependencies
from tests.support.bot_kit import (
    ALICE,
    DAY,
    REPO,
    T0,
    Verbs,
    audit,
    create_repository,
    manifest_in_moto,
    manifest_without_media_type,
    push_image,
    ref,
    save_in_vault,
    tags_by_digest,
)
from tests.support.ecr_fake import EcrFake
from tests.support.moto_state import (
    ACCOUNT,
    OCI_MANIFEST,
    archive,
    ecr_image,
    image_manifest,
)


async def test_an_archived_image_is_restored_and_followed_to_active(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1"], age_days=200)
    archive(REPO, digest, datetime.fromtimestamp(T0 - 100 * DAY, UTC))
    service = Verbs(deps)
    result = await service.restore(ALICE, ref("app:v1"))
    assert (result.status, result.digest, result.tags) == ("restoring", digest, ("v1",))
    [call] = fake.calls("UpdateImageStorageClass")
    assert call == {
        "registryId": ACCOUNT,
        "repositoryName": REPO,
        "imageId": {"imageDigest": digest},
        "targetStorageClass": "STANDARD",
    }
    assert ecr_image(REPO, digest).image_status == "ACTIVATING"
    [entry, *_] = await audit(deps)
    assert (entry["action"], entry["before"], entry["after"]) == (
        "restore",
        "ARCHIVED",
        "ACTIVATING",
    )

    seen: list[str] = []
    changed = asyncio.Event()

    async def on_change(status: str) -> None:
        seen.append(status)
        changed.set()

    following = asyncio.create_task(
        service.follow(result.repository, digest, interval=0.02, on_change=on_change)
    )
    await asyncio.wait_for(changed.wait(), 10)
    assert seen == ["ACTIVATING"] and not following.done()
    activated = datetime(2025, 6, 2, 12, 20, tzinfo=UTC)
    fake.finish_restore(REPO, digest, activated)
    assert await asyncio.wait_for(following, 10) == "ACTIVE"
    assert seen == ["ACTIVATING", "ACTIVE"]
    details = ecr.describe_images(repositoryName=REPO)["imageDetails"]
    assert details[0]["imageStatus"] == "ACTIVE"
    assert details[0]["lastActivatedAt"] == activated
    again = await service.restore(ALICE, ref("app:v1"))
    assert again.status == "already_active"
    assert len(fake.calls("UpdateImageStorageClass")) == 1


async def test_a_restore_in_progress_is_not_started_again(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1"], age_days=200)
    archive(REPO, digest, datetime.fromtimestamp(T0 - 100 * DAY, UTC), activating=True)
    service = Verbs(deps)
    result = await service.restore(ALICE, ref(f"app@{digest}"))
    assert (result.status, result.digest) == ("restoring", digest)
    assert fake.calls("UpdateImageStorageClass") == []
    assert ecr_image(REPO, digest).image_status == "ACTIVATING"


async def test_an_active_image_is_already_active(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1", "git-4f2a9c1"])
    result = await Verbs(deps).restore(ALICE, ref("app:v1"))
    assert (result.status, result.digest) == ("already_active", digest)
    assert set(result.tags) == {"v1", "git-4f2a9c1"}
    assert fake.calls("UpdateImageStorageClass") == [] and fake.calls("PutImage") == []
    assert await audit(deps) == []


async def test_a_deleted_image_is_re_pushed_from_its_saved_manifest(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    manifest = manifest_without_media_type("v1")
    digest = push_image(ecr, "v1", ["v1", "git-4f2a9c1"], manifest=manifest)
    other = push_image(ecr, "v2", ["v2"])
    await save_in_vault(deps, ecr, digest, ("v1", "git-4f2a9c1"))
    ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": digest}])
    assert tags_by_digest(ecr) == {other: {"v2"}}

    result = await Verbs(deps).restore(ALICE, ref("app:v1"))
    assert (result.status, result.digest) == ("repushed", digest)
    assert set(result.tags) == {"v1", "git-4f2a9c1"}
    assert tags_by_digest(ecr) == {digest: {"v1", "git-4f2a9c1"}, other: {"v2"}}
    assert manifest_in_moto(ecr, digest) == (manifest, OCI_MANIFEST)
    [check] = fake.calls("BatchCheckLayerAvailability")
    document = json.loads(manifest)
    assert set(check["layerDigests"]) == {
        document["config"]["digest"],
        *(layer["digest"] for layer in document["layers"]),
    }
    [entry, *_] = await audit(deps)
    assert (entry["action"], entry["result"], entry["digest"]) == ("restore", "ok", digest)
    assert entry["detail"] == "re-pushed from the saved manifest"


async def test_a_deleted_image_whose_layers_are_gone_gets_the_rebuild_hint(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1", "git-4f2a9c1"])
    await save_in_vault(deps, ecr, digest, ("git-4f2a9c1", "v1"))
    ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": digest}])
    layer = json.loads(image_manifest("v1"))["layers"][0]["digest"]
    fake.forget_layers(layer)
    with pytest.raises(CommandError) as refused:
        await Verbs(deps).restore(ALICE, ref("app:v1"))
    message = str(refused.value)
    assert "cannot be re-pushed: ECR has already cleaned up its layers" in message
    assert "Rebuild it from commit 4f2a9c1 and push it again under v1." in message
    assert tags_by_digest(ecr) == {} and fake.calls("PutImage") == []


async def test_a_deleted_image_without_a_saved_manifest_is_refused(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1"])
    ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": digest}])
    service = Verbs(deps)
    for text in ("app:v1", f"app@{digest}"):
        with pytest.raises(CommandError) as refused:
            await service.restore(ALICE, ref(text))
        assert "ECR Lifeguard never saw it in use, so it has no copy of its manifest" in str(
            refused.value
        )
        assert "Rebuild it from the commit it was built from" in str(refused.value)
    assert tags_by_digest(ecr) == {} and fake.calls("PutImage") == []


# --- the alert loop (the blog case) ---------------------------------------------------------------
