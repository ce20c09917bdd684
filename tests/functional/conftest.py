"""Functional tests: whole flows (reconcile, the verbs, the error mapping) over in-process fakes
of the interfaces — no network, milliseconds a test. Wire-level fakes stay in integration/, e2e/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.inventory.models import Consumer, ImageUse, UseKind
from bot.ops.deps import Dependencies
from bot.ops.dispatch import Ops
from bot.refs import ImageRef
from bot.settings import Settings
from bot.state.journal import Journal
from tests.support.bot_kit import Clock
from tests.support.fakes import (
    ACCOUNT,
    REGION,
    FixedSource,
    FlakyStore,
    MemoryCloud,
    MemoryRegistry,
    RecordingNotifier,
)

NOW = 1_750_000_000.0
DAY = 86_400.0
KEEP_TWO = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "description": "keep 2 releases",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["v"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 2,
                },
                "action": {"type": "expire"},
            }
        ]
    }
)


class World:
    """A registry with repository ``app`` (keep 2 ``v*`` releases), what uses which image, the
    store, the notifier, and the dependencies the verbs and the reconciler get."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = Clock(NOW)
        self.registry = MemoryRegistry()
        self.key = self.registry.add_repository("app", policy=KEEP_TWO)
        self.source = FixedSource([])
        self.cloud = MemoryCloud([self.registry], [self.source])
        self.store = FlakyStore(self.clock)
        self.notifier = RecordingNotifier()
        self.settings = Settings(
            aws={"regions": [REGION]},
            routing={"default_channel": "C0ALERTS"},
            permissions=[{"repositories": "*", "users": ["U0ALICE"]}],
        )
        self.deps = Dependencies(
            self.settings,
            self.store,
            self.cloud.open,
            self.clock,
            journal=Journal(tmp_path / "journal.jsonl"),
            notifier=self.notifier,
        )
        self.ops = Ops(self.deps)

    def push(self, seed: str, *tags: str, age_days: float = 1.0) -> str:
        return self.registry.push("app", seed, tags, NOW - age_days * DAY)

    def use(
        self,
        digest: str,
        where: str = "shop/web",
        channel: str | None = None,
        repository: str = "app",
    ) -> None:
        ref = ImageRef(repository, digest=digest, registry=ACCOUNT, region=REGION)
        consumer = Consumer("kubernetes", where, channel=channel)
        self.source.uses.append(ImageUse(ref, UseKind.RUNNING, consumer))


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def texts(payload: dict[str, Any]) -> str:
    return json.dumps(payload)
