"""Slack listeners: read Slack's payload into a verb and its arguments, run it, deliver the reply.

Every listener acknowledges first (Slack wants an answer within 3 seconds), then works; replies go
through :class:`handlers.delivery.Delivery`. Errors never escape as tracebacks: the verbs answer
them, and ``@app.error`` answers anything else through :func:`bot.errors.explain`.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.blocks import replies
from bot.blocks.alerts import SNOOZE_UNTIL_ACTS
from bot.blocks.common import (
    CANCEL,
    CONFIRM_GUARD,
    CONFIRM_RETAG,
    PROTECT,
    RESTORE,
    SNOOZE,
    UNPROTECT,
    WHY,
    parse_image_value,
    parse_token_value,
)
from bot.errors import UsageError, explain
from bot.ops.authorize import Actor
from bot.ops.deps import image_ref
from bot.ops.dispatch import Ops
from bot.ops.home import home_view
from bot.ops.registry import parse_command
from bot.ops.verb import Reply
from bot.ops.verbs.buttons import ImageButton
from bot.ops.verbs.protect import Protect
from bot.ops.verbs.restore import Restore
from bot.ops.verbs.retag import Answer
from bot.ops.verbs.snooze import Snooze
from bot.ops.verbs.unprotect import Unprotect
from handlers.delivery import Asker, Delivery

log = logging.getLogger(__name__)
Body = dict[str, Any]
ANSWERS = {CONFIRM_GUARD: "apply-guard", CONFIRM_RETAG: "move-tag", CANCEL: "cancel"}


class SlackListeners:
    """The listeners, bound to their dependencies.

    Example::

        SlackListeners(ops, delivery).register(app)
    """

    def __init__(self, ops: Ops, delivery: Delivery) -> None:
        self.ops = ops
        self.delivery = delivery

    def register(self, app: AsyncApp) -> None:
        """Attach every listener (and the error handler) to a Bolt app."""
        app.command("/ecr")(self.on_command)
        for action_id in (PROTECT, WHY, RESTORE, SNOOZE, UNPROTECT):
            app.action(action_id)(self.on_image_action)
        for action_id in ANSWERS:
            app.action(action_id)(self.on_answer)
        app.event("app_home_opened")(self.on_home_opened)
        app.error(self.on_error)

    async def on_command(self, ack: AsyncAck, command: Body) -> None:
        """``/ecr …``: a usage problem is answered in the ack itself."""
        try:
            invocation = parse_command(str(command.get("text", "")))
        except UsageError as exc:
            await ack(response_type="ephemeral", **replies.usage_reply(str(exc), exc.usage))
            return
        if invocation.verb.permission is not None:
            await ack(response_type="ephemeral", text="Working on it…")
        else:
            await ack()
        asker = Asker(
            str(command["user_id"]), command.get("channel_id"), None, command.get("response_url")
        )
        reply = await self.ops.run(invocation, Actor(asker.user, asker.channel))
        await self._deliver(reply, asker)

    async def on_image_action(self, ack: AsyncAck, body: Body) -> None:
        """Protect / Unprotect / Why? / Restore buttons and the Snooze menu of an alert."""
        await ack()
        action = body["actions"][0]
        asker = _asker(body)
        actor = Actor(asker.user, asker.channel)
        if action["action_id"] == SNOOZE:
            reply = await self._snooze(action, asker, body, actor)
        else:
            try:
                repository, digest = parse_image_value(str(action.get("value", "")))
            except ValueError:
                log.warning("ignored a button with a foreign value: %s", action.get("action_id"))
                return
            button = ImageButton(repository, digest, asker.channel, asker.thread_ts)
            reply = await self._image_verb(action["action_id"], button, actor)
        await self._deliver(reply, asker)

    async def _image_verb(self, action_id: str, button: ImageButton, actor: Actor) -> Reply:
        ref = image_ref(button.repository, button.digest)
        if action_id == PROTECT:
            args = Protect(
                ref,
                reason="protected from the alert",
                channel=button.channel,
                thread_ts=button.thread_ts,
            )
            return await self.ops.answer("protect", args, actor)
        if action_id == RESTORE:
            return await self.ops.answer("restore", Restore(ref), actor)
        if action_id == UNPROTECT:
            return await self.ops.answer("unprotect", Unprotect(ref), actor)
        return await self.ops.answer("why", button, actor)

    async def _snooze(self, action: Body, asker: Asker, body: Body, actor: Actor) -> Reply:
        value = str((action.get("selected_option") or {}).get("value", ""))
        seconds = None if value == SNOOZE_UNTIL_ACTS else _seconds(value)
        message = body.get("message") or None
        args = Snooze(asker.channel or "", asker.thread_ts or "", seconds, message)
        return await self.ops.answer("snooze", args, actor)

    async def on_answer(self, ack: AsyncAck, body: Body) -> None:
        """Apply the guard rule / Move the tag / Cancel: the answer replaces the question."""
        await ack()
        action = body["actions"][0]
        try:
            token = parse_token_value(str(action.get("value", "")))
        except ValueError:
            log.warning("ignored a confirmation with a foreign value")
            return
        asker = _asker(body)
        actor = Actor(asker.user, asker.channel)
        reply = await self.ops.answer(ANSWERS[action["action_id"]], Answer(token), actor)
        await self.delivery.reply(reply, asker, replace_original=reply.public)

    async def on_home_opened(self, event: Body, client: Any) -> None:
        """Publish the App Home tab (leases read afresh)."""
        if event.get("tab", "home") != "home":
            return
        view = await home_view(self.ops.deps)
        await client.views_publish(user_id=event["user"], view=view)

    async def on_error(self, error: Exception, body: Body) -> None:
        """Anything a listener did not answer: logged once, the asker told what went wrong."""
        explanation = explain(error)
        user = ((body.get("user") or {}).get("id")) or body.get("user_id")
        if not user:
            return
        await self.delivery.reply(
            Reply(replies.error_reply(explanation), [explanation.text]), _asker(body)
        )

    async def _deliver(self, reply: Reply, asker: Asker) -> None:
        await self.delivery.reply(reply, asker)
        follow_up = reply.follow_up
        if follow_up is not None:

            async def later() -> None:
                news = await follow_up()
                if news:
                    await self.delivery.news(news, asker)

            self.ops.start(later)


def _asker(body: Body) -> Asker:
    user = str((body.get("user") or {}).get("id") or body.get("user_id") or "")
    channel = body.get("channel") or {}
    container = body.get("container") or {}
    message = body.get("message") or {}
    return Asker(
        user,
        channel.get("id") or container.get("channel_id") or body.get("channel_id"),
        message.get("ts") or container.get("message_ts"),
        body.get("response_url"),
    )


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds > 0 else None
