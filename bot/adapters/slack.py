"""The Slack adapter: posting and updating alerts, and who a Slack user is (user groups).

Wraps slack_sdk's ``AsyncWebClient``; its errors become :class:`bot.errors.UpstreamError`.
Rate limits are retried by slack_sdk's own retry handlers (configured where the client is made).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.auth import Actor
from bot.blocks.alerts import alert_message, resolved_message
from bot.errors import AccessDenied, CredentialsError, UpstreamError
from bot.risk.models import Risk
from bot.services.alerts import Resolution
from bot.state.records import AlertRecord

T = TypeVar("T")
GROUP_CACHE_SECONDS = 300.0


def web_client(token: str, base_url: str | None = None) -> AsyncWebClient:
    """A Web API client that retries rate limits and dropped connections.

    Example::

        client = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    """
    client = AsyncWebClient(token=token, base_url=base_url or AsyncWebClient.BASE_URL)
    client.retry_handlers.extend(
        [AsyncRateLimitErrorRetryHandler(max_retry_count=3), AsyncConnectionErrorRetryHandler()]
    )
    return client


async def slack_call(method: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run one Web API call, turning slack_sdk errors into :mod:`bot.errors`."""
    try:
        return await call()
    except SlackApiError as exc:
        error = str(exc.response.get("error", "unknown_error"))
        if error in {"invalid_auth", "not_authed", "token_revoked", "account_inactive"}:
            raise CredentialsError(
                "slack",
                method,
                error,
                "Slack refused the bot token",
                hint="check SLACK_BOT_TOKEN (it starts with xoxb-)",
            ) from exc
        if error in {"missing_scope", "not_in_channel", "channel_not_found", "is_archived"}:
            raise AccessDenied(
                "slack", method, error, _access_hint(error), hint="see slack/manifest.yml"
            ) from exc
        raise UpstreamError("slack", method, error, str(exc)) from exc
    except SlackClientError as exc:
        raise UpstreamError("slack", method, "ClientError", str(exc)) from exc


def _access_hint(error: str) -> str:
    return {
        "missing_scope": "the Slack app lacks a scope; reinstall it from slack/manifest.yml",
        "not_in_channel": "the bot is not in that channel: invite it (/invite @ECR Lifeguard)",
        "channel_not_found": "the channel does not exist or the bot cannot see it",
        "is_archived": "the channel is archived",
    }.get(error, error)


class SlackNotifier:
    """:class:`bot.services.alerts.Notifier` on Slack.

    Example::

        notifier = SlackNotifier(web_client(token), protect_for=settings.protect.default_duration)
        ts = await notifier.post_alert("#shop-oncall", risk, now)
    """

    def __init__(self, client: AsyncWebClient, *, protect_for: float) -> None:
        self.client = client
        self.protect_for = protect_for

    async def post_alert(self, channel: str, risk: Risk, now: float) -> tuple[str, str]:
        """Post a new alert; return the channel id (names such as #ops resolve) and ``ts``."""
        payload = alert_message(risk, now, protect_for=self.protect_for)
        response = await slack_call(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(channel=channel, unfurl_links=False, **payload),
        )
        return str(response.get("channel") or channel), str(response["ts"])

    async def update_alert(self, record: AlertRecord, risk: Risk, now: float) -> None:
        """Show the risk's current state in the alert message."""
        payload = alert_message(risk, now, protect_for=self.protect_for)
        await slack_call(
            "chat.update",
            lambda: self.client.chat_update(channel=record.channel, ts=record.ts, **payload),
        )

    async def resolve_alert(self, record: AlertRecord, resolution: Resolution) -> None:
        """Replace the alert by how its risk ended, and say so in the thread."""
        payload = resolved_message(
            record.repository, record.digest, resolution.reason, resolution.detail
        )
        await slack_call(
            "chat.update",
            lambda: self.client.chat_update(channel=record.channel, ts=record.ts, **payload),
        )
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


class SlackDirectory:
    """Who a Slack user is for authorisation: their id, channel, and the user groups that matter.

    Only the groups the permission rules name are looked up, and memberships are cached for five
    minutes.
    """

    def __init__(self, client: AsyncWebClient, groups: Sequence[str]) -> None:
        self.client = client
        self.groups = list(groups)
        self._members: dict[str, frozenset[str]] = {}
        self._fetched_at: float | None = None

    async def actor(self, user: str, channel: str | None) -> Actor:
        """The actor for a Slack request."""
        if self.groups and self._stale():
            await self._refresh()
        groups = frozenset(g for g, members in self._members.items() if user in members)
        return Actor(user, channel, groups)

    def _stale(self) -> bool:
        # Never fetched is stale: the monotonic clock may be younger than the cache period.
        fetched = self._fetched_at
        return fetched is None or time.monotonic() - fetched > GROUP_CACHE_SECONDS

    async def _refresh(self) -> None:
        members = {}
        for group in self.groups:
            response = await slack_call(
                "usergroups.users.list",
                lambda group=group: self.client.usergroups_users_list(usergroup=group),  # type: ignore[misc]
            )
            members[group] = frozenset(response.get("users") or [])
        self._members = members
        self._fetched_at = time.monotonic()
