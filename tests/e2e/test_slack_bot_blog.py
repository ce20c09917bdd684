"""The Slack bot end to end: the blog case alerted, protected, refused, over real connections.

Real components: moto in server mode (ECR), a fake Kubernetes API server, redis-server, and a
local Slack (Web API, response_url). Requests to the bot are signed exactly as Slack signs them.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.adapters.redis_store import RedisStore
from bot.app import Runtime, build_runtime, serving
from bot.blocks.common import CONFIRM_GUARD, PROTECT, SNOOZE, WHY
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.guard import is_guard
from bot.lifecycle.parse import parse_policy
from bot.lifecycle.timefmt import parse_instant
from bot.settings import Settings
from tests.e2e.test_scan_blog import deploy_shop
from tests.support.blog import NOW, REPOSITORY, SHARED_DIGEST, load_blog_repository
from tests.support.cloudtrail_fake import CloudTrailFake
from tests.support.kube_api import FakeKubeApi
from tests.support.redis_server import RedisServer, free_port, start_redis_server
from tests.support.slack_stub import (
    BOT_TOKEN,
    CHANNEL_ID,
    SIGNING_SECRET,
    SlackStub,
    block_action_payload,
    event_callback,
    sign,
    slash_command_body,
)

ALERT_CHANNEL = "C0SHOP"  # #shop-oncall, named by the Deployment's ecr-lifeguard/channel
AUDIT_CHANNEL = "C0AUDIT"
ALLOWED = "U0ALICE"
REFUSED = "U0BOB"
KEEP_TAG = "keep-" + SHARED_DIGEST.removeprefix("sha256:")[:12]


@pytest.fixture(scope="module")
def redis_server() -> AsyncIterator[RedisServer]:
    server = start_redis_server()
    yield server
    server.stop()


@dataclass
class Bot:
    """The running bot and what it talks to."""

    runtime: Runtime
    url: str
    slack: SlackStub
    ecr: Any

    async def post(
        self, body: str, *, headers: dict[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        async with aiohttp.ClientSession() as session:
            response = await session.post(
                f"{self.url}/slack/events",
                data=body.encode(),
                headers=headers if headers is not None else sign(body, SIGNING_SECRET),
            )
            await response.read()
            return response

    async def click(self, action_id: str, value: str, user: str, message_ts: str) -> str:
        """Click a button of a message the bot posted; return the click's response_url."""
        response_url = self.slack.response_url(
            channel_id=ALERT_CHANNEL, user_id=user, message_ts=message_ts
        )
        stored = self.slack.message(ALERT_CHANNEL, message_ts).to_json()
        payload = block_action_payload(
            action_id,
            value,
            user_id=user,
            channel_id=ALERT_CHANNEL,
            message_ts=message_ts,
            response_url=response_url,
            message=stored,
        )
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        assert (await self.post(body)).status == 200
        return response_url

    def images(self) -> dict[str, list[str]]:
        details = self.ecr.describe_images(repositoryName=REPOSITORY)["imageDetails"]
        return {d["imageDigest"]: d.get("imageTags", []) for d in details}

    def policy(self) -> str:
        return str(self.ecr.get_lifecycle_policy(repositoryName=REPOSITORY)["lifecyclePolicyText"])


def bot_settings(slack: SlackStub, redis_url: str, kubeconfig: Path) -> Settings:
    return Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        redis_url=redis_url,
        aws={"regions": ["us-east-1"], "max_attempts": 1},
        kubernetes={"enabled": True, "kubeconfig": str(kubeconfig), "contexts": ["prod-eks"]},
        inventory={"ecs": False, "lambda": False},
        routing={"default_channel": CHANNEL_ID},
        permissions=[{"repositories": "webshop-*", "users": [ALLOWED]}],
        bot={"scan_interval": 3600, "audit_channel": AUDIT_CHANNEL},
    )


@pytest.fixture
async def bot(
    boto: Any, redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Bot]:
    ecr = boto("ecr")
    by_tag = load_blog_repository(ecr)
    api = await FakeKubeApi().start()
    deploy_shop(api, by_tag)
    kubeconfig = api.kubeconfig(tmp_path / "kubeconfig", context="prod-eks")
    prefix = f"e2e-{time.monotonic_ns()}:"
    store = await RedisStore.connect(redis_server.url, prefix=prefix)
    async with SlackStub() as slack, CloudTrailFake() as trail:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", trail.url)
        slack.add_user("U0BOB", "bob")
        slack.add_channel(ALERT_CHANNEL, "shop-oncall")
        slack.add_channel(AUDIT_CHANNEL, "lifeguard-audit")
        settings = bot_settings(slack, redis_server.url, kubeconfig)
        now = parse_instant(NOW)
        runtime = build_runtime(settings, store, mode="http", clock=lambda: now)
        port = free_port()
        try:
            async with serving(runtime, "http", port, host="127.0.0.1"):
                yield Bot(runtime, f"http://127.0.0.1:{port}", slack, ecr)
        finally:
            await api.stop()


def button_value(message: Any, action_id: str) -> str:
    for block in message.blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button in {message.blocks}")


async def first_alert(bot: Bot) -> Any:
    call = await bot.slack.wait_for("chat.postMessage", timeout=60)
    assert call.response["channel"] == ALERT_CHANNEL
    return bot.slack.message(ALERT_CHANNEL, call.response["ts"])


async def test_blog_alert_protect_refused_then_allowed(bot: Bot) -> None:
    alert = await first_alert(bot)
    assert "webshop-assets ec1477a7420a" in alert.text
    buttons = json.dumps(alert.blocks)
    for action_id in (PROTECT, SNOOZE, WHY):
        assert action_id in buttons
    assert "shop/web-6-x2k9" in buttons and "tag-1-251-0" in buttons
    value = button_value(alert, PROTECT)
    policy_before, images_before = bot.policy(), bot.images()

    refused = await bot.click(PROTECT, value, REFUSED, alert.ts)
    denial = await bot.slack.wait_for_response(url=refused)
    assert "may not protect" in denial.body["text"]
    assert bot.policy() == policy_before and bot.images() == images_before
    audit = await bot.runtime.lifeguard.audit.recent(5)
    assert audit[0]["result"] == "denied" and audit[0]["actor"] == f"<@{REFUSED}>"
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

    confirmed = await bot.click(CONFIRM_GUARD, token_value, ALLOWED, thread_reply.ts)
    applied = await bot.slack.wait_for_response(url=confirmed, timeout=30)
    assert applied.body["text"] == "Guard rule applied to webshop-assets"
    assert "applied the guard rule" in json.dumps(applied.body["blocks"])
    await bot.slack.wait_for("chat.update", lambda c: c.args.get("ts") == alert.ts, timeout=30)
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
    lease = await bot.runtime.lifeguard.leases.get(decision_repository(bot), SHARED_DIGEST)
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
    summary = await bot.runtime.loop.cycle()
    assert summary.ran and summary.posted == 0 and summary.risks >= 1
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
        "retag webshop-assets:tag-1-257-0": "retag takes 2 argument(s), got 1",
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


async def test_why_and_snooze_buttons_answer_in_the_thread(bot: Bot) -> None:
    alert = await first_alert(bot)
    value = button_value(alert, WHY)
    await bot.click(WHY, value, REFUSED, alert.ts)  # read-only: anyone may ask
    why = await bot.slack.wait_for(
        "chat.postMessage", lambda c: c.args.get("thread_ts") == alert.ts, timeout=30
    )
    assert "first push" in why.args["text"] and "LG002" in why.args["text"]
    await bot.click(SNOOZE, value, REFUSED, alert.ts)
    snoozed = await bot.slack.wait_for(
        "chat.postMessage",
        lambda c: c.args.get("thread_ts") == alert.ts and "snoozed" in c.args.get("text", ""),
        timeout=30,
    )
    assert f"<@{REFUSED}> snoozed this" in snoozed.args["text"]
    record = await bot.runtime.lifeguard.alerts.get(
        f"123456789012/us-east-1/{REPOSITORY}@{SHARED_DIGEST}"
    )
    assert record is not None and record.snoozed
