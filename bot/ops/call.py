"""One invocation of a verb: who asks, under which permission, with what dependencies.

A verb's runner gets a :class:`Call`. It authorises through :meth:`Call.authorize` (which knows
the permission the verb declared, looks up user groups only when the decision needs them, and
audits a refusal), and makes every change to ECR inside :meth:`Call.mutation`, which refuses to
start unless the call was authorised.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from bot.errors import CommandError, Denied, UpstreamError
from bot.ops.authorize import Actor, authorize, needs_groups
from bot.ops.deps import Dependencies
from bot.ops.mutation import Change, mutation
from bot.ports import Cloud
from bot.refs import RepositoryKey
from bot.state.records import AuditEntry


@dataclass
class Call:
    """A verb being run for ``actor``; ``action`` is the permission it needs (None: read-only).

    Example::

        async def run(call: Call, args: Protect) -> ProtectResult:
            async with call.cloud() as cloud:
                located = await locate(cloud, args.ref)
                await call.authorize(located.key)
                async with call.mutation(located.key, located.image.digest) as change:
                    ...
    """

    deps: Dependencies
    actor: Actor
    action: str
    permission: str | None = None
    authorized: set[RepositoryKey] = field(default_factory=set)
    catalogue: tuple[tuple[str, str], ...] = ()
    changes: list[Change] = field(default_factory=list)

    @property
    def effects(self) -> list[str]:
        """What this call did in ECR so far, in order."""
        return [effect for change in self.changes for effect in change.effects]

    def cloud(self) -> AbstractAsyncContextManager[Cloud]:
        """The cloud, opened for this call."""
        return self.deps.cloud()

    async def authorize(self, repository: RepositoryKey, *, requester: str | None = None) -> None:
        """Raise :class:`Denied` (after auditing the refusal) unless the actor may act here.

        ``requester``: whoever asked for the pending change being answered; they may always
        answer their own request (e.g. cancel it).
        """
        if self.permission is None or repository in self.authorized:
            self.authorized.add(repository)
            return
        if requester is not None and requester == self.actor.label:
            self.authorized.add(repository)
            return
        rules = self.deps.settings.permissions
        groups = frozenset[str]()
        if needs_groups(self.actor, repository, rules) and self.deps.groups is not None:
            try:
                groups = await self.deps.groups(self.actor.user)
            except UpstreamError as exc:
                raise CommandError(
                    f"Could not check your user groups (Slack said {exc.code}: {exc.message}); "
                    "nothing was changed. Try again in a minute."
                ) from exc
        verdict = authorize(self.actor, repository, rules, self.permission, groups)
        if verdict.allowed:
            self.authorized.add(repository)
            return
        await self.record("denied", repository, detail=verdict.reason)
        raise Denied(
            f"You may not {self.permission} images in {repository.name}: {verdict.reason}."
        )

    def mutation(
        self, repository: RepositoryKey, digest: str
    ) -> AbstractAsyncContextManager[Change]:
        """Change one image in ECR, serialised and recorded (see :mod:`bot.ops.mutation`)."""
        if self.permission is not None and repository not in self.authorized:
            raise RuntimeError(f"{self.action} changes {repository.name} without authorising")
        return mutation(self, repository, digest)

    async def record(
        self,
        result: str,
        repository: RepositoryKey | None,
        *,
        action: str | None = None,
        digest: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Append an audit entry outside a change (refusals, snoozes, cancellations)."""
        entry = AuditEntry.about(
            repository,
            actor=self.actor.label,
            action=action or self.action,
            result=result,
            digest=digest,
            detail=detail,
            at=self.deps.clock(),
        )
        await self.deps.audit.record(entry)
