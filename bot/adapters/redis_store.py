"""The Redis state store: the :class:`bot.state.store.Store` every replica shares.

Every key lives under one prefix (``lifeguard:`` by default), then a kind, so records, indexes,
locks and streams of the same name never collide (as in :class:`bot.state.memory.MemoryStore`)::

    lifeguard:record:<key>    a JSON string, with a PX expiry when a ttl was given
    lifeguard:index:<index>   a sorted set
    lifeguard:lock:<lock>     the holder's token, with a PX expiry
    lifeguard:stream:<name>   a stream whose entries hold one field, ``entry``, a JSON string

Transient connection errors are retried by redis-py itself (``Retry`` with
``ExponentialBackoff``); what still fails is raised as :mod:`bot.errors`, never as a redis-py
exception.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast
from urllib.parse import SplitResult, urlsplit

import redis.asyncio as aioredis
from redis import exceptions as rx
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from bot.errors import AccessDenied, ConfigError, CredentialsError, Unreachable, UpstreamError
from bot.state.store import JsonObject

DEFAULT_PREFIX = "lifeguard:"
SCHEMES = ("redis", "rediss", "unix")
UNREACHABLE_HINT = "check that Redis is running and that REDIS_URL (redis://HOST:PORT/DB) names it"
CREDENTIALS_HINT = "put the password in REDIS_URL: redis://:PASSWORD@HOST:PORT/DB"
DENIED_HINT = (
    "the Redis ACL user in REDIS_URL needs the string, sorted-set, stream and EVAL commands"
)

# Take the lock if it is free or already ours (renewing it); ARGV[2] <= 0 leaves it free.
_TAKE_OR_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  return 0
end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('DEL', KEYS[1])
end
return 1
"""
_RELEASE_IF_MINE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_ENTRY = "entry"


class RedisStore:
    """:class:`bot.state.store.Store` in Redis, shared by every replica.

    Build it with :meth:`connect`, which checks the URL and that the server answers; the
    constructor takes a ready ``redis.asyncio.Redis`` made with ``decode_responses=True``.

    Example::

        store = await RedisStore.connect("redis://localhost:6379/0", prefix="lifeguard:")
        assert await store.create("alert:app@sha256:…", {"ts": "1.2"}, ttl=3600)
        assert not await store.create("alert:app@sha256:…", {"ts": "9.9"}, ttl=3600)
        await store.close()
    """

    shared = True

    def __init__(self, client: aioredis.Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self.prefix = prefix
        self._take_or_renew = client.register_script(_TAKE_OR_RENEW)
        self._release_if_mine = client.register_script(_RELEASE_IF_MINE)

    @classmethod
    async def connect(
        cls,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        *,
        retries: int = 3,
        backoff_base: float = 0.05,
        backoff_cap: float = 2.0,
        socket_timeout: float = 5.0,
    ) -> RedisStore:
        """Connect to the Redis at ``url`` (the REDIS_URL setting) and check that it answers.

        Connection errors are retried ``retries`` times, waiting ``backoff_base * 2**n`` seconds
        (at most ``backoff_cap``); ``socket_timeout`` bounds connecting and each reply. A reply that
        times out is not retried, so a write is never silently repeated.

        Raises :class:`bot.errors.ConfigError` for a malformed URL, :class:`bot.errors.Unreachable`
        when nothing answers and :class:`bot.errors.CredentialsError` for a refused password.

        Example::

            store = await RedisStore.connect("redis://:secret@redis:6379/0")
            assert await store.ping()
        """
        check_url(url)
        retry = Retry(
            ExponentialBackoff(cap=backoff_cap, base=backoff_base),
            retries,
            supported_errors=(rx.ConnectionError,),
        )
        try:
            client = aioredis.from_url(
                url,
                decode_responses=True,
                retry=retry,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
            )
        except ValueError as exc:
            raise ConfigError(f"REDIS_URL: {exc} (got {redact(url)!r})") from exc
        store = cls(client, prefix)
        try:
            async with store._translated("PING"):
                await client.ping()
        except UpstreamError:
            await store.close()
            raise
        return store

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"

    @asynccontextmanager
    async def _translated(self, operation: str) -> AsyncIterator[None]:
        try:
            yield
        except (rx.RedisError, OSError) as exc:
            raise translate(operation, exc) from exc

    async def get(self, key: str) -> JsonObject | None:
        """The record at ``key``, or None.

        Example::

            await store.get("lease:app@sha256:…")   # {"owner": "U123"}
        """
        async with self._translated("GET"):
            text = await self._client.get(self._key("record", key))
        return None if text is None else dict(json.loads(text))

    async def put(self, key: str, value: JsonObject, ttl: float | None = None) -> None:
        """Write the record (expiring after ``ttl`` seconds when given).

        Example::

            await store.put("lease:app@sha256:…", {"owner": "U123"}, ttl=86400)
        """
        text = json.dumps(value)
        full = self._key("record", key)
        async with self._translated("SET"):
            if ttl is None:
                await self._client.set(full, text)
            elif _millis(ttl) > 0:
                await self._client.set(full, text, px=_millis(ttl))
            else:  # already expired, as MemoryStore has it
                await self._client.delete(full)

    async def create(self, key: str, value: JsonObject, ttl: float | None = None) -> bool:
        """Write the record only if ``key`` is absent (SET NX); True when this call wrote it.

        Example::

            if await store.create("alert:app@sha256:…", {"ts": "1.2"}, ttl=3600):
                ...   # only one replica gets here
        """
        text = json.dumps(value)
        full = self._key("record", key)
        async with self._translated("SET"):
            if ttl is None:
                return bool(await self._client.set(full, text, nx=True))
            if _millis(ttl) > 0:
                return bool(await self._client.set(full, text, nx=True, px=_millis(ttl)))
            return not await self._client.exists(full)  # written, and already expired

    async def delete(self, key: str) -> bool:
        """Remove the record; True when it existed.

        Example::

            await store.delete("lease:app@sha256:…")
        """
        async with self._translated("DEL"):
            return bool(await self._client.delete(self._key("record", key)))

    async def index_set(self, index: str, member: str, score: float) -> None:
        """Add ``member`` to a sorted index with ``score`` (or move it).

        Example::

            await store.index_set("leases-by-expiry", "app@sha256:…", 1767225600.0)
        """
        async with self._translated("ZADD"):
            await self._client.zadd(self._key("index", index), {member: score})

    async def index_remove(self, index: str, member: str) -> None:
        """Remove ``member`` from a sorted index.

        Example::

            await store.index_remove("leases-by-expiry", "app@sha256:…")
        """
        async with self._translated("ZREM"):
            await self._client.zrem(self._key("index", index), member)

    async def index_range(
        self, index: str, low: float = float("-inf"), high: float = float("inf")
    ) -> list[tuple[str, float]]:
        """Members with ``low <= score <= high``, lowest score first (ties by member).

        Example::

            expired = await store.index_range("leases-by-expiry", high=time.time())
        """
        async with self._translated("ZRANGEBYSCORE"):
            found = await self._client.zrangebyscore(
                self._key("index", index), low, high, withscores=True
            )
        pairs = cast("list[tuple[str, float]]", found)  # WITHSCORES: (member, score) pairs
        return [(str(member), float(score)) for member, score in pairs]

    async def acquire(self, lock: str, token: str, ttl: float) -> bool:
        """Take a lock for ``ttl`` seconds unless someone else holds it; also renews our own.

        Example::

            if await store.acquire("sweep", token=replica_id, ttl=30):
                ...   # this replica sweeps; call acquire again within 30 s to keep the lock
        """
        full = self._key("lock", lock)
        async with self._translated("SET"):
            if _millis(ttl) > 0 and await self._client.set(full, token, nx=True, px=_millis(ttl)):
                return True
            return bool(await self._take_or_renew(keys=[full], args=[token, _millis(ttl)]))

    async def release(self, lock: str, token: str) -> None:
        """Release a lock if ``token`` still holds it (atomically, in a Lua script).

        Example::

            await store.release("sweep", token=replica_id)
        """
        async with self._translated("EVALSHA"):
            await self._release_if_mine(keys=[self._key("lock", lock)], args=[token])

    async def append(self, stream: str, entry: JsonObject, max_length: int = 10_000) -> str:
        """Append an entry to a stream (oldest dropped beyond ``max_length``); return its id.

        Trimming is exact (``MAXLEN =``), so a stream never holds more than ``max_length``.

        Example::

            await store.append("audit", {"who": "U123", "did": "keep", "images": ["app:v1"]})
        """
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, not {max_length}")
        async with self._translated("XADD"):
            entry_id = await self._client.xadd(
                self._key("stream", stream),
                {_ENTRY: json.dumps(entry)},
                maxlen=max_length,
                approximate=False,
            )
        return str(entry_id)

    async def recent(self, stream: str, count: int) -> list[tuple[str, JsonObject]]:
        """The newest ``count`` entries of a stream, newest first.

        Example::

            for entry_id, entry in await store.recent("audit", 20):
                ...
        """
        if count < 1:
            return []
        async with self._translated("XREVRANGE"):
            found = await self._client.xrevrange(self._key("stream", stream), count=count)
        entries = cast("list[tuple[str, dict[str, str]]]", found)
        return [(entry_id, dict(json.loads(fields[_ENTRY]))) for entry_id, fields in entries]

    async def ping(self) -> bool:
        """True when Redis answers PING; False (never an exception) when it does not.

        Example::

            ready = await store.ping()   # for /readyz
        """
        try:
            return bool(await self._client.ping())
        except (rx.RedisError, OSError):
            return False

    async def close(self) -> None:
        """Close the client and its connection pool.

        Example::

            await store.close()
        """
        await self._client.aclose()


def _millis(ttl: float) -> int:
    """Seconds as whole milliseconds, rounded up so a tiny positive ttl still expires later."""
    return math.ceil(ttl * 1000)


def translate(operation: str, exc: BaseException) -> UpstreamError:
    """The :mod:`bot.errors` exception for a redis-py (or socket) exception.

    Example:
        >>> err = translate("GET", OSError("Connection refused"))
        >>> type(err).__name__, err.service, err.operation
        ('Unreachable', 'redis', 'GET')
    """
    code = type(exc).__name__
    message = str(exc) or code
    if isinstance(exc, rx.AuthenticationError):
        return CredentialsError("redis", operation, code, message, hint=CREDENTIALS_HINT)
    if isinstance(exc, rx.AuthorizationError | rx.NoPermissionError):
        return AccessDenied("redis", operation, code, message, hint=DENIED_HINT)
    if isinstance(exc, rx.ConnectionError | rx.TimeoutError | OSError):
        return Unreachable("redis", operation, code, message, hint=UNREACHABLE_HINT)
    return UpstreamError("redis", operation, code, message)


def check_url(url: str) -> None:
    """Raise :class:`bot.errors.ConfigError` naming REDIS_URL unless ``url`` is a usable URL.

    Example:
        >>> check_url("redis://localhost:6379/0")  # fine: returns None
        >>> check_url("localhost:6379")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        bot.errors.ConfigError: REDIS_URL: must start with redis://, rediss:// or unix:// ...
    """
    if not url.strip():
        raise ConfigError("REDIS_URL: required, e.g. redis://localhost:6379/0")
    problem = _url_problem(urlsplit(url))
    if problem:
        raise ConfigError(f"REDIS_URL: {problem} (got {redact(url)!r})")


def _url_problem(parts: SplitResult) -> str | None:
    if parts.scheme not in SCHEMES:
        return "must start with redis://, rediss:// or unix://"
    if parts.scheme == "unix":
        return None if parts.path else "names no socket path, as in unix:///run/redis.sock"
    try:
        port = parts.port
    except ValueError as exc:
        return f"has an invalid port ({exc})"
    if not parts.hostname:
        return "names no host, as in redis://HOST:6379/0"
    if port == 0:
        return "has an invalid port (0)"
    database = parts.path.strip("/")
    if database and not database.isdigit():
        return "the database must be a number, as in redis://HOST:6379/0"
    return None


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages.

    Example:
        >>> redact("redis://user:s3cret@redis:6379/0")
        'redis://user:***@redis:6379/0'
    """
    return re.sub(r"(//[^:@/]*:)[^@/]*@", r"\1***@", url)
