"""The state store interface: a few primitives the bot's records are built on.

Two implementations: :class:`bot.state.memory.MemoryStore` (in-process, one replica only, nothing
kept across restarts) and :class:`bot.adapters.redis_store.RedisStore` (shared by every replica,
kept by Redis). The records (leases, alerts, manifests, confirmations, audit) live in
:mod:`bot.state.records` and speak only this interface.

Values are JSON objects. Keys are plain strings; implementations may prefix them.
"""

from __future__ import annotations

from typing import Any, Protocol

JsonObject = dict[str, Any]


class Store(Protocol):
    """Key-value records, sorted indexes, locks and an append-only audit stream.

    Example::

        store = MemoryStore()
        await store.put("lease:app@sha256:…", {"owner": "U123"})
        assert await store.create("alert:app@sha256:…", {"ts": "1.2"}, ttl=3600)   # first writer
        assert not await store.create("alert:app@sha256:…", {"ts": "9.9"}, ttl=3600)
    """

    async def get(self, key: str) -> JsonObject | None:
        """The record at ``key``, or None."""
        ...

    async def put(self, key: str, value: JsonObject, ttl: float | None = None) -> None:
        """Write the record (expiring after ``ttl`` seconds when given)."""
        ...

    async def create(self, key: str, value: JsonObject, ttl: float | None = None) -> bool:
        """Write the record only if ``key`` is absent; True when this call wrote it."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove the record; True when it existed."""
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

    async def acquire(self, lock: str, token: str, ttl: float) -> bool:
        """Take a lock for ``ttl`` seconds unless someone else holds it; also renews our own."""
        ...

    async def release(self, lock: str, token: str) -> None:
        """Release a lock if ``token`` still holds it."""
        ...

    async def append(self, stream: str, entry: JsonObject, max_length: int = 10_000) -> str:
        """Append an entry to a stream (oldest dropped beyond ``max_length``); return its id."""
        ...

    async def recent(self, stream: str, count: int) -> list[tuple[str, JsonObject]]:
        """The newest ``count`` entries of a stream, newest first."""
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
