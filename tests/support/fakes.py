"""In-process fakes of the interfaces the flows talk to (:mod:`bot.ports`, the Store, inventory
sources), for the functional tests: fast, deterministic, and faithful to the contracts.

* :class:`MemoryRegistry` — one ECR registry in memory (images, tags, policies, manifests).
* :class:`MemoryCloud` — registries and sources, opened per unit of work like the real one.
* :class:`RecordingNotifier` — remembers every alert, update, resolution and reply.
* :class:`FlakyStore` — a MemoryStore that fails like an unreachable Redis while ``down``.
* :class:`FixedSource` — an inventory source with a fixed list of uses.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from bot.edge.stores.memory import MemoryStore
from bot.errors import NotWatched, TagImmutable, Unreachable
from bot.inventory.models import ImageUse
from bot.inventory.sources import InventorySource
from bot.lifecycle.images import Image
from bot.ports import Manifest, PolicyInfo, Repository, Trail
from bot.refs import ImageRef, RepositoryKey
from bot.risk.models import Risk
from bot.state.records import AlertRecord
from bot.watch.reconcile import Resolution

ACCOUNT = "111122223333"
REGION = "eu-west-1"


def manifest_for(seed: str) -> str:
    """A small image manifest whose bytes (and so digest) depend on ``seed``."""
    return json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:" + "c" * 64}, "x": seed})


def digest_of(text: str) -> str:
    """The digest of manifest bytes."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass
class MemoryRepository:
    """One repository's state."""

    repository: Repository
    images: dict[str, Image] = field(default_factory=dict)
    manifests: dict[str, str] = field(default_factory=dict)
    policy: str | None = None
    last_evaluated_at: float | None = None


class MemoryRegistry:
    """:class:`bot.ports.Registry` in memory; ``calls`` counts each operation."""

    def __init__(self, account: str = ACCOUNT, region: str = REGION) -> None:
        self.account = account
        self._region = region
        self.repos: dict[str, MemoryRepository] = {}
        self.calls: Counter[str] = Counter()
        self.fail: dict[str, Exception] = {}

    # --- arranging ------------------------------------------------------------------------------

    def add_repository(
        self, name: str, *, policy: str | None = None, mutability: str = "MUTABLE"
    ) -> RepositoryKey:
        key = RepositoryKey(self.account, self._region, name)
        self.repos[name] = MemoryRepository(
            Repository(
                key, f"arn:aws:ecr:{self._region}:{self.account}:repository/{name}", "", mutability
            ),
            policy=policy,
        )
        return key

    def push(self, name: str, seed: str, tags: Sequence[str], pushed_at: float) -> str:
        text = manifest_for(seed)
        digest = digest_of(text)
        repo = self.repos[name]
        for other in repo.images.values():
            repo.images[other.digest] = replace(
                other, tags=tuple(t for t in other.tags if t not in tags)
            )
        known = repo.images.get(digest)
        before = known.tags if known else ()
        merged = (*before, *(t for t in tags if t not in before))
        repo.images[digest] = Image(digest, tuple(merged), known.pushed_at if known else pushed_at)
        repo.manifests[digest] = text
        return digest

    def tags(self, name: str) -> dict[str, set[str]]:
        return {d: set(i.tags) for d, i in self.repos[name].images.items()}

    # --- the Registry interface -----------------------------------------------------------------

    def _called(self, operation: str) -> None:
        self.calls[operation] += 1
        if operation in self.fail:
            raise self.fail[operation]

    @property
    def label(self) -> str:
        return f"{self.account}/{self._region}"

    @property
    def region(self) -> str:
        return self._region

    async def repositories(self) -> Sequence[Repository]:
        self._called("DescribeRepositories")
        return [r.repository for r in self.repos.values()]

    async def repository(self, name: str, registry_id: str | None = None) -> Repository | None:
        self._called("DescribeRepositories")
        found = self.repos.get(name)
        return found.repository if found else None

    async def registry_id(self) -> str:
        return self.account

    async def lifecycle_policy(self, repository: Repository) -> PolicyInfo | None:
        self._called("GetLifecyclePolicy")
        repo = self.repos[repository.key.name]
        return PolicyInfo(repo.policy, repo.last_evaluated_at) if repo.policy else None

    async def lifecycle_policy_text(self, repository: Repository) -> str | None:
        info = await self.lifecycle_policy(repository)
        return info.text if info else None

    async def put_lifecycle_policy(self, repository: Repository, text: str) -> None:
        self._called("PutLifecyclePolicy")
        self.repos[repository.key.name].policy = text

    async def repository_policy_text(self, repository: Repository) -> str | None:
        return None

    async def images(self, repository: Repository) -> list[Image]:
        self._called("DescribeImages")
        return list(self.repos[repository.key.name].images.values())

    async def image(self, repository: Repository, digest: str) -> Image | None:
        self._called("DescribeImages")
        return self.repos[repository.key.name].images.get(digest)

    async def index_children(
        self, repository: Repository, images: Sequence[Image]
    ) -> dict[str, tuple[str, ...]]:
        return {}

    async def manifests(self, key: RepositoryKey, digests: Sequence[str]) -> list[Manifest]:
        self._called("BatchGetImage")
        repo = self.repos[key.name]
        return [Manifest(d, repo.manifests[d], None) for d in digests if d in repo.manifests]

    async def put_tag(self, repository: Repository, manifest: Manifest, tag: str) -> bool:
        return await self.put_manifest(repository, manifest, tag)

    async def put_manifest(
        self, repository: Repository, manifest: Manifest, tag: str | None = None
    ) -> bool:
        self._called("PutImage")
        repo = self.repos[repository.key.name]
        image = repo.images.get(manifest.digest)
        if tag is not None and image is not None and tag in image.tags:
            return False
        owner = next((i for i in repo.images.values() if tag and tag in i.tags), None)
        if owner is not None and repository.tag_mutability == "IMMUTABLE":
            raise TagImmutable("ecr", "PutImage", "ImageTagAlreadyExistsException", "immutable")
        if owner is not None:
            left = tuple(t for t in owner.tags if t != tag)
            repo.images[owner.digest] = replace(owner, tags=left)
        base = image or Image(manifest.digest, (), 0.0)
        repo.images[manifest.digest] = replace(base, tags=(*base.tags, *((tag,) if tag else ())))
        repo.manifests[manifest.digest] = manifest.text
        return True

    async def remove_tag(self, repository: Repository, tag: str) -> None:
        self._called("BatchDeleteImage")
        repo = self.repos[repository.key.name]
        for digest, image in list(repo.images.items()):
            if tag in image.tags:
                left = tuple(t for t in image.tags if t != tag)
                if left:
                    repo.images[digest] = replace(image, tags=left)
                else:
                    del repo.images[digest]

    async def restore_from_archive(self, repository: Repository, digest: str) -> str:
        self._called("UpdateImageStorageClass")
        return "ACTIVATING"

    async def missing_layers(self, repository: Repository, layers: Sequence[str]) -> list[str]:
        return []


class NoTrail:
    """A CloudTrail with no events (the functional tests do not read history)."""

    async def lifecycle_actions(self, *args: Any) -> Any:
        from bot.diagnose.cloudtrail_models import LookupResult

        return LookupResult(())

    deletions = lifecycle_actions
    tag_pushes = lifecycle_actions


class MemoryCloud:
    """:class:`bot.ports.Cloud` over in-memory registries; ``opened`` counts units of work."""

    def __init__(
        self, registries: Sequence[MemoryRegistry], sources: Sequence[InventorySource] = ()
    ) -> None:
        self._registries = list(registries)
        self.sources = list(sources)
        self.opened = 0

    @asynccontextmanager
    async def open(self) -> AsyncIterator[MemoryCloud]:
        self.opened += 1
        yield self

    def registries(self) -> Sequence[MemoryRegistry]:
        return self._registries

    def registry_for(self, key: RepositoryKey) -> MemoryRegistry:
        for registry in self._registries:
            if registry.region == key.region and registry.account == key.registry:
                return registry
        raise NotWatched(f"{key} is not watched")

    async def registry_for_ref(self, ref: ImageRef) -> MemoryRegistry:
        for registry in self._registries:
            if ref.region not in (None, registry.region):
                continue
            if ref.registry not in (None, registry.account):
                continue
            return registry
        raise NotWatched(f"{ref} is not in a registry this bot watches. Nothing was changed.")

    def trail_for(self, registry: Any) -> Trail:
        return NoTrail()

    def previews_for(self, registry: Any) -> Any:
        return self.previewer

    previewer: Any = None

    async def inventory_sources(self) -> Sequence[InventorySource]:
        return self.sources


@dataclass
class FixedSource:
    """An inventory source that reports fixed uses."""

    uses: list[ImageUse]
    name: str = "fixed"

    async def collect(self) -> list[ImageUse]:
        return list(self.uses)


@dataclass
class RecordingNotifier:
    """:class:`bot.ports.Notifier` that remembers what it showed."""

    posted: list[tuple[str, Risk]] = field(default_factory=list)
    updated: list[tuple[AlertRecord, Risk | None]] = field(default_factory=list)
    resolved: list[tuple[AlertRecord, Resolution]] = field(default_factory=list)
    replies: list[tuple[str, str, str]] = field(default_factory=list)
    messages: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    fail_next_post: Exception | None = None

    async def post_alert(self, channel: str, risk: Risk, now: float) -> tuple[str, str]:
        if self.fail_next_post is not None:
            error, self.fail_next_post = self.fail_next_post, None
            raise error
        self.posted.append((channel, risk))
        return channel, f"{1_700_000_000 + len(self.posted)}.000100"

    async def update_alert(self, record: AlertRecord, risk: Risk | None, now: float) -> None:
        self.updated.append((record, risk))

    async def resolve_alert(self, record: AlertRecord, resolution: Resolution) -> None:
        self.resolved.append((record, resolution))

    async def reply(self, channel: str, thread_ts: str, text: str) -> None:
        self.replies.append((channel, thread_ts, text))

    async def post(self, channel: str, payload: dict[str, object]) -> str:
        self.messages.append((channel, payload))
        return f"{1_800_000_000 + len(self.messages)}.000100"


class FlakyStore(MemoryStore):
    """A MemoryStore that raises what an unreachable Redis raises while ``down`` is True, or
    from the n-th write on when ``fail_after_writes`` is set."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self.down = False
        self.fail_after_writes: int | None = None
        self.writes = 0

    def _maybe_fail(self, operation: str, *, write: bool) -> None:
        if write:
            self.writes += 1
            if self.fail_after_writes is not None and self.writes > self.fail_after_writes:
                self.down = True
        if self.down:
            raise Unreachable("redis", operation, "ConnectionError", "Connection refused")

    async def get(self, key: str) -> Any:
        self._maybe_fail("GET", write=False)
        return await super().get(key)

    async def put(
        self, key: str, value: Any, ttl: float | None = None, *, fence: Any = None
    ) -> None:
        self._maybe_fail("SET", write=True)
        await super().put(key, value, ttl, fence=fence)

    async def create(self, key: str, value: Any, ttl: float | None = None) -> bool:
        self._maybe_fail("SET", write=True)
        return await super().create(key, value, ttl)

    async def delete(self, key: str, *, fence: Any = None) -> bool:
        self._maybe_fail("DEL", write=True)
        return await super().delete(key, fence=fence)

    async def index_set(self, index: str, member: str, score: float) -> None:
        self._maybe_fail("ZADD", write=True)
        await super().index_set(index, member, score)

    async def index_range(
        self, index: str, low: float = float("-inf"), high: float = float("inf")
    ) -> list[tuple[str, float]]:
        self._maybe_fail("ZRANGEBYSCORE", write=False)
        return await super().index_range(index, low, high)

    async def acquire(self, lock: str, owner: str, ttl: float) -> int | None:
        self._maybe_fail("SET", write=True)
        return await super().acquire(lock, owner, ttl)

    async def append(
        self, stream: str, entry: Any, max_length: int = 10_000, *, entry_id: str = ""
    ) -> str:
        self._maybe_fail("XADD", write=True)
        return await super().append(stream, entry, max_length, entry_id=entry_id)

    async def ping(self) -> bool:
        return not self.down
