"""The bot's records: leases, alerts, saved manifests, pending confirmations and the audit log.

Each book speaks only the :class:`~bot.state.store.Store` interface, so the same code runs on the
in-process store and on Redis.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import Any, Literal, Self

from bot.refs import RepositoryKey
from bot.state.store import JsonObject, Store

AUDIT_STREAM = "audit"


def image_key(repository: RepositoryKey, digest: str) -> str:
    """The stable key of an image across the books.

    Example:
        >>> image_key(RepositoryKey("123456789012", "eu-west-1", "app"), "sha256:ab")
        '123456789012/eu-west-1/app@sha256:ab'
    """
    return f"{repository.registry}/{repository.region}/{repository.name}@{digest}"


def _repository_json(key: RepositoryKey) -> JsonObject:
    return {"registry": key.registry, "region": key.region, "name": key.name}


def _repository(data: JsonObject) -> RepositoryKey:
    return RepositoryKey(str(data["registry"]), str(data["region"]), str(data["name"]))


class ImageRecord:
    """What every record about one image shares: its key, and how it is stored."""

    __slots__ = ()
    repository: RepositoryKey
    digest: str

    @property
    def key(self) -> str:
        """The image key."""
        return image_key(self.repository, self.digest)

    def as_json(self) -> JsonObject:
        """The record as stored: its fields, with the repository key as an object."""
        data: JsonObject = dataclasses.asdict(self)  # type: ignore[call-overload]
        data["repository"] = _repository_json(self.repository)
        return data

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        """A record read back from the store."""
        return cls(**{**data, "repository": _repository(data["repository"])})


@dataclass(frozen=True, slots=True)
class Lease(ImageRecord):
    """A protection: who keeps which image, why, until when, with which keep tag."""

    repository: RepositoryKey
    digest: str
    owner: str
    reason: str
    created_at: float
    until: float
    keep_tag: str
    channel: str | None = None
    thread_ts: str | None = None


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

    async def put(self, lease: Lease) -> None:
        """Store or extend a lease."""
        await self.store.put(f"lease:{lease.key}", lease.as_json())
        await self.store.index_set(self.INDEX, lease.key, lease.until)

    async def get(self, repository: RepositoryKey, digest: str) -> Lease | None:
        """The lease on an image, if any."""
        data = await self.store.get(f"lease:{image_key(repository, digest)}")
        return Lease.from_json(data) if data else None

    async def remove(self, repository: RepositoryKey, digest: str) -> None:
        """Forget a lease."""
        key = image_key(repository, digest)
        await self.store.delete(f"lease:{key}")
        await self.store.index_remove(self.INDEX, key)

    async def active(self, repository: str | None = None) -> list[Lease]:
        """Every lease (of one repository name when given), soonest to end first."""
        leases = []
        for key, _ in await self.store.index_range(self.INDEX):
            data = await self.store.get(f"lease:{key}")
            if data is None:
                await self.store.index_remove(self.INDEX, key)
                continue
            lease = Lease.from_json(data)
            if repository is None or lease.repository.name == repository:
                leases.append(lease)
        return leases

    async def due(self, now: float) -> list[Lease]:
        """Leases that have ended."""
        return [lease for lease in await self.active() if lease.until <= now]


AlertState = Literal["open", "resolved", "deleted"]


@dataclass(frozen=True, slots=True)
class AlertRecord(ImageRecord):
    """The Slack thread of one at-risk image: where it was posted and what it says now."""

    repository: RepositoryKey
    digest: str
    channel: str
    ts: str
    state: AlertState
    fingerprint: str
    posted_at: float
    snoozed_at: float | None = None
    snoozed_evaluation: float | None = None

    @property
    def snoozed(self) -> bool:
        """True while someone snoozed the alert until ECR's next evaluation."""
        return self.snoozed_at is not None


class AlertBook:
    """One alert thread per image; a claim makes sure only one replica posts it.

    Example::

        alerts = AlertBook(store)
        if await alerts.claim(key):           # first replica to see this risk
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
        return AlertRecord.from_json(data) if data else None

    async def put(self, record: AlertRecord) -> None:
        """Store the alert; open alerts are indexed so the loop can revisit them."""
        await self.store.put(f"alert:{record.key}", record.as_json())
        if record.state == "open":
            await self.store.index_set(self.INDEX, record.key, record.posted_at)
        else:
            await self.store.index_remove(self.INDEX, record.key)

    async def open_alerts(self) -> list[AlertRecord]:
        """Every alert still open."""
        found = []
        for key, _ in await self.store.index_range(self.INDEX):
            record = await self.get(key)
            if record is not None and record.state == "open":
                found.append(record)
        return found


@dataclass(frozen=True, slots=True)
class SavedManifest:
    """A manifest exactly as ECR returned it, kept so a deleted image can be re-pushed."""

    text: str
    media_type: str | None
    tags: tuple[str, ...]
    saved_at: float


class ManifestVault:
    """Manifests of images seen in use, saved the first time they are seen."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def save(self, repository: RepositoryKey, digest: str, manifest: SavedManifest) -> bool:
        """Keep the manifest unless one is kept already; True when saved now.

        The image's tags are indexed too, so ``restore repo:tag`` finds the digest later.
        """
        data = dataclasses.asdict(manifest)
        saved = await self.store.create(f"manifest:{image_key(repository, digest)}", data)
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
        if data is None:
            return None
        return SavedManifest(
            str(data["text"]), data.get("media_type"), tuple(data["tags"]), float(data["saved_at"])
        )


class Confirmations:
    """Pending confirmations: single-use tokens bound to the exact change they approve."""

    TTL = 15 * 60.0

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, change: JsonObject) -> str:
        """Remember a change awaiting confirmation; return the token the buttons carry."""
        token = secrets.token_urlsafe(12)
        await self.store.put(f"confirm:{token}", change, ttl=self.TTL)
        return token

    async def peek(self, token: str) -> JsonObject | None:
        """The pending change, without using it up (to check who may confirm it)."""
        return await self.store.get(f"confirm:{token}")

    async def take(self, token: str) -> JsonObject | None:
        """The change, exactly once (a second click, or an expired token, gets None)."""
        change = await self.store.get(f"confirm:{token}")
        if change is None or not await self.store.delete(f"confirm:{token}"):
            return None
        return change


class AuditLog:
    """Every mutation and every refusal, appended to a stream."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(self, entry: JsonObject) -> str:
        """Append one entry (who, what, repository, digest, before, after, result, at)."""
        return await self.store.append(AUDIT_STREAM, entry)

    async def recent(self, count: int = 20, repository: str | None = None) -> list[JsonObject]:
        """The newest entries first, of one repository name when given."""
        entries = await self.store.recent(AUDIT_STREAM, count if repository is None else 1000)
        found = [e for _, e in entries if repository is None or e.get("repository") == repository]
        return found[:count]


def audit_entry(
    *,
    actor: str,
    action: str,
    result: str,
    repository: RepositoryKey | None,
    digest: str | None = None,
    before: Any = None,
    after: Any = None,
    detail: str | None = None,
    at: float,
) -> JsonObject:
    """An audit entry in the one shape every writer uses.

    Example:
        >>> audit_entry(actor="U1", action="protect", result="denied", repository=None, at=0.0)["result"]
        'denied'
    """  # noqa: E501
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "result": result,
        "repository": repository.name if repository else None,
        "registry": repository.registry if repository else None,
        "region": repository.region if repository else None,
        "digest": digest,
        "before": before,
        "after": after,
        "detail": detail,
    }
