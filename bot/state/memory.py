"""The in-process store: for a single replica, a laptop, and the tests of pure logic.

State is neither shared with other replicas nor kept across restarts; the bot says so at start-up.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections.abc import Callable

from bot.state.store import JsonObject


class MemoryStore:
    """:class:`bot.state.store.Store` in a Python dict.

    Example:
        >>> import asyncio
        >>> store = MemoryStore()
        >>> asyncio.run(store.create("k", {"a": 1}))
        True
        >>> asyncio.run(store.create("k", {"a": 2}))
        False
    """

    shared = False

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._records: dict[str, tuple[str, float | None]] = {}
        self._indexes: dict[str, dict[str, float]] = {}
        self._locks: dict[str, tuple[str, float]] = {}
        self._streams: dict[str, list[tuple[str, JsonObject]]] = {}
        self._sequence = itertools.count(1)

    def _live(self, key: str) -> str | None:
        found = self._records.get(key)
        if found is None:
            return None
        text, expires = found
        if expires is not None and expires <= self._clock():
            del self._records[key]
            return None
        return text

    async def get(self, key: str) -> JsonObject | None:
        """The record at ``key``, or None."""
        text = self._live(key)
        return None if text is None else dict(json.loads(text))

    async def put(self, key: str, value: JsonObject, ttl: float | None = None) -> None:
        """Write the record (expiring after ``ttl`` seconds when given)."""
        expires = self._clock() + ttl if ttl is not None else None
        self._records[key] = (json.dumps(value), expires)

    async def create(self, key: str, value: JsonObject, ttl: float | None = None) -> bool:
        """Write the record only if ``key`` is absent."""
        if self._live(key) is not None:
            return False
        await self.put(key, value, ttl)
        return True

    async def delete(self, key: str) -> bool:
        """Remove the record; True when it existed."""
        existed = self._live(key) is not None
        self._records.pop(key, None)
        return existed

    async def index_set(self, index: str, member: str, score: float) -> None:
        """Add or move a member of a sorted index."""
        self._indexes.setdefault(index, {})[member] = score

    async def index_remove(self, index: str, member: str) -> None:
        """Remove a member of a sorted index."""
        self._indexes.get(index, {}).pop(member, None)

    async def index_range(
        self, index: str, low: float = float("-inf"), high: float = float("inf")
    ) -> list[tuple[str, float]]:
        """Members with ``low <= score <= high``, lowest first."""
        members = self._indexes.get(index, {})
        return sorted(((m, s) for m, s in members.items() if low <= s <= high), key=_by_score)

    async def acquire(self, lock: str, token: str, ttl: float) -> bool:
        """Take or renew a lock."""
        now = self._clock()
        holder = self._locks.get(lock)
        if holder is not None and holder[1] > now and holder[0] != token:
            return False
        self._locks[lock] = (token, now + ttl)
        return True

    async def release(self, lock: str, token: str) -> None:
        """Release a lock we hold."""
        holder = self._locks.get(lock)
        if holder is not None and holder[0] == token:
            del self._locks[lock]

    async def append(self, stream: str, entry: JsonObject, max_length: int = 10_000) -> str:
        """Append to a stream; return the entry id."""
        if max_length < 1:
            raise ValueError("max_length must be at least 1")
        entries = self._streams.setdefault(stream, [])
        entry_id = f"{int(self._clock() * 1000)}-{next(self._sequence)}"
        entries.append((entry_id, copy.deepcopy(entry)))
        del entries[:-max_length]
        return entry_id

    async def recent(self, stream: str, count: int) -> list[tuple[str, JsonObject]]:
        """The newest entries, newest first."""
        if count < 1:
            return []
        return [(i, copy.deepcopy(e)) for i, e in reversed(self._streams.get(stream, [])[-count:])]

    async def ping(self) -> bool:
        """Always answers."""
        return True

    async def close(self) -> None:
        """Nothing to release."""


def _by_score(item: tuple[str, float]) -> tuple[float, str]:
    # Equal scores order by member, as Redis sorted sets do.
    return item[1], item[0]
