"""The event consumer: EventBridge events from SQS, each made to count exactly once.

Long polling, batches of up to ten, a bounded number in flight, and each message's visibility
extended while it is worked on. For each message:

1. unwrap and parse it; an unknown, malformed or oversized message is logged once with its
   message id and why, counted, and deleted: it never stops the consumer or returns forever;
2. claim its event id in the ledger (a second delivery of a handled event is deleted unread;
   one another replica is working on is left alone);
3. react (:mod:`bot.watch.react`), then mark the event done, then delete the message. A failure
   leaves the message for redelivery; on its last delivery before the dead-letter queue the audit
   channel is told.

While the store does not answer, consumption pauses (messages stay in the queue) and resumes when
it does. On stop: no more receiving; what is in flight finishes within a few seconds, or is
released (visibility 0) for another replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.context import current_event
from bot.errors import EventRejected, LifeguardError
from bot.events.envelopes import event_object
from bot.events.parse import parse_event
from bot.ops.deps import Dependencies
from bot.ports import Meter, NoMeter, Queue
from bot.settings import EventsSettings
from bot.state.records import AuditEntry, EventLedger
from bot.watch.react import Reactor

log = logging.getLogger(__name__)

FINISH_SECONDS = 3.0
PAUSE_SECONDS = 2.0


@dataclass(frozen=True)
class Handled:
    """What happened to one message."""

    message_id: str
    event_id: str | None
    kind: str
    outcome: str


class Consumer:
    """Consumes the queue until stopped. See the module docstring.

    Example::

        consumer = Consumer(deps, queue, reactor, settings.events, default_account="123456789012")
        await consumer.run(stop_event)
    """

    def __init__(
        self,
        deps: Dependencies,
        queue: Queue,
        reactor: Reactor,
        settings: EventsSettings,
        *,
        default_account: str | None = None,
        meter: Meter | None = None,
        on_handled: Callable[[Handled], None] | None = None,
    ) -> None:
        self.deps = deps
        self.queue = queue
        self.reactor = reactor
        self.settings = settings
        self.default_account = default_account
        self.meter = meter or NoMeter()
        self.on_handled = on_handled
        self.owner = secrets.token_hex(8)
        self.ledger = EventLedger(deps.store)
        self.max_receives: int | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Receive and handle messages until ``stop`` is set."""
        with contextlib.suppress(LifeguardError):
            self.max_receives = await self.queue.max_receive_count()
        while not stop.is_set():
            if not await self.deps.store.ping():
                log.warning("the state store does not answer: consumption paused")
                await _wait(stop, PAUSE_SECONDS)
                continue
            room = self.settings.concurrency - len(self._in_flight)
            if room <= 0:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            messages = await self._receive(stop, min(room, self.settings.batch))
            for message in messages:
                task = asyncio.create_task(self.handle(message))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
        await self._finish()

    async def _receive(self, stop: asyncio.Event, count: int) -> list[Any]:
        receiving = asyncio.ensure_future(
            self.queue.receive(
                count, wait=self.settings.wait_seconds, visibility=self.settings.visibility
            )
        )
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not receiving.done():
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError, LifeguardError):
                await receiving
            return []
        try:
            messages = list(receiving.result())
        except LifeguardError as exc:
            log.warning("receiving from the queue failed: %s", exc)
            await _wait(stop, PAUSE_SECONDS)
            return []
        if messages:
            oldest = min(m.sent_at for m in messages)
            self.meter.queue_lag(max(0.0, self.deps.clock() - oldest))
        return messages

    async def _finish(self) -> None:
        """Let what is in flight finish for a moment; release the rest to the queue."""
        if not self._in_flight:
            return
        _, pending = await asyncio.wait(self._in_flight, timeout=FINISH_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def handle(self, message: Any) -> None:
        """Handle one message, keeping it hidden while it is worked on."""
        current_event.set(message.message_id)
        keeper = asyncio.create_task(self._keep_hidden(message))
        try:
            handled = await self._process(message)
        except asyncio.CancelledError:
            await self._release(message)
            raise
        except LifeguardError as exc:  # the store or the queue failed: it comes again
            log.warning("message %s not handled, it will come again: %s", message.message_id, exc)
            handled = Handled(message.message_id, None, "unknown", "failed")
        finally:
            keeper.cancel()
        self.meter.event(handled.kind, handled.outcome)
        if self.on_handled is not None:
            self.on_handled(handled)

    async def _process(self, message: Any) -> Handled:
        try:
            raw = event_object(message.body, max_bytes=self.settings.max_bytes)
            event = parse_event(raw, default_account=self.default_account)
        except EventRejected as rejected:
            log.warning("dropped message %s: %s", message.message_id, rejected)
            await self.queue.delete(message)
            return Handled(message.message_id, rejected.event_id, "rejected", rejected.kind)
        current_event.set(event.event_id)
        ttl = self.settings.visibility * 2
        owner = f"{self.owner}:{secrets.token_hex(4)}"  # this delivery; a redelivery is another
        state = await self.ledger.begin(event.event_id, owner, ttl=ttl)
        if state == "done":
            await self.queue.delete(message)
            return Handled(message.message_id, event.event_id, event.kind, "duplicate")
        if state == "busy":
            return Handled(message.message_id, event.event_id, event.kind, "busy")
        try:
            reaction = await self.reactor.react(event, raw)
        except LifeguardError as exc:
            await self._failed(message, event.event_id, event.kind, exc, owner)
            return Handled(message.message_id, event.event_id, event.kind, "failed")
        except asyncio.CancelledError:  # stopping: let another replica have it at once
            with contextlib.suppress(LifeguardError, TimeoutError):
                await asyncio.wait_for(self.ledger.abandon(event.event_id, owner), 1.0)
            raise
        await self.ledger.done(event.event_id)
        await self.queue.delete(message)
        if reaction.posted:
            self.meter.alert_latency(max(0.0, self.deps.clock() - event.at))
        return Handled(message.message_id, event.event_id, event.kind, reaction.outcome)

    async def _failed(
        self, message: Any, event_id: str, kind: str, exc: LifeguardError, owner: str
    ) -> None:
        log.warning("event %s (%s) not handled, it will come again: %s", event_id, kind, exc)
        with contextlib.suppress(LifeguardError):
            await self.ledger.abandon(event_id, owner)
        last = self.max_receives is not None and message.receive_count >= self.max_receives
        if last:
            entry = AuditEntry(
                id=f"dead-letter-{event_id}",
                at=self.deps.clock(),
                actor="ecr-lifeguard",
                action="event",
                result="failed",
                detail=f"{kind} event {event_id} goes to the dead-letter queue after "
                f"{message.receive_count} attempts: {exc}",
            )
            with contextlib.suppress(LifeguardError):
                await self.deps.audit.record(entry)

    async def _keep_hidden(self, message: Any) -> None:
        while True:
            await asyncio.sleep(self.settings.visibility / 2)
            with contextlib.suppress(LifeguardError):
                await self.queue.extend(message, self.settings.visibility)

    async def _release(self, message: Any) -> None:
        with contextlib.suppress(LifeguardError):
            await asyncio.wait_for(self.queue.extend(message, 0), timeout=1.0)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
