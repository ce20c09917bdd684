"""Alerts on Slack: posting, updating and resolving them (:class:`bot.ports.Notifier`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.alert_payloads import alert_options, current_alert, ended_alert
from bot.blocks.alerts import AlertOptions, risk_alert
from bot.edge.slack.client import slack_call
from bot.risk.models import Risk
from bot.settings import Settings
from bot.state.records import AlertRecord
from bot.watch.reconcile import Resolution


class SlackNotifier:
    """:class:`bot.ports.Notifier` on Slack.

    Example::

        notifier = SlackNotifier.from_settings(web_client(token), settings)
        channel, ts = await notifier.post_alert("#shop-oncall", risk, now)
    """

    def __init__(
        self,
        client: AsyncWebClient,
        options: AlertOptions | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.options = options or AlertOptions()
        self.clock = clock

    @classmethod
    def from_settings(
        cls, client: AsyncWebClient, settings: Settings, clock: Callable[[], float] = time.time
    ) -> SlackNotifier:
        """The notifier as the configuration asks: lease length, protect mode, snooze, runbook."""
        return cls(client, alert_options(settings), clock=clock)

    async def post_alert(self, channel: str, risk: Risk, now: float) -> tuple[str, str]:
        """Post a new alert; return the channel id (names such as #ops resolve) and ``ts``."""
        payload = risk_alert(risk, now, self.options)
        response = await slack_call(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(channel=channel, unfurl_links=False, **payload),
        )
        return str(response.get("channel") or channel), str(response["ts"])

    async def update_alert(self, record: AlertRecord, risk: Risk | None, now: float) -> None:
        """Show the alert's current state in its message."""
        await self.update(record.channel, record.ts, current_alert(record, risk, now, self.options))

    async def resolve_alert(self, record: AlertRecord, resolution: Resolution) -> None:
        """Replace the alert by how its risk ended, and say so in the thread."""
        now = resolution.at if resolution.at is not None else self.clock()
        payload, reply = ended_alert(
            record, resolution.reason, resolution.detail, now, self.options, lease=resolution.lease
        )
        await self.update(record.channel, record.ts, payload)
        await self.reply(record.channel, record.ts, reply)

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
