"""What the verbs and the watcher depend on: settings, the store and its books, the cloud, the
clock, the user-group lookup and this replica's journal.

Built once by the composition root (:mod:`bot.app`, or the CLI); tests build it with in-process
fakes of the same interfaces.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from bot.errors import CommandError
from bot.lifecycle.images import Image
from bot.ports import Cloud, Notifier, Registry, Repository
from bot.refs import ImageRef, RepositoryKey
from bot.settings import Settings
from bot.state.cache import RepositoryCache
from bot.state.journal import Journal
from bot.state.records import (
    AlertBook,
    AuditLog,
    Confirmations,
    Intents,
    LeaseBook,
    ManifestVault,
)
from bot.state.store import Store

CloudFactory = Callable[[], AbstractAsyncContextManager[Cloud]]
GroupLookup = Callable[[str], Awaitable[frozenset[str]]]


@dataclass(frozen=True)
class Located:
    """An image reference resolved: its registry, repository, every image, and the image."""

    registry: Registry
    repository: Repository
    images: list[Image]
    image: Image | None

    @property
    def key(self) -> RepositoryKey:
        """The repository."""
        return self.repository.key


@dataclass
class Dependencies:
    """The verbs' and the watcher's shared dependencies.

    Example::

        deps = Dependencies(settings, store, cloud=lambda: open_cloud(settings))
        async with deps.cloud() as cloud:
            located = await locate(cloud, parse_image_ref("app:v1"))
    """

    settings: Settings
    store: Store
    cloud: CloudFactory
    clock: Callable[[], float] = time.time
    groups: GroupLookup | None = None
    journal: Journal | None = None
    notifier: Notifier | None = None
    leases: LeaseBook = field(init=False)
    alerts: AlertBook = field(init=False)
    vault: ManifestVault = field(init=False)
    confirmations: Confirmations = field(init=False)
    intents: Intents = field(init=False)
    audit: AuditLog = field(init=False)
    cache: RepositoryCache = field(init=False)

    def __post_init__(self) -> None:
        self.leases = LeaseBook(self.store)
        self.alerts = AlertBook(self.store)
        self.vault = ManifestVault(self.store)
        self.confirmations = Confirmations(self.store)
        self.intents = Intents(self.store)
        self.audit = AuditLog(self.store)
        self.cache = RepositoryCache(self.store)  # one per process: its decoded copies are shared
        if self.journal is None:
            self.journal = Journal(self.settings.bot.journal_file())


async def locate(cloud: Cloud, ref: ImageRef) -> Located:
    """Find the repository and the image a reference names; CommandError when the repository is
    missing, NotWatched when the reference names a registry the bot does not watch.

    Example::

        located = await locate(cloud, parse_image_ref("app:v1"))
        if located.image is None:
            ...   # not there: suggest why-missing
    """
    registry = await cloud.registry_for_ref(ref)
    repository = await registry.repository(ref.repository, registry_id=ref.registry)
    if repository is None:
        raise CommandError(
            f"Repository {ref.repository} does not exist in {registry.label}. "
            f"`/ecr why-missing {ref}` suggests close names and other regions."
        )
    images = await registry.images(repository)
    return Located(registry, repository, images, find_image(ref, images))


async def open_repository(cloud: Cloud, key: RepositoryKey) -> tuple[Registry, Repository | None]:
    """The registry of a repository found earlier, and the repository if it still exists.

    Example::

        registry, repository = await open_repository(cloud, lease.repository)
    """
    registry = cloud.registry_for(key)
    return registry, await registry.repository(key.name, registry_id=key.registry)


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


def image_ref(repository: RepositoryKey, digest: str) -> ImageRef:
    """A reference to one image of a repository found earlier.

    Example:
        >>> str(image_ref(RepositoryKey("123456789012", "eu-west-1", "app"), "sha256:ab"))
        '123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:ab'
    """
    return ImageRef(
        repository.name, digest=digest, registry=repository.registry, region=repository.region
    )
