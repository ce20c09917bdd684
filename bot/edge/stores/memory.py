"""The in-process store: for a single replica, a laptop, the demo, and the tests of pure logic.

State is neither shared with other replicas nor kept across restarts; the bot says so at start-up.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections.abc import Callable

from bot.errors import LockLost
from bot.state.store import Fence, JsonObject, LockHolder


class MemoryStore:
    """:class:`bot.state.store.Store` in Python dicts.

    Example:
        >>> import asyncio
        >>> store = MemoryStore()
        >>> asyncio.run(store.create("k", {"a": 1}))
        True
        >>> asyncio.run(store.create("k", {"a": 2}))
        False
        >>> asyncio.run(store.acquire("lock", "me", ttl=30))
        1
    """

    shared = False

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._records: dict[str, tuple[str, float | None]] = {}
        self._indexes: dict[str, dict[str, float]] = {}
        self._hashes: dict[str, dict[str, str]] = {}
        self._locks: dict[str, tuple[str, int, float]] = {}
        self._fences: dict[str, int] = {}
        self._streams: dict[str, list[tuple[str, JsonObject]]] = {}
        self._stream_ids: dict[tuple[str, str], str] = {}
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

    def _check(self, fence: Fence | None) -> None:
        if fence is None:
            return
        holder = self._locks.get(fence.lock)
        if holder is None or holder[1] != fence.token or holder[2] <= self._clock():
            raise LockLost(f"the lock {fence.lock} is no longer held with token {fence.token}")

    async def get(self, key: str) -> JsonObject | None:
        """The record at ``key``, or None."""
        text = self._live(key)
        return None if text is None else dict(json.loads(text))

    async def put(
        self, key: str, value: JsonObject, ttl: float | None = None, *, fence: Fence | None = None
    ) -> None:
        """Write the record (expiring after ``ttl`` seconds when given)."""
        self._check(fence)
        expires = self._clock() + ttl if ttl is not None else None
        self._records[key] = (json.dumps(value), expires)

    async def create(self, key: str, value: JsonObject, ttl: float | None = None) -> bool:
        """Write the record only if ``key`` is absent."""
        if self._live(key) is not None:
            return False
        await self.put(key, value, ttl)
        return True

    async def delete(self, key: str, *, fence: Fence | None = None) -> bool:
        """Remove the record; True when it existed."""
        self._check(fence)
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

    async def hash_get_all(self, name: str) -> dict[str, str]:
        """Every field of a hash."""
        return dict(self._hashes.get(name, {}))

    async def hash_set(self, name: str, fields: dict[str, str]) -> None:
        """Set fields of a hash."""
        self._hashes.setdefault(name, {}).update(fields)

    async def hash_delete(self, name: str, fields: list[str]) -> None:
        """Remove fields of a hash."""
        found = self._hashes.get(name, {})
        for field in fields:
            found.pop(field, None)

    async def hash_replace(self, name: str, fields: dict[str, str]) -> None:
        """Replace a whole hash."""
        self._hashes[name] = dict(fields)

    async def acquire(self, lock: str, owner: str, ttl: float) -> int | None:
        """Take or renew a lock; the fencing token, or None when someone else holds it."""
        now = self._clock()
        holder = self._locks.get(lock)
        if holder is not None and holder[2] > now:
            if holder[0] != owner:
                return None
            token = holder[1]
        else:
            token = self._fences[lock] = self._fences.get(lock, 0) + 1
        if ttl > 0:
            self._locks[lock] = (owner, token, now + ttl)
        else:
            self._locks.pop(lock, None)
        return token

    async def release(self, lock: str, owner: str) -> None:
        """Release a lock we hold."""
        holder = self._locks.get(lock)
        if holder is not None and holder[0] == owner:
            del self._locks[lock]

    async def holder(self, lock: str) -> LockHolder | None:
        """Who holds the lock now."""
        holder = self._locks.get(lock)
        if holder is None or holder[2] <= self._clock():
            return None
        return LockHolder(holder[0], holder[1])

    async def append(
        self, stream: str, entry: JsonObject, max_length: int = 10_000, *, entry_id: str = ""
    ) -> str:
        """Append to a stream, once per ``entry_id``; return the stream id."""
        if max_length < 1:
            raise ValueError("max_length must be at least 1")
        if entry_id and (stream, entry_id) in self._stream_ids:
            return self._stream_ids[(stream, entry_id)]
        entries = self._streams.setdefault(stream, [])
        position = f"{int(self._clock() * 1000)}-{next(self._sequence)}"
        entries.append((position, copy.deepcopy(entry)))
        del entries[:-max_length]
        if entry_id:
            self._stream_ids[(stream, entry_id)] = position
        return position

    async def recent(self, stream: str, count: int) -> list[tuple[str, JsonObject]]:
        """The newest entries, newest first."""
        if count < 1:
            return []
        return [(i, copy.deepcopy(e)) for i, e in reversed(self._streams.get(stream, [])[-count:])]

    async def after(self, stream: str, position: str, count: int) -> list[tuple[str, JsonObject]]:
        """Entries after ``position``, oldest first."""
        entries = self._streams.get(stream, [])
        later = [(i, e) for i, e in entries if not position or _position(i) > _position(position)]
        return [(i, copy.deepcopy(e)) for i, e in later[:count]]

    async def ping(self) -> bool:
        """Always answers."""
        return True

    async def close(self) -> None:
        """Nothing to release."""


def _by_score(item: tuple[str, float]) -> tuple[float, str]:
    # Equal scores order by member, as Redis sorted sets do.
    return item[1], item[0]


def _position(stream_id: str) -> tuple[int, int]:
    millis, _, sequence = stream_id.partition("-")
    return int(millis), int(sequence or 0)
