"""Writes that could not reach the store, kept in a local file until it answers again (pure).

When a change has been made in ECR but the store (Redis) stops answering before its lease and
audit entry are written, the writes go to this replica's journal (one JSON object a line) and are
replayed into the store as soon as it answers. Every write is idempotent: a lease is put or
removed by key, an audit entry lands once per id, so a replay that is cut short can run again.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bot.refs import RepositoryKey
from bot.state.records import AuditEntry, AuditLog, Lease, LeaseBook
from bot.state.store import Store

log = logging.getLogger(__name__)


class _Write(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PutLease(_Write):
    """Store (or replace) a lease."""

    kind: Literal["put-lease"] = "put-lease"
    lease: Lease


class RemoveLease(_Write):
    """Forget the lease of an image."""

    kind: Literal["remove-lease"] = "remove-lease"
    repository: RepositoryKey
    digest: str


class AppendAudit(_Write):
    """Append an audit entry (once per entry id)."""

    kind: Literal["audit"] = "audit"
    entry: AuditEntry


Write = Annotated[PutLease | RemoveLease | AppendAudit, Field(discriminator="kind")]
_WRITE: TypeAdapter[PutLease | RemoveLease | AppendAudit] = TypeAdapter(Write)


async def apply(store: Store, write: PutLease | RemoveLease | AppendAudit) -> None:
    """Make one write to the store (raises :mod:`bot.errors` when the store fails).

    Example::

        await apply(store, PutLease(lease=lease))
    """
    match write:
        case PutLease(lease=lease):
            await LeaseBook(store).put(lease)
        case RemoveLease(repository=repository, digest=digest):
            await LeaseBook(store).remove(repository, digest)
        case AppendAudit(entry=entry):
            await AuditLog(store).record(entry)


class Journal:
    """This replica's journal file (JSON lines).

    Example::

        journal = Journal(Path("/tmp/ecr-lifeguard/journal.jsonl"))
        journal.append([PutLease(lease=lease), AppendAudit(entry=entry)])
        replayed = await journal.replay(store)     # when the store answers again
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, writes: list[PutLease | RemoveLease | AppendAudit]) -> None:
        """Add writes to the journal, flushed to disk before returning (raises ``OSError``)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            for write in writes:
                handle.write(write.model_dump_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    @property
    def _replaying(self) -> Path:
        return self.path.with_name(self.path.name + ".replaying")

    def pending(self) -> list[PutLease | RemoveLease | AppendAudit]:
        """The writes waiting to be replayed (unreadable lines are logged and skipped)."""
        return [*_read(self._replaying), *_read(self.path)]

    async def replay(self, store: Store) -> int:
        """Write every pending entry to the store; how many were replayed.

        The journal is moved aside first, so writes journaled during the replay wait for the
        next one. A failure (the store went away again) keeps the moved-aside part for the next
        replay: the writes already made are idempotent and harmless to repeat.
        """
        if not self._replaying.exists():
            if not self.path.exists():
                return 0
            self.path.rename(self._replaying)
        writes = _read(self._replaying)
        for write in writes:
            await apply(store, write)
        self._replaying.unlink(missing_ok=True)
        if writes:
            log.info("replayed %d journaled write(s) into the store", len(writes))
        return len(writes)


def _read(path: Path) -> list[PutLease | RemoveLease | AppendAudit]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    writes = []
    for number, line in enumerate(lines, 1):
        try:
            writes.append(_WRITE.validate_python(json.loads(line)))
        except (ValueError, ValidationError):
            log.error("journal %s line %d is unreadable and was skipped", path, number)
    return writes
