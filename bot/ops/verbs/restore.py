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
import dataclasses
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.blocks import replies
from bot.errors import CommandError, LayersMissing
from bot.lifecycle.images import Image, ImageStatus
from bot.ops import args as words
from bot.ops.call import Call
from bot.ops.deps import Dependencies, Located, locate, open_repository
from bot.ops.mutation import Change
from bot.ops.results import RestoreResult
from bot.ops.verb import Reply, Verb
from bot.ports import Manifest
from bot.refs import ImageRef, RepositoryKey
from bot.state.records import SavedManifest
from bot.text import short_digest

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


@dataclass(frozen=True, slots=True)
class Restore:
    """``restore <ref>``; ``follow`` polls an archived image until it can be pulled."""

    ref: ImageRef
    follow: bool = True


def parse(args: Sequence[str]) -> Restore:
    """Read ``restore <ref>``.

    Example:
        >>> parse(["app@sha256:" + "a" * 64]).ref.digest[:9]
        'sha256:aa'
    """
    words.count(args, 1, 1, "restore")
    return Restore(words.image(args[0]))


async def run(call: Call, args: Restore) -> RestoreResult:
    """Start the restore the image's state calls for.

    Example::

        result = await run(call, parse(["app:v1"]))
        if result.status == "restoring":
            status = await follow(call.deps, result.repository, result.digest)
    """
    async with call.cloud() as cloud:
        located = await locate(cloud, args.ref)
        image = located.image
        if image is not None and image.status is ImageStatus.ACTIVE:
            return RestoreResult("already_active", located.key, image.digest, image.tags)
        await call.authorize(located.key)
        if image is not None:
            result = await _from_archive(call, located, image)
        else:
            result = await _repush(call, located, args.ref)
    if result.status != "restoring" or not args.follow:
        return result
    deps, key, digest = call.deps, result.repository, result.digest
    name = replies.image_name(key.name, digest, result.tags)

    async def news() -> str:
        status = await follow(deps, key, digest)
        if status == "ACTIVE":
            return f"Restored {name}: it is active and can be pulled."
        return f"Not restored: the restore of {name} ended as {status}."

    return dataclasses.replace(result, follow_up=news)


async def _from_archive(call: Call, located: Located, image: Image) -> RestoreResult:
    async with call.mutation(located.key, image.digest) as change:
        if image.status is ImageStatus.ARCHIVED:
            status = await located.registry.restore_from_archive(located.repository, image.digest)
            change.did(f"the restore of {short_digest(image.digest)} from archive started")
            change.audit(before="ARCHIVED", after=status, detail="restore from archive started")
    return _result("restoring", located.key, image.digest, image.tags, change)


async def _repush(call: Call, located: Located, ref: ImageRef) -> RestoreResult:
    vault, key = call.deps.vault, located.key
    digest = ref.digest or (await vault.digest_for_tag(key, ref.tag) if ref.tag else None)
    saved = await vault.get(key, digest) if digest else None
    if digest is None or saved is None:
        raise CommandError(
            f"{ref} was deleted and ECR Lifeguard never saw it in use, so it has no copy of "
            f"its manifest. {rebuild_hint((ref.tag,) if ref.tag else ())}"
        )
    await _check_content(located, saved, digest)
    manifest = Manifest(digest, saved.text, saved.media_type)
    tags = tuple(t for t in saved.tags if not any(t in i.tags for i in located.images))
    async with call.mutation(key, digest) as change:
        try:
            await located.registry.put_manifest(
                located.repository, manifest, tags[0] if tags else None
            )
            change.did(f"{short_digest(digest)} is back" + (f" as {tags[0]}" if tags else ""))
            for tag in tags[1:]:
                await located.registry.put_tag(located.repository, manifest, tag)
                change.did(f"tag {tag} restored")
        except LayersMissing as exc:
            raise CommandError(_gone(ref, saved)) from exc
        change.audit(after={"tags": list(tags)}, detail="re-pushed from the saved manifest")
    return _result("repushed", key, digest, tags, change)


def _result(
    status: str, key: RepositoryKey, digest: str, tags: tuple[str, ...], change: Change
) -> RestoreResult:
    return RestoreResult(
        status,  # type: ignore[arg-type]
        key,
        digest,
        tags,
        recorded=change.recorded,
        note=change.note,
    )


async def _check_content(located: Located, saved: SavedManifest, digest: str) -> None:
    blobs, children = blobs_of(saved.text)
    present_digests = {image.digest for image in located.images}
    missing_children = [child for child in children if child not in present_digests]
    missing_blobs = await located.registry.missing_layers(located.repository, blobs)
    if missing_blobs or missing_children:
        raise CommandError(_gone(ImageRef(located.key.name, digest=digest), saved))


def _gone(ref: ImageRef, saved: SavedManifest) -> str:
    return f"{ref} cannot be re-pushed: ECR has already cleaned up its layers. " + rebuild_hint(
        saved.tags
    )


async def follow(
    deps: Dependencies,
    repository: RepositoryKey,
    digest: str,
    *,
    interval: float = FOLLOW_INTERVAL,
    limit: float = FOLLOW_LIMIT,
    on_change: Callable[[str], Awaitable[None]] | None = None,
) -> str:
    """Poll an image until it is ACTIVE (or gone, or ``limit`` passes); return its status.

    ``on_change`` hears every new status (ACTIVATING, then ACTIVE).
    """
    waited, last = 0.0, ""
    while True:
        async with deps.cloud() as cloud:
            registry, found = await open_repository(cloud, repository)
            image = await registry.image(found, digest) if found else None
        status = image.status.value if image else "MISSING"
        if status != last and on_change is not None:
            await on_change(status)
        last = status
        if status in {"ACTIVE", "MISSING"} or waited >= limit:
            return status
        await asyncio.sleep(interval)
        waited += interval


def present(result: RestoreResult) -> Reply:
    """What the restore did or started, outcome first (a no-op restore is private)."""
    lines = [
        replies.restore_outcome(result, replies.PLAIN),
        f"{result.repository.name}@{result.digest}",
    ]
    if result.note:
        lines.append(result.note)
    return Reply(
        replies.restore_reply(result),
        lines,
        public=result.status != "already_active",
        follow_up=result.follow_up,
    )


VERB = Verb(
    name="restore",
    usage="restore <ref>",
    summary="bring back an archived or deleted image",
    parse=parse,
    run=run,
    present=present,
    permission="restore",
    iam_actions=(
        "ecr:DescribeRepositories",
        "ecr:DescribeImages",
        "ecr:UpdateImageStorageClass",
        "ecr:BatchCheckLayerAvailability",
        "ecr:PutImage",
    ),
)
