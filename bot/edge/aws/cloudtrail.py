"""CloudTrail forensics: what lifecycle policies, deletions and pushes did to an ECR repository.

CloudTrail event history serves the last 90 days through ``LookupEvents``: one lookup attribute
per call, at most 50 events a page, and **two requests per second per account and region**. Each
lookup here asks for one event name (``PolicyExecutionEvent``, ``BatchDeleteImage``, ``PutImage``),
pages with ``NextToken`` behind a limiter shared by every lookup against the same account and
region, reads each ``CloudTrailEvent`` JSON string defensively, and keeps ECR's records for the
repository asked about (or all repositories, with ``repository=None``: one lookup serves them all).

Unreadable records are skipped and counted (``LookupResult.malformed``), never fatal. A lookup
reads at most ``max_pages`` pages and then says ``truncated``. An empty answer means "nothing in
CloudTrail's event history", not "never happened": history ends after 90 days and events arrive
some minutes late.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from bot.diagnose.cloudtrail_models import (
    ImageDeletion,
    LifecycleAction,
    LookupResult,
    TagPush,
)
from bot.diagnose.cloudtrail_records import (
    _deletion,
    _lifecycle,
    _Record,
    _tag_push,
    read_records,
)
from bot.edge.aws.clients import AwsClients, AwsTarget
from bot.lifecycle.timefmt import parse_instant, to_datetime

__all__ = [
    "DEFAULT_MAX_PAGES",
    "HISTORY_DAYS",
    "LOOKUP_RATE",
    "PAGE_SIZE",
    "CloudTrailForensics",
    "RequestSpacer",
    "shared_spacer",
]

LOOKUP_RATE = 2.0
PAGE_SIZE = 50
DEFAULT_MAX_PAGES = 20
HISTORY_DAYS = 90

T = TypeVar("T")
Instant = datetime | float


class RequestSpacer:
    """Runs one request at a time, each starting ``1 / rate`` seconds after the previous *ended*.

    Counting from the end (not the start) of the previous request means the server sees requests
    at least ``1 / rate`` apart whatever the network latency, at the cost of some throughput.

    Example::

        spacer = RequestSpacer(2.0)
        async with spacer.slot():
            await aws.call(target, "cloudtrail", "lookup_events", ...)
        async with spacer.slot():   # starts half a second after the first call returned
            ...
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self.interval = 1.0 / rate
        self._clock = clock
        self._next = -math.inf
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for the turn of the next request, and hold it while the request runs."""
        async with self._lock:
            delay = self._next - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                yield
            finally:
                self._next = self._clock() + self.interval


_SPACERS: weakref.WeakKeyDictionary[AwsClients, dict[tuple[str, float], RequestSpacer]] = (
    weakref.WeakKeyDictionary()
)


def shared_spacer(aws: AwsClients, target: AwsTarget, rate: float = LOOKUP_RATE) -> RequestSpacer:
    """The one LookupEvents limiter of this unit of work for an account and region (and rate).

    Example:
        >>> from bot.settings import AwsAccount, AwsSettings
        >>> aws, here = AwsClients(AwsSettings()), AwsTarget(AwsAccount(), "eu-west-1")
        >>> shared_spacer(aws, here) is shared_spacer(aws, AwsTarget(AwsAccount(), "eu-west-1"))
        True
    """
    spacers = _SPACERS.setdefault(aws, {})
    key = (target.label, rate)
    if key not in spacers:
        spacers[key] = RequestSpacer(rate)
    return spacers[key]


class CloudTrailForensics:
    """Looks up what happened to ECR images in CloudTrail event history (the last 90 days).

    Needs ``cloudtrail:LookupEvents``; without it every method raises
    :class:`bot.errors.AccessDenied`. ``rate`` (requests per second) and ``max_pages`` bound the
    cost: at the documented 2/s, 20 pages of 50 events take ten seconds plus the latency.

    Example::

        async with AwsClients(settings.aws) as aws:
            trail = CloudTrailForensics(aws, target)
            found = await trail.lifecycle_actions("team/app", now - 14 * DAY, now)
            for action in found.items:
                print(action.digest, action.tags, action.rule_priority)
            if found.truncated:
                print("older events were not read")
    """

    def __init__(
        self,
        aws: AwsClients,
        target: AwsTarget,
        *,
        rate: float = LOOKUP_RATE,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        if max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages}")
        self.aws = aws
        self.target = target
        self.max_pages = max_pages
        self._spacer = shared_spacer(aws, target, rate)

    async def lifecycle_actions(
        self, repository: str | None, start: Instant, end: Instant
    ) -> LookupResult[LifecycleAction]:
        """Images lifecycle runs expired (or failed to) between ``start`` and ``end``.

        A run over ten or more images is logged as several events; their actions are all returned.

        Example::

            found = await trail.lifecycle_actions("blog", datetime(2022, 12, 1, tzinfo=UTC), now)
            [(a.digest, a.tags, a.rule.description) for a in found.items if a.rule]
        """
        return await self._collect("PolicyExecutionEvent", repository, start, end, _lifecycle)

    async def deletions(
        self, repository: str | None, start: Instant, end: Instant
    ) -> LookupResult[ImageDeletion]:
        """``BatchDeleteImage`` calls between ``start`` and ``end``, with who made them.

        Example::

            for deletion in (await trail.deletions("team/app", start, end)).items:
                print(deletion.principal, deletion.digests, deletion.tags)
        """
        return await self._collect("BatchDeleteImage", repository, start, end, _deletion)

    async def tag_pushes(
        self, repository: str | None, start: Instant, end: Instant, tag: str | None = None
    ) -> LookupResult[TagPush]:
        """``PutImage`` calls (pushes, retags) between ``start`` and ``end``; of ``tag`` if given.

        Example::

            pushes = await trail.tag_pushes("team/app", start, end, tag="prod")
            moves = tag_moves(pushes.items)   # where "prod" pointed before and after
        """
        found = await self._collect("PutImage", repository, start, end, _tag_push)
        if tag is None:
            return found
        kept = tuple(push for push in found.items if push.tag == tag)
        return LookupResult(
            kept,
            found.truncated,
            found.pages,
            found.malformed,
            found.unrelated + len(found.items) - len(kept),
        )

    async def _collect(
        self,
        event_name: str,
        repository: str | None,
        start: Instant,
        end: Instant,
        read: Callable[[_Record], tuple[list[T], int]],
    ) -> LookupResult[T]:
        events, pages, truncated = await self._lookup(event_name, start, end)
        items, malformed, unrelated = read_records(events, event_name, repository, read)
        return LookupResult(tuple(items), truncated, pages, malformed, unrelated)

    async def _lookup(
        self, event_name: str, start: Instant, end: Instant
    ) -> tuple[list[Any], int, bool]:
        first, last = parse_instant(start), parse_instant(end)
        if first > last:
            raise ValueError(f"start ({to_datetime(first)}) is after end ({to_datetime(last)})")
        params: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": event_name}],
            "StartTime": to_datetime(first),
            "EndTime": to_datetime(last),
            "MaxResults": PAGE_SIZE,
        }
        events: list[Any] = []
        for page in range(1, self.max_pages + 1):
            async with self._spacer.slot():
                response = await self.aws.call(self.target, "cloudtrail", "lookup_events", **params)
            events.extend(response.get("Events") or [])
            token = response.get("NextToken")
            if not token:
                return events, page, False
            params["NextToken"] = token
        return events, self.max_pages, True
