"""Gather the facts behind a why-missing verdict from ECR and CloudTrail.

Reads as little as it can: the repository, its images (1,000 per call), and only the CloudTrail
lookups the case needs (CloudTrail allows two lookups per second).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.diagnose.cloudtrail_models import LifecycleAction
from bot.diagnose.cloudtrail_records import tag_moves
from bot.diagnose.cloudtrail_rules import policy_from_rules
from bot.diagnose.verdict import (
    CLOUDTRAIL_WINDOW_DAYS,
    Facts,
    LifecycleExpiry,
    ManualDeletion,
    TagMove,
)
from bot.errors import LifeguardError
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.explain import Explainer
from bot.lifecycle.images import Image
from bot.lifecycle.parse import parse_policy, policy_from_data
from bot.lifecycle.policy import LifecyclePolicy
from bot.lifecycle.problems import InputError
from bot.lifecycle.timefmt import DAY
from bot.ports import Registry, Repository, Trail
from bot.refs import ImageRef, RepositoryKey

_SEPARATORS = re.compile(r"[-_./]")
SAME_RUN_SECONDS = 3600.0


@dataclass(frozen=True)
class Investigation:
    """Where to look: the registry that should hold the image, the others, and CloudTrail."""

    registry: Registry
    others: Sequence[Registry] = ()
    trail: Trail | None = None


async def investigate(ref: ImageRef, where: Investigation, now: float) -> Facts:
    """Collect every fact :func:`bot.diagnose.verdict.conclude` needs about ``ref``.

    Example::

        facts = await investigate(parse_image_ref("app:v1"), Investigation(registry, others, trail),
                                  now=time.time())
        print(conclude(facts).summary)
    """
    repository = await where.registry.repository(ref.repository, registry_id=ref.registry)
    if repository is None:
        return await _missing_repository(ref, where)
    images = await where.registry.images(repository)
    image, tag_points_to = _find(ref, images)
    facts = Facts(
        ref=ref,
        repository=repository.key,
        repository_exists=True,
        image=image,
        tag_points_to=tag_points_to,
        similar_tags=_similar_tags(ref, images) if image is None else (),
        tag_mutability=repository.tag_mutability,
    )
    if image is not None and image.status == "ACTIVE" and tag_points_to in (None, image):
        policy = await where.registry.repository_policy_text(repository)
        facts = _replace(facts, repository_policy=policy) if policy else facts
        return await _recent_moves(facts, repository, where, now)
    return await _with_trail(facts, repository, images, where, now)


async def _recent_moves(
    facts: Facts, repository: Repository, where: Investigation, now: float
) -> Facts:
    """For a present tag: where CloudTrail says it pointed recently (one lookup)."""
    if where.trail is None or facts.ref.tag is None:
        return facts
    start = now - CLOUDTRAIL_WINDOW_DAYS * DAY
    try:
        pushes = await where.trail.tag_pushes(repository.key.name, start, now, tag=facts.ref.tag)
    except LifeguardError as exc:
        return _replace(facts, cloudtrail_error=exc)
    return _replace(facts, tag_moves=_as_moves(tag_moves(pushes.items)))


def _replace(facts: Facts, **changes: Any) -> Facts:
    return dataclasses.replace(facts, **changes)


async def _missing_repository(ref: ImageRef, where: Investigation) -> Facts:
    registry = where.registry
    names = [r.key.name for r in await registry.repositories()]
    elsewhere = []
    for other in where.others:
        try:
            if await other.repository(ref.repository) is not None:
                elsewhere.append(other.label)
        except LifeguardError:
            continue
    key = RepositoryKey(
        ref.registry or await registry.registry_id(), registry.region, ref.repository
    )
    return Facts(
        ref=ref,
        repository=key,
        repository_exists=False,
        similar_repositories=similar_names(ref.repository, names),
        found_elsewhere=tuple(elsewhere),
    )


def similar_names(wanted: str, names: Sequence[str]) -> tuple[str, ...]:
    """Existing names close to ``wanted``: same letters without separators first, then typos.

    Example:
        >>> similar_names("myapp", ["my-app", "billing", "my-apps"])
        ('my-app', 'my-apps')
    """
    bare = _SEPARATORS.sub("", wanted)
    exact = [n for n in names if _SEPARATORS.sub("", n) == bare and n != wanted]
    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.75)
    return tuple(dict.fromkeys([*exact, *close]))[:3]


def _find(ref: ImageRef, images: Sequence[Image]) -> tuple[Image | None, Image | None]:
    by_digest = {image.digest: image for image in images}
    by_tag = {tag: image for image in images for tag in image.tags}
    tagged = by_tag.get(ref.tag) if ref.tag else None
    if ref.digest is not None:
        return by_digest.get(ref.digest), tagged
    return tagged, tagged


def _similar_tags(ref: ImageRef, images: Sequence[Image]) -> tuple[str, ...]:
    if not ref.tag:
        return ()
    tags = [tag for image in images for tag in image.tags]
    return tuple(difflib.get_close_matches(ref.tag, tags, n=3, cutoff=0.6))


async def _with_trail(
    facts: Facts,
    repository: Repository,
    images: Sequence[Image],
    where: Investigation,
    now: float,
) -> Facts:
    trail, ref = where.trail, facts.ref
    if trail is None:
        return _replace(facts, cloudtrail_disabled=True)
    start, name = now - CLOUDTRAIL_WINDOW_DAYS * DAY, repository.key.name
    try:
        actions = await trail.lifecycle_actions(name, start, now)
        deletions = await trail.deletions(name, start, now)
        pushes = await trail.tag_pushes(name, start, now, tag=ref.tag) if ref.tag else None
    except LifeguardError as exc:
        return _replace(facts, cloudtrail_error=exc)
    pushed = pushes.items if pushes else ()
    known = {p.digest for p in pushed} | ({ref.digest} if ref.digest else set())
    moved_to = facts.tag_points_to.digest if facts.tag_points_to else None
    known.discard(moved_to or "")
    mine = [a for a in actions.items if _concerns(a.digest, a.tags, ref, known, moved_to)]
    policy = await _current_policy(where.registry, repository)
    expiries = tuple(_expiry(a, actions.items, images, policy) for a in mine if not a.failure_code)
    removed = tuple(
        ManualDeletion(d.event_time, d.principal, d.digests, d.tags)
        for d in deletions.items
        if (ref.tag is not None and ref.tag in d.tags) or known & set(d.digests)
    )
    truncated = actions.truncated or deletions.truncated or bool(pushes and pushes.truncated)
    return _replace(
        facts,
        expiries=expiries,
        deletions=removed,
        tag_moves=_as_moves(tag_moves(pushed)),
        pushes=tuple(TagMove(p.event_time, p.tag or "", p.digest, p.principal) for p in pushed),
        cloudtrail_truncated=truncated,
    )


def _as_moves(moves: Sequence[Any]) -> tuple[TagMove, ...]:
    return tuple(TagMove(m.event_time, m.tag, m.digest, m.principal) for m in moves)


def _concerns(
    digest: str, tags: Sequence[str], ref: ImageRef, known: set[str], moved_to: str | None
) -> bool:
    """Whether a lifecycle action is about the referenced image (not where its tag went)."""
    if ref.digest is not None:
        return digest == ref.digest
    return digest != moved_to and (ref.tag in tags or digest in known)


async def _current_policy(registry: Registry, repository: Repository) -> LifecyclePolicy | None:
    try:
        text = await registry.lifecycle_policy_text(repository)
        return parse_policy(text) if text else None
    except (LifeguardError, InputError):
        return None


def _expiry(
    action: LifecycleAction,
    run: Sequence[LifecycleAction],
    images: Sequence[Image],
    current: LifecyclePolicy | None,
) -> LifecycleExpiry:
    return LifecycleExpiry(
        at=action.event_time,
        digest=action.digest,
        tags=action.tags,
        rule_priority=action.rule_priority,
        rule_description=action.rule.description if action.rule else None,
        pushed_at=action.pushed_at,
        failure_code=action.failure_code,
        explanation=_reconstruct(action, run, images, current),
    )


def _reconstruct(
    action: LifecycleAction,
    run: Sequence[LifecycleAction],
    images: Sequence[Image],
    current: LifecyclePolicy | None,
) -> str | None:
    """Re-evaluate the policy as it was at the run, over the images that existed then."""
    policy = _recorded_policy(action) or current
    if policy is None:
        return None
    same_run = [
        a
        for a in run
        if abs(a.event_time - action.event_time) <= SAME_RUN_SECONDS and not a.failure_code
    ]
    gone = {a.digest: Image(a.digest, a.tags, a.pushed_at) for a in same_run}
    then = [
        image
        for image in images
        if image.pushed_at <= action.event_time and image.digest not in gone
    ]
    evaluation = evaluate(policy, [*then, *gone.values()], action.event_time)
    try:
        decision = evaluation.decision(action.digest)
    except KeyError:
        return None
    return "Reconstructed from the policy at the time: " + Explainer(evaluation).explain(decision)


def _recorded_policy(action: LifecycleAction) -> LifecyclePolicy | None:
    document = policy_from_rules(list(action.policy)) if action.policy else None
    if document is None:
        return None
    try:
        return policy_from_data(document)
    except InputError:
        return None
