"""SharedCloud: the consumer's AWS clients, reused across events and renewed, against moto."""

from __future__ import annotations

from typing import Any

from bot.edge.aws.cloud import SharedCloud
from bot.refs import RepositoryKey
from bot.settings import Settings
from tests.support.moto_state import ACCOUNT, REGION

SETTINGS = Settings(aws={"regions": [REGION], "max_attempts": 1})
KEY = RepositoryKey(ACCOUNT, REGION, "app")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def lookup(shared: SharedCloud) -> tuple[Any, bool]:
    """(the clients used, whether ECR answered through them)."""
    async with shared() as cloud:
        registry = cloud.registry_for(KEY)
        return cloud.clients, await registry.repository("app") is not None


async def test_events_reuse_one_set_of_clients_until_it_is_renewed(boto: Any) -> None:
    boto("ecr").create_repository(repositoryName="app")
    clock = Clock()
    shared = SharedCloud(SETTINGS, renew_after=900, clock=clock)
    first, found = await lookup(shared)
    again, _ = await lookup(shared)
    assert found and again is first
    clock.now = 901
    renewed, found = await lookup(shared)
    assert found and renewed is not first
    assert first.closed  # the retired clients were closed
    await shared.close()
    assert renewed.closed


async def test_clients_in_use_when_renewed_close_after_their_last_user(boto: Any) -> None:
    boto("ecr").create_repository(repositoryName="app")
    clock = Clock()
    shared = SharedCloud(SETTINGS, renew_after=900, clock=clock)
    async with shared() as slow:
        assert await slow.registry_for(KEY).repository("app") is not None
        clock.now = 1000
        renewed, found = await lookup(shared)  # another event, after the renewal time
        assert found and renewed is not slow.clients
        # the slow event still uses the old clients: they are still open
        assert await slow.registry_for(KEY).repository("app") is not None
        assert not slow.clients.closed
    assert slow.clients.closed
    await shared.close()
