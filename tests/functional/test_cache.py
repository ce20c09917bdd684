"""The repository cache: writes by events, full listings by the scan, drift, and each replica's
decoded copy staying right when another replica writes."""

from __future__ import annotations

from bot.edge.stores.memory import MemoryStore
from bot.lifecycle.images import Image
from bot.refs import RepositoryKey
from bot.state.cache import RepositoryCache, decode, encode

KEY = RepositoryKey("111122223333", "eu-west-1", "app")


def image(n: int, *tags: str) -> Image:
    return Image("sha256:" + f"{n:064x}", tags, float(n))


async def test_an_image_survives_the_round_trip_exactly() -> None:
    index = Image("sha256:" + "a" * 64, ("v1",), 1.5, children=("sha256:" + "b" * 64,),
                  media_type="application/vnd.oci.image.index.v1+json")  # fmt: skip
    assert decode(encode(index)) == index


async def test_a_scan_replaces_the_listing_and_counts_what_events_missed() -> None:
    store = MemoryStore()
    cache = RepositoryCache(store)
    assert await cache.load(KEY) is None
    first = await cache.replace(KEY, '{"rules": []}', None, [image(1), image(2)])
    assert not first.any  # the first listing has nothing to drift from
    await cache.put_image(KEY, image(3))  # an event
    drift = await cache.replace(KEY, '{"rules": []}', None, [image(1), image(4)])
    assert (drift.missed, drift.stale) == (1, 2)  # 4 was never told; 2 and 3 are gone


async def test_each_replica_sees_the_other_replicas_writes() -> None:
    store = MemoryStore()
    one, two = RepositoryCache(store), RepositoryCache(store)
    await one.replace(KEY, None, None, [image(1)])
    assert [i.digest for i in (await two.load(KEY) or _none()).images] == [image(1).digest]
    await two.put_image(KEY, image(2, "v2"))
    seen = await one.load(KEY)
    assert seen is not None and {i.digest for i in seen.images} == {
        image(1).digest,
        image(2).digest,
    }
    await one.remove_images(KEY, [image(1).digest])
    again = await two.load(KEY)
    assert again is not None and [i.tags for i in again.images] == [("v2",)]


async def test_a_policy_time_only_moves_forward() -> None:
    cache = RepositoryCache(MemoryStore())
    await cache.replace(KEY, "old", None, [])
    await cache.set_policy(KEY, "new", at=200.0)
    await cache.set_policy(KEY, "older", at=100.0)
    loaded = await cache.load(KEY)
    assert loaded is not None and (loaded.policy, loaded.policy_at) == ("older", 200.0)


def _none() -> object:
    raise AssertionError("not cached")
