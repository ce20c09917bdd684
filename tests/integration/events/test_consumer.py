"""The event consumer over real connections: moto's SQS (with a dead-letter queue) in server mode,
ECR through the fake (moto behind it), a real redis-server, and the local Slack.

Each test sends EventBridge events to the queue the way EventBridge delivers them and runs the
consumer until every message is handled; then it checks each event's effect happened exactly once.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.edge.aws.clients import AwsClients
from bot.edge.aws.cloud import AwsCloud, open_cloud
from bot.edge.aws.sqs import SqsQueue
from bot.edge.slack.client import web_client
from bot.edge.slack.notifier import SlackNotifier
from bot.edge.stores.redis_store import RedisStore
from bot.ops.deps import Dependencies
from bot.settings import Settings
from bot.state.journal import Journal
from bot.state.records import EventLedger
from bot.watch.consume import Consumer, Handled
from bot.watch.inventory_view import InventoryView
from bot.watch.react import Reactor
from bot.watch.schedule import Scheduler
from tests.support.ecr_fake import EcrFake
from tests.support.moto_state import ACCOUNT, REGION, image_manifest, push, set_image_times
from tests.support.redis_server import RedisServer, flush_prefix, start_redis_server
from tests.support.slack_stub import BOT_TOKEN, CHANNEL_ID, SlackStub

REPO = "shop/web"
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


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = start_redis_server()
    yield server
    server.stop()


@pytest.fixture
async def fake(moto: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EcrFake]:
    async with EcrFake(moto) as ecr_fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", ecr_fake.url)
        yield ecr_fake


@dataclass
class Bench:
    """The queue, ECR, the store, Slack, and consumers on them."""

    sqs: Any
    ecr: Any
    queue_url: str
    dlq_url: str
    settings: Settings
    store: RedisStore
    slack: SlackStub
    tmp: Path
    handled: list[Handled] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)

    def deps(self, store: Any = None) -> Dependencies:
        settings = self.settings
        return Dependencies(
            settings,
            store or self.store,
            lambda: open_cloud(settings),
            time.time,
            journal=Journal(self.tmp / f"journal-{uuid.uuid4().hex[:6]}.jsonl"),
        )

    def send(self, event: dict[str, Any], *, raw: str | None = None) -> None:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=raw or json.dumps(event))

    def push(self, seed: str, tags: list[str], age_days: float) -> str:
        digest = push(self.ecr, REPO, image_manifest(seed), tags)
        set_image_times(
            REPO, digest, pushed=datetime.fromtimestamp(time.time() - age_days * DAY, UTC)
        )
        for tag in tags:
            self.digests[tag] = digest
        return digest


def push_event(digest: str, tag: str, *, event_id: str | None = None) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "ECR Image Action",
        "source": "aws.ecr",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": {
            "result": "SUCCESS",
            "repository-name": REPO,
            "image-digest": digest,
            "action-type": "PUSH",
            "image-tag": tag,
        },
    }


def delete_event(digest: str, tag: str) -> dict[str, Any]:
    event = push_event(digest, tag)
    event["detail"]["action-type"] = "DELETE"
    return event


def policy_event(text: str, *, who: str = "alice") -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ecr",
        "time": now,
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/{who}"},
            "eventTime": now,
            "eventSource": "ecr.amazonaws.com",
            "eventName": "PutLifecyclePolicy",
            "awsRegion": REGION,
            "requestParameters": {"repositoryName": REPO, "lifecyclePolicyText": text},
            "responseElements": {
                "registryId": ACCOUNT,
                "repositoryName": REPO,
                "lifecyclePolicyText": text,
            },
            "eventID": str(uuid.uuid4()),
        },
    }


@pytest.fixture
async def bench(
    boto: Any, fake: EcrFake, redis: RedisServer, tmp_path: Path
) -> AsyncIterator[Bench]:
    sqs, ecr = boto("sqs"), boto("ecr")
    dlq = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue = sqs.create_queue(
        QueueName=f"events-{uuid.uuid4().hex[:6]}",
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})
        },
    )["QueueUrl"]
    ecr.create_repository(repositoryName=REPO)
    ecr.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=KEEP_TWO)
    references = tmp_path / "references.yaml"
    prefix = f"events-test:{uuid.uuid4().hex[:8]}:"
    store = await RedisStore.connect(redis.url, prefix=prefix)
    async with SlackStub() as slack:
        settings = Settings(
            slack_bot_token=BOT_TOKEN,
            slack_api_url=slack.api_url,
            aws={"regions": [REGION], "max_attempts": 3},
            inventory={"ecs": False, "lambda": False, "static_references": references},
            routing={"default_channel": CHANNEL_ID},
            events={"queue_url": queue, "wait_seconds": 1, "visibility": 2, "max_bytes": 100_000},
            scan={"push_margin": 0},
            preview={"enabled": False},
        )
        bench = Bench(sqs, ecr, queue, dlq, settings, store, slack, tmp_path)
        try:
            yield bench
        finally:
            await store.close()
            await flush_prefix(redis.url, prefix)


def use(bench: Bench, digest: str) -> None:
    """shop/web runs ``digest`` (a static reference: the inventory the reactions read)."""
    document = {
        "defaults": {"registry": ACCOUNT, "region": REGION},
        "references": [{"image": f"{REPO}@{digest}", "name": "shop/web (running)"}],
    }
    path = bench.settings.inventory.static_references
    assert path is not None
    path.write_text(json.dumps(document))


@asynccontextmanager
async def consuming(
    bench: Bench,
    *,
    store: Any = None,
    visibility: float | None = None,
    push_margin: int | None = None,
) -> AsyncIterator[Consumer]:
    """A running consumer (its own AWS clients), stopped on exit."""
    settings = bench.settings
    if visibility is not None:
        events = settings.events.model_copy(update={"visibility": visibility})
        settings = settings.model_copy(update={"events": events})
    if push_margin is not None:
        scan = settings.scan.model_copy(update={"push_margin": push_margin})
        settings = settings.model_copy(update={"scan": scan})
    deps = bench.deps(store)
    deps.settings = settings
    notifier = SlackNotifier(web_client(BOT_TOKEN, bench.slack.api_url))
    deps.notifier = notifier
    scheduler = Scheduler(deps, notifier)
    stop = asyncio.Event()
    async with AwsClients(settings.aws) as clients:
        cloud = AwsCloud(settings, clients)
        queue = SqsQueue(clients, cloud.targets[0], bench.queue_url)
        reactor = Reactor(
            deps, notifier, scheduler.reconciler, InventoryView(deps.store, max_age=300)
        )
        consumer = Consumer(
            deps,
            queue,
            reactor,
            settings.events,
            default_account=ACCOUNT,
            on_handled=bench.handled.append,
        )
        task = asyncio.create_task(consumer.run(stop))
        try:
            yield consumer
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=15)


async def until(predicate: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


def posts(bench: Bench, *, containing: str = "") -> list[Any]:
    return [
        c
        for c in bench.slack.calls_to("chat.postMessage")
        if c.ok and containing in json.dumps(c.args)
    ]


def queue_depth(bench: Bench, url: str | None = None) -> int:
    attributes = bench.sqs.get_queue_attributes(
        QueueUrl=url or bench.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


async def two_releases(bench: Bench) -> str:
    """v1 (in use, oldest) and v2: keep 2 releases keeps both; v1 is in use."""
    v1 = bench.push("v1", ["v1"], age_days=3)
    bench.push("v2", ["v2"], age_days=2)
    use(bench, v1)
    return v1


async def test_a_push_that_pushes_an_in_use_image_out_alerts_with_one_ecr_call(
    bench: Bench, fake: EcrFake
) -> None:
    v1 = await two_releases(bench)
    async with consuming(bench):
        # the first event lists the repository once; then each push costs one DescribeImages
        bench.send(push_event(bench.digests["v2"], "v2"))
        await until(lambda: len(bench.handled) == 1)
        assert posts(bench) == []  # v1 is the second newest release: kept
        before = dict(fake.operations)
        v3 = bench.push("v3", ["v3"], age_days=0.1)
        bench.send(push_event(v3, "v3"))
        await until(lambda: len(bench.handled) == 2)
    calls = {
        op: n - before.get(op, 0) for op, n in fake.operations.items() if n != before.get(op, 0)
    }
    assert calls == {"DescribeImages": 1}  # one call per push, no re-list
    [alert] = posts(bench)
    assert v1 in json.dumps(alert.args["blocks"])
    assert [h.outcome for h in bench.handled] == ["applied", "applied"]


async def test_after_n_more_pushes_warnings_are_updated_in_place_by_the_push(
    bench: Bench,
) -> None:
    v1 = await two_releases(bench)
    async with consuming(bench, push_margin=2):
        bench.send(push_event(bench.digests["v2"], "v2"))
        await until(lambda: len(bench.handled) == 1)
        [warning] = posts(bench)  # kept, but one more release pushes it out
        assert "after 1 more push" in json.dumps(warning.args["blocks"])
        v3 = bench.push("v3", ["v3"], age_days=0.1)
        bench.send(push_event(v3, "v3"))
        await until(lambda: len(bench.slack.calls_to("chat.update")) == 1)
    [update] = bench.slack.calls_to("chat.update")
    assert update.args["ts"] == warning.response["ts"]
    assert v1 in json.dumps(update.args["blocks"])
    assert "after 1 more push" not in json.dumps(update.args["blocks"])
    assert len(posts(bench)) == 1


async def test_the_same_event_twice_has_its_effect_once(bench: Bench) -> None:
    await two_releases(bench)
    v3 = bench.push("v3", ["v3"], age_days=0.1)
    event = push_event(v3, "v3")
    async with consuming(bench):
        bench.send(event)
        bench.send(event)
        await until(lambda: len([h for h in bench.handled if h.outcome != "busy"]) == 2)
    # the copy arrived while the first was worked on ("busy", left in the queue) or after it
    final = [h.outcome for h in bench.handled if h.outcome != "busy"]
    assert sorted(final) == ["applied", "duplicate"]
    assert len(posts(bench)) == 1
    assert queue_depth(bench) == 0


async def test_bad_messages_are_logged_counted_and_deleted_never_retried(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    await two_releases(bench)
    unknown = push_event(bench.digests["v2"], "v2")
    unknown["detail-type"] = "ECR Replication Action"
    missing = push_event(bench.digests["v2"], "v2")
    del missing["detail"]["image-digest"]
    async with consuming(bench):
        bench.send({}, raw="{not json")
        bench.send(unknown)
        bench.send(missing)
        bench.send({}, raw=json.dumps({"padding": "x" * 300_000})[:262_000])
        bench.send(push_event(bench.digests["v2"], "v2"))  # a good one after the bad ones
        await until(lambda: len(bench.handled) == 5)
    outcomes = sorted((h.kind, h.outcome) for h in bench.handled)
    assert outcomes == [
        ("image_push", "applied"),
        ("rejected", "malformed"),
        ("rejected", "malformed"),
        ("rejected", "oversized"),
        ("rejected", "unknown"),
    ]
    dropped = [r for r in caplog.records if "dropped message" in r.getMessage()]
    assert len(dropped) == 4 and all(r.exc_info is None for r in dropped)
    assert queue_depth(bench) == 0 and queue_depth(bench, bench.dlq_url) == 0


async def test_an_in_use_image_deleted_gets_an_urgent_message_with_restore(bench: Bench) -> None:
    v1 = await two_releases(bench)
    unused = bench.push("old", ["old"], age_days=5)
    async with consuming(bench):
        bench.send(push_event(unused, "old"))  # the repository is cached
        await until(lambda: len(bench.handled) == 1)
        bench.ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": unused}])
        bench.ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": v1}])
        bench.send(delete_event(unused, "old"))
        bench.send(delete_event(v1, "v1"))
        await until(lambda: len(bench.handled) == 3)
    [urgent] = posts(bench, containing="lg_restore")  # nothing for the unused one
    blocks = json.dumps(urgent.args["blocks"])
    assert (
        urgent.args["text"].startswith("Deleted: shop/web v1 (") and "What will now fail" in blocks
    )
    assert "shop/web (running)" in blocks and v1 in blocks


async def test_a_policy_change_posts_its_blast_radius(bench: Bench) -> None:
    v1 = await two_releases(bench)
    keep_one = KEEP_TWO.replace('"countNumber": 2', '"countNumber": 1')
    async with consuming(bench):
        bench.send(push_event(bench.digests["v2"], "v2"))
        await until(lambda: len(bench.handled) == 1)
        bench.ecr.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=keep_one)
        bench.send(policy_event(keep_one, who="alice"))
        await until(lambda: len(bench.handled) == 2)
    blast = posts(bench, containing="Lifecycle policy of shop/web changed")
    assert len(blast) == 1
    text = json.dumps(blast[0].args["blocks"])
    assert "1 in-use image now at risk" in blast[0].args["text"]
    assert "In use, and now at risk" in text and v1[7:19] in text
    assert "arn:aws:iam::111111111111" not in text and "alice" in text
    alerts = posts(bench, containing="lg_protect")
    assert len(alerts) == 1  # and the alert itself


async def test_events_out_of_order_end_with_ecrs_state(bench: Bench) -> None:
    await two_releases(bench)
    v3 = bench.push("v3", ["v3"], age_days=0.1)
    bench.ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": v3}])
    async with consuming(bench):
        bench.send(delete_event(v3, "v3"))
        await until(lambda: len(bench.handled) == 1)
        bench.send(push_event(v3, "v3"))  # the push arrives after the delete
        await until(lambda: len(bench.handled) == 2)
    assert posts(bench) == []  # v3 is gone: v1 is still within the two kept releases


async def test_slack_rate_limits_delay_alerts_and_never_drop_them(bench: Bench) -> None:
    await two_releases(bench)
    v3 = bench.push("v3", ["v3"], age_days=0.1)
    bench.slack.fail_next("chat.postMessage", "ratelimited", retry_after=1, times=2)
    async with consuming(bench):
        bench.send(push_event(v3, "v3"))
        await until(lambda: len(posts(bench)) == 1, within=30)
    assert len(posts(bench)) == 1 and queue_depth(bench) == 0


async def test_a_slack_failure_leaves_the_event_for_redelivery(bench: Bench) -> None:
    await two_releases(bench)
    v3 = bench.push("v3", ["v3"], age_days=0.1)
    bench.slack.fail_next("chat.postMessage", "internal_error", status=500, times=2)
    async with consuming(bench):
        bench.send(push_event(v3, "v3"))
        await until(lambda: len(posts(bench)) == 1, within=45)
    outcomes = [h.outcome for h in bench.handled]
    assert outcomes[0] == "failed" and outcomes[-1] == "applied"
    assert len(posts(bench)) == 1 and queue_depth(bench) == 0


async def test_an_event_that_always_fails_reaches_the_dead_letter_queue_and_the_audit(
    bench: Bench,
) -> None:
    await two_releases(bench)
    v3 = bench.push("v3", ["v3"], age_days=0.1)
    bench.slack.fail_next("chat.postMessage", "internal_error", status=500, times=100)
    async with consuming(bench):
        bench.send(push_event(v3, "v3"))
        await until(lambda: len(bench.handled) == 3, within=60)
        await until(lambda: queue_depth(bench, bench.dlq_url) == 1, within=30)
    entries = await bench.deps().audit.recent(5)
    assert any(
        "goes to the dead-letter queue after 3 attempts" in (e.detail or "") for e in entries
    )


async def test_aws_throttling_is_waited_out(bench: Bench, fake: EcrFake) -> None:
    await two_releases(bench)
    v3 = bench.push("v3", ["v3"], age_days=0.1)
    fake.throttle["DescribeImages"] = 2
    async with consuming(bench):
        bench.send(push_event(v3, "v3"))
        await until(lambda: len(bench.handled) == 1, within=30)
    assert [h.outcome for h in bench.handled] == ["applied"] and len(posts(bench)) == 1


async def test_a_redis_restart_mid_stream_pauses_and_loses_nothing(
    bench: Bench, redis: RedisServer
) -> None:
    await two_releases(bench)
    own = start_redis_server()
    store = await RedisStore.connect(own.url, retries=1, socket_timeout=2)
    try:
        v3 = bench.push("v3", ["v3"], age_days=0.1)
        async with consuming(bench, store=store):
            bench.send(push_event(bench.digests["v2"], "v2"))
            await until(lambda: len(bench.handled) == 1)
            port = own.port
            own.stop()
            bench.send(push_event(v3, "v3"))
            await asyncio.sleep(2)
            # paused: nothing is applied while the store is down (a message received just as
            # it went away failed, and stays in the queue)
            assert [h.outcome for h in bench.handled[1:]] in ([], ["failed"])
            own = start_redis_server(port=port)
            await until(lambda: len(posts(bench)) == 1, within=45)
            await until(lambda: [h.outcome for h in bench.handled][-1] == "applied")
        assert queue_depth(bench) == 0
    finally:
        await store.close()
        own.stop()


async def test_a_consumer_killed_mid_batch_loses_nothing(bench: Bench) -> None:
    await two_releases(bench)
    v3 = bench.push("v3", ["v3"], age_days=0.1)
    events = [push_event(v3, "v3")] + [push_event(bench.digests["v2"], "v2") for _ in range(4)]
    for event in events:
        bench.send(event)
    first = consuming(bench, visibility=2)
    consumer = await first.__aenter__()
    await until(lambda: len(bench.handled) >= 1)
    for task in list(consumer._in_flight):  # the process dies: no release, no clean stop
        task.cancel()
    await first.__aexit__(None, None, None)
    async with consuming(bench, visibility=2):
        await until(lambda: queue_depth(bench) == 0, within=45)
    ledger = EventLedger(bench.store)
    for event in events:  # every event's effect happened, once
        assert await ledger.begin(event["id"], "checker", ttl=60) == "done"
    assert len(posts(bench)) == 1  # v3's alert, once


def lifecycle_run_event(digest: str, tags: list[str], rule: int = 1) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS Service Event via CloudTrail",
        "source": "aws.ecr",
        "time": now,
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"accountId": ACCOUNT, "invokedBy": "AWS Internal"},
            "eventTime": now,
            "eventSource": "ecr.amazonaws.com",
            "eventName": "PolicyExecutionEvent",
            "awsRegion": REGION,
            "eventID": str(uuid.uuid4()),
            "readOnly": True,
            "eventType": "AwsServiceEvent",
            "serviceEventDetails": {
                "repositoryName": REPO,
                "lifecycleEventPolicy": {
                    "lifecycleEventRules": [
                        {
                            "rulePriority": rule,
                            "description": "keep 2 releases",
                            "lifecycleEventSelection": {
                                "tagStatus": "Tagged",
                                "tagPrefixList": ["v"],
                                "countType": "Image count more than",
                                "countNumber": 2,
                            },
                            "action": "expire",
                        }
                    ]
                },
                "lifecycleEventImageActions": [
                    {
                        "lifecycleEventImage": {
                            "digest": digest,
                            "tagStatus": "Tagged",
                            "tagList": tags,
                            "pushedAt": int((time.time() - 3 * DAY) * 1000),
                        },
                        "rulePriority": rule,
                    }
                ],
            },
        },
    }


async def test_a_lifecycle_run_is_evidence_why_missing_answers_at_once(bench: Bench) -> None:
    from bot.ops.authorize import Actor
    from bot.ops.dispatch import Ops
    from bot.ops.registry import parse_command

    v1 = await two_releases(bench)
    bench.push("v3", ["v3"], age_days=0.1)
    bench.ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": v1}])
    async with consuming(bench):
        bench.send(lifecycle_run_event(v1, ["v1"]))
        await until(lambda: len(bench.handled) == 1)
    [urgent] = posts(bench, containing="lg_restore")
    assert "Deleted by lifecycle rule 1*, noticed" in json.dumps(urgent.args)
    ops = Ops(bench.deps())
    # CloudTrail (a closed endpoint here) has nothing yet: the stored evidence answers.
    reply = await ops.run(parse_command(f"why-missing {REPO}:v1"), Actor("U0ANY", "C0OPS"))
    text = json.dumps(reply.payload)
    assert "EXPIRED_BY_LIFECYCLE" in text and "rule 1" in text, reply.lines


async def test_on_stop_a_message_in_flight_is_released_at_once(bench: Bench, fake: EcrFake) -> None:
    await two_releases(bench)
    v3 = bench.push("v3", ["v3"], age_days=0.1)
    fake.delay["DescribeRepositories"] = 10.0  # the first reaction lists the repository: slowly
    first = consuming(bench, visibility=60)
    await first.__aenter__()
    bench.send(push_event(v3, "v3"))
    await until(lambda: fake.operations["DescribeRepositories"] >= 1)
    stopped = time.monotonic()
    await first.__aexit__(None, None, None)  # stop: the reaction cannot finish in time
    assert time.monotonic() - stopped < 6.0
    fake.delay.clear()
    async with consuming(bench, visibility=60):
        # released (visibility 0): another consumer has it now, not after 60 s
        await until(lambda: len(posts(bench)) == 1, within=15)
        await until(lambda: any(h.outcome == "applied" for h in bench.handled))
