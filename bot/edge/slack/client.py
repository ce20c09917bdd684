"""The Slack Web API client and its errors: rate limits and dropped connections are retried by
slack_sdk's own retry handlers; what still fails becomes :class:`bot.errors.UpstreamError`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import AccessDenied, CredentialsError, UpstreamError

T = TypeVar("T")
_BAD_TOKEN = {"invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired"}
_NO_ACCESS = {"missing_scope", "not_in_channel", "channel_not_found", "is_archived"}


def web_client(token: str, base_url: str | None = None, *, retries: int = 3) -> AsyncWebClient:
    """A Web API client that waits out rate limits (``Retry-After``) and retries dropped
    connections.

    Example::

        client = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    """
    client = AsyncWebClient(token=token, base_url=base_url or AsyncWebClient.BASE_URL)
    client.retry_handlers.extend(
        [
            AsyncRateLimitErrorRetryHandler(max_retry_count=retries),
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
        ]
    )
    return client


async def slack_call(method: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run one Web API call, turning slack_sdk errors into :mod:`bot.errors`.

    Example::

        response = await slack_call("auth.test", client.auth_test)
    """
    try:
        return await call()
    except SlackApiError as exc:
        error = str(exc.response.get("error", "unknown_error"))
        if error in _BAD_TOKEN:
            raise CredentialsError(
                "slack",
                method,
                error,
                "Slack refused the token",
                hint="check SLACK_BOT_TOKEN (xoxb-…) and SLACK_APP_TOKEN (xapp-…)",
            ) from exc
        if error in _NO_ACCESS:
            raise AccessDenied(
                "slack", method, error, _access_hint(error), hint="see slack/manifest.yml"
            ) from exc
        status = getattr(exc.response, "status_code", None)
        code = error if error != "unknown_error" or status is None else f"HTTP {status}"
        raise UpstreamError("slack", method, code, f"Slack answered {code}") from exc
    except SlackClientError as exc:
        raise UpstreamError("slack", method, "ClientError", str(exc)) from exc
    except (OSError, TimeoutError) as exc:
        raise UpstreamError(
            "slack", method, "Unreachable", f"cannot reach Slack ({exc or type(exc).__name__})"
        ) from exc


def _access_hint(error: str) -> str:
    return {
        "missing_scope": "the Slack app lacks a scope; reinstall it from slack/manifest.yml",
        "not_in_channel": "the bot is not in that channel: invite it (/invite @ECR Lifeguard)",
        "channel_not_found": "the channel does not exist or the bot cannot see it",
        "is_archived": "the channel is archived",
    }.get(error, error)
