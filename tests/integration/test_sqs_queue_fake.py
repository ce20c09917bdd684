"""The load-test SQS queue (tests.support.sqs_queue) through the bot's own SqsQueue adapter, so
the benchmark's queue behaves as the consumer expects SQS to."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bot.edge.aws.clients import AwsClients, targets
from bot.edge.aws.sqs import SqsQueue
from bot.errors import LifeguardError
from bot.settings import AwsSettings
from tests.support.sqs_queue import SqsQueueServer

SETTINGS = AwsSettings(regions=["us-east-1"], max_attempts=1)


@pytest.fixture
async def queue(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[SqsQueue, SqsQueueServer]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    async with SqsQueueServer() as server, AwsClients(SETTINGS) as aws:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", server.url)
        yield SqsQueue(aws, targets(SETTINGS)[0], server.queue_url), server


async def send(aws_queue: SqsQueue, body: str) -> None:
    await aws_queue.aws.call(
        aws_queue.target, "sqs", "send_message", QueueUrl=aws_queue.url, MessageBody=body
    )


async def test_a_long_poll_wakes_when_a_message_arrives(
    queue: tuple[SqsQueue, SqsQueueServer],
) -> None:
    sqs, _ = queue
    receiving = asyncio.create_task(sqs.receive(10, wait=5, visibility=30))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await send(sqs, '{"id": 1}')
    [message] = await receiving
    assert time.monotonic() - started < 1.0
    assert message.body == '{"id": 1}' and message.receive_count == 1
    assert abs(message.sent_at - time.time()) < 5
    await sqs.delete(message)
    assert await sqs.receive(10, wait=0, visibility=30) == []


async def test_an_unfinished_message_comes_again_after_its_visibility_or_at_once_when_released(
    queue: tuple[SqsQueue, SqsQueueServer],
) -> None:
    sqs, _ = queue
    await send(sqs, "a")
    [first] = await sqs.receive(1, wait=0, visibility=1)
    assert await sqs.receive(1, wait=0, visibility=1) == []  # hidden
    [again] = await sqs.receive(1, wait=3, visibility=30)  # came back after 1 s
    assert again.receive_count == 2 and again.receipt != first.receipt
    await sqs.extend(again, 0)  # released: visible at once
    [third] = await sqs.receive(1, wait=0, visibility=30)
    assert third.receive_count == 3
    with pytest.raises(LifeguardError, match="ReceiptHandleIsInvalid"):
        await sqs.delete(first)  # a receipt from an earlier receive
    await sqs.delete(third)


async def test_batches_and_counts(queue: tuple[SqsQueue, SqsQueueServer]) -> None:
    sqs, server = queue
    entries = [{"Id": str(n), "MessageBody": f"m{n}"} for n in range(10)]
    answer = await sqs.aws.call(
        sqs.target, "sqs", "send_message_batch", QueueUrl=sqs.url, Entries=entries
    )
    assert len(answer["Successful"]) == 10
    got = await sqs.receive(4, wait=0, visibility=30)
    assert [m.body for m in got] == ["m0", "m1", "m2", "m3"]
    counts = await sqs.aws.call(
        sqs.target, "sqs", "get_queue_attributes", QueueUrl=sqs.url, AttributeNames=["All"]
    )
    assert counts["Attributes"]["ApproximateNumberOfMessages"] == "6"
    assert counts["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "4"
    assert await sqs.max_receive_count() is None  # no dead-letter queue here
    assert server.calls["ReceiveMessage"] == 1
