"""protect, unprotect and lease expiry: keep tags, guard rules, leases, merges."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.errors import CommandError
from bot.lifecycle.guard import GUARD_DESCRIPTION, is_guard
from bot.lifecycle.parse import parse_policy
from bot.ops.deps import Dependencies
from tests.integration.bot.conftest import Factory
from tests.support.bot_kit import (
    ALICE,
    ALICE_ELSEWHERE,
    DAY,
    KEEP,
    KEY,
    POLICY,
    REPO,
    T0,
    Clock,
    StoreKit,
    Verbs,
    audit,
    create_repository,
    fifty_rules,
    fresh_evaluation,
    keep_tag_of,
    manifest_in_moto,
    policy_in_moto,
    push_image,
    ref,
    tags_by_digest,
)
from tests.support.ecr_fake import EcrFake
from tests.support.moto_state import (
    OCI_MANIFEST,
    archive,
    image_manifest,
)


async def test_protect_adds_a_keep_tag_and_stores_the_lease(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr)
    manifest = image_manifest("v1")
    digest = push_image(ecr, "v1", ["v1"], age_days=60)
    result = await Verbs(deps).protect(
        ALICE, ref("app:v1"), None, "rollback target", channel="C0OPS", thread_ts="1.000100"
    )
    tag = keep_tag_of(digest)
    assert KEEP.match(tag) and result.keep_tag_added
    assert tags_by_digest(ecr) == {digest: {"v1", tag}}  # same digest: no new image
    assert manifest_in_moto(ecr, digest) == (manifest, OCI_MANIFEST)
    [put] = fake.calls("PutImage")
    assert put["imageTag"] == tag and put["imageManifest"] == manifest
    lease = result.lease
    assert (lease.owner, lease.reason, lease.keep_tag) == ("<@U0ALICE>", "rollback target", tag)
    assert (lease.created_at, lease.until) == (T0, T0 + 7 * DAY)  # the default duration
    assert (lease.channel, lease.thread_ts) == ("C0OPS", "1.000100")
    assert not result.extended
    assert await deps.leases.get(KEY, digest) == lease
    assert [x.digest for x in await deps.leases.active()] == [digest]
    [entry, *_] = await audit(deps)
    assert entry["action"] == "protect" and entry["result"] == "ok"
    assert entry["actor"] == "<@U0ALICE>" and entry["digest"] == digest
    assert entry["repository"] == REPO and entry["at"] == T0
    assert entry["after"] == {"until": T0 + 7 * DAY, "keep_tag": tag, "reason": "rollback target"}


async def test_protect_durations_and_extending_a_lease(
    ecr: Any, deps: Dependencies, clock: Clock, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1"])
    service = Verbs(deps)
    first = await service.protect(ALICE, ref("app:v1"), 3600, "deploy window")
    assert first.lease.until == T0 + 3600 and first.keep_tag_added

    clock.advance(600)
    longer = await service.protect(ALICE_ELSEWHERE, ref("app:v1"), 3 * DAY, "")
    assert longer.extended and not longer.keep_tag_added
    assert longer.lease.until == T0 + 600 + 3 * DAY
    assert longer.lease.created_at == T0 and longer.lease.reason == "deploy window"
    shorter = await service.protect(ALICE, ref("app:v1"), 2 * 3600, "still needed")
    assert shorter.lease.until == longer.lease.until  # a shorter ask never shortens a lease
    assert shorter.lease.reason == "deploy window; still needed"  # both reasons are kept
    assert len(fake.calls("PutImage")) == 1  # the keep tag was added once

    most = await service.protect(ALICE, ref("app:v1"), 90 * DAY, "max")
    assert most.lease.until == clock.now + 90 * DAY
    for too_long in (90 * DAY + 1, 365 * DAY):
        with pytest.raises(CommandError, match="protections last from 1h to 90d"):
            await service.protect(ALICE, ref("app:v1"), too_long, "")
    for too_short in (0, 59 * 60):  # a lease lasts at least an hour
        with pytest.raises(CommandError, match="protections last from 1h to 90d"):
            await service.protect(ALICE, ref("app:v1"), too_short, "")
    lease = await deps.leases.get(KEY, digest)
    assert lease is not None and lease.until == clock.now + 90 * DAY


async def test_protect_refuses_archived_and_missing_images(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr)
    old = push_image(ecr, "old", ["old"], age_days=200)
    archive(REPO, old, datetime.fromtimestamp(T0 - 100 * DAY, UTC))
    service = Verbs(deps)
    with pytest.raises(CommandError, match=r"archived: restore it first \(`/ecr restore app:old`"):
        await service.protect(ALICE, ref("app:old"), None, "")
    with pytest.raises(CommandError, match=r"not in the repository.*why-missing app:gone"):
        await service.protect(ALICE, ref("app:gone"), None, "")
    with pytest.raises(CommandError, match="Repository nope does not exist"):
        await service.protect(ALICE, ref("nope:v1"), None, "")
    assert tags_by_digest(ecr) == {old: {"old"}}
    assert fake.calls("PutImage") == [] and await deps.leases.active() == []
    assert policy_in_moto(ecr) == POLICY


# --- protect: the guard rule ---------------------------------------------------------------------


async def test_guard_rule_waits_for_confirmation_then_shields_the_image(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr)
    digest = push_image(ecr, "v1", ["v1"], age_days=60)  # expired by "anything after 30 days"
    push_image(ecr, "v2", ["v2"], age_days=1)
    before = await fresh_evaluation(deps, digest)
    assert before.acted and before.rule.rule_priority == 10

    service = Verbs(deps)
    result = await service.protect(ALICE, ref("app:v1"), None, "incident 42")
    change = result.change
    assert change is not None and change.token and not result.applied
    assert policy_in_moto(ecr) == POLICY == change.before  # nothing applied yet
    assert result.shielding is not None and not result.shielding.shielded
    proposed = parse_policy(change.after).by_priority()
    assert [(r.rule_priority, r.description) for r in proposed] == [
        (1, GUARD_DESCRIPTION),
        (2, "keep 3 releases"),
        (5, "untagged after a day"),
        (10, "anything after 30 days"),
    ]
    assert is_guard(proposed[0], "keep-")
    assert proposed[0].selection.tag_prefix_list == ("keep-",)
    originals = parse_policy(POLICY).by_priority()
    assert [r.selection for r in proposed[1:]] == [r.selection for r in originals]
    [entry, *_] = await audit(deps)
    assert entry["detail"] == "guard rule pending confirmation"

    applied, shielding = await service.apply_guard(ALICE, change.token)
    assert policy_in_moto(ecr) == change.after == applied.after
    assert applied.before == POLICY
    assert shielding.shielded, shielding.explanation
    after = await fresh_evaluation(deps, digest)
    assert not after.acted and after.rule is not None and is_guard(after.rule, "keep-")
    [entry, *_] = await audit(deps)
    assert (entry["action"], entry["result"], entry["digest"]) == (
        "put-lifecycle-policy",
        "ok",
        digest,
    )
    assert (entry["before"], entry["after"]) == (POLICY, change.after)

    with pytest.raises(CommandError, match="expired or was already used"):
        await service.apply_guard(ALICE, change.token)
    # protecting again, or another image, needs no further policy change
    again = await service.protect(ALICE, ref("app:v2"), None, "")
    assert again.change is None and again.shielding is not None and again.shielding.shielded


async def test_an_expired_guard_confirmation_is_refused(
    ecr: Any, deps: Dependencies, kit: StoreKit, clock: Clock, fake: EcrFake
) -> None:
    create_repository(ecr)
    push_image(ecr, "v1", ["v1"], age_days=60)
    service = Verbs(deps)
    result = await service.protect(ALICE, ref("app:v1"), None, "")
    assert result.change is not None and result.change.token
    await kit.expire_confirmation(result.change.token, clock)
    with pytest.raises(CommandError, match="expired or was already used"):
        await service.apply_guard(ALICE, result.change.token)
    assert policy_in_moto(ecr) == POLICY


async def test_a_policy_changed_since_the_proposal_is_not_overwritten(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr)
    push_image(ecr, "v1", ["v1"], age_days=60)
    service = Verbs(deps)
    result = await service.protect(ALICE, ref("app:v1"), None, "")
    assert result.change is not None and result.change.token
    edited = json.dumps({"rules": [json.loads(POLICY)["rules"][2]]})
    ecr.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=edited)
    with pytest.raises(CommandError, match="changed since this was proposed; nothing was applied"):
        await service.apply_guard(ALICE, result.change.token)
    assert policy_in_moto(ecr) == edited
    assert [e["action"] for e in await audit(deps)] == ["protect"]


async def test_guard_rule_applied_at_once_when_automatic(
    ecr: Any, make_deps: Factory, fake: EcrFake
) -> None:
    deps = make_deps(protect={"apply_policy_change": "automatic"})
    create_repository(ecr)
    digest = push_image(ecr, "v1", ["v1"], age_days=60)
    result = await Verbs(deps).protect(ALICE, ref("app:v1"), None, "")
    assert result.applied and result.change is not None and result.change.token is None
    assert policy_in_moto(ecr) == result.change.after != POLICY
    assert result.shielding is not None and result.shielding.shielded
    after = await fresh_evaluation(deps, digest)
    assert not after.acted and after.rule is not None and is_guard(after.rule, "keep-")
    actions = [e["action"] for e in await audit(deps)]
    assert actions == ["protect", "put-lifecycle-policy"]  # newest first


async def test_no_policy_means_nothing_to_guard(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1"])
    result = await Verbs(deps).protect(ALICE, ref("app:v1"), None, "")
    assert result.change is None and not result.applied and result.shielding is None
    assert result.keep_tag_added and tags_by_digest(ecr) == {digest: {"v1", keep_tag_of(digest)}}
    assert fake.operations["PutLifecyclePolicy"] == 0


async def test_a_guard_that_would_exceed_fifty_rules_is_refused_clearly(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr, policy=fifty_rules())
    push_image(ecr, "v1", ["v1"])
    with pytest.raises(CommandError) as refused:
        await Verbs(deps).protect(ALICE, ref("app:v1"), None, "")
    message = str(refused.value)
    assert "guard rule cannot be added" in message and "50" in message
    assert policy_in_moto(ecr) == fifty_rules()
    assert await deps.leases.active() == []


async def test_a_refused_guard_leaves_no_keep_tag_behind(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr, policy=fifty_rules())
    digest = push_image(ecr, "v1", ["v1"])
    with pytest.raises(CommandError, match="guard rule cannot be added"):
        await Verbs(deps).protect(ALICE, ref("app:v1"), None, "")
    assert tags_by_digest(ecr) == {digest: {"v1"}}


# --- authorisation --------------------------------------------------------------------------------


async def test_unprotect_removes_the_keep_tag(ecr: Any, deps: Dependencies, fake: EcrFake) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1"])
    service = Verbs(deps)
    await service.protect(ALICE, ref("app:v1"), None, "")
    result = await service.unprotect(ALICE, ref("app:v1"))
    tag = keep_tag_of(digest)
    assert result.tag_removed and result.note == f"{tag} removed"
    assert tags_by_digest(ecr) == {digest: {"v1"}}
    assert await deps.leases.get(KEY, digest) is None
    assert await deps.leases.active() == []
    [entry, *_] = await audit(deps)
    assert (entry["action"], entry["result"], entry["detail"]) == ("unprotect", "ok", result.note)
    assert entry["before"] == {"until": T0 + 7 * DAY} and entry["digest"] == digest
    with pytest.raises(CommandError, match="is not protected"):
        await service.unprotect(ALICE, ref("app:v1"))


async def test_unprotect_keeps_the_keep_tag_when_it_is_the_last_tag(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "untagged", [])
    service = Verbs(deps)
    await service.protect(ALICE, ref(f"app@{digest}"), None, "")
    tag = keep_tag_of(digest)
    assert tags_by_digest(ecr) == {digest: {tag}}
    result = await service.unprotect(ALICE, ref(f"app@{digest}"))
    assert not result.tag_removed
    assert f"{tag} is the image's last tag" in result.note and "stays" in result.note
    assert tags_by_digest(ecr) == {digest: {tag}}
    assert await deps.leases.get(KEY, digest) is None
    assert fake.operations["BatchDeleteImage"] == 0
    [entry, *_] = await audit(deps)
    assert entry["action"] == "unprotect" and "last tag" in entry["detail"]


async def test_due_leases_end_and_their_keep_tags_go(
    ecr: Any, deps: Dependencies, clock: Clock, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    tagged = push_image(ecr, "tagged", ["v1"])
    lonely = push_image(ecr, "lonely", [])
    later = push_image(ecr, "later", ["v3"])
    service = Verbs(deps)
    await service.protect(ALICE, ref("app:v1"), DAY, "")
    await service.protect(ALICE, ref(f"app@{lonely}"), 2 * DAY, "")
    await service.protect(ALICE, ref("app:v3"), 5 * DAY, "")
    clock.advance(DAY - 1)
    assert await service.end_due_leases() == []
    clock.advance(2 * DAY)
    ended = sorted(await service.end_due_leases(), key=lambda r: r.lease.until)
    assert [(r.lease.digest, r.tag_removed) for r in ended] == [(tagged, True), (lonely, False)]
    assert "last tag" in ended[1].note
    assert tags_by_digest(ecr) == {
        tagged: {"v1"},
        lonely: {keep_tag_of(lonely)},
        later: {"v3", keep_tag_of(later)},
    }
    assert [lease.digest for lease in await deps.leases.active()] == [later]
    expired = [e for e in await audit(deps) if e["action"] == "lease-expired"]
    assert {(e["actor"], e["digest"], e["result"]) for e in expired} == {
        ("ecr-lifeguard", tagged, "ok"),
        ("ecr-lifeguard", lonely, "ok"),
    }
    assert {e["detail"] for e in expired} == {r.note for r in ended}
    assert await service.end_due_leases() == []  # nothing ends twice


# --- retag ----------------------------------------------------------------------------------------
