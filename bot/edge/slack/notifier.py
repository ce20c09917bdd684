"""Alerts on Slack: posting, updating and resolving them (:class:`bot.ports.Notifier`)."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.alerts import alert_message, resolved_message
from bot.edge.slack.client import slack_call
from bot.risk.models import Risk
from bot.state.records import AlertRecord
from bot.watch.reconcile import Resolution


class SlackNotifier:
    """:class:`bot.ports.Notifier` on Slack.

    Example::

        notifier = SlackNotifier(web_client(token), protect_for=settings.protect.default_duration)
        channel, ts = await notifier.post_alert("#shop-oncall", risk, now)
    """

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        protect_for: float,
        snooze_options: list[float] | None = None,
    ) -> None:
        self.client = client
        self.protect_for = protect_for
        self.snooze_options = snooze_options or [3_600.0, 14_400.0]

    def _alert(self, risk: Risk, now: float) -> dict[str, Any]:
        return alert_message(
            risk, now, protect_for=self.protect_for, snooze_options=self.snooze_options
        )

    async def post_alert(self, channel: str, risk: Risk, now: float) -> tuple[str, str]:
        """Post a new alert; return the channel id (names such as #ops resolve) and ``ts``."""
        payload = self._alert(risk, now)
        response = await slack_call(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(channel=channel, unfurl_links=False, **payload),
        )
        return str(response.get("channel") or channel), str(response["ts"])

    async def update_alert(self, record: AlertRecord, risk: Risk, now: float) -> None:
        """Show the risk's current state in the alert message."""
        await self.update(record.channel, record.ts, self._alert(risk, now))

    async def resolve_alert(self, record: AlertRecord, resolution: Resolution) -> None:
        """Replace the alert by how its risk ended, and say so in the thread."""
        payload = resolved_message(
            record.repository, record.digest, resolution.reason, resolution.detail
        )
        await self.update(record.channel, record.ts, payload)
        await self.reply(record.channel, record.ts, f"{payload['text']}: {resolution.detail}.")

    async def reply(self, channel: str, thread_ts: str, text: str) -> None:
        """A reply in a thread."""
        await self.post(channel, {"text": text}, thread_ts=thread_ts)

    async def post(
        self, channel: str, payload: dict[str, Any], *, thread_ts: str | None = None
    ) -> str:
        """Post any message (in a thread when ``thread_ts`` is given); return its ``ts``."""
        response = await slack_call(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, unfurl_links=False, **payload
            ),
        )
        return str(response["ts"])

    async def update(self, channel: str, ts: str, payload: dict[str, Any]) -> None:
        """Replace a message's content."""
        await slack_call(
            "chat.update",
            lambda: self.client.chat_update(channel=channel, ts=ts, **payload),
        )

    async def ephemeral(self, channel: str, user: str, payload: dict[str, Any]) -> None:
        """A message only ``user`` sees, in ``channel``."""
        await slack_call(
            "chat.postEphemeral",
            lambda: self.client.chat_postEphemeral(channel=channel, user=user, **payload),
        )
