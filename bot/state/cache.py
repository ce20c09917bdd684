"""The repository cache: each repository's images and lifecycle policy, kept in the store (pure).

Events keep it current one image at a time (a push adds one digest, read with one
``DescribeImages`` call); the periodic scan replaces it with what ECR lists and counts the drift
between the two, because EventBridge delivers ECR events on a best-effort basis.

Images are stored one hash field each, as a compact JSON array, so an event rewrites one field,
not the repository.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from bot.lifecycle.images import Image, ImageStatus, make_image
from bot.refs import RepositoryKey
from bot.state.store import Store


def encode(image: Image) -> str:
    """An image as a compact JSON array (the cache's field value).

    Example:
        >>> encode(Image("sha256:ab", ("v1",), 1.5))
        '["sha256:ab",["v1"],1.5,null,"ACTIVE",null,null,null,[]]'
    """
    return json.dumps(
        [
            image.digest,
            list(image.tags),
            image.pushed_at,
            image.last_pulled_at,
            image.status.value,
            image.last_archived_at,
            image.last_activated_at,
            image.media_type,
            list(image.children),
        ],
        separators=(",", ":"),
    )


def decode(text: str) -> Image:
    """The image :func:`encode` wrote.

    Example:
        >>> decode(encode(Image("sha256:ab", ("v1",), 1.5))).tags
        ('v1',)
    """
    digest, tags, pushed, pulled, status, archived, activated, media, children = _loads(text)
    return make_image(
        digest,
        tuple(tags),
        pushed,
        pulled,
        _STATUSES[status],
        archived,
        activated,
        media,
        tuple(children),
    )


_STATUSES = {status.value: status for status in ImageStatus}
_loads = json.JSONDecoder().decode


@dataclass(frozen=True)
class CachedRepository:
    """What the cache holds of a repository: its policy (None: none), when ECR last ran it, when
    the policy was last set (by an event or a scan), and its images."""

    policy: str | None
    evaluated_at: float | None
    policy_at: float
    images: list[Image]


@dataclass(frozen=True)
class Drift:
    """How a scan's listing differed from the cache: digests the events missed and digests the
    cache still had that ECR no longer lists."""

    missed: int
    stale: int

    @property
    def any(self) -> bool:
        """Whether the cache had drifted."""
        return bool(self.missed or self.stale)


class RepositoryCache:
    """Images and policies of repositories, in the store, with this replica's decoded copy.

    Every write changes the repository's version token; a load reads the token (one small read)
    and decodes the images again only when another replica changed them since.

    Example::

        cache = RepositoryCache(store)
        await cache.replace(key, policy_text, evaluated_at, images)   # after a scan
        await cache.put_image(key, pushed_image)                      # after a push
        cached = await cache.load(key)
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._copies: dict[str, tuple[str, dict[str, Image]]] = {}

    @staticmethod
    def _id(key: RepositoryKey) -> str:
        return f"{key.registry}/{key.region}/{key.name}"

    def _name(self, key: RepositoryKey) -> str:
        return f"images:{self._id(key)}"

    def _meta(self, key: RepositoryKey) -> str:
        return f"repository:{self._id(key)}"

    def _version(self, key: RepositoryKey) -> str:
        return f"images-version:{self._id(key)}"

    async def load(self, key: RepositoryKey) -> CachedRepository | None:
        """The cached repository, or None when it was never loaded."""
        meta = await self.store.get(self._meta(key))
        if meta is None:
            return None
        images = await self._images(key)
        return CachedRepository(
            meta.get("policy"),
            meta.get("evaluated_at"),
            float(meta.get("policy_at", 0.0)),
            list(images.values()),
        )

    async def _images(self, key: RepositoryKey) -> dict[str, Image]:
        found = await self.store.get(self._version(key))
        version = str(found["token"]) if found else ""
        copy = self._copies.get(self._id(key))
        if copy is not None and copy[0] == version and version:
            return copy[1]
        fields = await self.store.hash_get_all(self._name(key))
        images = {digest: decode(text) for digest, text in fields.items()}
        self._copies[self._id(key)] = (version, images)
        return images

    async def _changed(
        self, key: RepositoryKey, images: dict[str, Image] | None, *, whole: bool = False
    ) -> None:
        """Record a new version (after the write it stands for). Our updated copy is kept only
        when no other replica wrote since we read (else it is read again next time)."""
        found = await self.store.get(self._version(key))
        copy = self._copies.get(self._id(key))
        current = whole or (copy is not None and found is not None and found["token"] == copy[0])
        token = secrets.token_hex(8)
        await self.store.put(self._version(key), {"token": token})
        if images is None or not current:
            self._copies.pop(self._id(key), None)
        else:
            self._copies[self._id(key)] = (token, images)

    def _mine(self, key: RepositoryKey) -> dict[str, Image] | None:
        copy = self._copies.get(self._id(key))
        return dict(copy[1]) if copy is not None else None

    async def replace(
        self,
        key: RepositoryKey,
        policy: str | None,
        evaluated_at: float | None,
        images: list[Image],
    ) -> Drift:
        """Replace what is cached with a full listing; the drift from what was cached."""
        before = set((await self.store.hash_get_all(self._name(key))).keys())
        now = {image.digest for image in images}
        known = await self.store.get(self._meta(key))
        await self.store.hash_replace(self._name(key), {i.digest: encode(i) for i in images})
        await self._changed(key, {image.digest: image for image in images}, whole=True)
        # A listing does not say when the policy was set: keep the time the last event said.
        since = float(known.get("policy_at", 0.0)) if known else 0.0
        await self._set_meta(key, policy, evaluated_at, since)
        if known is None:
            return Drift(0, 0)
        return Drift(len(now - before), len(before - now))

    async def put_image(self, key: RepositoryKey, image: Image) -> None:
        """Add or update one image."""
        await self.store.hash_set(self._name(key), {image.digest: encode(image)})
        mine = self._mine(key)
        if mine is not None:
            mine[image.digest] = image
        await self._changed(key, mine)

    async def remove_images(self, key: RepositoryKey, digests: list[str]) -> None:
        """Forget images ECR no longer has."""
        await self.store.hash_delete(self._name(key), digests)
        mine = self._mine(key)
        if mine is not None:
            for digest in digests:
                mine.pop(digest, None)
        await self._changed(key, mine)

    async def set_policy(
        self, key: RepositoryKey, policy: str | None, *, at: float, evaluated_at: Any = None
    ) -> None:
        """Record the repository's policy as of ``at`` (an event's time, or a scan's)."""
        meta = await self.store.get(self._meta(key)) or {}
        evaluated = evaluated_at if evaluated_at is not None else meta.get("evaluated_at")
        await self._set_meta(key, policy, evaluated, max(at, float(meta.get("policy_at", 0.0))))

    async def _set_meta(
        self, key: RepositoryKey, policy: str | None, evaluated_at: float | None, at: float
    ) -> None:
        await self.store.put(
            self._meta(key), {"policy": policy, "evaluated_at": evaluated_at, "policy_at": at}
        )
