"""The core every command shares: dependencies, finding an image, authorising, auditing.

Commands (Slack handlers, CLI verbs, the alert loop) call the services in this package; the
services call AWS through :class:`~bot.aws.clients.AwsClients` and keep state in the books of
:mod:`bot.state.records`. Nothing here knows about Slack.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bot.auth import Actor, authorize
from bot.aws.clients import AwsClients, AwsTarget, target_for
from bot.aws.ecr import EcrRegistry, Repository
from bot.errors import LifeguardError
from bot.lifecycle.images import Image
from bot.refs import ImageRef, RepositoryKey
from bot.settings import Settings
from bot.state.records import (
    AlertBook,
    AuditLog,
    Confirmations,
    LeaseBook,
    ManifestVault,
    audit_entry,
)
from bot.state.store import JsonObject, Store

log = logging.getLogger(__name__)


class CommandError(LifeguardError):
    """A command cannot be done as asked; the message says why and what to do instead."""


class Denied(LifeguardError):
    """The actor may not do this; the message says who may (it has been audited)."""


@dataclass(frozen=True)
class Located:
    """An image reference resolved: its registry, repository, every image, and the image."""

    registry: EcrRegistry
    repository: Repository
    images: list[Image]
    image: Image | None

    @property
    def key(self) -> RepositoryKey:
        """The repository."""
        return self.repository.key


AwsFactory = Callable[[], AwsClients]


@dataclass
class Lifeguard:
    """The services' shared dependencies.

    Example::

        lifeguard = Lifeguard(settings, store)
        async with lifeguard.aws() as aws:
            located = await lifeguard.locate(aws, parse_image_ref("app:v1"))
    """

    settings: Settings
    store: Store
    aws_factory: AwsFactory | None = None
    clock: Callable[[], float] = time.time
    audit_sink: Callable[[JsonObject], Awaitable[None]] | None = None
    leases: LeaseBook = field(init=False)
    alerts: AlertBook = field(init=False)
    vault: ManifestVault = field(init=False)
    confirmations: Confirmations = field(init=False)
    audit: AuditLog = field(init=False)

    def __post_init__(self) -> None:
        self.leases = LeaseBook(self.store)
        self.alerts = AlertBook(self.store)
        self.vault = ManifestVault(self.store)
        self.confirmations = Confirmations(self.store)
        self.audit = AuditLog(self.store)

    @asynccontextmanager
    async def aws(self) -> AsyncIterator[AwsClients]:
        """Fresh AWS clients for one unit of work (assumed-role credentials stay current)."""
        factory = self.aws_factory or (lambda: AwsClients(self.settings.aws))
        async with factory() as clients:
            yield clients

    def target_for(self, ref: ImageRef) -> AwsTarget:
        """The account and region a reference points at (the first configured by default)."""
        return target_for(self.settings.aws, ref.region)

    def registry_for(self, aws: AwsClients, repository: RepositoryKey) -> EcrRegistry:
        """The registry reader for a repository key."""
        ref = ImageRef(repository.name, registry=repository.registry, region=repository.region)
        return EcrRegistry(aws, self.target_for(ref))

    async def locate(self, aws: AwsClients, ref: ImageRef) -> Located:
        """Find the repository and the image a reference names; CommandError when missing."""
        registry = EcrRegistry(aws, self.target_for(ref))
        repository = await registry.repository(ref.repository, registry_id=ref.registry)
        if repository is None:
            raise CommandError(
                f"Repository {ref.repository} does not exist in {registry.label}. "
                f"`/ecr why-missing {ref}` suggests close names and other regions."
            )
        images = await registry.images(repository)
        return Located(registry, repository, images, find_image(ref, images))

    async def authorize(self, actor: Actor, action: str, repository: RepositoryKey) -> None:
        """Raise :class:`Denied` (after auditing the refusal) unless ``actor`` may do ``action``."""
        verdict = authorize(actor, repository.name, self.settings.permissions, action)
        if verdict.allowed:
            return
        await self.record(actor, action, "denied", repository, detail=verdict.reason)
        raise Denied(f"You may not {action} images in {repository.name}: {verdict.reason}.")

    async def confirmed(self, actor: Actor, token: str, kind: str, action: str) -> JsonObject:
        """The pending change a confirmation token stands for, used up only if ``actor`` may.

        A refused click leaves the token for someone who may confirm; an expired, used or
        foreign token is a :class:`CommandError`.
        """
        pending = await self.confirmations.peek(token)
        if pending is None or pending.get("kind") != kind:
            raise CommandError("This confirmation has expired or was already used.")
        key = RepositoryKey(pending["registry"], pending["region"], pending["repository"])
        await self.authorize(actor, action, key)
        change = await self.confirmations.take(token)
        if change is None:
            raise CommandError("This confirmation was already used.")
        return change

    async def record(
        self,
        actor: Actor,
        action: str,
        result: str,
        repository: RepositoryKey | None,
        *,
        digest: str | None = None,
        before: object = None,
        after: object = None,
        detail: str | None = None,
    ) -> JsonObject:
        """Append one entry to the audit log and return it."""
        entry = audit_entry(
            actor=actor.label,
            action=action,
            result=result,
            repository=repository,
            digest=digest,
            before=before,
            after=after,
            detail=detail,
            at=self.clock(),
        )
        await self.audit.record(entry)
        if self.audit_sink is not None:
            try:
                await self.audit_sink(entry)
            except LifeguardError as exc:  # the stream has the entry; the channel is a copy
                log.warning("audit entry not posted to the audit channel: %s", exc)
        return entry


def find_image(ref: ImageRef, images: Sequence[Image]) -> Image | None:
    """The image a reference names among a repository's images (tag and digest must agree).

    Example:
        >>> image = Image("sha256:" + "a" * 64, ("v1",), 0.0)
        >>> find_image(ImageRef("app", tag="v1"), [image]) is image
        True
        >>> find_image(ImageRef("app", tag="v1", digest="sha256:" + "b" * 64), [image]) is None
        True
    """
    for image in images:
        if ref.digest is not None and image.digest != ref.digest:
            continue
        if ref.tag is not None and ref.tag not in image.tags:
            continue
        return image
    return None
