"""A :class:`bot.ports.Trail` that answers from the records events delivered, then CloudTrail
(pure): why-missing knows about a deletion the moment its event arrives, and still finds what
happened before the bot was running."""

from __future__ import annotations

from typing import Any

from bot.diagnose.cloudtrail_models import ImageDeletion, LifecycleAction, LookupResult, TagPush
from bot.diagnose.cloudtrail_records import _deletion, _lifecycle, read_records
from bot.errors import LifeguardError
from bot.lifecycle.timefmt import parse_instant
from bot.ports import Instant, Trail
from bot.state.evidence import EvidenceBook


class StoredTrail:
    """Stored records first, merged with CloudTrail's (when there is one), each event once.

    Example::

        trail = StoredTrail(EvidenceBook(store), cloud.trail_for(registry))
        found = await trail.lifecycle_actions("app", start, now)
    """

    def __init__(self, book: EvidenceBook, fallback: Trail | None = None) -> None:
        self.book = book
        self.fallback = fallback

    async def lifecycle_actions(
        self, repository: str | None, start: Instant, end: Instant
    ) -> LookupResult[LifecycleAction]:
        """What lifecycle runs did in the window."""
        stored = await self._stored("PolicyExecutionEvent", repository, start, end, _lifecycle)
        if self.fallback is None:
            return stored
        try:
            trail = await self.fallback.lifecycle_actions(repository, start, end)
        except LifeguardError:
            if not await self._has_evidence(repository, start, end):
                raise
            return stored  # what the events said is enough to answer
        return _merged(stored, trail)

    async def deletions(
        self, repository: str | None, start: Instant, end: Instant
    ) -> LookupResult[ImageDeletion]:
        """``BatchDeleteImage`` calls in the window."""
        stored = await self._stored("BatchDeleteImage", repository, start, end, _deletion)
        if self.fallback is None:
            return stored
        try:
            trail = await self.fallback.deletions(repository, start, end)
        except LifeguardError:
            if not await self._has_evidence(repository, start, end):
                raise
            return stored
        return _merged(stored, trail)

    async def tag_pushes(
        self, repository: str | None, start: Instant, end: Instant, tag: str | None = None
    ) -> LookupResult[TagPush]:
        """Pushes are not stored: CloudTrail's answer (none without CloudTrail, nor when CloudTrail
        fails while stored evidence about the repository answers the question)."""
        if self.fallback is None:
            return LookupResult(())
        try:
            return await self.fallback.tag_pushes(repository, start, end, tag)
        except LifeguardError:
            if not await self._has_evidence(repository, start, end):
                raise
            return LookupResult((), truncated=True)

    async def _has_evidence(self, repository: str | None, start: Instant, end: Instant) -> bool:
        runs = await self._stored("PolicyExecutionEvent", repository, start, end, _lifecycle)
        deletions = await self._stored("BatchDeleteImage", repository, start, end, _deletion)
        return bool(runs.items or deletions.items)

    async def _stored(
        self, event_name: str, repository: str | None, start: Instant, end: Instant, read: Any
    ) -> LookupResult[Any]:
        first, last = parse_instant(start), parse_instant(end)
        records = await self.book.records(event_name)
        items, malformed, unrelated = read_records(records, event_name, repository, read)
        kept = tuple(i for i in items if first <= i.event_time <= last)
        return LookupResult(kept, malformed=malformed, unrelated=unrelated)


def _merged(stored: LookupResult[Any], trail: LookupResult[Any]) -> LookupResult[Any]:
    seen = {(item.event_id, _identity(item)) for item in stored.items}
    extra = [i for i in trail.items if (i.event_id, _identity(i)) not in seen]
    items = tuple(sorted((*stored.items, *extra), key=lambda i: i.event_time))
    return LookupResult(
        items, trail.truncated, trail.pages, stored.malformed + trail.malformed, trail.unrelated
    )


def _identity(item: LifecycleAction | ImageDeletion) -> str:
    return item.digest if isinstance(item, LifecycleAction) else ",".join(item.digests)
