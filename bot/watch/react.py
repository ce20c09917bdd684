"""Reactions: what each event changes, for one repository, as it happens.

* **Push** (and ``PutImage``, storage-class changes): the digest is read once
  (``DescribeImages`` by digest) into the repository cache, the repository is evaluated from the
  cache, and its alerts are reconciled: an in-use image the push made expirable is alerted, "after
  N more pushes" warnings are updated.
* **Policy change** (``PutLifecyclePolicy``, ``DeleteLifecyclePolicy``): a blast-radius message
  in the repository's channel (what the new policy expires or archives that the old did not,
  which of those are in use, the rule diff, what it no longer touches); then reconcile, which
  resolves the alerts the new policy ends; and AWS's own preview is asked for.
* **Deletion** (``DELETE``, ``BatchDeleteImage``, a lifecycle run): the records are kept as
  evidence for why-missing; an in-use digest that is gone gets an urgent message with Restore, in
  place of its earlier warning when there was one; a digest nobody uses posts nothing.
* **ECS task or deployment change**: the inventory is collected again at the next reaction.

Events are best effort and may come late, twice or out of order: a reaction reads ECR's current
state for the digests it concerns, and ignores a policy change older than the one it knows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from bot.blocks.alerts import AlertOptions
from bot.blocks.events import blast_radius_message, deleted_in_use_message
from bot.blocks.subject import deleted_subject
from bot.errors import InputError, NotWatched, UpstreamError
from bot.events.api_calls import (
    BatchDeleteImageCall,
    CloudTrailApiCall,
    DeleteLifecyclePolicyCall,
    PutImageCall,
    PutImageTagMutabilityCall,
    PutLifecyclePolicyCall,
    UpdateImageStorageClassCall,
)
from bot.events.ecr import (
    ImageActionEvent,
    ImageDeleted,
    ImagePushed,
    ImageScanEvent,
    ImageStorageClassChanged,
)
from bot.events.ecs import EcsDeploymentStateChange, EcsTaskStateChange
from bot.events.lifecycle_runs import CloudTrailServiceEvent
from bot.events.models import Event
from bot.inventory.models import ResolvedUse
from bot.inventory.resolve import uses_by_digest
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.images import Image
from bot.lifecycle.inputs import attach_children
from bot.lifecycle.parse import parse_policy
from bot.lifecycle.policy import LifecyclePolicy
from bot.ops.deps import CloudFactory, Dependencies
from bot.ports import Cloud, Notifier, Registry, Repository
from bot.refs import RepositoryKey
from bot.risk.blast import blast_radius
from bot.state.cache import CachedRepository
from bot.state.evidence import EvidenceBook
from bot.state.records import AlertRecord, image_key
from bot.watch.inventory_view import InventoryView
from bot.watch.reconcile import Reconciler, Resolution, resolve_alert
from bot.watch.routing import route_repository
from bot.watch.scan import (
    RepositoryResult,
    ScanOptions,
    ScanReport,
    assess_repository,
    uses_for,
    uses_index,
)

log = logging.getLogger(__name__)
Outcome = Literal["applied", "ignored", "stale"]


@dataclass(frozen=True)
class Reaction:
    """What an event did: ``applied``, ``ignored`` (nothing to do) or ``stale`` (older than what
    the bot knows); ``posted`` counts the messages it posted."""

    outcome: Outcome
    detail: str = ""
    posted: int = 0


@dataclass(frozen=True)
class Gone:
    """A digest that is gone from a repository, by what, and by which lifecycle rule if one."""

    digest: str
    by: str
    rule: int | None = None


class Reactor:
    """Reacts to one event at a time. See the module docstring.

    Example::

        reactor = Reactor(deps, notifier, reconciler, InventoryView(store, max_age=300))
        reaction = await reactor.react(event, raw)     # raw: the event as delivered (a dict)

    ``cloud`` (default ``deps.cloud``) opens AWS for each reaction; the consumer passes a
    :class:`~bot.edge.aws.cloud.SharedCloud`, so that events reuse their clients.
    """

    def __init__(
        self,
        deps: Dependencies,
        notifier: Notifier,
        reconciler: Reconciler,
        inventory: InventoryView,
        *,
        on_policy_change: Any = None,
        cloud: CloudFactory | None = None,
    ) -> None:
        self.deps = deps
        self.cloud = cloud or deps.cloud
        self.notifier = notifier
        self.reconciler = reconciler
        self.inventory = inventory
        self.cache = deps.cache
        self.evidence = EvidenceBook(deps.store)
        self.on_policy_change = on_policy_change

    async def react(self, event: Event, raw: dict[str, Any]) -> Reaction:
        """React to one parsed event (``raw``: the event as delivered, for the evidence)."""
        match event:
            case EcsTaskStateChange() | EcsDeploymentStateChange():
                await self.inventory.changed()
                return Reaction("applied", "inventory marked out of date")
            case ImageScanEvent():
                return Reaction("ignored", "scan results do not change what lifecycle does")
            case ImageActionEvent():
                return await self._image_action(event)
            case CloudTrailApiCall():
                return await self._api_call(event, raw)
            case CloudTrailServiceEvent():
                return await self._lifecycle_run(event, raw)
        return Reaction("ignored", f"no reaction to {event.kind}")

    async def _image_action(self, event: ImageActionEvent) -> Reaction:
        detail = event.detail
        if not detail.succeeded:
            return Reaction("ignored", f"{event.kind} did not succeed")
        key = event.repository
        if isinstance(detail, ImagePushed | ImageStorageClassChanged):
            return await self.refresh(key, [detail.image_digest])
        assert isinstance(detail, ImageDeleted)
        return await self.refresh(key, [detail.image_digest], by="a DELETE event")

    async def _api_call(self, event: CloudTrailApiCall, raw: dict[str, Any]) -> Reaction:
        call, key = event.detail, event.repository
        if not call.succeeded:
            return Reaction("ignored", f"the {call.event_name} call failed")
        match call:
            case PutLifecyclePolicyCall():
                return await self.policy_changed(key, call.policy_text, event.at, call.who)
            case DeleteLifecyclePolicyCall():
                return await self.policy_changed(key, None, event.at, call.who)
            case BatchDeleteImageCall():
                await self.evidence.keep("BatchDeleteImage", raw["detail"], event_id=event.event_id)
                digests = [i.image_digest for i in call.deleted if i.image_digest]
                return await self.refresh(key, digests, by=f"deleted by {call.who}")
            case PutImageCall() | UpdateImageStorageClassCall():
                digest = call.image_digest
                return await self.refresh(key, [digest] if digest else [])
            case PutImageTagMutabilityCall():
                return Reaction("ignored", "tag mutability does not change what lifecycle does")
        return Reaction("ignored", f"no reaction to {call.event_name}")

    async def _lifecycle_run(self, event: CloudTrailServiceEvent, raw: dict[str, Any]) -> Reaction:
        run = event.detail
        await self.evidence.keep("PolicyExecutionEvent", raw["detail"], event_id=event.event_id)
        actions = run.service_event_details.image_actions
        rules = {a.image.digest: a.rule_priority for a in actions}
        tags = {a.image.digest: a.image.tag_list for a in actions}
        return await self.refresh(event.repository, list(rules), by="lifecycle", rules=rules,
                                  tags=tags)  # fmt: skip

    # --- the reactions -------------------------------------------------------------------------

    async def refresh(
        self,
        key: RepositoryKey,
        digests: list[str],
        *,
        by: str | None = None,
        rules: dict[str, int] | None = None,
        tags: dict[str, tuple[str, ...]] | None = None,
    ) -> Reaction:
        """Read these digests again, update the cache, tell about in-use ones that are gone, and
        reconcile the repository's alerts.

        With ``by`` (the event says they were deleted), a digest ECR no longer has is gone even
        when the cache did not know it; ``tags`` are what the event says they carried.
        """
        async with self.cloud() as cloud:
            cached = await self._cached(cloud, key)
            if cached is None:
                return Reaction("ignored", f"{key.name} is not in a watched registry")
            registry = cloud.registry_for(key)
            found = await self._read(registry, key, digests)
            inventory = await self.inventory.current(cloud)
        known = {image.digest: image for image in cached.images}
        gone = [
            Gone(d, _who(by, rules, d), (rules or {}).get(d))
            for d in dict.fromkeys(digests)
            if d not in found and (d in known or by is not None)
        ]
        event_tags = tags or {}
        before = [
            *cached.images,
            *(
                Image(g.digest, event_tags.get(g.digest, ()), 0.0)
                for g in gone
                if g.digest not in known
            ),
        ]
        for digest, image in found.items():
            known[digest] = image
        for item in gone:
            known.pop(item.digest, None)
        images = list(known.values())
        posted = await self._tell_gone(key, gone, before, inventory.uses)
        result = self._assess(key, cached, images, list(inventory.uses))
        summary = await self._reconcile(result, inventory)
        return Reaction("applied", f"{len(found)} read, {len(gone)} gone", posted + summary)

    async def policy_changed(
        self, key: RepositoryKey, text: str | None, at: float, who: str
    ) -> Reaction:
        """A new (or no) lifecycle policy: the blast radius, then reconcile and preview."""
        async with self.cloud() as cloud:
            cached = await self._cached(cloud, key)
            if cached is None:
                return Reaction("ignored", f"{key.name} is not in a watched registry")
            current = await cloud.registry_for(key).lifecycle_policy(Repository(key, "", ""))
            inventory = await self.inventory.current(cloud)
        if at < cached.policy_at or not same_policy(current.text if current else None, text):
            return Reaction("stale", "ECR has a newer policy than this change")
        before, after = _policy_or_none(cached.policy), _policy_or_none(text)
        await self.cache.set_policy(key, text, at=at)
        images = cached.images
        now = self.deps.clock()
        in_use = uses_by_digest(images, uses_for(key, uses_index(inventory.uses)))
        blast = blast_radius(
            key,
            evaluate(before, images, now) if before else None,
            evaluate(after, images, now) if after else None,
            {digest: tuple(uses) for digest, uses in in_use.items()},
            who,
        )
        posted = 0
        channel = route_repository(key, self.deps.settings.routing)
        if channel is not None and not blast.quiet:
            await self.notifier.post(channel, blast_radius_message(blast))
            posted = 1
        updated = CachedRepository(text, cached.evaluated_at, at, images)
        result = self._assess(key, updated, images, list(inventory.uses))
        posted += await self._reconcile(result, inventory)
        if self.on_policy_change is not None:
            await self.on_policy_change(key)
        return Reaction("applied", f"{len(blast.newly)} newly acted on", posted)

    # --- parts ---------------------------------------------------------------------------------

    async def _cached(self, cloud: Cloud, key: RepositoryKey) -> CachedRepository | None:
        """The cached repository, listed in full the first time it is seen."""
        cached = await self.cache.load(key)
        if cached is not None:
            return cached
        try:
            registry = cloud.registry_for(key)
        except NotWatched:
            return None
        repository = await registry.repository(key.name, registry_id=key.registry)
        if repository is None:
            return None
        info = await registry.lifecycle_policy(repository)
        images = await registry.images(repository)
        if any(image.is_index for image in images):
            images = attach_children(images, await registry.index_children(repository, images))
        evaluated = info.last_evaluated_at if info else None
        await self.cache.replace(key, info.text if info else None, evaluated, images)
        return CachedRepository(info.text if info else None, evaluated, 0.0, images)

    async def _read(
        self, registry: Registry, key: RepositoryKey, digests: list[str]
    ) -> dict[str, Image]:
        """The digests ECR has now (one DescribeImages each), written to the cache."""
        repository = Repository(key, "", "")
        found: dict[str, Image] = {}
        for digest in dict.fromkeys(digests):
            image = await registry.image(repository, digest)
            if image is None:
                continue
            if image.is_index:
                children = await registry.index_children(repository, [image])
                image = attach_children([image], children)[0]
            found[digest] = image
            await self.cache.put_image(key, image)
        missing = [d for d in digests if d not in found]
        if missing:
            await self.cache.remove_images(key, missing)
        return found

    def _assess(
        self,
        key: RepositoryKey,
        cached: CachedRepository,
        images: list[Image],
        uses: list[Any],
    ) -> RepositoryResult:
        options = ScanOptions.from_settings(self.deps.settings.scan, self.deps.clock())
        policy = _policy_or_none(cached.policy)
        if policy is None:
            return RepositoryResult(key, "none", digests=frozenset(i.digest for i in images))
        return assess_repository(
            key, policy, images, uses_for(key, uses_index(uses)), options,
            evaluated_at=cached.evaluated_at,
        )  # fmt: skip

    async def _reconcile(self, result: RepositoryResult, inventory: Any) -> int:
        """Reconcile the repository's alerts; a failure (Slack) fails the reaction, so the event
        comes again: an alert is delayed, never dropped."""
        report = ScanReport(self.deps.clock(), ScanOptions(now=self.deps.clock()), (result,),
                            inventory)  # fmt: skip
        summary = await self.reconciler.reconcile(report, scope=result.key)
        if summary.failures:
            raise UpstreamError("slack", "chat.postMessage", "NotSent", summary.failures[0])
        return summary.posted

    async def _tell_gone(
        self, key: RepositoryKey, gone: list[Gone], before: Iterable[Image], uses: Any
    ) -> int:
        """An urgent message for each in-use digest that is gone; nothing for the others."""
        if not gone:
            return 0
        images = list(before)
        in_use = uses_by_digest(images, uses_for(key, uses_index(uses)))
        by_digest = {image.digest: image for image in images}
        posted = 0
        for item in gone:
            if item.digest not in in_use:
                continue
            await self._urgent(key, item, by_digest[item.digest].tags, tuple(in_use[item.digest]))
            posted += 1
        return posted

    async def _urgent(
        self, key: RepositoryKey, gone: Gone, tags: tuple[str, ...], uses: tuple[ResolvedUse, ...]
    ) -> None:
        alerts, now = self.deps.alerts, self.deps.clock()
        record = await alerts.get(image_key(key, gone.digest))
        subject = deleted_subject(tags, uses, gone.rule)
        if record is not None and record.state == "open":
            # What uses it now is what will fail; the tags are the alert's own.
            kept = record.subject or subject
            record = record.model_copy(
                update={"subject": kept.model_copy(update={"consumers": subject.consumers})}
            )
            await resolve_alert(alerts, self.notifier, record,
                                Resolution("deleted", gone.by, at=now))  # fmt: skip
            return
        channel = route_repository(key, self.deps.settings.routing, uses)
        if channel is None:
            log.warning("in-use image %s@%s deleted, and no channel to say so", key, gone.digest)
            return
        options = AlertOptions(runbook_url=self.deps.settings.alerts.runbook_url)
        payload = deleted_in_use_message(key, gone.digest, subject, gone.by, now=now,
                                         options=options)  # fmt: skip
        ts = await self.notifier.post(channel, payload)
        await alerts.put(
            AlertRecord(
                repository=key, digest=gone.digest, channel=channel, ts=ts, state="deleted",
                fingerprint="DELETED", posted_at=now, subject=subject,
            )
        )  # fmt: skip


def _who(by: str | None, rules: dict[str, int] | None, digest: str) -> str:
    if by == "lifecycle" and rules and digest in rules:
        return f"deleted by lifecycle rule {rules[digest]}"
    return by or "the image was deleted"


def same_policy(one: str | None, other: str | None) -> bool:
    """Whether two policy texts are the same policy (whitespace and key order aside).

    Example:
        >>> same_policy('{"rules": []}', '{ "rules":[] }'), same_policy(None, '{"rules": []}')
        (True, False)
    """
    if one is None or other is None:
        return one is other
    try:
        return bool(json.loads(one) == json.loads(other))
    except ValueError:
        return one == other


def _policy_or_none(text: str | None) -> LifecyclePolicy | None:
    if text is None:
        return None
    try:
        return parse_policy(text)
    except InputError as exc:
        log.warning("a lifecycle policy the evaluator cannot read: %s", exc)
        return None
