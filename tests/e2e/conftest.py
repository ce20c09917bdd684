"""The running bot of the blog case, for end-to-end tests: moto (ECR), a fake Kubernetes API,
redis-server, a local Slack and CloudTrail; requests signed exactly as Slack signs them."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import Runtime, build_runtime, serving
from bot.edge.stores.redis_store import RedisStore
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
    sign,
)

ALERT_CHANNEL = "C0SHOP"  # #shop-oncall, named by the Deployment's ecr-lifeguard/channel
AUDIT_CHANNEL = "C0AUDIT"
ALLOWED = "U0ALICE"
REFUSED = "U0BOB"
KEEP_TAG = "keep-" + SHARED_DIGEST.removeprefix("sha256:")[:12]


@pytest.fixture(scope="session")
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

    async def click(
        self, action_id: str, value: str, user: str, message_ts: str, *, selected: bool = False
    ) -> str:
        """Click a button of a message the bot posted (or choose the option ``value`` of a menu,
        with ``selected``); return the click's response_url."""
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
            selected=selected,
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
        for element in [*block.get("elements", []), block.get("accessory", {})]:
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button in {message.blocks}")


async def first_alert(bot: Bot) -> Any:
    call = await bot.slack.wait_for("chat.postMessage", timeout=60)
    assert call.response["channel"] == ALERT_CHANNEL
    return bot.slack.message(ALERT_CHANNEL, call.response["ts"])
