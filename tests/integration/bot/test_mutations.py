"""Changes to ECR are never half-done, lost or raced — over real connections: moto (through the ECR
fake), a redis-server this test kills and restarts, and the verbs as Slack runs them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.edge.aws.cloud import open_cloud
from bot.edge.stores.redis_store import RedisStore
from bot.ops.authorize import Actor
from bot.ops.deps import Dependencies
from bot.ops.dispatch import Ops
from bot.ops.registry import parse_command
from bot.ops.verb import Reply
from bot.settings import AwsSettings, Settings
from bot.state.journal import Journal
from tests.support.bot_kit import KEY, REPO, Clock, create_repository, keep_tag_of, push_image
from tests.support.ecr_fake import EcrFake
from tests.support.redis_server import RedisServer, start_redis_server

ALICE = Actor("U0ALICE", "C0OPS")
ROUNDS = 25


@pytest.fixture
async def redis() -> AsyncIterator[RedisServer]:
    server = start_redis_server()
    yield server
    server.stop()


async def make_ops(redis: RedisServer, clock: Clock, tmp_path: Path) -> tuple[Ops, Dependencies]:
    settings = Settings(
        aws=AwsSettings(regions=["us-east-1"], max_attempts=1),
        inventory={"ecs": False, "lambda": False},
        permissions=[{"repositories": "*", "users": [ALICE.user]}],
    )
    store = await RedisStore.connect(redis.url, retries=1, socket_timeout=2.0)
    deps = Dependencies(
        settings, store, lambda: open_cloud(settings), clock, journal=Journal(tmp_path / "j.jsonl")
    )
    return Ops(deps), deps


async def run(ops: Ops, text: str) -> Reply:
    return await ops.run(parse_command(text), ALICE)


def tags(ecr: Any) -> dict[str, set[str]]:
    details = ecr.describe_images(repositoryName=REPO)["imageDetails"]
    return {d["imageDigest"]: set(d.get("imageTags", [])) for d in details}


async def test_with_redis_down_protect_and_retag_change_nothing(
    ecr: Any, fake: EcrFake, redis: RedisServer, clock: Clock, tmp_path: Path
) -> None:
    create_repository(ecr)
    digest = push_image(ecr, "v1", ["v1", "v1-extra"])
    ops, deps = await make_ops(redis, clock, tmp_path)
    redis.stop()
    for text in ("protect app:v1 for 3d", "retag app:v1 stable", "unprotect app:v1"):
        reply = await run(ops, text)
        assert "nothing was changed" in json.dumps(reply.payload), (text, reply.lines)
    assert tags(ecr)[digest] == {"v1", "v1-extra"}
    assert fake.calls("PutImage") == [] and fake.calls("BatchDeleteImage") == []
    await deps.store.close()


async def test_redis_killed_mid_command_the_change_is_journaled_and_replayed(
    ecr: Any, fake: EcrFake, redis: RedisServer, clock: Clock, tmp_path: Path
) -> None:
    create_repository(ecr)
    digest = push_image(ecr, "v1", ["v1"])
    ops, deps = await make_ops(redis, clock, tmp_path)
    fake.after["PutImage"] = redis.stop  # ECR tagged the image; Redis dies before the lease
    reply = await run(ops, "protect app:v1 for 3d INC-9")
    fake.after.clear()
    keep = keep_tag_of(digest)
    assert keep in tags(ecr)[digest]  # the change happened, so it is not reported as failed
    text = "\n".join(reply.lines)
    assert reply.exit == 0 and f"Done in ECR: keep tag {keep} is on the image" in text
    assert "kept in this replica's journal" in text
    journal = deps.journal
    assert journal is not None and [w.kind for w in journal.pending()] == ["put-lease", "audit"]

    again = start_redis_server(port=redis.port)  # Redis comes back (empty: no persistence)
    try:
        await deps.store.close()
        store = await RedisStore.connect(again.url)
        assert await journal.replay(store) == 2
        deps = Dependencies(deps.settings, store, deps.cloud, clock, journal=journal)
        lease = await deps.leases.get(KEY, digest)
        assert lease is not None and lease.keep_tag == keep and lease.reason == "INC-9"
        [entry] = await deps.audit.recent()
        assert (entry.action, entry.result, entry.digest) == ("protect", "ok", digest)
        assert await journal.replay(store) == 0  # replayed once
        await store.close()
    finally:
        again.stop()


async def agree(ecr: Any, deps: Dependencies, digest: str) -> bool:
    """ECR, the lease and the audit log tell the same story about the image's protection."""
    lease = await deps.leases.get(KEY, digest)
    tagged = keep_tag_of(digest) in tags(ecr)[digest]
    newest = await deps.audit.recent(1)
    protected_last = bool(newest) and newest[0].action == "protect" and newest[0].result == "ok"
    return tagged == (lease is not None) == protected_last


async def test_protect_racing_unprotect_keeps_ecr_leases_and_audit_in_agreement(
    ecr: Any, fake: EcrFake, redis: RedisServer, clock: Clock, tmp_path: Path
) -> None:
    create_repository(ecr)
    digest = push_image(ecr, "v1", ["v1", "v1-extra"])
    ops, deps = await make_ops(redis, clock, tmp_path)
    outcomes = set()
    for _ in range(ROUNDS):
        first, second = await asyncio.gather(
            run(ops, "protect app:v1 for 2d"), run(ops, "unprotect app:v1")
        )
        outcomes.add((first.exit, second.exit))
        assert await agree(ecr, deps, digest), (first.lines, second.lines)
        await run(ops, "unprotect app:v1")
        assert await agree(ecr, deps, digest)
    assert (0, 0) in outcomes or (0, 2) in outcomes
    await deps.store.close()


async def test_two_protects_at_once_never_lose_an_update(
    ecr: Any, fake: EcrFake, redis: RedisServer, clock: Clock, tmp_path: Path
) -> None:
    create_repository(ecr)
    digest = push_image(ecr, "v1", ["v1"])
    ops, deps = await make_ops(redis, clock, tmp_path)
    for round_number in range(ROUNDS):
        clock.advance(60)
        short, long = 3600 * (1 + round_number % 3), 86_400 * (2 + round_number % 4)
        replies = await asyncio.gather(
            run(ops, f"protect app:v1 for {short}s short-{round_number}"),
            run(ops, f"protect app:v1 for {long}s long-{round_number}"),
        )
        assert [r.exit for r in replies] == [0, 0]
        lease = await deps.leases.get(KEY, digest)
        assert lease is not None and lease.until >= clock.now + long
        reasons = lease.reason.split("; ")
        assert {f"short-{round_number}", f"long-{round_number}"} <= set(reasons)
        assert keep_tag_of(digest) in tags(ecr)[digest]
    entries = await deps.audit.recent(2 * ROUNDS)
    assert len(entries) == 2 * ROUNDS and {e.result for e in entries} == {"ok"}
    await deps.store.close()
