"""Getting a reply to the person who asked, whatever Slack is doing.

A reply goes where it belongs (the alert's thread for everyone, or the request's ``response_url``
for the asker). Rate limits are waited out (``Retry-After``, by slack_sdk's retry handlers); when
a way fails, the next is tried: ``response_url``, then an ephemeral message in the channel. A
reply that carries a question (Apply the guard rule, Move the tag) must not be lost: if every way
fails, the alert's thread says so, naming the person.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.edge.slack.notifier import SlackNotifier
from bot.errors import LifeguardError
from bot.ops.verb import Reply

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Asker:
    """Who asked and from where: the user, the channel, the message the button was on (if any),
    and the request's ``response_url``."""

    user: str
    channel: str | None
    thread_ts: str | None
    response_url: str | None


class Delivery:
    """Sends replies, falling back as the module docstring says.

    Example::

        delivery = Delivery(notifier)
        await delivery.reply(reply, Asker(user, channel, ts, response_url))
    """

    def __init__(self, notifier: SlackNotifier) -> None:
        self.notifier = notifier

    async def reply(self, reply: Reply, asker: Asker, *, replace_original: bool = False) -> bool:
        """Show ``reply``; True when it reached someone. Never raises."""
        if reply.update is not None and asker.channel and asker.thread_ts:
            await self._quietly(self.notifier.update(asker.channel, asker.thread_ts, reply.update))
        in_thread = reply.public and asker.channel and asker.thread_ts and not replace_original
        if in_thread and await self._quietly(
            self.notifier.post(asker.channel or "", reply.payload, thread_ts=asker.thread_ts)
        ):
            return True
        if await self._respond(reply, asker, replace_original):
            return True
        if asker.channel and await self._quietly(
            self.notifier.ephemeral(asker.channel, asker.user, reply.payload)
        ):
            return True
        return await self._say_it_failed(reply, asker)

    async def news(self, text: str, asker: Asker) -> None:
        """Later news (a restore finished): in the thread, else in the channel."""
        if asker.channel:
            await self._quietly(
                self.notifier.post(asker.channel, {"text": text}, thread_ts=asker.thread_ts)
            )

    async def _respond(self, reply: Reply, asker: Asker, replace_original: bool) -> bool:
        if not asker.response_url:
            return False
        body: dict[str, Any] = {
            **reply.payload,
            "response_type": "in_channel" if reply.public else "ephemeral",
            "replace_original": replace_original,
        }
        client = AsyncWebhookClient(
            asker.response_url,
            retry_handlers=[
                AsyncRateLimitErrorRetryHandler(max_retry_count=3),
                AsyncConnectionErrorRetryHandler(max_retry_count=1),
            ],
        )
        try:
            answer = await client.send_dict(body)
        except (OSError, TimeoutError) as exc:
            log.warning("response_url failed: %s", exc)
            return False
        if answer.status_code != 200:
            log.warning("response_url answered HTTP %s", answer.status_code)
        return answer.status_code == 200

    async def _say_it_failed(self, reply: Reply, asker: Asker) -> bool:
        log.error("a reply to %s could not be delivered privately: %s", asker.user, reply.lines[:1])
        if not (asker.channel and asker.thread_ts):
            return False
        intro = f"<@{asker.user}>: Slack did not accept my private answer to you, so here it is."
        payload = {
            "text": f"{intro} {reply.payload.get('text', '')}",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": intro}},
                *reply.payload.get("blocks", []),
            ][:50],
        }
        return await self._quietly(
            self.notifier.post(asker.channel, payload, thread_ts=asker.thread_ts)
        )

    @staticmethod
    async def _quietly(work: Any) -> bool:
        try:
            await work
        except LifeguardError as exc:
            log.warning("Slack call failed: %s", exc)
            return False
        return True
