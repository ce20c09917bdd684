"""Reconcile over in-process fakes: post once, update in place, resolve with the right reason,
and touch only the repository in scope."""

from __future__ import annotations

from bot.inventory.sources import collect_inventory
from bot.state.journal import PutLease, apply
from bot.state.records import Lease, image_key
from bot.watch.reconcile import Reconciler
from bot.watch.scan import ScanOptions, ScanReport, scan
from tests.functional.conftest import KEEP_TWO, NOW, World


async def scanned(world: World) -> ScanReport:
    inventory = await collect_inventory(world.cloud.sources)
    return await scan(world.cloud.registries(), inventory, ScanOptions(now=world.clock()))


def reconciler(world: World) -> Reconciler:
    deps = world.deps
    return Reconciler(
        deps.alerts,
        deps.leases,
        world.notifier,
        deps.settings.routing,
        owner="r1",
        clock=world.clock,
    )


def three_releases(world: World) -> str:
    """v1 (oldest, in use), v2, v3: keep 2 releases expires v1."""
    old = world.push("one", "v1", age_days=3)
    world.push("two", "v2", age_days=2)
    world.push("three", "v3", age_days=1)
    world.use(old)
    return old


async def test_one_alert_per_risk_posted_once(world: World) -> None:
    old = three_releases(world)
    first = await reconciler(world).reconcile(await scanned(world))
    assert (first.risks, first.posted) == (1, 1)
    [(channel, risk)] = world.notifier.posted
    assert channel == "C0ALERTS" and risk.digest == old
    again = await reconciler(world).reconcile(await scanned(world))
    assert (again.posted, again.updated) == (0, 0) and len(world.notifier.posted) == 1


async def test_the_owner_channel_of_the_consumer_wins(world: World) -> None:
    old = world.push("one", "v1", age_days=3)
    world.push("two", "v2", age_days=2)
    world.push("three", "v3", age_days=1)
    world.use(old, channel="C0SHOP")
    await reconciler(world).reconcile(await scanned(world))
    assert [channel for channel, _ in world.notifier.posted] == ["C0SHOP"]


async def test_resolutions_say_why(world: World) -> None:
    old = three_releases(world)
    await reconciler(world).reconcile(await scanned(world))
    world.source.uses.clear()  # nothing uses it any more
    summary = await reconciler(world).reconcile(await scanned(world))
    [(record, resolution)] = world.notifier.resolved
    assert summary.resolved == 1 and record.digest == old
    assert (resolution.reason, resolution.detail) == ("unused", "nothing uses it any more")
    record = await world.deps.alerts.get(image_key(world.key, old))
    assert record is not None and record.state == "resolved"


async def test_a_policy_that_no_longer_expires_it_resolves_as_policy(world: World) -> None:
    old = three_releases(world)
    await reconciler(world).reconcile(await scanned(world))
    world.registry.repos["app"].policy = KEEP_TWO.replace('"countNumber": 2', '"countNumber": 5')
    await reconciler(world).reconcile(await scanned(world))
    [(_, resolution)] = world.notifier.resolved
    assert resolution.reason == "policy"
    assert resolution.detail == "the lifecycle policy no longer expires or archives it"
    assert old


async def test_a_deleted_image_resolves_as_deleted(world: World) -> None:
    old = three_releases(world)
    await reconciler(world).reconcile(await scanned(world))
    del world.registry.repos["app"].images[old]
    await reconciler(world).reconcile(await scanned(world))
    [(_, resolution)] = world.notifier.resolved
    assert resolution.reason == "deleted"


async def test_a_protected_image_resolves_as_protected(world: World) -> None:
    old = three_releases(world)
    await reconciler(world).reconcile(await scanned(world))
    lease = Lease(
        repository=world.key,
        digest=old,
        owner="<@U0ALICE>",
        reason="",
        created_at=NOW,
        until=NOW + 3600,
        keep_tag="keep-x",
    )
    await apply(world.store, PutLease(lease=lease))
    world.source.uses.clear()
    await reconciler(world).reconcile(await scanned(world))
    [(_, resolution)] = world.notifier.resolved
    assert resolution.reason == "protected" and "<@U0ALICE>" in resolution.detail


async def test_a_scope_touches_only_its_repository(world: World) -> None:
    old = three_releases(world)
    other = world.registry.add_repository("billing", policy=KEEP_TWO)
    for n, age in ((1, 3), (2, 2), (3, 1)):
        digest = world.registry.push("billing", f"b{n}", [f"v{n}"], NOW - age * 86_400)
        if n == 1:
            world.use(digest, repository="billing")
    report = await scanned(world)
    summary = await reconciler(world).reconcile(report, scope=other)
    assert summary.risks == 1
    assert [risk.repository.name for _, risk in world.notifier.posted] == ["billing"]
    world.source.uses.clear()
    await reconciler(world).reconcile(await scanned(world), scope=world.key)
    assert world.notifier.resolved == []  # app had no alert; billing was not in scope
    assert old


async def test_one_failing_channel_does_not_silence_the_others(world: World) -> None:
    from bot.errors import UpstreamError

    three_releases(world)
    world.notifier.fail_next_post = UpstreamError("slack", "chat.postMessage", "HTTP 500", "x")
    summary = await reconciler(world).reconcile(await scanned(world))
    assert summary.posted == 0 and len(summary.failures) == 1
    retried = await reconciler(world).reconcile(await scanned(world))
    assert retried.posted == 1  # the claim was released: the next pass posts it
