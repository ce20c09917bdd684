"""The Slack bot end to end: the blog case alerted, protected, refused, over real connections.

Real components: moto in server mode (ECR), a fake Kubernetes API server, redis-server, and a
local Slack (Web API, response_url). Requests to the bot are signed exactly as Slack signs them.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from bot.blocks.common import CONFIRM_GUARD, PROTECT, RESTORE, SNOOZE, WHY
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.guard import is_guard
from bot.lifecycle.parse import parse_policy
from bot.lifecycle.timefmt import parse_instant
from tests.e2e.conftest import (
    ALERT_CHANNEL,
    ALLOWED,
    AUDIT_CHANNEL,
    KEEP_TAG,
    REFUSED,
    Bot,
    button_value,
    first_alert,
)
from tests.support.blog import NOW, REPOSITORY, SHARED_DIGEST
from tests.support.slack_stub import (
    CHANNEL_ID,
    SIGNING_SECRET,
    event_callback,
    sign,
    slash_command_body,
)


async def test_blog_alert_protect_refused_then_allowed(bot: Bot) -> None:
    alert = await first_alert(bot)
    assert (
        alert.text == "webshop-assets tag-1-253-0 (running in shop/web-6-x2k9) expires within 24 h"
    )
    buttons = json.dumps(alert.blocks)
    for action_id in (PROTECT, SNOOZE, WHY):
        assert action_id in buttons
    assert "ec1477a7420a" in buttons and "tag-1-252-0" in buttons
    value = button_value(alert, PROTECT)
    policy_before, images_before = bot.policy(), bot.images()

    refused = await bot.click(PROTECT, value, REFUSED, alert.ts)
    denial = await bot.slack.wait_for_response(url=refused)
    assert "may not protect" in denial.body["text"]
    assert bot.policy() == policy_before and bot.images() == images_before
    audit = await bot.runtime.deps.audit.recent(5)
    assert audit[0].result == "denied" and audit[0].actor == f"<@{REFUSED}>"
    posted = await bot.slack.wait_for(
        "chat.postMessage", lambda c: c.args.get("channel") == AUDIT_CHANNEL
    )
    assert f"<@{REFUSED}> *protect* webshop-assets → denied" in posted.args["text"]

    await bot.click(PROTECT, value, ALLOWED, alert.ts)
    proposal = await bot.slack.wait_for(
        "chat.postMessage", lambda c: c.args.get("thread_ts") == alert.ts, timeout=30
    )
    assert KEEP_TAG in bot.images()[SHARED_DIGEST]
    assert bot.policy() == policy_before  # the guard rule waits for confirmation
    thread_reply = bot.slack.message(ALERT_CHANNEL, proposal.response["ts"])
    token_value = button_value(thread_reply, CONFIRM_GUARD)
    honest = await bot.slack.wait_for(
        "chat.update", lambda c: c.args.get("ts") == alert.ts, timeout=30
    )  # the alert itself says the keep tag alone does not shield it, with Apply
    assert "keep tag added — not shielded until the guard rule is applied" in honest.args["text"]
    assert button_value(bot.slack.message(ALERT_CHANNEL, alert.ts), CONFIRM_GUARD) == token_value

    confirmed = await bot.click(CONFIRM_GUARD, token_value, ALLOWED, thread_reply.ts)
    applied = await bot.slack.wait_for_response(url=confirmed, timeout=30)
    assert applied.body["text"] == "Guard rule applied to webshop-assets"
    assert "applied the guard rule" in json.dumps(applied.body["blocks"])
    await bot.slack.wait_for(
        "chat.update",
        lambda c: c.args.get("ts") == alert.ts and c.args["text"].startswith("Protected"),
        timeout=30,
    )
    policy = parse_policy(bot.policy())
    assert is_guard(policy.by_priority()[0], "keep-")
    assert [r.description for r in policy.by_priority()[1:]] == [
        "Keep last 5 production images",
        "Expire images older than 14 days",
    ]
    updated = bot.slack.message(ALERT_CHANNEL, alert.ts)
    assert "Protected" in updated.text
    images = await _describe(bot)
    decision = evaluate(policy, images, parse_instant(NOW)).decision(SHARED_DIGEST)
    assert decision.rule is not None and is_guard(decision.rule, "keep-") and not decision.acted
    lease = await bot.runtime.deps.leases.get(decision_repository(bot), SHARED_DIGEST)
    assert lease is not None and lease.owner == f"<@{ALLOWED}>"


def decision_repository(bot: Bot) -> Any:
    from bot.refs import RepositoryKey

    return RepositoryKey("123456789012", "us-east-1", REPOSITORY)


async def _describe(bot: Bot) -> list[Any]:
    from bot.lifecycle.inputs import image_from_detail

    details = bot.ecr.describe_images(repositoryName=REPOSITORY)["imageDetails"]
    return [image_from_detail(d) for d in details]


async def test_the_same_risk_is_not_posted_twice(bot: Bot) -> None:
    await first_alert(bot)
    summary = await bot.runtime.scheduler.cycle()
    assert summary.ran and summary.reconciled is not None
    assert summary.reconciled.posted == 0 and summary.reconciled.risks >= 1
    assert len(bot.slack.calls_to("chat.postMessage")) == 1


async def test_requests_must_be_signed_by_slack(bot: Bot) -> None:
    response_url = bot.slack.response_url(user_id=ALLOWED)
    body = slash_command_body(
        "help", user_id=ALLOWED, channel_id=CHANNEL_ID, response_url=response_url
    )
    assert (await bot.post(body)).status == 200
    assert (await bot.post(body, headers={})).status == 401
    wrong = sign(body, "not-the-secret")
    assert (await bot.post(body, headers=wrong)).status == 401
    stale = sign(body, SIGNING_SECRET, timestamp=int(time.time()) - 600)
    assert (await bot.post(body, headers=stale)).status == 401


async def test_bad_commands_get_a_private_usage_message(bot: Bot) -> None:
    cases = {
        "protec app:v1": "did you mean protect?",
        "retag webshop-assets:tag-1-257-0": "retag takes 2 arguments, got 1",
        "why-missing Bad_Repo:v1": "not a valid repository name",
        "protect webshop-assets:" + "x" * 129: "not a valid tag",
        "protect webshop-assets@sha256:abc": "sha256: followed by 64",
    }
    for text, expected in cases.items():
        response_url = bot.slack.response_url(user_id=ALLOWED)
        body = slash_command_body(
            text, user_id=ALLOWED, channel_id=CHANNEL_ID, response_url=response_url
        )
        async with aiohttp.ClientSession() as session:
            response = await session.post(
                f"{bot.url}/slack/events", data=body.encode(), headers=sign(body, SIGNING_SECRET)
            )
            answer = await response.json()
        assert response.status == 200
        assert answer["response_type"] == "ephemeral"
        assert expected in answer["text"], (text, answer["text"])


async def test_help_and_why_answer_through_response_url(bot: Bot) -> None:
    response_url = bot.slack.response_url(user_id=ALLOWED)
    body = slash_command_body(
        f"why-missing {REPOSITORY}:tag-1-257-0",
        user_id=ALLOWED,
        channel_id=CHANNEL_ID,
        response_url=response_url,
    )
    assert (await bot.post(body)).status == 200
    answer = await bot.slack.wait_for_response(url=response_url, timeout=30)
    assert answer.body["response_type"] == "ephemeral"
    assert answer.body["text"].startswith("webshop-assets:tag-1-257-0 is present")


async def test_health_readiness_and_metrics(bot: Bot) -> None:
    await first_alert(bot)
    for _ in range(200):  # the cycle goes on after posting the alert
        if bot.runtime.scheduler.last is not None:
            break
        await asyncio.sleep(0.05)
    async with aiohttp.ClientSession() as session:
        for path, expected in (("/healthz", "ok"), ("/readyz", "ready")):
            async with session.get(bot.url + path) as response:
                assert response.status == 200
                assert await response.text() == expected
        # The alert is posted before the cycle ends and its figures reach the gauges.
        deadline = time.monotonic() + 30
        metrics = ""
        while "lifeguard_images_at_risk 1.0" not in metrics:
            assert time.monotonic() < deadline, metrics
            await asyncio.sleep(0.05)
            async with session.get(bot.url + "/metrics") as response:
                metrics = await response.text()


async def test_app_home_lists_risks_and_protections(bot: Bot) -> None:
    await first_alert(bot)
    event = {"type": "app_home_opened", "user": ALLOWED, "channel": "D0HOME", "tab": "home"}
    body = json.dumps(event_callback(event))
    headers = {**sign(body, SIGNING_SECRET), "Content-Type": "application/json"}
    assert (await bot.post(body, headers=headers)).status == 200
    published = await bot.slack.wait_for("views.publish", timeout=30)
    view = json.dumps(published.args["view"])
    assert published.args["user_id"] == ALLOWED
    assert "1 in-use image at risk" in view and "webshop-assets" in view
    assert "ec1477a7420a" in view and "Protections" in view


async def test_a_restore_with_nothing_to_restore_is_private_and_names_the_release(
    bot: Bot,
) -> None:
    alert = await first_alert(bot)
    # A Restore button on an image that is active (say, restored meanwhile) names that image.
    clicked = await bot.click(RESTORE, button_value(alert, PROTECT), ALLOWED, alert.ts)
    answer = await bot.slack.wait_for_response(url=clicked, timeout=30)
    assert answer.body["response_type"] == "ephemeral"
    assert answer.body["text"] == (
        "Nothing to restore: webshop-assets tag-1-253-0 is active and can be pulled."
    )
    await asyncio.sleep(0.2)  # a post to the thread would have been sent before the answer
    assert bot.slack.replies(ALERT_CHANNEL, alert.ts) == []


async def test_why_and_snooze_buttons_answer_in_the_thread(bot: Bot) -> None:
    alert = await first_alert(bot)
    value = button_value(alert, WHY)
    await bot.click(WHY, value, REFUSED, alert.ts)  # read-only: anyone may ask
    why = await bot.slack.wait_for(
        "chat.postMessage", lambda c: c.args.get("thread_ts") == alert.ts, timeout=30
    )
    assert "first push" in why.args["text"] and "LG002" in why.args["text"]
    sentence = next(b for b in alert.blocks if b.get("accessory", {}).get("action_id") == WHY)
    said = sentence["text"]["text"].removeprefix("*Why* ")
    assert said and said not in why.args["text"]  # More goes on from the alert's sentence
    refused = await bot.click(SNOOZE, "3600", REFUSED, alert.ts, selected=True)
    denial = await bot.slack.wait_for_response(url=refused)
    assert "may not snooze" in denial.body["text"]  # snoozing silences an alert: permission
    await bot.click(SNOOZE, "3600", ALLOWED, alert.ts, selected=True)
    snoozed = await bot.slack.wait_for(
        "chat.postMessage",
        lambda c: c.args.get("thread_ts") == alert.ts and "snoozed" in c.args.get("text", ""),
        timeout=30,
    )
    assert f"<@{ALLOWED}> snoozed this" in snoozed.args["text"]
    shown = await bot.slack.wait_for("chat.update", lambda c: c.args.get("ts") == alert.ts)
    assert f"*Snoozed* by <@{ALLOWED}> until" in json.dumps(shown.args["blocks"])
    record = await bot.runtime.deps.alerts.get(
        f"123456789012/us-east-1/{REPOSITORY}@{SHARED_DIGEST}"
    )
    assert record is not None and record.snoozed
