"""The Store contract, run the same against MemoryStore and a real redis-server; Redis failures.

The Redis tests start their own ``redis-server`` on a free loopback port (or use
``LIFEGUARD_TEST_REDIS_URL``), write only under a per-session prefix, and delete that prefix
after every test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from unittest.mock import ANY

import pytest
import redis.asyncio as aioredis

from bot.edge.stores.memory import MemoryStore
from bot.edge.stores.redis_store import DEFAULT_PREFIX, RedisStore
from bot.errors import ConfigError, CredentialsError, LifeguardError, Unreachable
from bot.state.store import JsonObject, Store
from tests.support.redis_server import (
    RedisServer,
    RedisServerMissing,
    flush_prefix,
    free_port,
    keys_under,
    redis_url_from_environment,
    start_redis_server,
)

PREFIX = f"lifeguard-test:{uuid.uuid4().hex[:8]}:"
TTL = 0.1  # seconds; tests wait EXPIRED for it to pass
EXPIRED = 0.25
NESTED: JsonObject = {
    "image": "app@sha256:" + "a" * 64,
    "owner": {"id": "U123", "names": ["Ana", "Zoë ✓"]},
    "tags": [],
    "score": 1.5,
    "big": 2**53,
    "flags": {"keep": True, "why": None},
    "deep": [[1, [2, [3, {"x": "y"}]]]],
}


def server_or_fail(*extra: str, port: int | None = None) -> RedisServer:
    try:
        return start_redis_server(*extra, port=port)
    except RedisServerMissing as exc:
        missing = str(exc)
    if redis_url_from_environment():
        pytest.skip(f"needs a redis-server of its own to stop or configure: {missing}")
    pytest.fail(missing, pytrace=False)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis for the whole session: LIFEGUARD_TEST_REDIS_URL, or a redis-server started here."""
    external = redis_url_from_environment()
    if external:
        yield external
        return
    server = server_or_fail()
    yield server.url
    server.stop()


@pytest.fixture
async def redis_store(redis_url: str) -> AsyncIterator[RedisStore]:
    """A RedisStore under the session prefix; everything under that prefix is deleted after."""
    store = await RedisStore.connect(redis_url, prefix=PREFIX)
    yield store
    await store.close()
    await flush_prefix(redis_url, PREFIX)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Store:
    """Each behavioural test runs twice: against MemoryStore and against RedisStore."""
    if request.param == "memory":
        return MemoryStore()
    redis_store: RedisStore = request.getfixturevalue("redis_store")  # set up only when needed
    return redis_store


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A plain redis-py client, to look at what the store wrote."""
    client = aioredis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A redis-server for one test only, which the test may stop."""
    server = server_or_fail()
    yield server
    server.stop()


async def connect_quickly(url: str, prefix: str = PREFIX) -> RedisStore:
    """Few, short retries, so failure tests take milliseconds."""
    return await RedisStore.connect(url, prefix, retries=1, backoff_base=0.01, backoff_cap=0.05)


# --- records ----------------------------------------------------------------------------------


async def test_get_of_a_missing_record_is_none(store: Store) -> None:
    assert await store.get("nothing-here") is None


async def test_put_then_get_keeps_nested_json(store: Store) -> None:
    await store.put("lease:app", NESTED)
    assert await store.get("lease:app") == NESTED


async def test_put_overwrites(store: Store) -> None:
    await store.put("k", {"v": 1})
    await store.put("k", {"v": 2})
    assert await store.get("k") == {"v": 2}


async def test_get_returns_a_copy(store: Store) -> None:
    await store.put("k", {"list": [1]})
    first = await store.get("k")
    assert first is not None
    first["list"].append(2)
    assert await store.get("k") == {"list": [1]}


async def test_a_record_expires_after_its_ttl(store: Store) -> None:
    await store.put("k", {"v": 1}, ttl=TTL)
    assert await store.get("k") == {"v": 1}
    await asyncio.sleep(EXPIRED)
    assert await store.get("k") is None
    assert not await store.delete("k")


async def test_put_without_ttl_makes_a_record_permanent_again(store: Store) -> None:
    await store.put("k", {"v": 1}, ttl=TTL)
    await store.put("k", {"v": 2})
    await asyncio.sleep(EXPIRED)
    assert await store.get("k") == {"v": 2}


async def test_a_ttl_of_zero_or_less_is_already_expired(store: Store) -> None:
    await store.put("k", {"v": 1}, ttl=0)
    assert await store.get("k") is None
    await store.put("k", {"v": 1})
    await store.put("k", {"v": 2}, ttl=-1)
    assert await store.get("k") is None
    assert await store.create("k", {"v": 3}, ttl=0)
    assert await store.get("k") is None


async def test_create_writes_only_when_absent(store: Store) -> None:
    assert await store.create("alert:app", {"ts": "1.2"})
    assert not await store.create("alert:app", {"ts": "9.9"})
    assert await store.get("alert:app") == {"ts": "1.2"}
    assert await store.delete("alert:app")
    assert await store.create("alert:app", {"ts": "3.4"})
    assert await store.get("alert:app") == {"ts": "3.4"}


async def test_create_succeeds_again_once_the_record_expired(store: Store) -> None:
    assert await store.create("alert:app", {"ts": "1"}, ttl=TTL)
    assert not await store.create("alert:app", {"ts": "2"}, ttl=TTL)
    await asyncio.sleep(EXPIRED)
    assert await store.create("alert:app", {"ts": "3"}, ttl=60)
    assert await store.get("alert:app") == {"ts": "3"}


async def test_exactly_one_of_twenty_concurrent_creates_wins(store: Store) -> None:
    results = await asyncio.gather(
        *(store.create("alert:race", {"writer": n}, ttl=60) for n in range(20))
    )
    assert results.count(True) == 1
    assert await store.get("alert:race") == {"writer": results.index(True)}


async def test_delete_says_whether_the_record_existed(store: Store) -> None:
    await store.put("k", {})
    assert await store.delete("k")
    assert not await store.delete("k")
    assert await store.get("k") is None


# --- sorted indexes ---------------------------------------------------------------------------


async def test_an_unknown_index_is_empty(store: Store) -> None:
    assert await store.index_range("none") == []


async def test_index_range_is_ordered_by_score(store: Store) -> None:
    for member, score in [("c", 3.0), ("a", -1.5), ("d", 1e12), ("b", 0.0)]:
        await store.index_set("by-expiry", member, score)
    assert await store.index_range("by-expiry") == [
        ("a", -1.5),
        ("b", 0.0),
        ("c", 3.0),
        ("d", 1e12),
    ]


async def test_index_range_bounds_are_inclusive(store: Store) -> None:
    for member, score in [("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)]:
        await store.index_set("i", member, score)
    assert await store.index_range("i", 2.0, 3.0) == [("b", 2.0), ("c", 3.0)]
    assert await store.index_range("i", low=3.5) == [("d", 4.0)]
    assert await store.index_range("i", high=1.0) == [("a", 1.0)]
    assert await store.index_range("i", 2.5, 2.6) == []
    assert await store.index_range("i", 3.0, 2.0) == []
    everything = await store.index_range("i")
    assert await store.index_range("i", float("-inf"), float("inf")) == everything


async def test_index_set_moves_a_member(store: Store) -> None:
    await store.index_set("i", "a", 1.0)
    await store.index_set("i", "b", 2.0)
    await store.index_set("i", "a", 3.0)
    assert await store.index_range("i") == [("b", 2.0), ("a", 3.0)]


async def test_equal_scores_keep_every_member(store: Store) -> None:
    await store.index_set("i", "y", 1.0)
    await store.index_set("i", "x", 1.0)
    await store.index_set("i", "z", 0.5)
    found = await store.index_range("i")
    assert found[0] == ("z", 0.5)
    assert sorted(found[1:]) == [("x", 1.0), ("y", 1.0)]  # order among ties is not promised


async def test_index_remove(store: Store) -> None:
    await store.index_set("i", "a", 1.0)
    await store.index_set("i", "b", 2.0)
    await store.index_remove("i", "a")
    await store.index_remove("i", "never-there")
    await store.index_remove("no-such-index", "a")
    assert await store.index_range("i") == [("b", 2.0)]


async def test_indexes_are_independent(store: Store) -> None:
    await store.index_set("one", "a", 1.0)
    await store.index_set("two", "a", 5.0)
    assert await store.index_range("one") == [("a", 1.0)]
    assert await store.index_range("two") == [("a", 5.0)]


# --- locks ------------------------------------------------------------------------------------


async def test_a_held_lock_refuses_another_token(store: Store) -> None:
    assert await store.acquire("sweep", "replica-a", ttl=30)
    assert not await store.acquire("sweep", "replica-b", ttl=30)
    assert await store.acquire("other-lock", "replica-b", ttl=30)


async def test_the_holder_renews_its_lock(store: Store) -> None:
    assert await store.acquire("sweep", "a", ttl=0.5)
    await asyncio.sleep(0.3)
    assert await store.acquire("sweep", "a", ttl=0.5)  # renewed: now held until ~0.8 s
    await asyncio.sleep(0.3)  # past the first expiry (0.5 s)
    assert not await store.acquire("sweep", "b", ttl=0.5)
    await asyncio.sleep(0.25)  # past the renewed expiry
    assert await store.acquire("sweep", "b", ttl=0.5)


async def test_an_expired_lock_can_be_taken(store: Store) -> None:
    assert await store.acquire("sweep", "a", ttl=TTL)
    await asyncio.sleep(EXPIRED)
    assert await store.acquire("sweep", "b", ttl=30)
    assert not await store.acquire("sweep", "a", ttl=30)


async def test_only_the_holder_releases(store: Store) -> None:
    assert await store.acquire("sweep", "a", ttl=30)
    await store.release("sweep", "b")
    assert not await store.acquire("sweep", "b", ttl=30)
    await store.release("sweep", "a")
    assert await store.acquire("sweep", "b", ttl=30)
    await store.release("never-taken", "a")


async def test_exactly_one_of_twenty_concurrent_acquires_wins(store: Store) -> None:
    results = await asyncio.gather(*(store.acquire("sweep", f"r{n}", ttl=30) for n in range(20)))
    assert results.count(True) == 1
    winner = f"r{results.index(True)}"
    assert await store.acquire("sweep", winner, ttl=30)


# --- streams ----------------------------------------------------------------------------------


def id_order(entry_id: str) -> tuple[int, int]:
    millis, sequence = entry_id.split("-")
    return int(millis), int(sequence)


async def test_recent_is_newest_first(store: Store) -> None:
    ids = [await store.append("audit", {"n": n}) for n in range(5)]
    assert len(set(ids)) == 5
    assert sorted(ids, key=id_order) == ids
    assert await store.recent("audit", 3) == [
        (ids[4], {"n": 4}),
        (ids[3], {"n": 3}),
        (ids[2], {"n": 2}),
    ]
    assert [entry["n"] for _, entry in await store.recent("audit", 100)] == [4, 3, 2, 1, 0]


async def test_a_stream_keeps_at_most_max_length_entries(store: Store) -> None:
    for n in range(12):
        await store.append("audit", {"n": n}, max_length=5)
    assert [entry["n"] for _, entry in await store.recent("audit", 100)] == [11, 10, 9, 8, 7]


async def test_stream_entries_keep_nested_json(store: Store) -> None:
    entry_id = await store.append("audit", NESTED)
    assert await store.recent("audit", 1) == [(entry_id, NESTED)]


async def test_recent_returns_copies(store: Store) -> None:
    await store.append("audit", {"images": ["a"]})
    [(_, entry)] = await store.recent("audit", 1)
    entry["images"].append("b")
    assert (await store.recent("audit", 1))[0][1] == {"images": ["a"]}


async def test_an_unknown_stream_is_empty(store: Store) -> None:
    assert await store.recent("none", 10) == []


async def test_streams_are_independent(store: Store) -> None:
    await store.append("one", {"n": 1})
    await store.append("two", {"n": 2})
    assert [entry for _, entry in await store.recent("one", 10)] == [{"n": 1}]


# --- all kinds together -----------------------------------------------------------------------


async def test_a_name_used_by_every_kind_does_not_collide(store: Store) -> None:
    await store.put("x", {"record": True})
    await store.index_set("x", "member", 1.0)
    assert await store.acquire("x", "token", ttl=30)
    await store.append("x", {"stream": True})
    assert await store.get("x") == {"record": True}
    assert await store.index_range("x") == [("member", 1.0)]
    assert [entry for _, entry in await store.recent("x", 10)] == [{"stream": True}]
    assert await store.delete("x")
    assert not await store.acquire("x", "other", ttl=30)


async def test_ping_and_shared(store: Store) -> None:
    assert await store.ping()
    assert store.shared is isinstance(store, RedisStore)


# --- Redis only: layout, prefixes, flushing ---------------------------------------------------


async def test_keys_live_under_the_prefix_one_kind_each(
    redis_store: RedisStore, redis_url: str, raw: aioredis.Redis
) -> None:
    await redis_store.put("r", {"v": 1}, ttl=60)
    await redis_store.index_set("i", "m", 1.0)
    await redis_store.acquire("l", "token", ttl=30)
    await redis_store.append("s", {"nested": {"v": [1]}})
    assert await keys_under(redis_url, f"{PREFIX}*") == {
        f"{PREFIX}record:r": "string",
        f"{PREFIX}index:i": "zset",
        f"{PREFIX}lock:l": "string",
        f"{PREFIX}fence:l": "string",
        f"{PREFIX}stream:s": "stream",
    }
    assert 0 < await raw.pttl(f"{PREFIX}record:r") <= 60_000
    assert 0 < await raw.pttl(f"{PREFIX}lock:l") <= 30_000
    assert await raw.get(f"{PREFIX}lock:l") == "1 token"  # fencing token, then the owner
    assert await raw.xrange(f"{PREFIX}stream:s") == [
        (ANY, {"entry": '{"nested": {"v": [1]}}'})  # one field: the entry as JSON
    ]


async def test_the_default_prefix(redis_url: str) -> None:
    store = await RedisStore.connect(redis_url)
    assert store.prefix == DEFAULT_PREFIX == "lifeguard:"
    await store.close()


async def test_two_prefixes_on_one_server_are_isolated(redis_url: str) -> None:
    blue = await RedisStore.connect(redis_url, prefix=f"{PREFIX}blue:")
    green = await RedisStore.connect(redis_url, prefix=f"{PREFIX}green:")
    try:
        for store in (blue, green):
            assert await store.create("alert", {"by": store.prefix})
            assert await store.acquire("sweep", store.prefix, ttl=30)
            await store.index_set("i", "m", len(store.prefix))
            await store.append("audit", {"by": store.prefix})
        assert await blue.get("alert") == {"by": blue.prefix}
        assert await green.get("alert") == {"by": green.prefix}
        assert await blue.delete("alert")
        assert await green.get("alert") == {"by": green.prefix}
        await blue.release("sweep", blue.prefix)
        assert not await green.acquire("sweep", blue.prefix, ttl=30)
        assert await green.index_range("i") == [("m", len(green.prefix))]
        assert [e for _, e in await green.recent("audit", 10)] == [{"by": green.prefix}]
    finally:
        await blue.close()
        await green.close()
        await flush_prefix(redis_url, PREFIX)


async def test_flushing_deletes_only_our_prefix(
    redis_store: RedisStore, redis_url: str, raw: aioredis.Redis
) -> None:
    neighbour = f"lifeguard-neighbour:{uuid.uuid4().hex[:8]}:record:k"
    lookalike = f"{PREFIX[:-1]}X:record:k"  # shares all but the prefix's last character
    await raw.set(neighbour, "theirs")
    await raw.set(lookalike, "theirs")
    try:
        await redis_store.put("k", {"v": 1})
        await redis_store.append("s", {"v": 1})
        assert await flush_prefix(redis_url, PREFIX) == 2
        assert await keys_under(redis_url, f"{PREFIX}*") == {}
        assert await raw.get(neighbour) == "theirs"
        assert await raw.get(lookalike) == "theirs"
    finally:
        await raw.delete(neighbour, lookalike)


# --- Redis only: failures ---------------------------------------------------------------------


def assert_unreachable(err: Unreachable, operation: str) -> None:
    assert err.service == "redis"
    assert err.operation == operation
    assert err.hint is not None
    assert "REDIS_URL" in err.hint


async def test_a_stopped_server_answers_ping_false_and_raises_unreachable(
    own_server: RedisServer,
) -> None:
    store = await connect_quickly(own_server.url)
    await store.put("k", {"v": 1})
    own_server.stop()
    try:
        assert await store.ping() is False
        calls: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("GET", lambda: store.get("k")),
            ("SET", lambda: store.put("k", {})),
            ("SET", lambda: store.create("k", {})),
            ("DEL", lambda: store.delete("k")),
            ("ZADD", lambda: store.index_set("i", "m", 1.0)),
            ("ZREM", lambda: store.index_remove("i", "m")),
            ("ZRANGEBYSCORE", lambda: store.index_range("i")),
            ("SET", lambda: store.acquire("l", "t", ttl=1)),
            ("EVALSHA", lambda: store.release("l", "t")),
            ("XADD", lambda: store.append("s", {})),
            ("XREVRANGE", lambda: store.recent("s", 1)),
        ]
        for operation, call in calls:
            with pytest.raises(Unreachable) as caught:
                await call()
            assert_unreachable(caught.value, operation)
    finally:
        await store.close()


async def test_a_restarted_server_is_used_again(own_server: RedisServer) -> None:
    # The pooled connection died with the old server: redis-py's Retry reconnects. (With
    # retries=0 the first call raises Unreachable: "Connection closed by server".)
    store = await connect_quickly(own_server.url)
    try:
        await store.put("k", {"v": 1})
        own_server.stop()
        again = start_redis_server(port=own_server.port)
        try:
            assert await store.get("k") is None  # nothing persisted, but no error either
            assert await store.create("k", {"v": 2})
        finally:
            again.stop()
    finally:
        await store.close()


async def test_connect_raises_unreachable_when_nothing_listens() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(Unreachable) as caught:
        await connect_quickly(url)
    assert_unreachable(caught.value, "PING")
    assert "Connection refused" in str(caught.value) or "connecting" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "required"),
        ("   ", "required"),
        ("localhost:6379", "must start with redis://"),
        ("http://localhost:6379/0", "must start with redis://"),
        ("redis://", "names no host"),
        ("redis://:s3cret@/0", "names no host"),
        ("redis://localhost:port/0", "invalid port"),
        ("redis://localhost:99999/0", "invalid port"),
        ("redis://localhost:0/0", "invalid port"),
        ("redis://:s3cret@localhost:6379/cache", "database must be a number"),
        ("redis://localhost:6379/0?db=zero", "Invalid value for 'db'"),
        ("unix://", "names no socket path"),
    ],
)
async def test_a_bad_url_is_a_config_error(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        await RedisStore.connect(url)
    message = str(caught.value)
    assert message.startswith("REDIS_URL: ")
    assert says in message
    assert "s3cret" not in message


@pytest.mark.parametrize(
    ("url", "secret_parts"),
    [
        ("redis://u:REDIS/PASS@QA-55@127.0.0.1:1/0", ["REDIS/", "PASS", "QA-55"]),
        ("redis://u:pa#ss@127.0.0.1:6379/0", ["u:pa", "pa#", "#ss", "'pa'"]),
        ("redis://:pa?ss@127.0.0.1:6379/0", [":pa", "pa?", "?ss"]),
        ("redis://u:p@ss:w0rd@127.0.0.1:6379/0", ["ss:w0rd", "w0rd", "u:p@"]),
        ("redis://:hunter2@127.0.0.1:1/0", ["hunter2"]),
        ("redis://127.0.0.1:6379/0?password=hunter2&db=x", ["hunter2"]),
    ],
)
async def test_no_part_of_a_password_ever_appears_in_an_error(
    url: str, secret_parts: list[str]
) -> None:
    with pytest.raises(LifeguardError) as caught:
        await RedisStore.connect(url, retries=0, socket_timeout=1.0)
    message = str(caught.value)
    assert message.startswith(("REDIS_URL: ", "redis ")), message
    for part in secret_parts:
        assert part not in message, (part, message)


@pytest.fixture
def password_server() -> Iterator[RedisServer]:
    server = server_or_fail("--requirepass", "s3cret")
    yield server
    server.stop()


async def test_a_missing_or_wrong_password_is_a_credentials_error(
    password_server: RedisServer,
) -> None:
    port = password_server.port
    for url in (f"redis://127.0.0.1:{port}/0", f"redis://:wrong@127.0.0.1:{port}/0"):
        with pytest.raises(CredentialsError) as caught:
            await connect_quickly(url)
        assert caught.value.hint is not None
        assert "REDIS_URL" in caught.value.hint
        assert "wrong" not in str(caught.value)
    store = await connect_quickly(f"redis://:s3cret@127.0.0.1:{port}/0")
    assert await store.ping()
    await store.close()
