"""``unprotect <ref>``: end a lease now, as when it expires; and ending the leases that are due.

When a lease ends its keep tag is removed, unless it is the image's last tag: removing it would
leave the image untagged, which many policies expire, so it stays and the reply says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from bot.blocks import replies
from bot.errors import CommandError
from bot.lifecycle.images import Image
from bot.lifecycle.timefmt import human
from bot.ops import args as words
from bot.ops.authorize import Actor
from bot.ops.call import Call
from bot.ops.deps import Dependencies, locate, open_repository
from bot.ops.mutation import Change
from bot.ops.results import UnprotectResult
from bot.ops.verb import Reply, Verb
from bot.ports import Registry, Repository
from bot.refs import ImageRef
from bot.state.records import Lease

LIFEGUARD = Actor("ecr-lifeguard", trusted=True)


@dataclass(frozen=True, slots=True)
class Unprotect:
    """``unprotect <ref>``."""

    ref: ImageRef


def parse(args: Sequence[str]) -> Unprotect:
    """Read ``unprotect <ref>``.

    Example:
        >>> parse(["app:v1"]).ref.tag
        'v1'
    """
    words.count(args, 1, 1, "unprotect")
    return Unprotect(words.image(args[0]))


async def run(call: Call, args: Unprotect) -> UnprotectResult:
    """End the lease of the image ``args.ref`` names.

    Example::

        ended = await run(call, parse(["app:v1"]))
        print(ended.note)      # "keep-ec1477a7420a removed"
    """
    async with call.cloud() as cloud:
        located = await locate(cloud, args.ref)
        if located.image is None:
            raise CommandError(f"{args.ref} is not in the repository.")
        await call.authorize(located.key)
        async with call.mutation(located.key, located.image.digest) as change:
            lease = await call.deps.leases.get(located.key, located.image.digest)
            if lease is None:
                raise CommandError(
                    f"{args.ref} is not protected. `/ecr protections` lists the leases."
                )
            # Read the image again under the lock: a change that held it may have tagged it.
            image = await located.registry.image(located.repository, lease.digest)
            result = await end_lease(located.registry, located.repository, image, lease, change)
            change.audit(before={"until": lease.until}, detail=result.note)
    return _with_record(result, change)


async def end_lease(
    registry: Registry, repository: Repository, image: Image | None, lease: Lease, change: Change
) -> UnprotectResult:
    """Forget the lease and remove its keep tag, unless that would leave the image untagged."""
    change.remove_lease(lease.repository, lease.digest)
    if image is None:
        return UnprotectResult(lease, False, "the image is gone already")
    if lease.keep_tag not in image.tags:
        return UnprotectResult(
            lease, False, f"{lease.keep_tag} was already removed", tags=image.tags
        )
    if len(image.tags) == 1:
        return UnprotectResult(
            lease,
            False,
            f"{lease.keep_tag} is the image's last tag: removing it would leave the image "
            "untagged, so it stays. Remove it by hand if the image may go.",
            tags=image.tags,
        )
    await registry.remove_tag(repository, lease.keep_tag)
    change.did(f"keep tag {lease.keep_tag} removed")
    others = tuple(tag for tag in image.tags if tag != lease.keep_tag)
    return UnprotectResult(lease, True, f"{lease.keep_tag} removed", tags=others)


async def end_due_leases(deps: Dependencies) -> list[UnprotectResult]:
    """End every lease whose time is up (the scheduler calls this)."""
    call = Call(deps, LIFEGUARD, "lease-expired")
    ended = []
    for lease in await deps.leases.due(deps.clock()):
        async with call.cloud() as cloud:
            registry, repository = await open_repository(cloud, lease.repository)
            async with call.mutation(lease.repository, lease.digest) as change:
                current = await deps.leases.get(lease.repository, lease.digest)
                if current is None or current.until > deps.clock():
                    continue  # extended or ended meanwhile
                if repository is None:
                    change.remove_lease(lease.repository, lease.digest)
                    result = UnprotectResult(lease, False, "the repository is gone")
                else:
                    image = await registry.image(repository, lease.digest)
                    result = await end_lease(registry, repository, image, current, change)
                change.audit(before={"until": human(lease.until)}, detail=result.note)
        ended.append(_with_record(result, change))
    return ended


def _with_record(result: UnprotectResult, change: Change) -> UnprotectResult:
    return dataclasses.replace(result, recorded=change.recorded, record_note=change.note)


def present(result: UnprotectResult) -> Reply:
    """The lease ended, outcome first."""
    lease = result.lease
    lines = [
        replies.unprotect_outcome(result, replies.PLAIN),
        f"{lease.repository.name}@{lease.digest} was protected by {lease.owner} until "
        f"{human(lease.until)}" + (f": {lease.reason}." if lease.reason else "."),
    ]
    if result.record_note:
        lines.append(result.record_note)
    return Reply(replies.unprotect_reply(result), lines, public=True)


VERB = Verb(
    name="unprotect",
    usage="unprotect <ref>",
    summary="end a protection now",
    parse=parse,
    run=run,
    present=present,
    permission="unprotect",
    iam_actions=("ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:BatchDeleteImage"),
)
