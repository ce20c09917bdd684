"""One SQS standard queue over the real wire protocol (JSON 1.0, ``X-Amz-Target: AmazonSQS.*``),
with constant work per call, for load: moto's SQS recomputes every queue attribute over every
message on each receive, so with a few hundred messages queued the emulator, not the consumer,
sets the pace.

It keeps what a consumer relies on: long polling (``WaitTimeSeconds``), the visibility timeout and
``ChangeMessageVisibility`` (0 gives a message back at once), ``ApproximateReceiveCount``,
``SentTimestamp``, ``MD5OfBody``, batches of sends, deletes by receipt handle (a stale receipt is
``ReceiptHandleIsInvalid``), and ``GetQueueAttributes`` with the message counts. Not kept: FIFO
queues, delays, message attributes, a dead-letter queue (``RedrivePolicy`` is absent).

::

    async with SqsQueueServer() as server:          # AWS_ENDPOINT_URL_SQS=server.url
        sqs.send_message(QueueUrl=server.queue_url, MessageBody="{}")

Run alone (the benchmarks do, in their own process)::

    python -m tests.support.sqs_queue      # prints the queue URL, serves until stdin closes
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import json
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web

ACCOUNT = "123456789012"
QUEUE = "lifeguard-events"
JSON_10 = "application/x-amz-json-1.0"


@dataclass
class _Message:
    message_id: str
    body: str
    sent_ms: int
    receives: int = 0
    receipt: str = ""
    hidden_until: float = 0.0
    first_received_ms: int = 0


class QueueError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Queue:
    visible: deque[str] = field(default_factory=deque)
    messages: dict[str, _Message] = field(default_factory=dict)
    by_receipt: dict[str, str] = field(default_factory=dict)
    hidden: list[tuple[float, int, str, str]] = field(default_factory=list)  # heap
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    order: itertools.count[int] = field(default_factory=itertools.count)

    def send(self, body: str) -> _Message:
        message = _Message(str(uuid.uuid4()), body, int(time.time() * 1000))
        self.messages[message.message_id] = message
        self.visible.append(message.message_id)
        self.arrived.set()
        return message

    def _reveal_due(self) -> None:
        now = time.monotonic()
        while self.hidden and self.hidden[0][0] <= now:
            _, _, message_id, receipt = heapq.heappop(self.hidden)
            message = self.messages.get(message_id)
            if message is not None and message.receipt == receipt:
                message.receipt = ""
                self.visible.append(message_id)

    def take(self, count: int, visibility: float) -> list[_Message]:
        self._reveal_due()
        taken = []
        while self.visible and len(taken) < count:
            message = self.messages.get(self.visible.popleft())
            if message is None or message.receipt:
                continue
            message.receives += 1
            message.first_received_ms = message.first_received_ms or int(time.time() * 1000)
            self._hide(message, visibility)
            taken.append(message)
        if not self.visible:
            self.arrived.clear()
        return taken

    def _hide(self, message: _Message, seconds: float) -> None:
        if message.receipt:
            self.by_receipt.pop(message.receipt, None)
        message.receipt = uuid.uuid4().hex
        message.hidden_until = time.monotonic() + seconds
        self.by_receipt[message.receipt] = message.message_id
        heapq.heappush(
            self.hidden,
            (message.hidden_until, next(self.order), message.message_id, message.receipt),
        )

    def _by_receipt(self, receipt: str) -> _Message:
        message = self.messages.get(self.by_receipt.get(receipt, ""))
        if message is None or message.receipt != receipt:
            raise QueueError("ReceiptHandleIsInvalid", f"The receipt handle {receipt} is not valid")
        return message

    def delete(self, receipt: str) -> None:
        message = self._by_receipt(receipt)
        del self.messages[message.message_id]
        del self.by_receipt[receipt]

    def change_visibility(self, receipt: str, seconds: float) -> None:
        message = self._by_receipt(receipt)
        if seconds <= 0:
            self.by_receipt.pop(receipt, None)
            message.receipt = ""
            self.visible.appendleft(message.message_id)
            self.arrived.set()
        else:
            self._hide(message, seconds)

    def counts(self) -> dict[str, str]:
        self._reveal_due()
        in_flight = sum(1 for m in self.messages.values() if m.receipt)
        return {
            "ApproximateNumberOfMessages": str(len(self.messages) - in_flight),
            "ApproximateNumberOfMessagesNotVisible": str(in_flight),
            "ApproximateNumberOfMessagesDelayed": "0",
            "VisibilityTimeout": "30",
        }


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class SqsQueueServer:
    """An aiohttp server on 127.0.0.1 with one queue; see the module docstring."""

    def __init__(self) -> None:
        self.queue = _Queue()
        self.url = ""
        self.calls: dict[str, int] = {}
        self._runner: web.AppRunner | None = None

    @property
    def queue_url(self) -> str:
        return f"{self.url}/{ACCOUNT}/{QUEUE}"

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        target = request.headers.get("X-Amz-Target", "")
        operation = target.removeprefix("AmazonSQS.")
        self.calls[operation] = self.calls.get(operation, 0) + 1
        try:
            params = json.loads(await request.read() or b"{}")
            if not str(params.get("QueueUrl", "")).endswith(f"/{ACCOUNT}/{QUEUE}"):
                raise QueueError("AWS.SimpleQueueService.NonExistentQueue", "no such queue")
            handler = getattr(self, f"_op_{operation}", None)
            if handler is None:
                raise QueueError("InvalidAction", f"{operation} is not served by this fake")
            answer = await handler(params)
        except QueueError as error:
            body = {"__type": f"com.amazonaws.sqs#{error.code}", "message": str(error)}
            return web.Response(status=400, body=json.dumps(body), content_type=JSON_10)
        return web.Response(body=json.dumps(answer), content_type=JSON_10)

    async def _op_SendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self.queue.send(str(params["MessageBody"]))
        return {"MessageId": message.message_id, "MD5OfMessageBody": _md5(message.body)}

    async def _op_SendMessageBatch(self, params: dict[str, Any]) -> dict[str, Any]:
        done = []
        for entry in params.get("Entries", []):
            message = self.queue.send(str(entry["MessageBody"]))
            done.append({"Id": entry["Id"], "MessageId": message.message_id,
                         "MD5OfMessageBody": _md5(message.body)})  # fmt: skip
        return {"Successful": done, "Failed": []}

    async def _op_ReceiveMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        count = int(params.get("MaxNumberOfMessages", 1))
        visibility = float(params.get("VisibilityTimeout", 30))
        deadline = time.monotonic() + float(params.get("WaitTimeSeconds", 0))
        taken = self.queue.take(count, visibility)
        while not taken and time.monotonic() < deadline:
            wake = min(deadline, self.queue.hidden[0][0]) if self.queue.hidden else deadline
            try:
                async with asyncio.timeout(max(0.0, wake - time.monotonic())):
                    await self.queue.arrived.wait()
            except TimeoutError:
                pass
            taken = self.queue.take(count, visibility)
        return {"Messages": [_wire(m) for m in taken]} if taken else {}

    async def _op_DeleteMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        self.queue.delete(str(params["ReceiptHandle"]))
        return {}

    async def _op_ChangeMessageVisibility(self, params: dict[str, Any]) -> dict[str, Any]:
        self.queue.change_visibility(
            str(params["ReceiptHandle"]), float(params["VisibilityTimeout"])
        )
        return {}

    async def _op_GetQueueAttributes(self, params: dict[str, Any]) -> dict[str, Any]:
        names = set(params.get("AttributeNames") or ["All"])
        attributes = self.queue.counts()
        if "All" not in names:
            attributes = {k: v for k, v in attributes.items() if k in names}
        return {"Attributes": attributes}


def _wire(message: _Message) -> dict[str, Any]:
    return {
        "MessageId": message.message_id,
        "ReceiptHandle": message.receipt,
        "MD5OfBody": _md5(message.body),
        "Body": message.body,
        "Attributes": {
            "SentTimestamp": str(message.sent_ms),
            "ApproximateReceiveCount": str(message.receives),
            "ApproximateFirstReceiveTimestamp": str(message.first_received_ms),
        },
    }


async def _serve_until_stdin_closes() -> None:
    async with SqsQueueServer() as server:
        print(server.queue_url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(_serve_until_stdin_closes())
