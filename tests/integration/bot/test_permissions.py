"""Who may change what: refusals named and audited, groups, channels, the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.edge.slack.client import web_client
from bot.edge.slack.directory import SlackDirectory
from bot.errors import Denied
from bot.ops.authorize import Actor
from bot.ops.deps import Dependencies
from tests.integration.bot.conftest import Factory
from tests.support.bot_kit import (
    ALICE,
    BOB,
    DAY,
    KEY,
    POLICY,
    REPO,
    T0,
    Verbs,
    audit,
    create_repository,
    keep_tag_of,
    policy_in_moto,
    push_image,
    ref,
    tags_by_digest,
)
from tests.support.ecr_fake import EcrFake
from tests.support.moto_state import (
    archive,
)
from tests.support.slack_stub import BOT_TOKEN, SlackStub


async def test_a_user_who_may_not_is_refused_named_who_may_and_audited(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr)
    digest = push_image(ecr, "v1", ["v1"], age_days=60)
    old = push_image(ecr, "v0", ["v0"], age_days=90)
    archive(REPO, old, datetime.fromtimestamp(T0 - 10 * DAY, UTC))
    before_tags = tags_by_digest(ecr)
    mutations = [
        ("protect", Verbs(deps).protect(BOB, ref("app:v1"), None, "mine")),
        ("retag", Verbs(deps).retag(BOB, ref("app:v1"), "stable")),
        ("restore", Verbs(deps).restore(BOB, ref("app:v0"))),
    ]
    for action, attempt in mutations:
        with pytest.raises(Denied) as denied:
            await attempt
        assert str(denied.value) == (
            f"You may not {action} images in app: only <@U0ALICE> may {action} images in app."
        )
    assert tags_by_digest(ecr) == before_tags and policy_in_moto(ecr) == POLICY
    writes = {"PutImage", "PutLifecyclePolicy", "UpdateImageStorageClass", "BatchDeleteImage"}
    assert not writes & set(fake.operations)
    assert await deps.leases.active() == []
    entries = await audit(deps)
    assert [(e["action"], e["result"], e["actor"]) for e in entries] == [
        ("restore", "denied", "<@U0BOB>"),
        ("retag", "denied", "<@U0BOB>"),
        ("protect", "denied", "<@U0BOB>"),
    ]
    assert all(e["repository"] == REPO and "only <@U0ALICE>" in e["detail"] for e in entries)
    assert digest not in {e["digest"] for e in entries}  # nothing was done to the image


async def test_unprotect_and_guard_confirmation_need_permission_too(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr)
    digest = push_image(ecr, "v1", ["v1"], age_days=60)
    service = Verbs(deps)
    result = await service.protect(ALICE, ref("app:v1"), None, "")
    assert result.change is not None and result.change.token
    with pytest.raises(Denied, match="only <@U0ALICE> may unprotect"):
        await service.unprotect(BOB, ref("app:v1"))
    with pytest.raises(Denied, match="only <@U0ALICE> may change the lifecycle policy of"):
        await service.apply_guard(BOB, result.change.token)
    assert policy_in_moto(ecr) == POLICY
    assert keep_tag_of(digest) in tags_by_digest(ecr)[digest]
    assert await deps.leases.get(KEY, digest) is not None
    denied = [e["action"] for e in await audit(deps) if e["result"] == "denied"]
    assert denied == ["put-lifecycle-policy", "unprotect"]  # what each tried to do


async def test_a_denied_confirmation_leaves_the_token_for_an_allowed_user(
    ecr: Any, deps: Dependencies, fake: EcrFake
) -> None:
    create_repository(ecr)
    push_image(ecr, "v1", ["v1"], age_days=60)
    service = Verbs(deps)
    result = await service.protect(ALICE, ref("app:v1"), None, "")
    assert result.change is not None and result.change.token
    with pytest.raises(Denied):
        await service.apply_guard(BOB, result.change.token)
    await service.apply_guard(ALICE, result.change.token)
    assert policy_in_moto(ecr) == result.change.after


async def test_user_group_and_channel_rules(ecr: Any, make_deps: Factory, fake: EcrFake) -> None:
    deps = make_deps(
        permissions=[
            {"repositories": "app*", "user_groups": ["S0PLATFORM"]},
            {"repositories": "app", "channels": ["C0DEPLOY"]},
        ]
    )
    create_repository(ecr)
    create_repository(ecr, "billing", policy=None)
    digest = push_image(ecr, "v1", ["v1"])
    push_image(ecr, "b1", ["b1"], repository="billing")
    carol, eve, dave = (
        Actor("U0CAROL", "C0RANDOM"),
        Actor("U0EVE", "C0RANDOM"),
        Actor("U0DAVE", "C0DEPLOY"),
    )
    async with SlackStub() as stub:
        stub.set_usergroup("S0PLATFORM", ["U0CAROL"])
        directory = SlackDirectory(web_client(BOT_TOKEN, stub.api_url), ["S0PLATFORM"])
        assert await directory.groups("U0CAROL") == {"S0PLATFORM"}
        assert await directory.groups("U0EVE") == frozenset()
        deps.groups = directory.groups
        service = Verbs(deps)
        assert (await service.retag(carol, ref("app:v1"), "by-group")).status == "done"
        assert (await service.retag(dave, ref("app:v1"), "by-channel")).status == "done"
        assert tags_by_digest(ecr)[digest] == {"v1", "by-group", "by-channel"}
        with pytest.raises(Denied) as denied:
            await service.retag(eve, ref("app:v1"), "by-eve")
        assert "only <!subteam^S0PLATFORM>, people in <#C0DEPLOY> may retag" in str(denied.value)
        with pytest.raises(Denied, match="no permission rule covers billing"):
            await service.retag(carol, ref("billing:b1"), "x")
        # Looked up once (then cached), and never for a decision the channel already made.
        assert len(stub.calls_to("usergroups.users.list")) == 1
    assert tags_by_digest(ecr)[digest] == {"v1", "by-group", "by-channel"}
    [entry, *_] = await audit(deps)
    assert (entry["actor"], entry["result"], entry["repository"]) == (
        "<@U0CAROL>",
        "denied",
        "billing",
    )


async def test_the_cli_actor_is_trusted_without_permission_rules(
    ecr: Any, make_deps: Factory, fake: EcrFake
) -> None:
    deps = make_deps(permissions=[])
    create_repository(ecr)
    digest = push_image(ecr, "v1", ["v1"])
    cli = Actor("ops@laptop", trusted=True)
    result = await Verbs(deps).protect(cli, ref("app:v1"), DAY, "from the CLI")
    assert result.lease.owner == "ops@laptop"
    assert keep_tag_of(digest) in tags_by_digest(ecr)[digest]
    with pytest.raises(Denied, match="no permission rule covers app"):
        await Verbs(deps).protect(ALICE, ref("app:v1"), DAY, "")
    entries = await audit(deps)
    assert [(e["actor"], e["result"]) for e in entries] == [
        ("<@U0ALICE>", "denied"),
        ("ops@laptop", "ok"),
    ]


# --- unprotect and lease expiry -------------------------------------------------------------------
