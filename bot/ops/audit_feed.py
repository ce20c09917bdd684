"""The audit channel: every audit entry posted to ``bot.audit_channel``, through a queue.

Commands never wait for the channel: they append to the audit stream (the source of truth) and
return. One replica at a time (a lock) posts what follows its cursor, in order, and moves the
cursor only after Slack accepted the post; a rate-limited or failing channel delays the posts and
never drops one. A new feed starts with the last hour's entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from bot.blocks.replies import audit_line
from bot.errors import LifeguardError
from bot.ops.deps import Dependencies
from bot.ports import Notifier

log = logging.getLogger(__name__)

LOCK = "audit-feed"
CURSOR = "audit-feed-cursor"
BATCH = 20
BACKLOG_SECONDS = 3_600.0


class AuditFeed:
    """Posts the audit stream to a channel. See the module docstring.

    Example::

        feed = AuditFeed(deps, notifier, "#ecr-audit")
        posted = await feed.drain()          # or: await feed.run_forever(stop)
    """

    def __init__(
        self, deps: Dependencies, notifier: Notifier, channel: str, *, interval: float = 2.0
    ) -> None:
        self.deps = deps
        self.notifier = notifier
        self.channel = channel
        self.interval = interval
        self.owner = secrets.token_hex(8)
        self.started = deps.clock()

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Drain every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.drain()
            except LifeguardError as exc:
                log.warning("audit channel posts wait: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
        with contextlib.suppress(LifeguardError):
            await self.deps.store.release(LOCK, self.owner)

    async def drain(self) -> int:
        """Post what follows the cursor (while holding the lock); how many were posted."""
        store = self.deps.store
        if await store.acquire(LOCK, self.owner, ttl=max(30.0, self.interval * 5)) is None:
            return 0
        cursor = await store.get(CURSOR)
        position = str(cursor["position"]) if cursor else ""
        posted = 0
        for entry_position, entry in await self.deps.audit.after(position, BATCH):
            if cursor is not None or entry.at >= self.started - BACKLOG_SECONDS:
                await self.notifier.post(self.channel, {"text": audit_line(entry)})
                posted += 1
            await store.put(CURSOR, {"position": entry_position})
        return posted
