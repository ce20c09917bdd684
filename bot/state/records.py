"""The bot's records: leases, alerts, saved manifests, pending confirmations, changes in progress
and the audit log (pure).

Every record is a frozen pydantic model, stored as its JSON and read back validated, never as a
dict looked up by string keys. Each book speaks only the :class:`~bot.state.store.Store`
interface, so the same code runs on the in-process store and on Redis.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from bot.inventory.models import Consumer, UseKind
from bot.refs import RepositoryKey
from bot.risk.models import RiskWhen
from bot.state.store import Fence, JsonObject, Store

AUDIT_STREAM = "audit"


def image_key(repository: RepositoryKey, digest: str) -> str:
    """The stable key of an image across the books.

    Example:
        >>> image_key(RepositoryKey("123456789012", "eu-west-1", "app"), "sha256:ab")
        '123456789012/eu-west-1/app@sha256:ab'
    """
    return f"{repository.registry}/{repository.region}/{repository.name}@{digest}"


class Record(BaseModel):
    """Base of every stored record: frozen, strict about unknown fields, JSON in and out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def as_json(self) -> JsonObject:
        """The record as stored."""
        return self.model_dump(mode="json")


class ImageRecord(Record):
    """A record about one image."""

    repository: RepositoryKey
    digest: str

    @property
    def key(self) -> str:
        """The image key."""
        return image_key(self.repository, self.digest)


class Lease(ImageRecord):
    """A protection: who keeps which image, why, until when, with which keep tag.

    Example:
        >>> lease = Lease(repository=RepositoryKey("1", "eu-west-1", "app"), digest="sha256:ab",
        ...               owner="<@U1>", reason="rollback", created_at=0.0, until=86400.0,
        ...               keep_tag="keep-ab")
        >>> Lease.model_validate(lease.as_json()) == lease
        True
    """

    owner: str
    reason: str
    created_at: float
    until: float
    keep_tag: str
    channel: str | None = None
    thread_ts: str | None = None


AlertState = Literal["open", "resolved", "deleted"]


class ConsumerNote(Record):
    """One consumer as an alert names it: who, how it uses the image, in which part."""

    consumer: Consumer
    kind: UseKind
    detail: str | None = None
    note: str | None = None


class AlertSubject(Record):
    """What an alert is about, kept with it so that every later state of the message (protected,
    snoozed, deleted, safe) still names the tags and the consumers: tags in the order the alert
    shows them, consumers running first, the acting rule, its timing and its reasoning.

    Example:
        >>> subject = AlertSubject(tags=("v1",), rule_priority=1, when=RiskWhen("now"))
        >>> AlertSubject.model_validate(subject.as_json()) == subject
        True
    """

    tags: tuple[str, ...] = ()
    consumers: tuple[ConsumerNote, ...] = ()
    action: Literal["EXPIRE", "TRANSITION"] = "EXPIRE"
    rule_priority: int | None = None
    when: RiskWhen | None = None
    reason: str = ""


class GuardPending(Record):
    """A protection whose keep tag is on the image while the guard rule waits for confirmation:
    who asked, until when, and the token of the Apply button; ``changes`` describe the rule diff."""

    owner: str
    until: float
    keep_tag: str
    token: str
    changes: tuple[str, ...] = ()


class AlertRecord(ImageRecord):
    """The Slack thread of one at-risk image: where it was posted and what it says now."""

    channel: str
    ts: str
    state: AlertState
    fingerprint: str
    posted_at: float
    acts_at: float | None = None
    snoozed_at: float | None = None
    snoozed_until: float | None = None
    snoozed_by: str | None = None
    subject: AlertSubject | None = None
    guard: GuardPending | None = None

    @property
    def snoozed(self) -> bool:
        """True while someone snoozed the alert (until ``snoozed_until``)."""
        return self.snoozed_until is not None


class SavedManifest(Record):
    """A manifest exactly as ECR returned it, kept so a deleted image can be re-pushed."""

    text: str
    media_type: str | None
    tags: tuple[str, ...]
    saved_at: float


class GuardChange(Record):
    """A pending change: put the guard rule into a repository's lifecycle policy."""

    kind: Literal["guard"] = "guard"
    repository: RepositoryKey
    digest: str
    before_sha: str
    after: str
    requested_by: str


class TagMove(Record):
    """A pending change: move ``tag`` from one image to another."""

    kind: Literal["retag"] = "retag"
    repository: RepositoryKey
    tag: str
    from_digest: str
    to_digest: str
    requested_by: str


PendingChange = Annotated[GuardChange | TagMove, Field(discriminator="kind")]
_PENDING: TypeAdapter[GuardChange | TagMove] = TypeAdapter(PendingChange)

AuditResult = Literal["ok", "denied", "refused", "failed", "interrupted", "cancelled"]


class AuditEntry(Record):
    """One change or refusal: who, what, where, before and after, and how it ended.

    ``id`` makes a replayed entry land once.

    Example:
        >>> entry = AuditEntry(actor="<@U1>", action="protect", result="denied", at=0.0)
        >>> AuditEntry.model_validate(entry.as_json()).result
        'denied'
    """

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    at: float
    actor: str
    action: str
    result: AuditResult
    repository: str | None = None
    registry: str | None = None
    region: str | None = None
    digest: str | None = None
    before: Any = None
    after: Any = None
    detail: str | None = None

    @classmethod
    def about(cls, repository: RepositoryKey | None, **fields: Any) -> AuditEntry:
        """An entry about a repository (or none): its name, registry and region filled in.

        Example:
            >>> AuditEntry.about(RepositoryKey("1", "r", "app"), actor="U1", action="retag",
            ...                  result="ok", at=0.0).repository
            'app'
        """
        where = (
            {
                "repository": repository.name,
                "registry": repository.registry,
                "region": repository.region,
            }
            if repository is not None
            else {}
        )
        return cls(**where, **fields)


class Intent(ImageRecord):
    """A change about to be made to ECR, written before ECR is touched (see bot.ops.mutation)."""

    id: str
    action: str
    actor: str
    at: float
    fence: int
    plan: Any = None


class LeaseBook:
    """Active protections, indexed by expiry.

    Example::

        leases = LeaseBook(store)
        await leases.put(lease)
        for lease in await leases.due(now=time.time()):
            ...   # remove the keep tag, then leases.remove(...)
    """

    INDEX = "leases:by-expiry"

    def __init__(self, store: Store) -> None:
        self.store = store

    async def put(self, lease: Lease, *, fence: Fence | None = None) -> None:
        """Store or extend a lease."""
        await self.store.put(f"lease:{lease.key}", lease.as_json(), fence=fence)
        await self.store.index_set(self.INDEX, lease.key, lease.until)

    async def get(self, repository: RepositoryKey, digest: str) -> Lease | None:
        """The lease on an image, if any."""
        data = await self.store.get(f"lease:{image_key(repository, digest)}")
        return Lease.model_validate(data) if data else None

    async def remove(
        self, repository: RepositoryKey, digest: str, *, fence: Fence | None = None
    ) -> None:
        """Forget a lease."""
        key = image_key(repository, digest)
        await self.store.delete(f"lease:{key}", fence=fence)
        await self.store.index_remove(self.INDEX, key)

    async def active(self, repository: str | None = None) -> list[Lease]:
        """Every lease (of one repository name when given), soonest to end first."""
        leases = []
        for key, _ in await self.store.index_range(self.INDEX):
            data = await self.store.get(f"lease:{key}")
            if data is None:
                await self.store.index_remove(self.INDEX, key)
                continue
            lease = Lease.model_validate(data)
            if repository is None or lease.repository.name == repository:
                leases.append(lease)
        return leases

    async def due(self, now: float) -> list[Lease]:
        """Leases that have ended."""
        return [lease for lease in await self.active() if lease.until <= now]


class AlertBook:
    """One alert thread per image; a claim makes sure only one replica posts it.

    Example::

        alerts = AlertBook(store)
        if await alerts.claim(key, owner="replica-1"):    # first replica to see this risk
            ts = await slack.post(...)
            await alerts.put(AlertRecord(...))
    """

    INDEX = "alerts:open"
    CLAIM_TTL = 300.0

    def __init__(self, store: Store) -> None:
        self.store = store

    async def claim(self, key: str, owner: str) -> bool:
        """True for the one caller (``owner``) that may post the first message for this image.

        The claim records its owner, so a retried write that already landed is still ours.
        """
        name = f"alert-claim:{key}"
        if await self.store.create(name, {"owner": owner}, ttl=self.CLAIM_TTL):
            return True
        found = await self.store.get(name)
        return found is not None and found.get("owner") == owner

    async def release_claim(self, key: str) -> None:
        """Let another try (posting failed)."""
        await self.store.delete(f"alert-claim:{key}")

    async def get(self, key: str) -> AlertRecord | None:
        """The alert of an image, if one was posted."""
        data = await self.store.get(f"alert:{key}")
        return AlertRecord.model_validate(data) if data else None

    async def put(self, record: AlertRecord) -> None:
        """Store the alert; open alerts are indexed so the loop can revisit them."""
        await self.store.put(f"alert:{record.key}", record.as_json())
        await self.store.put(f"alert-message:{record.channel}:{record.ts}", {"key": record.key})
        if record.state == "open":
            await self.store.index_set(self.INDEX, record.key, record.posted_at)
        else:
            await self.store.index_remove(self.INDEX, record.key)

    async def by_message(self, channel: str, ts: str) -> AlertRecord | None:
        """The alert posted as message ``ts`` in ``channel``, if it is one of ours."""
        found = await self.store.get(f"alert-message:{channel}:{ts}")
        return await self.get(str(found["key"])) if found else None

    async def open_alerts(self, repository: RepositoryKey | None = None) -> list[AlertRecord]:
        """Every alert still open (of one repository when given)."""
        found = []
        members = [key for key, _ in await self.store.index_range(self.INDEX)]
        if repository is not None:  # the key names the repository: read only its alerts
            mine = image_key(repository, "")
            members = [key for key in members if key.startswith(mine)]
        for key in members:
            record = await self.get(key)
            if record is None or record.state != "open":
                continue
            if repository is None or record.repository == repository:
                found.append(record)
        return found


class ManifestVault:
    """Manifests of images seen in use, saved the first time they are seen."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def save(self, repository: RepositoryKey, digest: str, manifest: SavedManifest) -> bool:
        """Keep the manifest unless one is kept already; True when saved now.

        The image's tags are indexed too, so ``restore repo:tag`` finds the digest later.
        """
        saved = await self.store.create(
            f"manifest:{image_key(repository, digest)}", manifest.as_json()
        )
        for tag in manifest.tags:
            await self.store.put(f"manifest-tag:{image_key(repository, tag)}", {"digest": digest})
        return saved

    async def digest_for_tag(self, repository: RepositoryKey, tag: str) -> str | None:
        """The digest the tag was on when its manifest was last saved."""
        data = await self.store.get(f"manifest-tag:{image_key(repository, tag)}")
        return str(data["digest"]) if data else None

    async def has(self, repository: RepositoryKey, digest: str) -> bool:
        """Whether a manifest is kept for this image."""
        return await self.store.get(f"manifest:{image_key(repository, digest)}") is not None

    async def get(self, repository: RepositoryKey, digest: str) -> SavedManifest | None:
        """The kept manifest, if any."""
        data = await self.store.get(f"manifest:{image_key(repository, digest)}")
        return SavedManifest.model_validate(data) if data else None


class Confirmations:
    """Pending confirmations: single-use tokens bound to the exact change they approve."""

    TTL = 15 * 60.0

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, change: GuardChange | TagMove) -> str:
        """Remember a change awaiting confirmation; return the token the buttons carry."""
        token = secrets.token_urlsafe(12)
        await self.store.put(f"confirm:{token}", change.as_json(), ttl=self.TTL)
        return token

    async def peek(self, token: str) -> GuardChange | TagMove | None:
        """The pending change, without using it up (to check who may confirm it)."""
        data = await self.store.get(f"confirm:{token}")
        return _PENDING.validate_python(data) if data else None

    async def take(self, token: str) -> GuardChange | TagMove | None:
        """The change, exactly once (a second click, or an expired token, gets None)."""
        change = await self.peek(token)
        if change is None or not await self.store.delete(f"confirm:{token}"):
            return None
        return change


class Intents:
    """Changes in progress: written before ECR is touched, removed once the result is recorded.

    An intent left behind means a change was interrupted; :meth:`stale` finds them.
    """

    INDEX = "intents:by-time"

    def __init__(self, store: Store) -> None:
        self.store = store

    async def put(self, intent: Intent, *, fence: Fence) -> None:
        """Record a change about to be made (fenced by the image's lock)."""
        await self.store.put(f"intent:{intent.id}", intent.as_json(), fence=fence)
        await self.store.index_set(self.INDEX, intent.id, intent.at)

    async def done(self, intent: Intent) -> None:
        """The change's result is recorded: forget the intent."""
        await self.store.delete(f"intent:{intent.id}")
        await self.store.index_remove(self.INDEX, intent.id)

    async def stale(self, before: float) -> list[Intent]:
        """Intents older than ``before`` (their change was interrupted)."""
        found = []
        for intent_id, _ in await self.store.index_range(self.INDEX, high=before):
            data = await self.store.get(f"intent:{intent_id}")
            if data is None:
                await self.store.index_remove(self.INDEX, intent_id)
            else:
                found.append(Intent.model_validate(data))
        return found


class AuditLog:
    """Every change and every refusal, appended to a stream."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(self, entry: AuditEntry) -> str:
        """Append one entry, once per ``entry.id``; return its stream position."""
        return await self.store.append(AUDIT_STREAM, entry.as_json(), entry_id=entry.id)

    async def recent(self, count: int = 20, repository: str | None = None) -> list[AuditEntry]:
        """The newest entries first, of one repository name when given."""
        entries = await self.store.recent(AUDIT_STREAM, count if repository is None else 1000)
        found = [AuditEntry.model_validate(e) for _, e in entries]
        return [e for e in found if repository is None or e.repository == repository][:count]

    async def after(self, position: str, count: int) -> list[tuple[str, AuditEntry]]:
        """Entries appended after ``position``, oldest first (for the audit channel poster)."""
        entries = await self.store.after(AUDIT_STREAM, position, count)
        return [(p, AuditEntry.model_validate(e)) for p, e in entries]


IdempotencyState = Literal["mine", "done", "busy"]


class EventLedger:
    """One record per event id, so that an event delivered twice has its effect once.

    ``begin`` claims an event (in progress, expiring so that a replica that dies lets go); ``done``
    marks it handled for a week; ``abandon`` lets a redelivery try again.

    Example::

        ledger = EventLedger(store)
        if await ledger.begin(event_id, owner, ttl=120) == "mine":
            ...   # react, then
            await ledger.done(event_id)
    """

    DONE_TTL = 7 * 86_400.0

    def __init__(self, store: Store) -> None:
        self.store = store

    async def begin(self, event_id: str, owner: str, ttl: float) -> IdempotencyState:
        """Claim the event: ``mine`` to handle it, ``done`` already, ``busy`` with another."""
        name = f"event:{event_id}"
        if await self.store.create(name, {"state": "in-progress", "owner": owner}, ttl=ttl):
            return "mine"
        found = await self.store.get(name) or {}
        if found.get("state") == "done":
            return "done"
        return "mine" if found.get("owner") == owner else "busy"

    async def done(self, event_id: str) -> None:
        """The event's effects are stored."""
        await self.store.put(f"event:{event_id}", {"state": "done"}, ttl=self.DONE_TTL)

    async def abandon(self, event_id: str, owner: str) -> None:
        """Let a redelivery handle it (the reaction failed)."""
        found = await self.store.get(f"event:{event_id}") or {}
        if found.get("owner") == owner and found.get("state") == "in-progress":
            await self.store.delete(f"event:{event_id}")
