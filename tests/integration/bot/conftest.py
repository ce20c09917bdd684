"""The bot's verbs and alerts against real components: moto over HTTP (with the ECR fake for what
moto lacks), a real redis-server or the in-process store, and the local Slack stub.

Every test runs twice, on ``MemoryStore`` and on ``RedisStore``. The verbs get a fixed clock; ECR
is reached through ``AWS_ENDPOINT_URL_ECR`` (the fake, which forwards to moto).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.loaders
import pytest

from bot.edge.aws.cloud import open_cloud
from bot.edge.slack.client import web_client
from bot.edge.slack.notifier import SlackNotifier
from bot.edge.stores.memory import MemoryStore
from bot.edge.stores.redis_store import RedisStore
from bot.lifecycle.timefmt import parse_instant
from bot.ops.deps import Dependencies
from bot.settings import AwsSettings, Settings
from bot.state.journal import Journal
from bot.state.store import Store
from bot.watch.schedule import Scheduler
from tests.support.blog import NOW as BLOG_NOW
from tests.support.blog import REPOSITORY as BLOG_REPOSITORY
from tests.support.blog import SHARED_DIGEST, load_blog_repository
from tests.support.bot_kit import ALICE, ASSETS_CHANNEL, EVALUATED, SHOP_CHANNEL, Clock, StoreKit
from tests.support.ecr_fake import EcrFake
from tests.support.moto_state import ACCOUNT, REGION
from tests.support.redis_server import (
    RedisServer,
    RedisServerMissing,
    flush_prefix,
    redis_url_from_environment,
    start_redis_server,
)
from tests.support.slack_stub import BOT_TOKEN, CHANNEL_ID, SlackStub

Factory = Callable[..., Dependencies]


@pytest.fixture(scope="module", autouse=True)
def parse_botocore_endpoints_once() -> Iterator[None]:
    """Parse botocore's endpoints file (read-only data) once per module, not per SDK session.

    Every unit of work makes fresh AWS clients with a fresh SDK session, as in production, and
    each session parses that file again (about 50 ms); the cache keeps the modules fast.
    """
    original = botocore.loaders.JSONFileLoader.load_file
    parsed: dict[str, Any] = {}

    def load_file(self: Any, file_path: str, *args: Any, **kwargs: Any) -> Any:
        if not file_path.endswith(f"{os.sep}data{os.sep}endpoints"):
            return original(self, file_path, *args, **kwargs)
        if file_path not in parsed:
            parsed[file_path] = original(self, file_path, *args, **kwargs)
        return parsed[file_path]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.loaders.JSONFileLoader, "load_file", load_file)
        yield


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def bot_redis_url() -> Iterator[str]:
    """A Redis for the session: LIFEGUARD_TEST_REDIS_URL, or a redis-server started here."""
    external = redis_url_from_environment()
    if external:
        yield external
        return
    server: RedisServer | None = None
    try:
        server = start_redis_server()
    except RedisServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(params=["memory", "redis"])
async def kit(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[StoreKit]:
    if request.param == "memory":
        yield StoreKit("memory", MemoryStore(clock=clock))
        return
    url = request.getfixturevalue("bot_redis_url")
    prefix = f"lifeguard-bot-test:{uuid.uuid4().hex[:8]}:"
    store = await RedisStore.connect(url, prefix=prefix)
    kit = StoreKit("redis", store, url, prefix)
    try:
        yield kit
    finally:
        for other in kit.opened:
            await other.close()
        await store.close()
        await flush_prefix(url, prefix)


@pytest.fixture
async def fake(moto: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EcrFake]:
    """The ECR fake in front of moto; every ECR client of the verbs goes through it."""
    async with EcrFake(moto) as ecr_fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", ecr_fake.url)
        monkeypatch.delenv("LIFEGUARD_CONFIG", raising=False)
        yield ecr_fake


@pytest.fixture
def ecr(boto: Any, fake: EcrFake) -> Any:
    """A boto3 ECR client straight to moto, to arrange and inspect state (not through the fake)."""
    return boto("ecr")


@pytest.fixture
def make_deps(kit: StoreKit, clock: Clock, fake: EcrFake, tmp_path: Path) -> Factory:
    """``make_deps(protect={...}, permissions=[...], ...)``: the dependencies on the test store."""

    def make(store: Store | None = None, **overrides: Any) -> Dependencies:
        values: dict[str, Any] = {
            "aws": AwsSettings(regions=["us-east-1"], max_attempts=1),
            "inventory": {"ecs": False, "lambda": False},
            "permissions": [{"repositories": "*", "users": [ALICE.user]}],
        }
        values.update(overrides)
        settings = Settings(**values)
        return Dependencies(
            settings,
            store or kit.store,
            lambda: open_cloud(settings),
            clock,
            journal=Journal(tmp_path / f"journal-{uuid.uuid4().hex[:6]}.jsonl"),
        )

    return make


@pytest.fixture
def deps(make_deps: Factory) -> Dependencies:
    return make_deps()


@pytest.fixture
async def stub() -> AsyncIterator[SlackStub]:
    async with SlackStub() as slack:
        slack.add_channel(SHOP_CHANNEL, "shop-oncall")
        slack.add_channel(ASSETS_CHANNEL, "assets")
        yield slack


@dataclass
class Blog:
    """The blog repository in moto, what uses it, and a factory of schedulers."""

    ecr: Any
    by_tag: dict[str, str]
    references: Path
    make_deps: Factory
    stub: SlackStub
    clock: Clock

    def deps(
        self,
        *,
        owner_channel: str | None = None,
        rules: list[dict[str, str]] | None = None,
        store: Store | None = None,
        **overrides: Any,
    ) -> Dependencies:
        shared: dict[str, str] = {
            "image": f"{BLOG_REPOSITORY}@{SHARED_DIGEST}",
            "name": "shop/web-6-x2k9 (still running the shared digest)",
        }
        if owner_channel:
            shared["channel"] = owner_channel
        current = {"image": f"{BLOG_REPOSITORY}:tag-1-257-0", "name": "shop/web"}
        document = {
            "defaults": {"registry": ACCOUNT, "region": REGION},
            "references": [shared, current],
        }
        self.references.write_text(json.dumps(document))  # JSON is YAML
        values: dict[str, Any] = {
            "inventory": {"ecs": False, "lambda": False, "static_references": self.references},
            "routing": {"rules": rules or [], "default_channel": CHANNEL_ID},
        }
        values.update(overrides)
        deps = self.make_deps(store, **values)
        deps.notifier = self.notifier(deps)
        return deps

    def notifier(self, deps: Dependencies) -> SlackNotifier:
        client = web_client(BOT_TOKEN, self.stub.api_url)
        return SlackNotifier.from_settings(client, deps.settings)

    def loop(self, deps: Dependencies) -> Scheduler:
        return Scheduler(deps, self.notifier(deps))

    def slack_writes(self) -> int:
        return len(self.stub.calls_to("chat.postMessage")) + len(self.stub.calls_to("chat.update"))


@pytest.fixture
def blog(
    *,
    ecr: Any,
    fake: EcrFake,
    make_deps: Factory,
    stub: SlackStub,
    clock: Clock,
    tmp_path: Path,
) -> Blog:
    by_tag = load_blog_repository(ecr)
    fake.evaluated(BLOG_REPOSITORY, EVALUATED)
    clock.now = parse_instant(BLOG_NOW)
    return Blog(ecr, by_tag, tmp_path / "references.yaml", make_deps, stub, clock)
