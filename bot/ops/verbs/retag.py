"""``retag <ref> <new-tag>``: add a tag to an image without pulling or pushing it (BatchGetImage,
then PutImage); ``move-tag``: the confirmed move of a tag that is on another image.

The manifest bytes are sent back unchanged, with their media type, so the digest stays the same.
Putting a tag that is already on the image is a success. Moving a tag that is on another image
needs a confirmation bound to both digests, and is refused where the repository makes the tag
immutable (``IMMUTABLE``, or the ``*_WITH_EXCLUSION`` modes' filters).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from bot.blocks import replies
from bot.errors import CommandError, TagImmutable
from bot.lifecycle.images import Image, ImageStatus
from bot.ops import args as words
from bot.ops.call import Call
from bot.ops.deps import Located, image_ref, locate
from bot.ops.results import RetagResult
from bot.ops.verb import Pending, Reply, Verb
from bot.ports import Repository
from bot.refs import ImageRef
from bot.state.records import TagMove
from bot.text import short_digest

IAM = ("ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:BatchGetImage", "ecr:PutImage")


@dataclass(frozen=True, slots=True)
class Retag:
    """``retag <ref> <new-tag>``."""

    ref: ImageRef
    new_tag: str


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to a pending confirmation: its token."""

    token: str


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


def parse(args: Sequence[str]) -> Retag:
    """Read ``retag <ref> <new-tag>``.

    Example:
        >>> parse(["app:v1", "stable"]).new_tag
        'stable'
    """
    words.count(args, 2, 2, "retag")
    return Retag(words.image(args[0]), words.tag(args[1]))


def parse_answer(args: Sequence[str]) -> Answer:
    """Read a confirmation token (the button's value)."""
    words.count(args, 1, 1, "the confirmation")
    return Answer(args[0])


async def run(call: Call, args: Retag) -> RetagResult:
    """Put the tag on the image (asking first when the tag must move from another image).

    Example::

        result = await run(call, parse(["app:v1", "stable"]))
        if result.status == "needs_confirmation":
            ...   # show both digests; the move-tag verb applies it
    """
    tag = args.new_tag
    async with call.cloud() as cloud:
        located = await locate(cloud, args.ref)
        image = _retaggable(args.ref, located.image)
        await call.authorize(located.key)
        owner = next((i for i in located.images if tag in i.tags), None)
        if owner is not None and owner.digest == image.digest:
            return RetagResult("already", located.key, tag, image)
        if owner is not None:
            if tag_is_immutable(located.repository, tag):
                await call.record(
                    "refused", located.key, digest=image.digest, detail=f"{tag} is immutable"
                )
                raise CommandError(_immutability_message(located.repository, tag, owner))
            token = await call.deps.confirmations.create(
                TagMove(
                    repository=located.key,
                    tag=tag,
                    from_digest=owner.digest,
                    to_digest=image.digest,
                    requested_by=call.actor.label,
                )
            )
            return RetagResult("needs_confirmation", located.key, tag, image, owner, token)
        return await _put(call, located, image, tag, None)


async def run_move(call: Call, args: Answer) -> RetagResult:
    """Move the tag as confirmed, if it still points where it did when asked."""
    pending = await call.deps.confirmations.peek(args.token)
    if not isinstance(pending, TagMove):
        raise CommandError("This confirmation has expired or was already used.")
    await call.authorize(pending.repository)
    if await call.deps.confirmations.take(args.token) is None:
        raise CommandError("This confirmation was already used.")
    ref = image_ref(pending.repository, pending.to_digest)
    async with call.cloud() as cloud:
        located = await locate(cloud, ref)
        image = _retaggable(ref, located.image)
        owner = next((i for i in located.images if pending.tag in i.tags), None)
        if owner is None or owner.digest != pending.from_digest:
            raise CommandError(
                f"{pending.tag} moved since this was asked; nothing was changed. "
                "Run the retag again."
            )
        return await _put(call, located, image, pending.tag, owner)


async def _put(
    call: Call, located: Located, image: Image, tag: str, previous: Image | None
) -> RetagResult:
    registry, repository = located.registry, located.repository
    async with call.mutation(located.key, image.digest) as change:
        [manifest] = await registry.manifests(repository.key, [image.digest])
        try:
            await registry.put_tag(repository, manifest, tag)
        except TagImmutable as exc:
            raise CommandError(_immutability_message(repository, tag, previous or image)) from exc
        change.did(f"{tag} points at {short_digest(image.digest)}")
        change.audit(
            before={tag: previous.digest if previous else None},
            after={tag: image.digest},
        )
    return RetagResult(
        "done", located.key, tag, image, previous, recorded=change.recorded, note=change.note
    )


def _retaggable(ref: ImageRef, image: Image | None) -> Image:
    if image is None:
        raise CommandError(f"{ref} is not in the repository; nothing to retag.")
    if image.status is not ImageStatus.ACTIVE:
        raise CommandError(f"{ref} is {image.status.value.lower()}; restore it before retagging.")
    return image


def present(result: RetagResult) -> Reply:
    """Retag done, already done, or waiting for the move to be confirmed; outcome first."""
    pending = None
    lines = [replies.retag_outcome(result, replies.PLAIN)]
    if result.status == "needs_confirmation" and result.token and result.moved_from:
        lines.append(
            f"{result.tag} is on {result.moved_from.digest} now; the move would put it on "
            f"{result.image.digest}."
        )
        pending = Pending(result.token, f"Move {result.tag}?", "move-tag")
    else:
        lines.append(f"{result.repository.name}@{result.image.digest} (digest unchanged)")
    if result.note:
        lines.append(result.note)
    public = result.status == "done"
    return Reply(replies.retag_reply(result), lines, public=public, pending=pending)


VERB = Verb(
    name="retag",
    usage="retag <ref> <new-tag>",
    summary="add a tag to an image (no pull or push)",
    parse=parse,
    run=run,
    present=present,
    permission="retag",
    iam_actions=IAM,
)
MOVE_VERB = Verb(
    name="move-tag",
    usage="move-tag <token>",
    summary="move a tag as confirmed",
    parse=parse_answer,
    run=run_move,
    present=present,
    permission="retag",
    iam_actions=IAM,
    typed=False,
    audit_as="retag",
)
