"""The verbs through the dispatcher, as Slack and the CLI run them, over in-process fakes: replies,
refusals, audit, the mutation protocol when the store fails, and bad input."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.errors import UpstreamError
from bot.ops.authorize import Actor
from bot.ops.registry import parse_command
from bot.ops.verb import Reply
from bot.ops.verbs.retag import Answer
from bot.settings import PermissionRule
from bot.state.records import image_key
from tests.functional.conftest import DAY, NOW, World

ALICE = Actor("U0ALICE", "C0OPS")
BOB = Actor("U0BOB", "C0RANDOM")


async def run(world: World, text: str, actor: Actor = ALICE) -> Reply:
    return await world.ops.run(parse_command(text), actor)


def text_of(reply: Reply) -> str:
    return json.dumps(reply.payload)


async def test_protect_tags_leases_audits_and_asks_for_the_guard_rule(world: World) -> None:
    digest = world.push("one", "v1")
    reply = await run(world, "protect app:v1 for 3d rollback target")
    assert reply.public and reply.pending is not None
    assert reply.pending.confirm_verb == "apply-guard"
    assert "keep-" + digest[7:19] in world.registry.tags("app")[digest]
    lease = await world.deps.leases.get(world.key, digest)
    assert lease is not None and lease.until == NOW + 3 * DAY
    assert lease.reason == "rollback target"
    [entry] = await world.deps.audit.recent()
    assert (entry.action, entry.result, entry.actor) == ("protect", "ok", "<@U0ALICE>")
    assert await world.deps.intents.stale(before=float("inf")) == []  # the intent is done


async def test_a_refusal_is_private_names_who_may_and_is_audited(world: World) -> None:
    digest = world.push("one", "v1")
    reply = await run(world, "protect app:v1", BOB)
    assert not reply.public and reply.pending is None
    assert "You may not protect images in app: only <@U0ALICE> may protect" in text_of(reply)
    assert "&lt;@U0ALICE&gt;" not in text_of(reply)  # our own mentions stay mentions
    assert world.registry.calls["PutImage"] == 0 and world.registry.tags("app")[digest] == {"v1"}
    [entry] = await world.deps.audit.recent()
    assert (entry.result, entry.actor) == ("denied", "<@U0BOB>")


async def test_with_the_store_down_nothing_is_changed_in_ecr(world: World) -> None:
    digest = world.push("one", "v1")
    world.store.down = True
    for text in ("protect app:v1", "retag app:v1 stable"):
        reply = await run(world, text)
        assert "nothing was changed" in text_of(reply), text
        assert reply.exit == 1
    assert world.registry.calls["PutImage"] == 0 and world.registry.tags("app")[digest] == {"v1"}


async def test_a_store_lost_after_the_ecr_change_is_journaled_and_replayed(world: World) -> None:
    digest = world.push("one", "v1")
    world.store.fail_after_writes = 3  # the lock and the intent land, the audit entry does not
    reply = await run(world, "retag app:v1 stable")
    assert reply.public and reply.exit == 0  # the tag moved: never reported as a failure
    assert "Done in ECR: stable points at" in "\n".join(reply.lines)
    assert "journal" in "\n".join(reply.lines)
    assert "stable" in world.registry.tags("app")[digest]
    journal = world.deps.journal
    assert journal is not None and len(journal.pending()) == 1
    world.store.down, world.store.fail_after_writes = False, None
    assert await journal.replay(world.store) == 1
    [entry] = await world.deps.audit.recent()
    assert (entry.action, entry.result, entry.after) == ("retag", "ok", {"stable": digest})
    assert await journal.replay(world.store) == 0


async def test_a_uri_of_a_region_the_bot_does_not_watch_is_refused(world: World) -> None:
    world.push("one", "v1")
    uri = "123456789012.dkr.ecr.us-west-2.amazonaws.com/app:v1"
    reply = await run(world, f"protect {uri}")
    assert "not in a registry this bot watches" in text_of(reply)
    assert world.registry.calls == {}


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("for ever", '\\"ever\\" after \\"for\\" is not a duration'),
        ("for -1d", '\\"-1d\\" after \\"for\\" is not a duration'),
        ("for nan", '\\"nan\\" after \\"for\\" is not a duration'),
        ("for 7 d", 'write the duration without a space: \\"7d\\"'),
        ("for 0.0001s", '\\"0.0001s\\" after \\"for\\" is not a duration'),
        ("for 30m", '\\"30m\\" is out of range: protections last from 1h to 90d'),
        ("for 400d", '\\"400d\\" is out of range: protections last from 1h to 90d'),
    ],
)
async def test_durations_are_exact_or_refused_naming_the_range(
    world: World, words: str, expected: str
) -> None:
    world.push("one", "v1")
    try:
        reply = await run(world, f"protect app:v1 {words} reason")
    except Exception as exc:  # a parse error: the handler answers it in the ack
        message = str(exc)
    else:
        message = text_of(reply)
    assert expected.replace('\\"', '"') in message.replace('\\"', '"'), message
    assert world.registry.calls["PutImage"] == 0


async def test_two_protects_at_once_merge_to_the_later_expiry_and_keep_both_reasons(
    world: World,
) -> None:
    digest = world.push("one", "v1")
    first, second = await asyncio.gather(
        run(world, "protect app:v1 for 2d deploy window"),
        run(world, "protect app:v1 for 5d incident INC-7"),
    )
    assert first.exit == second.exit == 0
    lease = await world.deps.leases.get(world.key, digest)
    assert lease is not None and lease.until == NOW + 5 * DAY
    assert set(lease.reason.split("; ")) == {"deploy window", "incident INC-7"}
    assert [e.result for e in await world.deps.audit.recent()] == ["ok", "ok"]


async def test_protect_racing_unprotect_leaves_ecr_and_the_leases_agreeing(world: World) -> None:
    digest = world.push("one", "v1", "v1-extra")
    keep = "keep-" + digest[7:19]
    for _ in range(20):
        await asyncio.gather(run(world, "protect app:v1"), run(world, "unprotect app:v1"))
        lease = await world.deps.leases.get(world.key, digest)
        tagged = keep in world.registry.tags("app")[digest]
        assert tagged == (lease is not None), (tagged, lease)
        await run(world, "unprotect app:v1")
        assert keep not in world.registry.tags("app")[digest]


async def test_cancel_needs_the_permission_or_being_the_requester_and_is_audited(
    world: World,
) -> None:
    digest = world.push("one", "v1")
    world.push("two", "v2")
    asked = await run(world, "retag app:v2 v1")  # v1 is on the other image: a confirmation
    assert asked.pending is not None
    refused = await world.ops.answer("cancel", Answer(asked.pending.token), BOB)
    assert "may not" in text_of(refused)
    cancelled = await world.ops.answer("cancel", Answer(asked.pending.token), ALICE)
    assert cancelled.public and "Left unchanged by <@U0ALICE>" in text_of(cancelled)
    assert [(e.action, e.result) for e in await world.deps.audit.recent()][:2] == [
        ("cancel", "cancelled"),
        ("cancel", "denied"),
    ]
    assert world.registry.tags("app")[digest] == {"v1"}


async def test_user_groups_are_looked_up_only_when_a_decision_needs_them(world: World) -> None:
    world.push("one", "v1")
    looked: list[str] = []

    async def groups(user: str) -> frozenset[str]:
        looked.append(user)
        raise UpstreamError("slack", "usergroups.users.list", "ratelimited", "slow down")

    world.deps.groups = groups
    world.deps.settings.permissions[0].user_groups.append("S0PLATFORM")
    assert (await run(world, "help", BOB)).exit == 0
    assert (await run(world, "audit", BOB)).exit == 0
    assert (await run(world, "protect app:v1", ALICE)).exit == 0  # listed: no lookup
    assert looked == []
    reply = await run(world, "protect app:v1", BOB)
    assert looked == ["U0BOB"]
    assert "Could not check your user groups (Slack said ratelimited" in text_of(reply)
    assert "nothing was changed" in text_of(reply) and not reply.public


async def test_text_echoed_into_the_channel_has_no_bidi_controls(world: World) -> None:
    world.push("one", "v1")
    reply = await run(world, "protect app:v1 rollback \u202eevil\u202c target")
    assert reply.public
    assert "\u202e" not in text_of(reply) and "\\u202e" not in text_of(reply)


async def test_an_unexpected_failure_is_an_incident_never_a_traceback(world: World) -> None:
    world.push("one", "v1")
    world.registry.fail["DescribeImages"] = KeyError("boom")
    reply = await run(world, "plan app")
    assert "Something went wrong on our side (incident " in text_of(reply)
    assert "Traceback" not in text_of(reply) and not reply.public


async def test_snooze_and_an_open_alert_record_what_ecr_will_do_when(world: World) -> None:
    key = image_key(world.key, "sha256:" + "0" * 64)
    assert await world.deps.alerts.get(key) is None


async def test_permission_rules_may_name_accounts_and_regions(world: World) -> None:
    digest = world.push("one", "v1")
    rules = world.deps.settings.permissions
    rules[:] = [PermissionRule(users=["U0ALICE"], accounts=["999999999999"])]
    refused = await run(world, "protect app:v1")
    assert "no permission rule covers app (111122223333, eu-west-1)" in text_of(refused)
    rules[:] = [PermissionRule(users=["U0ALICE"], regions=["us-east-1"])]
    assert "no permission rule covers app" in text_of(await run(world, "protect app:v1"))
    rules[:] = [PermissionRule(users=["U0ALICE"], accounts=["111122223333"], regions=["eu-west-1"])]
    allowed = await run(world, "protect app:v1")
    assert allowed.exit == 0 and await world.deps.leases.get(world.key, digest) is not None
