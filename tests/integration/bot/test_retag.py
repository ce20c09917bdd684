"""retag and move-tag: the same manifest bytes, confirmations bound to both digests."""

from __future__ import annotations

from typing import Any

import pytest

from bot.edge.aws.clients import AwsClients, targets
from bot.edge.aws.ecr import EcrRegistry
from bot.errors import CommandError
from bot.ops.deps import Dependencies
from bot.ops.verbs.retag import tag_is_immutable
from tests.support.bot_kit import (
    ALICE,
    REPO,
    Verbs,
    audit,
    create_repository,
    manifest_in_moto,
    manifest_without_media_type,
    push_image,
    ref,
    tags_by_digest,
)
from tests.support.ecr_fake import EcrFake
from tests.support.moto_state import (
    OCI_MANIFEST,
    digest_of,
    image_manifest,
    push,
)


async def test_retag_adds_a_tag_with_the_manifest_bytes_and_media_type_unchanged(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    manifest = manifest_without_media_type("v1")
    digest = push_image(ecr, "v1", ["v1"], manifest=manifest)
    assert digest == digest_of(manifest)
    result = await Verbs(deps).retag(ALICE, ref("app:v1"), "stable")
    assert (result.status, result.tag, result.image.digest) == ("done", "stable", digest)
    assert result.moved_from is None and result.token is None
    assert tags_by_digest(ecr) == {digest: {"v1", "stable"}}
    assert manifest_in_moto(ecr, digest) == (manifest, OCI_MANIFEST)
    [put] = fake.calls("PutImage")
    assert put["imageManifest"] == manifest and put["imageManifestMediaType"] == OCI_MANIFEST
    assert put["imageDigest"] == digest
    [entry, *_] = await audit(deps)
    assert (entry["action"], entry["result"], entry["digest"]) == ("retag", "ok", digest)
    assert (entry["before"], entry["after"]) == ({"stable": None}, {"stable": digest})


async def test_retag_with_a_tag_already_on_the_image_is_already(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None, mutability="IMMUTABLE")
    digest = push_image(ecr, "v1", ["v1", "stable"])
    result = await Verbs(deps).retag(ALICE, ref("app:v1"), "stable")
    assert (result.status, result.image.digest) == ("already", digest)
    assert fake.calls("PutImage") == [] and tags_by_digest(ecr) == {digest: {"v1", "stable"}}


async def test_moving_a_tag_needs_a_confirmation_bound_to_both_digests(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    old = push_image(ecr, "old", ["stable"], age_days=3)
    new = push_image(ecr, "new", ["v2"], age_days=1)
    service = Verbs(deps)
    asked = await service.retag(ALICE, ref("app:v2"), "stable")
    assert asked.status == "needs_confirmation" and asked.token
    assert asked.moved_from is not None and asked.moved_from.digest == old
    assert asked.image.digest == new
    assert tags_by_digest(ecr) == {old: {"stable"}, new: {"v2"}}
    assert fake.calls("PutImage") == []

    done = await service.confirm(ALICE, asked.token)
    assert done.status == "done" and done.moved_from is not None
    assert (done.moved_from.digest, done.image.digest) == (old, new)
    assert tags_by_digest(ecr) == {old: set(), new: {"v2", "stable"}}  # old stays, untagged
    assert manifest_in_moto(ecr, new)[0] == image_manifest("new")
    [entry, *_] = await audit(deps)
    assert (entry["before"], entry["after"]) == ({"stable": old}, {"stable": new})
    with pytest.raises(CommandError, match="expired or was already used"):
        await service.confirm(ALICE, asked.token)


async def test_a_confirmation_is_refused_when_the_tag_moved_meanwhile(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    old = push_image(ecr, "old", ["v1", "stable"], age_days=3)
    new = push_image(ecr, "new", ["v2"], age_days=2)
    other = push_image(ecr, "other", ["v3"], age_days=1)
    service = Verbs(deps)
    asked = await service.retag(ALICE, ref("app:v2"), "stable")
    assert asked.token
    push(ecr, REPO, image_manifest("other"), ["stable"])  # someone moved it meanwhile
    moved = "stable moved since this was asked; nothing was changed"
    with pytest.raises(CommandError, match=moved):
        await service.confirm(ALICE, asked.token)
    assert tags_by_digest(ecr) == {old: {"v1"}, new: {"v2"}, other: {"v3", "stable"}}
    # bound to the target digest too: it is gone by the time of the confirmation
    second = await service.retag(ALICE, ref("app:v2"), "v3")
    assert second.token
    ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": new}])
    with pytest.raises(CommandError, match=f"app@{new} is not in the repository"):
        await service.confirm(ALICE, second.token)
    assert tags_by_digest(ecr) == {old: {"v1"}, other: {"v3", "stable"}}
    assert fake.calls("PutImage") == []


@pytest.mark.parametrize(
    ("mode", "exclusions", "movable", "fixed"),
    [
        ("MUTABLE", (), "stable", None),
        ("IMMUTABLE", (), None, "stable"),
        ("IMMUTABLE_WITH_EXCLUSION", ("latest*",), "latest", "stable"),
        ("MUTABLE_WITH_EXCLUSION", ("release-*",), "stable", "release-1"),
    ],
)
async def test_tag_mutability_modes_decide_whether_a_tag_may_move(
    *,
    ecr: Any,
    deps: Dependencies,
    fake: EcrFake,
    mode: str,
    exclusions: tuple[str, ...],
    movable: str | None,
    fixed: str | None,
) -> None:
    create_repository(ecr, policy=None, mutability=mode, exclusions=exclusions)
    tags = [t for t in (movable, fixed) if t]
    old = push_image(ecr, "old", ["v1", *tags], age_days=3)
    new = push_image(ecr, "new", ["v2"], age_days=1)
    async with AwsClients(deps.settings.aws) as aws:
        repository = await EcrRegistry(aws, targets(deps.settings.aws)[0]).repository(REPO)
    assert repository is not None
    assert (repository.tag_mutability, repository.mutability_exclusions) == (mode, exclusions)
    assert [tag_is_immutable(repository, t) for t in tags] == [t == fixed for t in tags]

    service = Verbs(deps)
    added = await service.retag(ALICE, ref("app:v2"), "extra")  # a new tag is always fine
    assert added.status == "done"
    if fixed:
        with pytest.raises(CommandError) as refused:
            await service.retag(ALICE, ref("app:v2"), fixed)
        message = str(refused.value)
        assert f"{fixed} is already on image {old.removeprefix('sha256:')[:12]}" in message
        assert f"does not let it move (tag mutability {mode}" in message
        assert tags_by_digest(ecr) == {old: {"v1", *tags}, new: {"v2", "extra"}}
    if movable:
        asked = await service.retag(ALICE, ref("app:v2"), movable)
        assert asked.status == "needs_confirmation" and asked.token
        await service.confirm(ALICE, asked.token)
        assert movable in tags_by_digest(ecr)[new] and movable not in tags_by_digest(ecr)[old]
    refused_puts = [c for c in fake.calls("PutImage") if c.get("imageTag") == fixed]
    assert refused_puts == []  # refused before asking ECR


async def test_a_repository_made_immutable_before_the_confirmation_refuses_clearly(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    old = push_image(ecr, "old", ["v1", "stable"], age_days=3)
    new = push_image(ecr, "new", ["v2"], age_days=1)
    service = Verbs(deps)
    asked = await service.retag(ALICE, ref("app:v2"), "stable")
    assert asked.token
    ecr.put_image_tag_mutability(repositoryName=REPO, imageTagMutability="IMMUTABLE")
    with pytest.raises(CommandError, match=r"does not let it move \(tag mutability IMMUTABLE"):
        await service.confirm(ALICE, asked.token)
    assert tags_by_digest(ecr) == {old: {"v1", "stable"}, new: {"v2"}}
    [entry, *_] = await audit(deps)
    assert (entry["action"], entry["result"], entry["digest"]) == ("retag", "refused", new)


# --- restore --------------------------------------------------------------------------------------
