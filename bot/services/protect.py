"""``protect`` and ``unprotect``: leases that keep an image, enforced in ECR itself.

A lease (owner, reason, expiry) is stored; ECR enforces it through a keep tag on the digest and a
guard rule at the top of the repository's policy that selects that tag's prefix and never expires
anything. When the policy lacks the guard, the exact change is shown and applied only after an
authorised user confirms (or automatically when configured). After applying, the evaluator checks
that the image is now shielded. When a lease ends, its keep tag is removed, unless it is the
image's last tag (removing it would leave the image untagged, which many policies expire).
"""

from __future__ import annotations

import dataclasses
import hashlib

from bot.auth import Actor
from bot.aws.ecr import EcrRegistry, Repository
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.explain import Explainer
from bot.lifecycle.guard import has_guard, is_guard, keep_tag, with_guard
from bot.lifecycle.images import Image, ImageStatus
from bot.lifecycle.parse import parse_policy
from bot.lifecycle.policy import LifecyclePolicy
from bot.lifecycle.timefmt import human
from bot.lifecycle.validate import check_policy
from bot.refs import ImageRef, RepositoryKey
from bot.services.core import CommandError, Lifeguard
from bot.services.results import (
    PolicyChange,
    ProtectResult,
    Shielding,
    UnprotectResult,
)
from bot.state.records import Lease


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class ProtectService:
    """Leases on images. See the module docstring.

    Example::

        service = ProtectService(lifeguard)
        result = await service.protect(actor, parse_image_ref("app:v1"), None, "rollback target")
        if result.change and result.change.token:
            ...  # ask an authorised user to confirm; then service.apply_guard(actor, token)
    """

    def __init__(self, lifeguard: Lifeguard) -> None:
        self.lifeguard = lifeguard
        self.prefix = lifeguard.settings.protect.tag_prefix

    async def protect(
        self,
        actor: Actor,
        ref: ImageRef,
        duration: float | None,
        reason: str,
        *,
        channel: str | None = None,
        thread_ts: str | None = None,
    ) -> ProtectResult:
        """Protect the image ``ref`` names for ``duration`` seconds (default from settings)."""
        lifeguard = self.lifeguard
        span = self._duration(duration)
        async with lifeguard.aws() as aws:
            located = await lifeguard.locate(aws, ref)
            image = self._protectable(ref, located.image)
            await lifeguard.authorize(actor, "protect", located.key)
            tag = keep_tag(self.prefix, image.digest)
            # Check the guard rule can be added before touching the image, so that a refusal
            # leaves nothing behind.
            planned = await self._plan_guard(located.registry, located.repository)
            added, image = await self._tag(located.registry, located.repository, image, tag)
            change, applied, policy = await self._guard(
                actor, located.registry, located.repository, image.digest, planned
            )
            previous = await lifeguard.leases.get(located.key, image.digest)
            now = lifeguard.clock()
            lease = Lease(
                repository=located.key,
                digest=image.digest,
                owner=actor.label,
                reason=reason or (previous.reason if previous else ""),
                created_at=previous.created_at if previous else now,
                until=max(now + span, previous.until if previous else 0.0),
                keep_tag=tag,
                channel=channel or (previous.channel if previous else None),
                thread_ts=thread_ts or (previous.thread_ts if previous else None),
            )
            await lifeguard.leases.put(lease)
            images = [i if i.digest != image.digest else image for i in located.images]
            shielding = self.shielding(policy, images, image.digest) if policy else None
        await lifeguard.record(
            actor,
            "protect",
            "ok",
            located.key,
            digest=image.digest,
            before={"until": previous.until} if previous else None,
            after={"until": lease.until, "keep_tag": tag, "reason": lease.reason},
            detail="guard rule pending confirmation" if change and change.token else None,
        )
        return ProtectResult(
            lease, added, change, applied, shielding, extended=previous is not None
        )

    def _duration(self, duration: float | None) -> float:
        settings = self.lifeguard.settings.protect
        span = settings.default_duration if duration is None else duration
        if span <= 0:
            raise CommandError("A protection needs a duration above zero, e.g. `for 7d`.")
        if span > settings.max_duration:
            days = settings.max_duration / 86_400
            raise CommandError(f"Protections last at most {days:g} days; ask again before it ends.")
        return span

    @staticmethod
    def _protectable(ref: ImageRef, image: Image | None) -> Image:
        if image is None:
            raise CommandError(
                f"{ref} is not in the repository. `/ecr why-missing {ref}` tells what happened."
            )
        if image.status is not ImageStatus.ACTIVE:
            raise CommandError(
                f"{ref} is {image.status.value.lower()}: restore it first (`/ecr restore {ref}`), "
                "then protect it."
            )
        return image

    @staticmethod
    async def _tag(
        registry: EcrRegistry, repository: Repository, image: Image, tag: str
    ) -> tuple[bool, Image]:
        if tag in image.tags:
            return False, image
        [manifest] = await registry.manifests(repository.key, [image.digest])
        added = await registry.put_tag(repository, manifest, tag)
        return added, dataclasses.replace(image, tags=(*image.tags, tag))

    async def _plan_guard(
        self, registry: EcrRegistry, repository: Repository
    ) -> tuple[str, LifecyclePolicy, LifecyclePolicy | None] | None:
        """The current policy text and model, and the guarded policy when one is needed.

        None when the repository has no policy. Raises :class:`CommandError` when the guard rule
        cannot be added (the policy would break a quota).
        """
        info = await registry.lifecycle_policy(repository)
        if info is None:
            return None
        policy = parse_policy(info.text)
        if has_guard(policy, self.prefix):
            return info.text, policy, None
        guarded = with_guard(policy, self.prefix)
        problems = check_policy(guarded, len(guarded.to_json()))
        if problems:
            raise CommandError(
                "The guard rule cannot be added to the policy, so nothing was changed: "
                + "; ".join(str(p) for p in problems)
            )
        return info.text, policy, guarded

    async def _guard(
        self,
        actor: Actor,
        registry: EcrRegistry,
        repository: Repository,
        digest: str,
        planned: tuple[str, LifecyclePolicy, LifecyclePolicy | None] | None,
    ) -> tuple[PolicyChange | None, bool, LifecyclePolicy | None]:
        if planned is None:
            return None, False, None
        text, policy, guarded = planned
        if guarded is None:
            return None, False, policy
        after = guarded.to_json()
        if self.lifeguard.settings.protect.apply_policy_change == "automatic":
            change = PolicyChange(repository.key, text, after)
            await self._apply(actor, registry, repository, change, digest=digest)
            return change, True, guarded
        token = await self.lifeguard.confirmations.create(
            {
                "kind": "guard",
                "registry": repository.key.registry,
                "region": repository.key.region,
                "repository": repository.key.name,
                "digest": digest,
                "before_sha": _sha(text),
                "after": after,
            }
        )
        return PolicyChange(repository.key, text, after, token), False, policy

    async def _apply(
        self,
        actor: Actor,
        registry: EcrRegistry,
        repository: Repository,
        change: PolicyChange,
        *,
        digest: str,
    ) -> None:
        await registry.put_lifecycle_policy(repository, change.after)
        await self.lifeguard.record(
            actor,
            "put-lifecycle-policy",
            "ok",
            repository.key,
            digest=digest,
            before=change.before,
            after=change.after,
            detail="guard rule for protected images",
        )

    async def apply_guard(self, actor: Actor, token: str) -> tuple[PolicyChange, Shielding]:
        """Apply a confirmed guard-rule change, if the policy did not change in between."""
        lifeguard = self.lifeguard
        change = await lifeguard.confirmed(actor, token, "guard", "change the lifecycle policy of")
        key = RepositoryKey(change["registry"], change["region"], change["repository"])
        async with lifeguard.aws() as aws:
            registry = lifeguard.registry_for(aws, key)
            repository = await registry.repository(key.name, registry_id=key.registry)
            info = await registry.lifecycle_policy(repository) if repository else None
            if repository is None or info is None or _sha(info.text) != change["before_sha"]:
                raise CommandError(
                    f"The lifecycle policy of {key.name} changed since this was proposed; "
                    "nothing was applied. Run `/ecr protect` again to get a fresh proposal."
                )
            applied = PolicyChange(key, info.text, change["after"])
            await self._apply(actor, registry, repository, applied, digest=change["digest"])
            images = await registry.images(repository)
        return applied, self.shielding(parse_policy(applied.after), images, change["digest"])

    def shielding(self, policy: LifecyclePolicy, images: list[Image], digest: str) -> Shielding:
        """Evaluate the policy now and say whether the guard rule governs the image."""
        evaluation = evaluate(policy, images, self.lifeguard.clock())
        decision = evaluation.decision(digest)
        shielded = (
            decision.rule is not None
            and is_guard(decision.rule, self.prefix)
            and not decision.acted
        )
        return Shielding(shielded, Explainer(evaluation).explain(decision))

    async def unprotect(self, actor: Actor, ref: ImageRef) -> UnprotectResult:
        """End a lease now (same as when it expires)."""
        lifeguard = self.lifeguard
        async with lifeguard.aws() as aws:
            located = await lifeguard.locate(aws, ref)
            if located.image is None:
                raise CommandError(f"{ref} is not in the repository.")
            await lifeguard.authorize(actor, "unprotect", located.key)
            lease = await lifeguard.leases.get(located.key, located.image.digest)
            if lease is None:
                raise CommandError(f"{ref} is not protected. `/ecr protections` lists leases.")
            result = await self._end(located.registry, located.repository, located.image, lease)
        await lifeguard.record(
            actor,
            "unprotect",
            "ok",
            located.key,
            digest=lease.digest,
            before={"until": lease.until},
            after=None,
            detail=result.note,
        )
        return result

    async def _end(
        self, registry: EcrRegistry, repository: Repository, image: Image | None, lease: Lease
    ) -> UnprotectResult:
        await self.lifeguard.leases.remove(lease.repository, lease.digest)
        if image is None:
            return UnprotectResult(lease, False, "the image is gone already")
        if lease.keep_tag not in image.tags:
            return UnprotectResult(lease, False, f"{lease.keep_tag} was already removed")
        if len(image.tags) == 1:
            return UnprotectResult(
                lease,
                False,
                f"{lease.keep_tag} is the image's last tag: removing it would leave the image "
                "untagged, so it stays. Remove it by hand if the image may go.",
            )
        await registry.remove_tag(repository, lease.keep_tag)
        return UnprotectResult(lease, True, f"{lease.keep_tag} removed")

    async def end_due_leases(self) -> list[UnprotectResult]:
        """End every lease whose time is up; the alert loop calls this."""
        lifeguard = self.lifeguard
        ended = []
        for lease in await lifeguard.leases.due(lifeguard.clock()):
            async with lifeguard.aws() as aws:
                registry = lifeguard.registry_for(aws, lease.repository)
                repository = await registry.repository(
                    lease.repository.name, registry_id=lease.repository.registry
                )
                image = await registry.image(repository, lease.digest) if repository else None
                if repository is None:
                    await lifeguard.leases.remove(lease.repository, lease.digest)
                    result = UnprotectResult(lease, False, "the repository is gone")
                else:
                    result = await self._end(registry, repository, image, lease)
            await lifeguard.record(
                Actor("ecr-lifeguard"),
                "lease-expired",
                "ok",
                lease.repository,
                digest=lease.digest,
                before={"until": human(lease.until)},
                detail=result.note,
            )
            ended.append(result)
        return ended
