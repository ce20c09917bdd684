"""An in-process event queue with the semantics the consumer relies on (:class:`bot.ports.Queue`).

It stands where the SQS queue is in production: EventBridge events are sent to it as message
bodies, the real :class:`~bot.watch.consume.Consumer` long-polls it, hides what it received for
the visibility timeout, extends or releases it, and deletes what it handled.

Example::

    queue = MemoryQueue()
    queue.send(json.dumps(event))
    [message] = await queue.receive(10, wait=1, visibility=60)
    await queue.delete(message)
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class QueuedMessage:
    """One message: its id, body, receive count, when it was sent and until when it is hidden."""

    message_id: str
    body: str
    sent_at: float
    receive_count: int = 0
    hidden_until: float = 0.0


@dataclass
class MemoryQueue:
    """The queue; ``clock`` stamps ``sent_at`` (the demo's simulated time)."""

    clock: Callable[[], float] = time.time
    messages: dict[str, QueuedMessage] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, body: str) -> str:
        """Queue a message; return its id.

        Example:
            >>> MemoryQueue().send("{}")
            'msg-1'
        """
        message_id = f"msg-{next(self._ids)}"
        self.messages[message_id] = QueuedMessage(message_id, body, self.clock())
        self._arrived.set()
        return message_id

    async def receive(self, count: int, *, wait: int, visibility: float) -> list[QueuedMessage]:
        """Up to ``count`` visible messages, waiting up to ``wait`` seconds for the first."""
        deadline = time.monotonic() + wait
        while True:
            visible = self._visible()[:count]
            if visible or time.monotonic() >= deadline:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        for message in visible:
            message.receive_count += 1
            message.hidden_until = time.monotonic() + visibility
        return visible

    async def delete(self, message: QueuedMessage) -> None:
        """Remove a handled message."""
        self.messages.pop(message.message_id, None)

    async def extend(self, message: QueuedMessage, seconds: float) -> None:
        """Keep a message hidden ``seconds`` more (0: visible again now)."""
        message.hidden_until = time.monotonic() + seconds
        if seconds == 0:
            self._arrived.set()

    async def max_receive_count(self) -> int | None:
        """No dead-letter queue."""
        return None

    def _visible(self) -> list[QueuedMessage]:
        now = time.monotonic()
        return [m for m in self.messages.values() if m.hidden_until <= now]
