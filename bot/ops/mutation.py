"""Changes to ECR that are never half-done, never lost and never raced.

Every changing verb runs its ECR calls inside :meth:`Call.mutation`, which:

1. takes the image's lock in the store (expiring, renewed while the change runs, with a fencing
   token); a second change to the same image waits for the first;
2. writes the intent (what is about to change) under that lock. If the store cannot take the lock
   or the intent, the change is refused **before ECR is touched** (:class:`StoreUnavailable`:
   "nothing was changed");
3. lets the verb change ECR, noting each effect as it happens (:meth:`Change.did`) and staging the
   records to write (leases, audit entries);
4. writes the records and removes the intent. If the store fails now, the writes are retried,
   then kept in this replica's journal and replayed when the store answers; the verb is never
   told the change failed when ECR changed, and the reply says exactly what was done and what is
   not yet recorded.

If the verb fails half-way, whatever it did is recorded with the failure, so the audit log and
ECR agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.errors import (
    Busy,
    CommandError,
    LifeguardError,
    LockLost,
    StoreUnavailable,
    TagImmutable,
    UpstreamError,
)
from bot.refs import RepositoryKey
from bot.state.journal import AppendAudit, PutLease, RemoveLease, apply
from bot.state.records import AuditEntry, AuditResult, Intent, Lease, image_key
from bot.state.store import Fence

if TYPE_CHECKING:
    from bot.ops.call import Call

log = logging.getLogger(__name__)

LOCK_TTL = 60.0
WAIT_LIMIT = 30.0
COMMIT_ATTEMPTS = 3
COMMIT_SECONDS = 5.0
Write = PutLease | RemoveLease | AppendAudit


@dataclass
class Change:
    """One change in progress: what it did to ECR so far and the records it will write.

    After the ``async with`` block, ``recorded`` says whether every record reached the store and
    ``note`` what to tell the user when it did not.
    """

    call: Call
    repository: RepositoryKey
    digest: str
    fence: Fence
    intent: Intent
    effects: list[str] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    audited: bool = False
    recorded: bool = True
    note: str | None = None

    def did(self, effect: str) -> None:
        """Note something that now is so in ECR ("keep tag keep-ab12 added")."""
        self.effects.append(effect)

    def put_lease(self, lease: Lease) -> None:
        """Stage a lease to store."""
        self.writes.append(PutLease(lease=lease))

    def remove_lease(self, repository: RepositoryKey, digest: str) -> None:
        """Stage the removal of a lease."""
        self.writes.append(RemoveLease(repository=repository, digest=digest))

    def audit(
        self,
        result: AuditResult = "ok",
        *,
        action: str | None = None,
        before: Any = None,
        after: Any = None,
        detail: str | None = None,
    ) -> None:
        """Stage the audit entry of this change (the verb's action unless ``action`` says)."""
        self.audited = True
        self.writes.append(
            AppendAudit(
                entry=AuditEntry.about(
                    self.repository,
                    actor=self.call.actor.label,
                    action=action or self.call.action,
                    result=result,
                    digest=self.digest,
                    before=before,
                    after=after,
                    detail=detail,
                    at=self.call.deps.clock(),
                )
            )
        )

    @property
    def changed(self) -> bool:
        """Whether ECR was changed."""
        return bool(self.effects)


@contextlib.asynccontextmanager
async def mutation(call: Call, repository: RepositoryKey, digest: str) -> AsyncIterator[Change]:
    """Run a change to one image as the module docstring describes.

    Example::

        async with call.mutation(located.key, image.digest) as change:
            await registry.put_tag(repository, manifest, tag)
            change.did(f"tag {tag} added")
            change.audit("ok", after={tag: image.digest})
        if not change.recorded:
            ...   # tell the user change.note
    """
    deps = call.deps
    owner = uuid.uuid4().hex
    lock = f"image:{image_key(repository, digest)}"
    token = await _acquire(call, lock, owner)
    fence = Fence(lock, token)
    intent = Intent(
        repository=repository,
        digest=digest,
        id=owner,
        action=call.action,
        actor=call.actor.label,
        at=deps.clock(),
        fence=token,
    )
    try:
        await deps.intents.put(intent, fence=fence)
    except (UpstreamError, LockLost) as exc:
        await _release(call, lock, owner)
        raise _unavailable(exc) from exc
    change = Change(call, repository, digest, fence, intent)
    call.changes.append(change)
    keeper = asyncio.create_task(_keep(call, lock, owner))
    try:
        yield change
    except BaseException as exc:
        _audit_failure(change, exc)
        raise
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        await _commit(change)
        await _release(call, lock, owner)


async def _acquire(call: Call, lock: str, owner: str) -> int:
    waited, pause = 0.0, 0.05
    while True:
        try:
            token = await call.deps.store.acquire(lock, owner, LOCK_TTL)
        except UpstreamError as exc:
            raise _unavailable(exc) from exc
        if token is not None:
            return token
        if waited >= WAIT_LIMIT:
            raise Busy(
                "Another change to this image has been running for more than "
                f"{WAIT_LIMIT:.0f} seconds; nothing was changed. Try again in a minute."
            )
        await asyncio.sleep(pause)
        waited += pause
        pause = min(pause * 2, 1.0)


async def _keep(call: Call, lock: str, owner: str) -> None:
    """Renew the lock while the change runs (a failed renewal shows up as LockLost later)."""
    while True:
        await asyncio.sleep(LOCK_TTL / 3)
        with contextlib.suppress(LifeguardError):
            await call.deps.store.acquire(lock, owner, LOCK_TTL)


async def _release(call: Call, lock: str, owner: str) -> None:
    try:
        await call.deps.store.release(lock, owner)
    except LifeguardError as exc:  # the lock expires by itself
        log.warning("could not release %s (it expires in %.0f s): %s", lock, LOCK_TTL, exc)


def _unavailable(exc: LifeguardError) -> StoreUnavailable:
    return StoreUnavailable(
        "The state store does not answer, so nothing was changed: a change that cannot be "
        f"recorded is not made. ({exc}) Try again when it is back."
    )


def _audit_failure(change: Change, exc: BaseException) -> None:
    if change.audited:
        return
    if isinstance(exc, CommandError | TagImmutable):
        result: AuditResult = "refused"
    elif isinstance(exc, asyncio.CancelledError):
        result = "interrupted"
    else:
        result = "failed"
    done = "; ".join(change.effects) or "nothing was changed in ECR"
    change.audit(result, detail=f"{exc or type(exc).__name__} ({done})")


async def _commit(change: Change) -> None:
    pending = list(change.writes)
    try:
        async with asyncio.timeout(COMMIT_SECONDS):
            for attempt in range(COMMIT_ATTEMPTS):
                try:
                    await _write_all(change, pending)
                    await change.call.deps.intents.done(change.intent)
                    return
                except UpstreamError as exc:
                    log.warning(
                        "recording %s failed (attempt %d): %s", change.intent.id, attempt + 1, exc
                    )
                    await asyncio.sleep(0.2 * 2**attempt)
    except TimeoutError:
        log.warning("recording %s timed out", change.intent.id)
    _journal(change, pending)


async def _write_all(change: Change, pending: list[Write]) -> None:
    """Make the writes in order, removing each from ``pending`` once it is made."""
    while pending:
        write = pending[0]
        if isinstance(write, PutLease | RemoveLease):
            await _fenced(change, write)
        else:
            await apply(change.call.deps.store, write)
        pending.pop(0)


async def _fenced(change: Change, write: PutLease | RemoveLease) -> None:
    leases = change.call.deps.leases
    try:
        if isinstance(write, PutLease):
            await leases.put(write.lease, fence=change.fence)
        else:
            await leases.remove(write.repository, write.digest, fence=change.fence)
    except LockLost:
        # Another change took the image after our lock expired: its lease is newer than ours.
        log.warning("lease write of %s skipped: the image's lock moved on", change.intent.id)


def _journal(change: Change, writes: list[Write]) -> None:
    change.recorded = False
    done = "; ".join(change.effects) or "nothing in ECR"
    journal = change.call.deps.journal
    try:
        if journal is None:
            raise OSError("no journal is configured")
        journal.append(writes)
    except OSError as exc:
        log.error(
            "could not record %s (%s) and could not journal it (%s): %s",
            change.intent.id,
            done,
            exc,
            [w.model_dump_json() for w in writes],
        )
        change.note = (
            f"Done in ECR: {done}. It could not be recorded: the state store does not answer and "
            f"the local journal failed ({exc}); the details are in the bot's log."
        )
        return
    change.note = (
        f"Done in ECR: {done}. The state store does not answer, so the record of it is kept in "
        "this replica's journal and written when the store is back."
    )
