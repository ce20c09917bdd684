"""``restore``: bring an image back — from archive, or re-pushed from a saved manifest.

* Archived: ``UpdateImageStorageClass`` to STANDARD, then follow the status until ``ACTIVE``
  (ECR takes up to about 20 minutes).
* Deleted: re-put the manifest ECR Lifeguard saved when it first saw the image in use, after
  checking that the layers (or, for an index, its platform images) are still in the repository.
  Layers of a deleted image are "unassociated" and may be cleaned up at any time, so this works
  only for a while, and not at all without a saved manifest: then the answer says how to rebuild.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from bot.auth import Actor
from bot.aws.ecr import LayersMissing, Manifest
from bot.lifecycle.images import Image, ImageStatus
from bot.refs import ImageRef, RepositoryKey
from bot.services.core import CommandError, Lifeguard, Located
from bot.services.results import RestoreResult
from bot.state.records import SavedManifest

FOLLOW_INTERVAL = 30.0
FOLLOW_LIMIT = 45 * 60.0


def blobs_of(manifest_text: str) -> tuple[list[str], list[str]]:
    """The layer and config blobs a manifest needs, and the images an index needs.

    Example:
        >>> blobs_of('{"config": {"digest": "sha256:c"}, "layers": [{"digest": "sha256:l"}]}')
        (['sha256:c', 'sha256:l'], [])
    """
    manifest = json.loads(manifest_text)
    blobs = [manifest["config"]["digest"]] if isinstance(manifest.get("config"), dict) else []
    blobs += [layer["digest"] for layer in manifest.get("layers", []) if "digest" in layer]
    children = [item["digest"] for item in manifest.get("manifests", []) if "digest" in item]
    return blobs, children


def rebuild_hint(tags: tuple[str, ...]) -> str:
    """How to rebuild an image that cannot come back, using its ``git-`` tag when it has one.

    Example:
        >>> rebuild_hint(("git-325dc21f", "v1"))
        'Rebuild it from commit 325dc21f and push it again under v1.'
    """
    commits = [t.removeprefix("git-") for t in tags if t.startswith("git-")]
    others = [t for t in tags if not t.startswith("git-")] or list(tags)
    under = f" under {', '.join(others)}" if others else ""
    if commits:
        return f"Rebuild it from commit {commits[0]} and push it again{under}."
    return f"Rebuild it from the commit it was built from and push it again{under}."


class RestoreService:
    """Restores. See the module docstring.

    Example::

        result = await RestoreService(lifeguard).restore(actor, parse_image_ref("app:v1"))
        if result.status == "restoring":
            final = await service.follow(result.repository, result.digest)
    """

    def __init__(self, lifeguard: Lifeguard) -> None:
        self.lifeguard = lifeguard

    async def restore(self, actor: Actor, ref: ImageRef) -> RestoreResult:
        """Start the restore the image's state calls for."""
        lifeguard = self.lifeguard
        async with lifeguard.aws() as aws:
            located = await lifeguard.locate(aws, ref)
            image = located.image
            if image is not None and image.status is ImageStatus.ACTIVE:
                return RestoreResult("already_active", located.key, image.digest, image.tags)
            await lifeguard.authorize(actor, "restore", located.key)
            if image is not None:
                return await self._from_archive(actor, located, image)
            return await self._repush(actor, located, ref)

    async def _from_archive(self, actor: Actor, located: Located, image: Image) -> RestoreResult:
        if image.status is ImageStatus.ARCHIVED:
            status = await located.registry.restore_from_archive(located.repository, image.digest)
            await self.lifeguard.record(
                actor,
                "restore",
                "ok",
                located.key,
                digest=image.digest,
                before="ARCHIVED",
                after=status,
                detail="restore from archive started",
            )
        return RestoreResult("restoring", located.key, image.digest, image.tags)

    async def _repush(self, actor: Actor, located: Located, ref: ImageRef) -> RestoreResult:
        vault, key = self.lifeguard.vault, located.key
        digest = ref.digest or (await vault.digest_for_tag(key, ref.tag) if ref.tag else None)
        saved = await vault.get(key, digest) if digest else None
        if digest is None or saved is None:
            raise CommandError(
                f"{ref} was deleted and ECR Lifeguard never saw it in use, so it has no copy of "
                f"its manifest. {rebuild_hint((ref.tag,) if ref.tag else ())}"
            )
        await self._check_content(located, saved, digest)
        manifest = Manifest(digest, saved.text, saved.media_type)
        tags = tuple(t for t in saved.tags if not any(t in i.tags for i in located.images))
        try:
            await located.registry.put_manifest(
                located.repository, manifest, tags[0] if tags else None
            )
            for tag in tags[1:]:
                await located.registry.put_tag(located.repository, manifest, tag)
        except LayersMissing as exc:
            raise CommandError(self._gone(ref, saved)) from exc
        await self.lifeguard.record(
            actor,
            "restore",
            "ok",
            key,
            digest=digest,
            before=None,
            after={"tags": list(tags)},
            detail="re-pushed from the saved manifest",
        )
        return RestoreResult("repushed", key, digest, tags)

    async def _check_content(self, located: Located, saved: SavedManifest, digest: str) -> None:
        blobs, children = blobs_of(saved.text)
        present = {image.digest for image in located.images}
        missing_children = [child for child in children if child not in present]
        missing_blobs = await located.registry.missing_layers(located.repository, blobs)
        if missing_blobs or missing_children:
            ref = ImageRef(located.key.name, digest=digest)
            raise CommandError(self._gone(ref, saved))

    @staticmethod
    def _gone(ref: ImageRef, saved: SavedManifest) -> str:
        return f"{ref} cannot be re-pushed: ECR has already cleaned up its layers. " + rebuild_hint(
            saved.tags
        )

    async def follow(
        self,
        repository: RepositoryKey,
        digest: str,
        *,
        interval: float = FOLLOW_INTERVAL,
        limit: float = FOLLOW_LIMIT,
        on_change: Callable[[str], Awaitable[None]] | None = None,
    ) -> str:
        """Poll an image until it is ACTIVE (or gone, or ``limit`` passes); return its status."""
        lifeguard = self.lifeguard
        waited, last = 0.0, ""
        while True:
            async with lifeguard.aws() as aws:
                registry = lifeguard.registry_for(aws, repository)
                found = await registry.repository(repository.name, registry_id=repository.registry)
                image = await registry.image(found, digest) if found else None
            status = image.status.value if image else "MISSING"
            if status != last and on_change is not None:
                await on_change(status)
            last = status
            if status in {"ACTIVE", "MISSING"} or waited >= limit:
                return status
            await asyncio.sleep(interval)
            waited += interval
