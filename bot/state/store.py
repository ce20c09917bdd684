"""The state store interface: a few primitives the bot's records are built on.

Two implementations live side by side in :mod:`bot.edge.stores`: ``MemoryStore`` (in-process,
one replica only, nothing kept across restarts) and ``RedisStore`` (shared by every replica, kept
by Redis). The records (leases, alerts, manifests, confirmations, audit) live in
:mod:`bot.state.records` and speak only this interface.

Values are JSON objects. Keys are plain strings; implementations may prefix them.

Locks carry a **fencing token**: a number that grows every time the lock changes hands. A write
made with ``fence=Fence(lock, token)`` lands only while that token still holds the lock, so a
replica that lost its lock (paused, partitioned) cannot overwrite the work of the one that took
over; it gets :class:`bot.errors.LockLost` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Fence:
    """A lock held with a fencing token; writes made under it fail once the lock moved on.

    Example:
        >>> Fence("image:app@sha256:ab", 7)
        Fence(lock='image:app@sha256:ab', token=7)
    """

    lock: str
    token: int


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds a lock (the owner string it was taken with) and with which fencing token."""

    owner: str
    token: int


class Store(Protocol):
    """Key-value records, sorted indexes, fenced locks and append-only streams.

    Example::

        store = MemoryStore()
        await store.put("lease:app@sha256:…", {"owner": "U123"})
        assert await store.create("alert:app@sha256:…", {"ts": "1.2"}, ttl=3600)   # first writer
        assert not await store.create("alert:app@sha256:…", {"ts": "9.9"}, ttl=3600)
        token = await store.acquire("image:app@sha256:…", owner="replica-1", ttl=30)
        if token is not None:
            await store.put("lease:…", {...}, fence=Fence("image:app@sha256:…", token))
    """

    async def get(self, key: str) -> JsonObject | None:
        """The record at ``key``, or None."""
        ...

    async def put(
        self, key: str, value: JsonObject, ttl: float | None = None, *, fence: Fence | None = None
    ) -> None:
        """Write the record (expiring after ``ttl`` seconds when given).

        With ``fence``, only while that fencing token still holds the lock; else ``LockLost``.
        """
        ...

    async def create(self, key: str, value: JsonObject, ttl: float | None = None) -> bool:
        """Write the record only if ``key`` is absent; True when this call wrote it."""
        ...

    async def delete(self, key: str, *, fence: Fence | None = None) -> bool:
        """Remove the record; True when it existed. ``fence`` as for :meth:`put`."""
        ...

    async def index_set(self, index: str, member: str, score: float) -> None:
        """Add ``member`` to a sorted index with ``score`` (or move it)."""
        ...

    async def index_remove(self, index: str, member: str) -> None:
        """Remove ``member`` from a sorted index."""
        ...

    async def index_range(
        self, index: str, low: float = float("-inf"), high: float = float("inf")
    ) -> list[tuple[str, float]]:
        """Members with ``low <= score <= high``, lowest score first."""
        ...

    async def hash_get_all(self, name: str) -> dict[str, str]:
        """Every field of a hash (empty when there is none)."""
        ...

    async def hash_set(self, name: str, fields: dict[str, str]) -> None:
        """Set fields of a hash (others stay)."""
        ...

    async def hash_delete(self, name: str, fields: list[str]) -> None:
        """Remove fields of a hash."""
        ...

    async def hash_replace(self, name: str, fields: dict[str, str]) -> None:
        """Replace a whole hash at once (atomically: readers see the old or the new one)."""
        ...

    async def acquire(self, lock: str, owner: str, ttl: float) -> int | None:
        """Take the lock for ``ttl`` seconds, or renew it when ``owner`` holds it already.

        Returns the fencing token (unchanged on renewal, larger than any earlier holder's on a
        new acquisition), or None when someone else holds the lock.
        """
        ...

    async def release(self, lock: str, owner: str) -> None:
        """Release the lock if ``owner`` still holds it."""
        ...

    async def holder(self, lock: str) -> LockHolder | None:
        """Who holds the lock now, if anyone."""
        ...

    async def append(
        self, stream: str, entry: JsonObject, max_length: int = 10_000, *, entry_id: str = ""
    ) -> str:
        """Append an entry (oldest dropped beyond ``max_length``); return its stream id.

        With ``entry_id``, an entry already appended under that id is not appended again (a
        replayed write lands once); the first append's stream id is returned.
        """
        ...

    async def recent(self, stream: str, count: int) -> list[tuple[str, JsonObject]]:
        """The newest ``count`` entries of a stream, newest first."""
        ...

    async def after(self, stream: str, position: str, count: int) -> list[tuple[str, JsonObject]]:
        """Up to ``count`` entries appended after stream id ``position`` ("" for the start),
        oldest first."""
        ...

    async def ping(self) -> bool:
        """True when the store answers."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

    @property
    def shared(self) -> bool:
        """True when other replicas see the same state (Redis); False for the in-process store."""
        ...
