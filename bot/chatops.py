"""ChatOps: every ``/ecr`` command and button, from a parsed request to the reply to show.

The Slack handlers only parse Slack's payloads into these calls and send back the :class:`Reply`.
Errors become replies here, in one place: a refusal or a mistake is answered privately with what
to do; an upstream failure says which service failed and how to fix it; anything unexpected is
logged with an incident id and never shown as a traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.auth import Actor
from bot.blocks import replies
from bot.blocks.alerts import short_digest
from bot.blocks.home import home_view
from bot.commands import (
    AtRisk,
    Audit,
    Command,
    Plan,
    Protect,
    Protections,
    Restore,
    Retag,
    Unprotect,
    WhyMissing,
)
from bot.errors import LifeguardError, UpstreamError
from bot.lifecycle.explain import Explainer
from bot.lifecycle.lint import lint
from bot.lifecycle.problems import InputError
from bot.refs import ImageRef, RepositoryKey
from bot.services import queries
from bot.services.alerts import LAST_SCAN, Notifier, Resolution, snooze
from bot.services.core import CommandError, Denied, Lifeguard
from bot.services.protect import ProtectService
from bot.services.restore import RestoreService
from bot.services.retag import RetagService
from bot.state.records import image_key

log = logging.getLogger(__name__)

Payload = dict[str, Any]


@dataclass
class Reply:
    """What to show: the message, whether everyone in the channel sees it, and follow-up work."""

    payload: Payload
    public: bool = False
    follow_up: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)


def private(payload: Payload) -> Reply:
    """A reply only the asker sees."""
    return Reply(payload, public=False)


class ChatOps:
    """The commands and buttons. See the module docstring.

    Example::

        chatops = ChatOps(lifeguard, notifier)
        reply = await chatops.command(parse_command("protect app:v1 for 3d"), actor)
    """

    def __init__(self, lifeguard: Lifeguard, notifier: Notifier) -> None:
        self.lifeguard = lifeguard
        self.notifier = notifier
        self.protects = ProtectService(lifeguard)
        self.retags = RetagService(lifeguard)
        self.restores = RestoreService(lifeguard)
        self._tasks: set[asyncio.Task[None]] = set()

    async def command(self, command: Command, actor: Actor) -> Reply:
        """Run one parsed ``/ecr`` command."""
        return await self._safely(self._command(command, actor))

    async def _command(self, command: Command, actor: Actor) -> Reply:
        if isinstance(command, Protect | Unprotect | Retag | Restore):
            return await self._change(command, actor)
        return await self._read(command)

    async def _read(self, command: Command) -> Reply:
        lifeguard = self.lifeguard
        match command:
            case Plan(repository):
                payload = replies.plan_reply(await queries.plan_repository(lifeguard, repository))
            case AtRisk(glob):
                payload = replies.at_risk_reply(await queries.at_risk(lifeguard, glob))
            case WhyMissing(ref):
                payload = replies.diagnosis_reply(await queries.why_missing(lifeguard, ref))
            case Protections(repository):
                leases = await queries.protections(lifeguard, repository)
                payload = replies.protections_reply(leases, lifeguard.clock())
            case Audit(repository):
                payload = replies.audit_reply(await queries.audit_entries(lifeguard, repository))
            case _:
                payload = replies.help_reply()
        return private(payload)

    async def _change(self, command: Protect | Unprotect | Retag | Restore, actor: Actor) -> Reply:
        match command:
            case Protect(ref, duration, reason):
                protected = await self.protects.protect(
                    actor, ref, duration, reason, channel=actor.channel
                )
                return Reply(replies.protect_reply(protected), public=True)
            case Unprotect(ref):
                ended = await self.protects.unprotect(actor, ref)
                return Reply(replies.unprotect_reply(ended), public=True)
            case Retag(ref, tag):
                retagged = await self.retags.retag(actor, ref, tag)
                return Reply(replies.retag_reply(retagged), public=retagged.status == "done")
            case Restore(ref):
                return await self._restore(actor, ref, actor.channel, None)

    async def protect_image(
        self, actor: Actor, repository: RepositoryKey, digest: str, channel: str, ts: str
    ) -> Reply:
        """The **Protect** button of an alert: protect for the default duration."""

        async def work() -> Reply:
            ref = _ref(repository, digest)
            result = await self.protects.protect(
                actor, ref, None, "protected from the alert", channel=channel, thread_ts=ts
            )
            if result.shielding is not None and result.shielding.shielded:
                await self._resolve(repository, digest, f"protected by {actor.label}")
            return Reply(replies.protect_reply(result), public=True)

        return await self._safely(work())

    async def snooze_image(self, actor: Actor, repository: RepositoryKey, digest: str) -> Reply:
        """The **Snooze** button: quiet until ECR evaluates the repository again."""

        async def work() -> Reply:
            await snooze(self.lifeguard, actor, repository, digest)
            return Reply(
                replies.text_reply(
                    f"{actor.label} snoozed this until ECR evaluates {repository.name} again."
                ),
                public=True,
            )

        return await self._safely(work())

    async def explain_image(self, repository: RepositoryKey, digest: str) -> Reply:
        """The **Why?** button: the rule's reasoning and advice, or why-missing when gone."""

        async def work() -> Reply:
            try:
                plan = await queries.plan_repository(self.lifeguard, repository.name)
                decision = plan.evaluation.by_digest().get(digest)
            except CommandError:
                decision = None
            if decision is None:
                diagnosis = await queries.why_missing(self.lifeguard, _ref(repository, digest))
                return Reply(replies.diagnosis_reply(diagnosis), public=True)
            explanation = Explainer(plan.evaluation).explain(decision)
            advice = [f"{f.code}: {f.title}. {f.fix}" for f in lint(plan.evaluation.policy)][:3]
            text = f"*Why {short_digest(digest)}*: {explanation}"
            if advice:
                text += "\n\n*About the policy*\n" + "\n".join(f"• {a}" for a in advice)
            return Reply(replies.text_reply(text), public=True)

        return await self._safely(work())

    async def restore_image(
        self, actor: Actor, repository: RepositoryKey, digest: str, channel: str, ts: str
    ) -> Reply:
        """The **Restore** button of a deleted image's alert."""
        return await self._safely(self._restore(actor, _ref(repository, digest), channel, ts))

    async def _restore(
        self, actor: Actor, ref: ImageRef, channel: str | None, thread_ts: str | None
    ) -> Reply:
        result = await self.restores.restore(actor, ref)
        reply = Reply(replies.restore_reply(result), public=True)
        if result.status == "restoring" and channel is not None:

            async def follow() -> None:
                status = await self.restores.follow(result.repository, result.digest)
                text = (
                    f"{result.repository.name}@{short_digest(result.digest)} is restored and "
                    "can be pulled."
                    if status == "ACTIVE"
                    else f"The restore of {short_digest(result.digest)} ended as {status}."
                )
                await self._notify(channel, thread_ts, text)

            reply.follow_up = follow
        return reply

    async def confirm_guard(self, actor: Actor, token: str) -> Reply:
        """**Apply the guard rule**: change the policy as proposed, if still current."""

        async def work() -> Reply:
            change, shielding = await self.protects.apply_guard(actor, token)
            if shielding.shielded:
                leases = await self.lifeguard.leases.active(change.repository.name)
                for lease in leases:
                    await self._resolve(
                        lease.repository, lease.digest, f"protected by {lease.owner}"
                    )
            return Reply(replies.guard_applied_reply(change, shielding, actor.label), public=True)

        return await self._safely(work())

    async def confirm_retag(self, actor: Actor, token: str) -> Reply:
        """**Move the tag**: as confirmed, if it still points where it did."""

        async def work() -> Reply:
            return Reply(replies.retag_reply(await self.retags.confirm(actor, token)), public=True)

        return await self._safely(work())

    async def cancel(self, actor: Actor, token: str) -> Reply:
        """**Cancel**: forget a pending confirmation."""
        await self.lifeguard.confirmations.take(token)
        return Reply(replies.text_reply(f"Left unchanged by {actor.label}."), public=True)

    async def home(self) -> Payload:
        """The App Home view."""
        last_scan = await self.lifeguard.store.get(LAST_SCAN)
        leases = await self.lifeguard.leases.active()
        return home_view(last_scan, leases, self.lifeguard.clock())

    def start(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run follow-up work in the background, logging (not raising) its failure."""

        async def guarded() -> None:
            try:
                await work()
            except Exception:
                log.exception("follow-up work failed")

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, repository: RepositoryKey, digest: str, detail: str) -> None:
        record = await self.lifeguard.alerts.get(image_key(repository, digest))
        if record is None or record.state != "open":
            return
        lease = await self.lifeguard.leases.get(repository, digest)
        await self.notifier.resolve_alert(record, Resolution("protected", detail, lease))
        await self.lifeguard.alerts.put(dataclasses.replace(record, state="resolved"))

    async def _notify(self, channel: str, thread_ts: str | None, text: str) -> None:
        if thread_ts is not None:
            await self.notifier.reply(channel, thread_ts, text)
        else:
            post = getattr(self.notifier, "post", None)
            if post is not None:
                await post(channel, {"text": text})

    async def _safely(self, work: Awaitable[Reply]) -> Reply:
        try:
            return await work
        except Denied as exc:
            return private(replies.denied_reply(str(exc)))
        except CommandError as exc:
            return private(replies.text_reply(str(exc)))
        except InputError as exc:
            return private(replies.text_reply(f"That did not parse: {exc}"))
        except UpstreamError as exc:
            hint = f" To fix: {exc.hint}" if exc.hint else ""
            return private(replies.text_reply(f"{exc.service} failed: {exc.message}.{hint}"))
        except LifeguardError as exc:
            return private(replies.text_reply(str(exc)))
        except Exception:
            incident = secrets.token_hex(4)
            log.exception("command failed (incident %s)", incident)
            return private(
                replies.text_reply(
                    f"Something went wrong on our side (incident {incident}); it is logged. "
                    "Nothing was changed unless a message above says so."
                )
            )


def _ref(repository: RepositoryKey, digest: str) -> ImageRef:
    return ImageRef(
        repository.name, digest=digest, registry=repository.registry, region=repository.region
    )
