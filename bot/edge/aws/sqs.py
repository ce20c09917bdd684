"""The SQS queue the events arrive on: long polling, deleting, extending visibility.

Example::

    async with AwsClients(settings.aws) as aws:
        queue = SqsQueue(aws, target, settings.events.queue_url)
        for message in await queue.receive(10, wait=20, visibility=60):
            ...
            await queue.delete(message)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from bot.edge.aws.clients import AwsClients, AwsTarget

_REGION = re.compile(r"sqs[.-]([a-z0-9-]+)\.amazonaws\.com")


@dataclass(frozen=True, slots=True)
class Message:
    """One SQS message: its id, the receipt to delete it with, the body, how many times it was
    received, and when it was sent (epoch seconds)."""

    message_id: str
    receipt: str
    body: str
    receive_count: int
    sent_at: float


def queue_region(url: str) -> str | None:
    """The region a queue URL names (None for a local or custom endpoint).

    Example:
        >>> queue_region("https://sqs.eu-west-1.amazonaws.com/123456789012/lifeguard-events")
        'eu-west-1'
    """
    found = _REGION.search(url)
    return found.group(1) if found else None


class SqsQueue:
    """One queue, on the shared clients (retries, adaptive throttling, call counting)."""

    def __init__(self, aws: AwsClients, target: AwsTarget, url: str) -> None:
        self.aws = aws
        self.target = target
        self.url = url

    async def receive(self, count: int, *, wait: int, visibility: float) -> list[Message]:
        """Up to ``count`` messages, waiting up to ``wait`` seconds for the first (long poll)."""
        response = await self.aws.call(
            self.target,
            "sqs",
            "receive_message",
            QueueUrl=self.url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait,
            VisibilityTimeout=int(visibility),
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        return [_message(item) for item in response.get("Messages") or []]

    async def delete(self, message: Message) -> None:
        """The message is done with: remove it from the queue."""
        await self.aws.call(
            self.target, "sqs", "delete_message", QueueUrl=self.url, ReceiptHandle=message.receipt
        )

    async def extend(self, message: Message, seconds: float) -> None:
        """Keep the message hidden ``seconds`` more (0: give it back to the queue now)."""
        await self.aws.call(
            self.target,
            "sqs",
            "change_message_visibility",
            QueueUrl=self.url,
            ReceiptHandle=message.receipt,
            VisibilityTimeout=int(seconds),
        )

    async def max_receive_count(self) -> int | None:
        """After how many receives SQS moves a message to the dead-letter queue (None: no DLQ)."""
        response = await self.aws.call(
            self.target,
            "sqs",
            "get_queue_attributes",
            QueueUrl=self.url,
            AttributeNames=["RedrivePolicy"],
        )
        policy = (response.get("Attributes") or {}).get("RedrivePolicy")
        if not policy:
            return None
        return int(json.loads(policy).get("maxReceiveCount", 0)) or None


def _message(item: dict[str, object]) -> Message:
    attributes = item.get("Attributes")
    attributes = attributes if isinstance(attributes, dict) else {}
    return Message(
        str(item.get("MessageId", "")),
        str(item.get("ReceiptHandle", "")),
        str(item.get("Body", "")),
        int(attributes.get("ApproximateReceiveCount", 1)),
        int(attributes.get("SentTimestamp", 0)) / 1000,
    )
