"""The scheduler and reconcile: one alert per image, updated in place, resolved with why."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.edge.slack.client import web_client
from bot.edge.slack.notifier import SlackNotifier
from bot.errors import CommandError, Denied
from bot.ops.authorize import Actor
from bot.ops.deps import Dependencies
from bot.ops.verbs import snooze
from bot.ops.verbs.snooze import Snoozed
from bot.refs import ImageRef
from bot.state.records import AlertRecord
from bot.watch.reconcile import Resolution
from bot.watch.schedule import Scheduler
from tests.integration.bot.conftest import Blog
from tests.support.blog import REPOSITORY as BLOG_REPOSITORY
from tests.support.blog import SHARED_DIGEST
from tests.support.bot_kit import (
    ALICE,
    ASSETS_CHANNEL,
    BLOG_KEY,
    BOB,
    DAY,
    EVALUATED,
    SHARED_KEY,
    SHOP_CHANNEL,
    SHORT,
    T0,
    StoreKit,
    Verbs,
    action_ids,
    audit,
    edited_blog_policy,
    header_text,
    keep_tag_of,
    manifest_in_moto,
    section_texts,
    tags_by_digest,
)
from tests.support.ecr_fake import EcrFake
from tests.support.slack_stub import BOT_TOKEN, CHANNEL_ID, SlackStub


async def test_one_alert_with_three_buttons_and_never_twice(blog: Blog, fake: EcrFake) -> None:
    deps = blog.deps()
    loop = blog.loop(deps)
    summary = await loop.cycle()
    assert summary.ran and summary.problems == ()
    assert (summary.risks, summary.posted, summary.unrouted) == (1, 1, 0)
    [message] = blog.stub.messages(CHANNEL_ID)
    # The release tag people search for, and the consumer, name the alert.
    assert f"{BLOG_REPOSITORY} tag-1-253-0 (named by shop/web-6-x2k9" in header_text(message)
    assert message.text.startswith(f"{BLOG_REPOSITORY} tag-1-253-0 (named by shop/web-6-x2k9")
    assert action_ids(message) == ["lg_why", "lg_protect", "lg_snooze"]
    [buttons] = [b["elements"] for b in message.blocks if b["type"] == "actions"]
    assert buttons[0]["text"]["text"].startswith("Protect 7")
    assert buttons[1]["type"] == "static_select"  # snooze for a while, never past ECR's action
    assert [o["text"]["text"] for o in buttons[1]["options"]] == [
        "1 hour",
        "4 hours",
        "until ECR may act",
    ]
    [more] = [b["accessory"] for b in message.blocks if "accessory" in b]
    assert more["text"]["text"] == "More"  # the Why sentence's full reasoning
    assert SHARED_DIGEST in json.dumps(message.blocks)
    record = await deps.alerts.get(SHARED_KEY)
    assert record is not None and (record.channel, record.ts) == (CHANNEL_ID, message.ts)
    assert record.state == "open" and record.posted_at == blog.clock.now

    again = await loop.cycle()
    assert again.ran and (again.risks, again.posted, again.updated) == (1, 0, 0)
    restarted = await blog.loop(blog.deps()).cycle()  # a new replica, the same store
    assert (restarted.posted, restarted.updated) == (0, 0)
    assert blog.slack_writes() == 1 and len(blog.stub.messages(CHANNEL_ID)) == 1


@pytest.mark.parametrize(
    ("owner_channel", "rule_glob", "expected"),
    [
        ("#shop-oncall", "webshop-*", SHOP_CHANNEL),  # the consumer's channel wins
        (None, "webshop-*", ASSETS_CHANNEL),  # then the repository rules
        (None, "billing-*", CHANNEL_ID),  # then the default channel
    ],
)
async def test_alert_routing(
    blog: Blog, owner_channel: str | None, rule_glob: str, expected: str
) -> None:
    deps = blog.deps(
        owner_channel=owner_channel, rules=[{"repositories": rule_glob, "channel": "#assets"}]
    )
    summary = await blog.loop(deps).cycle()
    assert summary.posted == 1
    posted = {c: len(blog.stub.messages(c)) for c in (SHOP_CHANNEL, ASSETS_CHANNEL, CHANNEL_ID)}
    assert posted == {c: int(c == expected) for c in posted}
    record = await deps.alerts.get(SHARED_KEY)
    assert record is not None and record.channel == expected  # the id, even for "#shop-oncall"


async def test_protecting_resolves_the_alert_in_place_and_the_lease_end_reopens_it(
    blog: Blog, fake: EcrFake
) -> None:
    deps = blog.deps()
    loop = blog.loop(deps)
    await loop.cycle()
    record = await deps.alerts.get(SHARED_KEY)
    assert record is not None
    service = Verbs(deps)
    shared = ImageRef(BLOG_REPOSITORY, digest=SHARED_DIGEST)
    result = await service.protect(
        ALICE, shared, None, "rollback", channel=record.channel, thread_ts=record.ts
    )
    assert result.change is not None and result.change.token
    _, shielding = await service.apply_guard(ALICE, result.change.token)
    assert shielding.shielded

    summary = await loop.cycle()  # applying the guard rule resolved the alert already
    assert (summary.risks, summary.posted, summary.resolved) == (0, 0, 0)
    pending, protected = blog.stub.calls_to("chat.update")  # keep tag added, then shielded
    assert pending.args["ts"] == protected.args["ts"] == record.ts
    assert "not shielded until the guard rule is applied" in pending.args["text"]
    [message] = blog.stub.messages(CHANNEL_ID)
    assert message.ts == record.ts and message.edited is not None
    assert header_text(message).startswith(f"🛡️ Protected: {BLOG_REPOSITORY} tag-1-253-0 (")
    assert "Protected by" in section_texts(message)[0]
    assert action_ids(message) == ["lg_unprotect"]
    [reply] = blog.stub.replies(CHANNEL_ID, record.ts)
    assert "Protected" in reply.text
    resolved = await deps.alerts.get(SHARED_KEY)
    assert resolved is not None and resolved.state == "resolved"
    assert await deps.alerts.open_alerts() == []
    assert (await loop.cycle()).resolved == 0  # a resolved alert is not revisited

    blog.clock.advance(7 * DAY + 60)  # the lease ends: its keep tag goes, in the thread
    ended = await loop.cycle()  # at risk again at once: the same thread, updated in place
    assert ended.leases_ended == 1
    assert (
        keep_tag_of(SHARED_DIGEST) not in tags_by_digest(blog.ecr, BLOG_REPOSITORY)[SHARED_DIGEST]
    )
    assert (ended.posted, ended.risks) == (1, 1)
    texts = [r.text for r in blog.stub.replies(CHANNEL_ID, record.ts)]
    assert texts[-2] == f"The protection by <@U0ALICE> ended: keep-{SHORT} removed."
    assert texts[-1] == "At risk again: rule 2 expires it at ECR's next run, within 24 hours."
    assert [m.ts for m in blog.stub.messages(CHANNEL_ID)] == [record.ts]
    assert "lg_protect" in action_ids(blog.stub.message(CHANNEL_ID, record.ts))
    assert (await loop.cycle()).posted == 0
    again = await deps.alerts.get(SHARED_KEY)
    assert again is not None and again.state == "open"


async def test_a_deleted_image_gets_a_restore_button_and_can_be_restored(
    blog: Blog, fake: EcrFake
) -> None:
    deps = blog.deps()
    loop = blog.loop(deps)
    await loop.cycle()
    record = await deps.alerts.get(SHARED_KEY)
    assert record is not None
    before = manifest_in_moto(blog.ecr, SHARED_DIGEST, BLOG_REPOSITORY)
    tags = tags_by_digest(blog.ecr, BLOG_REPOSITORY)[SHARED_DIGEST]
    blog.ecr.batch_delete_image(
        repositoryName=BLOG_REPOSITORY, imageIds=[{"imageDigest": SHARED_DIGEST}]
    )  # ECR expired it
    summary = await loop.cycle()
    assert (summary.risks, summary.resolved) == (0, 1)
    message = blog.stub.message(CHANNEL_ID, record.ts)
    assert header_text(message).startswith(f"🗑️ Deleted: {BLOG_REPOSITORY} tag-1-253-0 (")
    assert action_ids(message) == ["lg_restore", "lg_why"]
    what_fails = "\n".join(section_texts(message))
    assert "What will now fail" in what_fails and "shop/web-6-x2k9" in what_fails
    deleted = await deps.alerts.get(SHARED_KEY)
    assert deleted is not None and deleted.state == "deleted"

    restored = await Verbs(deps).restore(ALICE, ImageRef(BLOG_REPOSITORY, digest=SHARED_DIGEST))
    assert restored.status == "repushed" and set(restored.tags) == tags
    assert manifest_in_moto(blog.ecr, SHARED_DIGEST, BLOG_REPOSITORY) == before
    assert tags_by_digest(blog.ecr, BLOG_REPOSITORY)[SHARED_DIGEST] == tags


async def test_in_use_manifests_are_saved_once(blog: Blog, fake: EcrFake) -> None:
    deps = blog.deps()
    loop = blog.loop(deps)
    await loop.cycle()
    current = blog.by_tag["tag-1-257-0"]
    for digest in (SHARED_DIGEST, current):
        saved = await deps.vault.get(BLOG_KEY, digest)
        assert saved is not None
        assert (saved.text, saved.media_type) == manifest_in_moto(blog.ecr, digest, BLOG_REPOSITORY)
        assert set(saved.tags) == tags_by_digest(blog.ecr, BLOG_REPOSITORY)[digest]
        assert saved.saved_at == blog.clock.now
    assert await deps.vault.digest_for_tag(BLOG_KEY, "tag-1-257-0") == current
    others = set(tags_by_digest(blog.ecr, BLOG_REPOSITORY)) - {SHARED_DIGEST, current}
    assert not [d for d in others if await deps.vault.has(BLOG_KEY, d)]
    fetched = fake.operations["BatchGetImage"]
    blog.clock.advance(3600)
    await loop.cycle()
    assert fake.operations["BatchGetImage"] == fetched  # nothing fetched again
    saved = await deps.vault.get(BLOG_KEY, SHARED_DIGEST)
    assert saved is not None and saved.saved_at == blog.clock.now - 3600


async def snooze_alert(
    deps: Dependencies, actor: Actor, record: AlertRecord, seconds: float | None
) -> Snoozed:
    call = Verbs(deps).call("snooze", actor)
    return await snooze.run(call, snooze.Snooze(record.channel, record.ts, seconds, None))


async def test_snooze_is_time_boxed_audited_and_needs_permission(blog: Blog, fake: EcrFake) -> None:
    deps = blog.deps()
    loop = blog.loop(deps)
    await loop.cycle()
    record = await deps.alerts.get(SHARED_KEY)
    assert record is not None and record.acts_at is not None
    with pytest.raises(Denied, match="may not snooze"):
        await snooze_alert(deps, BOB, record, 3600)
    snoozed = await snooze_alert(deps, ALICE, record, 4 * 3600)
    assert (snoozed.by, snoozed.until, snoozed.capped) == (
        "<@U0ALICE>",
        blog.clock.now + 4 * 3600,
        False,
    )
    [entry, *_] = await audit(deps)
    assert (entry["action"], entry["actor"], entry["result"]) == ("snooze", "<@U0ALICE>", "ok")
    writes = blog.slack_writes()
    blog.clock.advance(3 * 3600)
    quiet = await loop.cycle()
    assert (quiet.risks, quiet.updated, quiet.posted) == (1, 0, 0)
    assert blog.slack_writes() == writes  # nothing is shown while snoozed

    blog.clock.advance(3600)
    woke = await loop.cycle()
    assert woke.updated == 1
    record = await deps.alerts.get(SHARED_KEY)
    assert record is not None and not record.snoozed
    assert blog.stub.replies(CHANNEL_ID, record.ts)[-1].text == (
        "The snooze by <@U0ALICE> is over: it ended."
    )


async def test_a_snooze_never_lasts_past_the_moment_ecr_may_act(blog: Blog, fake: EcrFake) -> None:
    deps = blog.deps()
    await blog.loop(deps).cycle()
    record = await deps.alerts.get(SHARED_KEY)
    assert record is not None and record.acts_at == EVALUATED + DAY  # ECR's next run
    snoozed = await snooze_alert(deps, ALICE, record, 30 * DAY)
    assert snoozed.capped and snoozed.until == EVALUATED + DAY
    until_acts = await snooze_alert(deps, ALICE, record, None)
    assert until_acts.until == EVALUATED + DAY
    blog.clock.now = EVALUATED + DAY
    with pytest.raises(CommandError, match="protect it instead"):
        await snooze_alert(deps, ALICE, record, 3600)


async def test_a_snooze_ends_when_the_risk_changes(blog: Blog, fake: EcrFake) -> None:
    deps = blog.deps()
    loop = blog.loop(deps)
    await loop.cycle()
    record = await deps.alerts.get(SHARED_KEY)
    assert record is not None
    await snooze_alert(deps, ALICE, record, 4 * 3600)
    blog.ecr.put_lifecycle_policy(
        repositoryName=BLOG_REPOSITORY, lifecyclePolicyText=edited_blog_policy()
    )
    changed = await loop.cycle()
    assert changed.updated == 1
    record = await deps.alerts.get(SHARED_KEY)
    assert record is not None and not record.snoozed and record.fingerprint.startswith("EXPIRE:2")
    assert blog.stub.replies(CHANNEL_ID, record.ts)[-1].text.endswith("the risk changed.")


async def test_two_replicas_on_one_store_run_one_cycle(blog: Blog, kit: StoreKit) -> None:
    first = blog.loop(blog.deps())
    second = blog.loop(blog.deps(store=await kit.another()))
    assert first.owner != second.owner
    results = await asyncio.gather(first.cycle(), second.cycle())
    assert sorted(r.ran for r in results) == [False, True]
    assert sum(r.posted for r in results) == 1
    assert len(blog.stub.calls_to("chat.postMessage")) == 1
    later = await second.cycle()  # the lock was released; the alert exists already
    assert later.ran and later.posted == 0
    assert len(blog.stub.calls_to("chat.postMessage")) == 1


async def test_only_the_replica_holding_the_claim_posts(blog: Blog, kit: StoreKit) -> None:
    deps = blog.deps()
    first = blog.loop(deps)
    second = blog.loop(blog.deps(store=await kit.another()))
    # The first replica claimed the alert and is posting it (or died while posting).
    assert await deps.alerts.claim(SHARED_KEY, first.owner)
    skipped = await second.cycle()
    assert skipped.ran and (skipped.risks, skipped.posted) == (1, 0)
    assert blog.stub.calls_to("chat.postMessage") == []
    posted = await first.cycle()
    assert posted.posted == 1 and len(blog.stub.messages(CHANNEL_ID)) == 1
    assert (await second.cycle()).posted == 0


async def test_the_resolved_alert_mentions_who_protected_the_image(stub: SlackStub) -> None:
    notifier = SlackNotifier(web_client(BOT_TOKEN, stub.api_url))
    ts = await notifier.post(CHANNEL_ID, {"text": "alert"})
    record = AlertRecord(
        repository=BLOG_KEY,
        digest=SHARED_DIGEST,
        channel=CHANNEL_ID,
        ts=ts,
        state="open",
        fingerprint="EXPIRE:1:now",
        posted_at=T0,
    )
    await notifier.resolve_alert(record, Resolution("protected", "protected by <@U0ALICE>"))
    state = section_texts(stub.message(CHANNEL_ID, ts))[0]  # the state comes first
    assert state.startswith("🛡️ *Protected.*") and "<@U0ALICE>" in state


async def test_the_scheduler_lock_is_taken_over_within_one_lock_period(
    blog: Blog, kit: StoreKit
) -> None:
    first = Scheduler(blog.deps(), blog.notifier(blog.deps()), lock_period=60.0)
    second = Scheduler(blog.deps(store=await kit.another()), blog.notifier(blog.deps()),
                       lock_period=60.0)  # fmt: skip
    token = await kit.store.acquire("scheduler", first.owner, 60.0)  # the holder, then it dies
    assert token is not None
    assert not (await second.cycle()).ran
    blog.clock.advance(61)
    if kit.kind == "redis":  # Redis expires the lock by its own clock
        await kit.store.acquire("scheduler", first.owner, 0.001)
        await asyncio.sleep(0.01)
    assert (await second.cycle()).ran
    holder = await kit.store.holder("scheduler")
    assert holder is None  # released after the cycle
    taken = await kit.store.acquire("scheduler", "someone", 60.0)
    assert taken is not None and taken > token  # fencing tokens only grow
