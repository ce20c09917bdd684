"""The Redis state store: the :class:`bot.state.store.Store` every replica shares.

Every key lives under one prefix (``lifeguard:`` by default), then a kind, so records, indexes,
locks and streams of the same name never collide (as in the in-process ``MemoryStore``)::

    lifeguard:record:<key>         a JSON string, with a PX expiry when a ttl was given
    lifeguard:index:<index>        a sorted set
    lifeguard:lock:<lock>          "<fencing token> <owner>", with a PX expiry
    lifeguard:fence:<lock>         the last fencing token handed out for the lock (INCR)
    lifeguard:hash:<name>          a hash (the repository image cache)
    lifeguard:stream:<name>        a stream whose entries hold one field, ``entry``, a JSON string
    lifeguard:seen:<name>:<id>     the stream id an entry id was appended as (kept 7 days)

Fenced writes, lock changes and de-duplicated appends are single Lua scripts, so they are atomic.

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
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import redis.asyncio as aioredis
from redis import exceptions as rx
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from bot.errors import (
    AccessDenied,
    ConfigError,
    CredentialsError,
    LockLost,
    Unreachable,
    UpstreamError,
)
from bot.lifecycle.timefmt import DAY
from bot.state.store import Fence, JsonObject, LockHolder

DEFAULT_PREFIX = "lifeguard:"
SCHEMES = ("redis", "rediss", "unix")
UNREACHABLE_HINT = "check that Redis is running and that REDIS_URL (redis://HOST:PORT/DB) names it"
CREDENTIALS_HINT = "put the password in REDIS_URL: redis://:PASSWORD@HOST:PORT/DB"
DENIED_HINT = (
    "the Redis ACL user in REDIS_URL needs the string, sorted-set, stream and EVAL commands"
)

# KEYS: lock, fence counter. ARGV: owner, ttl ms. Returns the fencing token, or 0 when another
# owner holds the lock. A renewal keeps the token; a new holder gets the next one.
_ACQUIRE = """
local held = redis.call('GET', KEYS[1])
if held then
  local space = string.find(held, ' ')
  local token = string.sub(held, 1, space - 1)
  if string.sub(held, space + 1) ~= ARGV[1] then
    return 0
  end
  if tonumber(ARGV[2]) > 0 then
    redis.call('SET', KEYS[1], held, 'PX', ARGV[2])
  else
    redis.call('DEL', KEYS[1])
  end
  return tonumber(token)
end
local token = redis.call('INCR', KEYS[2])
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], token .. ' ' .. ARGV[1], 'PX', ARGV[2])
end
return token
"""
_RELEASE_IF_MINE = """
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, string.find(held, ' ') + 1) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# KEYS: lock, record. ARGV: token, value ('' deletes), ttl ms ('0' = none). 1 done, -1 lock lost.
_FENCED_WRITE = """
local held = redis.call('GET', KEYS[1])
if not held or string.sub(held, 1, string.find(held, ' ') - 1) ~= ARGV[1] then
  return -1
end
if ARGV[2] == '' then
  return redis.call('DEL', KEYS[2])
end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[2], ARGV[2])
end
return 1
"""
# KEYS: stream, seen. ARGV: entry JSON, max length, seen ttl ms. Returns the entry's stream id.
_APPEND_ONCE = """
local seen = redis.call('GET', KEYS[2])
if seen then
  return seen
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '=', ARGV[2], '*', 'entry', ARGV[1])
redis.call('SET', KEYS[2], id, 'PX', ARGV[3])
return id
"""
SEEN_TTL = 7 * DAY
_ENTRY = "entry"
_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&#]*")


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
        self._acquire = client.register_script(_ACQUIRE)
        self._release_if_mine = client.register_script(_RELEASE_IF_MINE)
        self._fenced_write = client.register_script(_FENCED_WRITE)
        self._append_once = client.register_script(_APPEND_ONCE)

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
            problem = scrub(str(exc), url)
            raise ConfigError(f"REDIS_URL: {problem} (got {redact(url)!r})") from None
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

    async def put(
        self, key: str, value: JsonObject, ttl: float | None = None, *, fence: Fence | None = None
    ) -> None:
        """Write the record (expiring after ``ttl`` seconds when given); fenced when asked.

        Example::

            await store.put("lease:app@sha256:…", {"owner": "U123"}, ttl=86400)
        """
        text = json.dumps(value)
        full = self._key("record", key)
        if ttl is not None and _millis(ttl) <= 0:  # already expired, as MemoryStore has it
            await self.delete(key, fence=fence)
            return
        if fence is not None:
            await self._fenced(fence, full, text, _millis(ttl) if ttl is not None else 0)
            return
        async with self._translated("SET"):
            if ttl is None:
                await self._client.set(full, text)
            else:
                await self._client.set(full, text, px=_millis(ttl))

    async def _fenced(self, fence: Fence, full: str, text: str, ttl_ms: int) -> int:
        async with self._translated("SET" if text else "DEL"):
            done = int(
                await self._fenced_write(
                    keys=[self._key("lock", fence.lock), full], args=[fence.token, text, ttl_ms]
                )
            )
        if done < 0:
            raise LockLost(f"the lock {fence.lock} is no longer held with token {fence.token}")
        return done

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

    async def delete(self, key: str, *, fence: Fence | None = None) -> bool:
        """Remove the record; True when it existed (fenced when asked).

        Example::

            await store.delete("lease:app@sha256:…")
        """
        full = self._key("record", key)
        if fence is not None:
            return bool(await self._fenced(fence, full, "", 0))
        async with self._translated("DEL"):
            return bool(await self._client.delete(full))

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

    async def hash_get_all(self, name: str) -> dict[str, str]:
        """Every field of a hash (HGETALL).

        Example::

            images = await store.hash_get_all("images:123456789012/eu-west-1/app")
        """
        async with self._translated("HGETALL"):
            found = await self._client.hgetall(self._key("hash", name))
        return {str(k): str(v) for k, v in found.items()}

    async def hash_set(self, name: str, fields: dict[str, str]) -> None:
        """Set fields of a hash (HSET).

        Example::

            await store.hash_set("images:…/app", {"sha256:…": "[...]"})
        """
        if not fields:
            return
        async with self._translated("HSET"):
            await self._client.hset(self._key("hash", name), mapping=cast("Any", fields))

    async def hash_delete(self, name: str, fields: list[str]) -> None:
        """Remove fields of a hash (HDEL).

        Example::

            await store.hash_delete("images:…/app", ["sha256:…"])
        """
        if not fields:
            return
        async with self._translated("HDEL"):
            await self._client.hdel(self._key("hash", name), *fields)

    async def hash_replace(self, name: str, fields: dict[str, str]) -> None:
        """Replace a whole hash in one transaction (DEL then HSET, MULTI/EXEC).

        Example::

            await store.hash_replace("images:…/app", {digest: image_json, ...})
        """
        full = self._key("hash", name)
        async with self._translated("MULTI"), self._client.pipeline(transaction=True) as pipe:
            pipe.delete(full)
            if fields:
                pipe.hset(full, mapping=cast("Any", fields))
            await pipe.execute()

    async def acquire(self, lock: str, owner: str, ttl: float) -> int | None:
        """Take the lock for ``ttl`` seconds, or renew our own; the fencing token, or None.

        Example::

            token = await store.acquire("sweep", owner=replica_id, ttl=30)
            if token is not None:
                ...   # this replica sweeps; acquire again within 30 s to keep the lock
        """
        keys = [self._key("lock", lock), self._key("fence", lock)]
        async with self._translated("SET"):
            token = int(await self._acquire(keys=keys, args=[owner, _millis(ttl)]))
        return token or None

    async def release(self, lock: str, owner: str) -> None:
        """Release a lock if ``owner`` still holds it (atomically, in a Lua script).

        Example::

            await store.release("sweep", owner=replica_id)
        """
        async with self._translated("EVALSHA"):
            await self._release_if_mine(keys=[self._key("lock", lock)], args=[owner])

    async def holder(self, lock: str) -> LockHolder | None:
        """Who holds the lock now, if anyone.

        Example::

            held = await store.holder("scheduler")   # LockHolder(owner="pod-a", token=12)
        """
        async with self._translated("GET"):
            held = await self._client.get(self._key("lock", lock))
        if not held:
            return None
        token, _, owner = str(held).partition(" ")
        return LockHolder(owner, int(token))

    async def append(
        self, stream: str, entry: JsonObject, max_length: int = 10_000, *, entry_id: str = ""
    ) -> str:
        """Append an entry (oldest dropped beyond ``max_length``), once per ``entry_id``.

        Trimming is exact (``MAXLEN =``), so a stream never holds more than ``max_length``.

        Example::

            await store.append("audit", {"who": "U123", "did": "keep"}, entry_id="op-42")
        """
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, not {max_length}")
        full = self._key("stream", stream)
        if entry_id:
            seen = self._key("seen", f"{stream}:{entry_id}")
            async with self._translated("EVALSHA"):
                found = await self._append_once(
                    keys=[full, seen], args=[json.dumps(entry), max_length, _millis(SEEN_TTL)]
                )
            return str(found)
        async with self._translated("XADD"):
            position = await self._client.xadd(
                full, {_ENTRY: json.dumps(entry)}, maxlen=max_length, approximate=False
            )
        return str(position)

    async def after(self, stream: str, position: str, count: int) -> list[tuple[str, JsonObject]]:
        """Up to ``count`` entries after stream id ``position`` ("" for the start), oldest first.

        Example::

            for position, entry in await store.after("audit", cursor, 50):
                ...
        """
        if count < 1:
            return []
        start = f"({position}" if position else "-"
        async with self._translated("XRANGE"):
            found = await self._client.xrange(self._key("stream", stream), start, "+", count=count)
        entries = cast("list[tuple[str, dict[str, str]]]", found)
        return [(i, dict(json.loads(fields[_ENTRY]))) for i, fields in entries]

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

    The message never repeats the password, whatever characters it holds.

    Example:
        >>> check_url("redis://localhost:6379/0")  # fine: returns None
        >>> check_url("localhost:6379")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        bot.errors.ConfigError: REDIS_URL: must start with redis://, rediss:// or unix:// ...
        >>> check_url("redis://u:pa#ss@127.0.0.1:6379/0")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        bot.errors.ConfigError: REDIS_URL: the part before @ has characters that must be percent-encoded ...
    """  # noqa: E501
    if not url.strip():
        raise ConfigError("REDIS_URL: required, e.g. redis://localhost:6379/0")
    problem = _url_problem(url)
    if problem:
        raise ConfigError(f"REDIS_URL: {problem} (got {redact(url)!r})")


def _url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        return "must start with redis://, rediss:// or unix://"
    if parts.scheme == "unix":
        return None if parts.path else "names no socket path, as in unix:///run/redis.sock"
    if "@" in url.partition("://")[2] and "@" not in parts.netloc:
        return (
            "the part before @ has characters that must be percent-encoded in a URL "
            "(/ # ? @ as %2F %23 %3F %40)"
        )
    try:
        port = parts.port
    except ValueError:
        return "has an invalid port (a number from 1 to 65535 after the host)"
    if not parts.hostname:
        return "names no host, as in redis://HOST:6379/0"
    if port == 0:
        return "has an invalid port (0)"
    database = parts.path.strip("/")
    if database and not database.isdigit():
        return "the database must be a number, as in redis://HOST:6379/0"
    return None


def scrub(text: str, url: str) -> str:
    """``text`` with every secret of ``url`` (its credentials, a password query value) removed.

    Example:
        >>> scrub("bad value 's3cret'", "redis://u:s3cret@h:6379/0")
        "bad value '***'"
    """
    credentials = url.partition("://")[2].rpartition("@")[0]
    secrets = [credentials, credentials.partition(":")[2]]
    secrets += [v for k, v in parse_qsl(urlsplit(url).query) if k.lower() == "password"]
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def redact(url: str) -> str:
    """``url`` with its credentials replaced by ``***`` (the user name, if any, stays).

    Everything between ``://`` and the last ``@`` is credentials, whatever it contains.

    Example:
        >>> redact("redis://user:s3cret@redis:6379/0")
        'redis://user:***@redis:6379/0'
        >>> redact("redis://u:REDIS/PASS@QA-55@127.0.0.1:1/0")
        'redis://u:***@127.0.0.1:1/0'
        >>> redact("redis://:pa#ss@host:6379")
        'redis://:***@host:6379'
        >>> redact("redis://host:6379/0?password=s3cret&db=1")
        'redis://host:6379/0?password=***&db=1'
    """
    url = _QUERY_PASSWORD.sub(r"\1***", url)
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest:
        return url
    credentials, _, location = rest.rpartition("@")
    user, colon, _ = credentials.partition(":")
    shown = f"{user}:***" if colon and "/" not in user and "#" not in user else "***"
    return f"{scheme}://{shown}@{location}"
