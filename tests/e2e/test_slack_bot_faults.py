"""The running bot when Slack misbehaves or a request is not Slack's: replies still reach people,
the audit channel never slows a command, and bad requests get 400/401 — never a traceback."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.parse

import aiohttp
import pytest

from bot.blocks.common import CONFIRM_GUARD, PROTECT
from tests.e2e.conftest import ALERT_CHANNEL, ALLOWED, AUDIT_CHANNEL, Bot, button_value, first_alert
from tests.support.slack_stub import CHANNEL_ID, SIGNING_SECRET, sign, slash_command_body


async def test_a_confirmation_reaches_the_asker_when_slack_refuses_the_thread_post(
    bot: Bot,
) -> None:
    alert = await first_alert(bot)
    bot.slack.fail_next("chat.postMessage", "internal_error", status=500)
    clicked = await bot.click(PROTECT, button_value(alert, PROTECT), ALLOWED, alert.ts)
    answer = await bot.slack.wait_for_response(url=clicked, timeout=30)
    assert CONFIRM_GUARD in json.dumps(answer.body["blocks"])  # the Apply button got through
    assert answer.body["response_type"] == "in_channel"


async def test_when_every_way_fails_the_thread_says_so_naming_the_asker(bot: Bot) -> None:
    alert = await first_alert(bot)
    bot.slack.fail_next("chat.postMessage", "internal_error", status=500)
    bot.slack.fail_next_responses(500)
    bot.slack.fail_next("chat.postEphemeral", "internal_error", status=500)
    await bot.click(PROTECT, button_value(alert, PROTECT), ALLOWED, alert.ts)
    posted = await bot.slack.wait_for(
        "chat.postMessage",
        lambda c: c.args.get("thread_ts") == alert.ts and c.ok,
        timeout=30,
    )
    text = posted.args["text"]
    assert f"<@{ALLOWED}>: Slack did not accept my private answer" in text
    assert CONFIRM_GUARD in json.dumps(posted.args["blocks"])


async def test_a_rate_limited_audit_channel_never_delays_a_command(bot: Bot) -> None:
    await first_alert(bot)
    bot.slack.fail_next("chat.postMessage", "ratelimited", retry_after=2, times=2)
    response_url = bot.slack.response_url(user_id=ALLOWED)
    body = slash_command_body(
        "retag webshop-assets:tag-1-257-0 hotfix",
        user_id=ALLOWED,
        channel_id=CHANNEL_ID,
        response_url=response_url,
    )
    started = time.monotonic()
    assert (await bot.post(body)).status == 200
    answer = await bot.slack.wait_for_response(url=response_url, timeout=30)
    answered_in = time.monotonic() - started
    assert answer.body["text"].startswith("Retagged webshop-assets tag-1-257-0 as")
    assert answered_in < 2.0, answered_in
    posted = await bot.slack.wait_for(
        "chat.postMessage",
        lambda c: c.args.get("channel") == AUDIT_CHANNEL and c.ok and "retag" in c.args["text"],
        timeout=30,
    )
    assert "*retag* webshop-assets" in posted.args["text"]  # delayed, never dropped


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"command=%2Fecr&text=\xff\xfe", {}, 400),
        (b"command=%2Fecr&text=help", {"Content-Type": "application/json"}, 400),
        (b"command=%2Fecr&text=help", {"X-Slack-Request-Timestamp": "soon"}, 401),
        (b"payload=%7Bnot-json", {}, 400),
    ],
    ids=["not-utf-8", "json-content-type-on-a-form", "timestamp-not-a-number", "payload-not-json"],
)
async def test_requests_that_cannot_be_slacks_get_400_or_401_and_one_log_line(
    bot: Bot,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    headers: dict[str, str],
    status: int,
) -> None:
    signed = sign(body.decode("latin-1"), SIGNING_SECRET)
    with caplog.at_level(logging.WARNING):
        async with aiohttp.ClientSession() as session:
            response = await session.post(
                f"{bot.url}/slack/events", data=body, headers={**signed, **headers}
            )
            await response.read()
    assert response.status == status
    assert "Traceback" not in caplog.text
    refusals = [r for r in caplog.records if "refused a request" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].exc_info is None


async def test_an_unsigned_flood_fills_no_log_with_tracebacks(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    body = urllib.parse.urlencode({"command": "/ecr", "text": "help"})
    with caplog.at_level(logging.DEBUG):
        results = await asyncio.gather(*(bot.post(body, headers={}) for _ in range(20)))
    assert {r.status for r in results} == {401}
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)
    assert ALERT_CHANNEL
