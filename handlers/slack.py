"""Slack listeners: parse Slack's payload, call :class:`bot.chatops.ChatOps`, send the reply.

Every listener acknowledges first (Slack wants an answer within 3 seconds) and then does the
work; replies go through ``respond`` (the request's ``response_url``) or into the alert's thread.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack import SlackDirectory
from bot.auth import Actor
from bot.blocks import replies
from bot.blocks.common import (
    CANCEL,
    CONFIRM_GUARD,
    CONFIRM_RETAG,
    PROTECT,
    RESTORE,
    SNOOZE,
    WHY,
    parse_image_value,
    parse_token_value,
)
from bot.chatops import ChatOps, Reply
from bot.commands import MUTATING, UsageError, parse_command
from bot.refs import RepositoryKey

log = logging.getLogger(__name__)
Body = dict[str, Any]


class SlackListeners:
    """The listeners, bound to their dependencies.

    Example::

        SlackListeners(chatops, directory).register(app)
    """

    def __init__(self, chatops: ChatOps, directory: SlackDirectory) -> None:
        self.chatops = chatops
        self.directory = directory

    def register(self, app: AsyncApp) -> None:
        """Attach every listener to a Bolt app."""
        app.command("/ecr")(self.on_command)
        for action_id in (PROTECT, SNOOZE, WHY, RESTORE):
            app.action(action_id)(self.on_image_button)
        for action_id in (CONFIRM_GUARD, CONFIRM_RETAG, CANCEL):
            app.action(action_id)(self.on_confirmation)
        app.event("app_home_opened")(self.on_home_opened)

    async def on_command(self, ack: AsyncAck, command: Body, respond: AsyncRespond) -> None:
        """``/ecr …``: usage problems are answered in the ack itself."""
        try:
            parsed = parse_command(str(command.get("text", "")))
        except UsageError as exc:
            await ack(response_type="ephemeral", **replies.usage_reply(str(exc), exc.usage))
            return
        if isinstance(parsed, MUTATING):
            await ack(response_type="ephemeral", text="Working on it…")
        else:
            await ack()
        actor = await self.directory.actor(command["user_id"], command.get("channel_id"))
        reply = await self.chatops.command(parsed, actor)
        await self._respond(respond, reply)

    async def on_image_button(
        self, ack: AsyncAck, body: Body, client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        """Protect / Snooze / Why? / Restore on an alert message."""
        await ack()
        action = body["actions"][0]
        try:
            repository, digest = parse_image_value(str(action.get("value", "")))
        except ValueError:
            log.warning("ignored a button with a foreign value: %s", action.get("action_id"))
            return
        actor = await self.directory.actor(body["user"]["id"], _channel(body))
        reply = await self._image_action(action["action_id"], actor, repository, digest, body)
        await self._in_thread(client, respond, body, reply)

    async def _image_action(
        self, action_id: str, actor: Actor, repository: RepositoryKey, digest: str, body: Body
    ) -> Reply:
        channel, ts = _channel(body) or "", _message_ts(body) or ""
        if action_id == PROTECT:
            return await self.chatops.protect_image(actor, repository, digest, channel, ts)
        if action_id == SNOOZE:
            return await self.chatops.snooze_image(actor, repository, digest)
        if action_id == RESTORE:
            return await self.chatops.restore_image(actor, repository, digest, channel, ts)
        return await self.chatops.explain_image(repository, digest)

    async def on_confirmation(self, ack: AsyncAck, body: Body, respond: AsyncRespond) -> None:
        """Apply the guard rule / Move the tag / Cancel: replaces the question with the answer."""
        await ack()
        action = body["actions"][0]
        try:
            token = parse_token_value(str(action.get("value", "")))
        except ValueError:
            log.warning("ignored a confirmation with a foreign value")
            return
        actor = await self.directory.actor(body["user"]["id"], _channel(body))
        if action["action_id"] == CONFIRM_GUARD:
            reply = await self.chatops.confirm_guard(actor, token)
        elif action["action_id"] == CONFIRM_RETAG:
            reply = await self.chatops.confirm_retag(actor, token)
        else:
            reply = await self.chatops.cancel(actor, token)
        if reply.public:
            await respond(replace_original=True, **reply.payload)
        else:
            await respond(response_type="ephemeral", replace_original=False, **reply.payload)

    async def on_home_opened(self, event: Body, client: AsyncWebClient) -> None:
        """Publish the App Home tab."""
        if event.get("tab", "home") != "home":
            return
        await client.views_publish(user_id=event["user"], view=await self.chatops.home())

    async def _respond(self, respond: AsyncRespond, reply: Reply) -> None:
        response_type = "in_channel" if reply.public else "ephemeral"
        await respond(response_type=response_type, **reply.payload)
        if reply.follow_up is not None:
            self.chatops.start(reply.follow_up)

    async def _in_thread(
        self, client: AsyncWebClient, respond: AsyncRespond, body: Body, reply: Reply
    ) -> None:
        channel, ts = _channel(body), _message_ts(body)
        if reply.public and channel and ts:
            await client.chat_postMessage(channel=channel, thread_ts=ts, **reply.payload)
        else:
            await respond(response_type="ephemeral", replace_original=False, **reply.payload)
        if reply.follow_up is not None:
            self.chatops.start(reply.follow_up)


def _channel(body: Body) -> str | None:
    channel = body.get("channel") or body.get("container") or {}
    return channel.get("id") or channel.get("channel_id")


def _message_ts(body: Body) -> str | None:
    message = body.get("message") or {}
    container = body.get("container") or {}
    return message.get("ts") or container.get("message_ts")
