"""Evidence of deletions: the CloudTrail records that events delivered, kept so that why-missing
answers at once instead of waiting for CloudTrail's delivery delay (about 15 minutes) (pure).

Each record is kept as LookupEvents would return it, in one stream per event name, so the same
readers read what was stored and what CloudTrail returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.diagnose.cloudtrail_records import as_lookup_event
from bot.state.store import Store

KEPT = 10_000


class EvidenceBook:
    """Stored CloudTrail records, by event name (``PolicyExecutionEvent``, ``BatchDeleteImage``).

    Example::

        book = EvidenceBook(store)
        await book.keep("PolicyExecutionEvent", event.detail_record, event_id=event.event_id)
        records = await book.records("PolicyExecutionEvent")
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    async def keep(self, event_name: str, record: Mapping[str, Any], *, event_id: str) -> None:
        """Keep one record (once per event id)."""
        await self.store.append(
            f"evidence:{event_name}", as_lookup_event(record), KEPT, entry_id=event_id
        )

    async def records(self, event_name: str, count: int = KEPT) -> list[dict[str, Any]]:
        """The kept records of an event name, newest first."""
        return [entry for _, entry in await self.store.recent(f"evidence:{event_name}", count)]
