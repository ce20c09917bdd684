"""Checking the Slack tokens once at start-up: one line naming the problem, not retries forever."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.edge.slack.client import slack_call
from bot.errors import CredentialsError, StartupError, UpstreamError


async def check_tokens(bot: AsyncWebClient, app_token: str | None) -> str:
    """Call ``auth.test`` with the bot token and, for Socket Mode, ``apps.connections.open`` with
    the app token; return the bot's user id. Raises :class:`StartupError` with one line.

    Example::

        bot_user = await check_tokens(client, settings.slack_app_token.get_secret_value())
    """
    try:
        identity = await slack_call("auth.test", bot.auth_test)
    except CredentialsError as exc:
        raise StartupError(f"SLACK_BOT_TOKEN: Slack refused it ({exc.code})") from None
    except UpstreamError as exc:
        raise StartupError(
            f"Slack could not be reached to check SLACK_BOT_TOKEN: {exc.message}"
        ) from None
    if app_token is not None:
        app = AsyncWebClient(token=app_token, base_url=bot.base_url)
        try:
            await slack_call(
                "apps.connections.open", lambda: app.apps_connections_open(app_token=app_token)
            )
        except CredentialsError as exc:
            raise StartupError(f"SLACK_APP_TOKEN: Slack refused it ({exc.code})") from None
        except UpstreamError as exc:
            raise StartupError(
                f"SLACK_APP_TOKEN: Socket Mode cannot be opened ({exc.code}: {exc.message})"
            ) from None
    return str(identity.get("user_id", ""))
