"""``retag``: add a tag to an image without pulling or pushing it (BatchGetImage, then PutImage).

The manifest bytes are sent back unchanged, with their media type, so the digest stays the same.
Putting a tag that is already on the image is a success. Moving a tag that is on another image
needs a confirmation bound to both digests, and is refused where the repository makes the tag
immutable (``IMMUTABLE``, or the ``*_WITH_EXCLUSION`` modes' filters).
"""

from __future__ import annotations

import fnmatch

from bot.auth import Actor
from bot.aws.ecr import Repository, TagImmutable
from bot.lifecycle.images import Image, ImageStatus
from bot.refs import ImageRef
from bot.services.core import CommandError, Lifeguard, Located
from bot.services.results import RetagResult


def tag_is_immutable(repository: Repository, tag: str) -> bool:
    """Whether the repository refuses to move ``tag`` once it exists.

    Example:
        >>> from bot.refs import RepositoryKey
        >>> repo = Repository(RepositoryKey("1", "r", "app"), "", "", "IMMUTABLE_WITH_EXCLUSION",
        ...                   ("latest*",))
        >>> tag_is_immutable(repo, "latest"), tag_is_immutable(repo, "v1")
        (False, True)
    """
    excluded = any(fnmatch.fnmatchcase(tag, f) for f in repository.mutability_exclusions)
    mode = repository.tag_mutability
    if mode == "IMMUTABLE":
        return True
    if mode == "IMMUTABLE_WITH_EXCLUSION":
        return not excluded
    if mode == "MUTABLE_WITH_EXCLUSION":
        return excluded
    return False


def _immutability_message(repository: Repository, tag: str, owner: Image) -> str:
    mode = repository.tag_mutability
    filters = ", ".join(repository.mutability_exclusions) or "none"
    return (
        f"{tag} is already on image {owner.short_digest} and {repository.key.name} does not let "
        f"it move (tag mutability {mode}, exclusion filters: {filters}). Use a new tag, or ask "
        "the repository owner to change the mutability settings."
    )


class RetagService:
    """Retagging. See the module docstring.

    Example::

        result = await RetagService(lifeguard).retag(actor, parse_image_ref("app:v1"), "stable")
        if result.status == "needs_confirmation":
            ...  # show both digests, then confirm(actor, result.token)
    """

    def __init__(self, lifeguard: Lifeguard) -> None:
        self.lifeguard = lifeguard

    async def retag(self, actor: Actor, ref: ImageRef, tag: str) -> RetagResult:
        """Put ``tag`` on the image ``ref`` names (asking first when the tag must move)."""
        lifeguard = self.lifeguard
        async with lifeguard.aws() as aws:
            located = await lifeguard.locate(aws, ref)
            image = _retaggable(ref, located.image)
            await lifeguard.authorize(actor, "retag", located.key)
            owner = next((i for i in located.images if tag in i.tags), None)
            if owner is not None and owner.digest == image.digest:
                return RetagResult("already", located.key, tag, image)
            if owner is not None:
                if tag_is_immutable(located.repository, tag):
                    raise CommandError(_immutability_message(located.repository, tag, owner))
                token = await lifeguard.confirmations.create(
                    {
                        "kind": "retag",
                        "registry": located.key.registry,
                        "region": located.key.region,
                        "repository": located.key.name,
                        "tag": tag,
                        "from_digest": owner.digest,
                        "to_digest": image.digest,
                    }
                )
                return RetagResult("needs_confirmation", located.key, tag, image, owner, token)
            await self._put(actor, located, image, tag, None)
        return RetagResult("done", located.key, tag, image)

    async def confirm(self, actor: Actor, token: str) -> RetagResult:
        """Move the tag as confirmed, if it still points where it did when asked."""
        lifeguard = self.lifeguard
        change = await lifeguard.confirmed(actor, token, "retag", "retag")
        ref = ImageRef(
            change["repository"],
            digest=change["to_digest"],
            registry=change["registry"],
            region=change["region"],
        )
        async with lifeguard.aws() as aws:
            located = await lifeguard.locate(aws, ref)
            image = _retaggable(ref, located.image)
            await lifeguard.authorize(actor, "retag", located.key)
            owner = next((i for i in located.images if change["tag"] in i.tags), None)
            if owner is None or owner.digest != change["from_digest"]:
                raise CommandError(
                    f"{change['tag']} moved since this was asked; nothing was changed. "
                    "Run the retag again."
                )
            await self._put(actor, located, image, change["tag"], owner)
        return RetagResult("done", located.key, change["tag"], image, owner)

    async def _put(
        self, actor: Actor, located: Located, image: Image, tag: str, previous: Image | None
    ) -> None:
        registry, repository = located.registry, located.repository
        [manifest] = await registry.manifests(repository.key, [image.digest])
        try:
            await registry.put_tag(repository, manifest, tag)
        except TagImmutable as exc:
            await self.lifeguard.record(
                actor, "retag", "refused", located.key, digest=image.digest, detail=str(exc)
            )
            raise CommandError(_immutability_message(repository, tag, previous or image)) from exc
        await self.lifeguard.record(
            actor,
            "retag",
            "ok",
            located.key,
            digest=image.digest,
            before={tag: previous.digest if previous else None},
            after={tag: image.digest},
        )


def _retaggable(ref: ImageRef, image: Image | None) -> Image:
    if image is None:
        raise CommandError(f"{ref} is not in the repository; nothing to retag.")
    if image.status is not ImageStatus.ACTIVE:
        raise CommandError(f"{ref} is {image.status.value.lower()}; restore it before retagging.")
    return image
