"""Requests that cannot be Slack's are refused at the door: 400 or 401 and one log line, never a
500 with a traceback (Bolt then checks the signature of everything that passes)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.typedefs import Middleware

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 1_000_000  # Slack's payloads are far smaller


def problem_with(body: bytes, content_type: str, timestamp: str | None) -> tuple[int, str] | None:
    """Why a request to ``/slack/events`` cannot be from Slack (status and reason), or None.

    Example:
        >>> problem_with(b"\\xff", "application/x-www-form-urlencoded", "1700000000")
        (400, 'the body is not UTF-8')
        >>> problem_with(b"command=%2Fecr", "application/x-www-form-urlencoded", "soon")
        (401, 'X-Slack-Request-Timestamp is not a number')
        >>> problem_with(b"command=%2Fecr", "application/json", "1700000000")
        (400, 'the body is not the JSON its content type says')
    """
    if timestamp is not None and not timestamp.strip().isdigit():
        return 401, "X-Slack-Request-Timestamp is not a number"
    if len(body) > MAX_BODY:
        return 400, "the body is too large"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return 400, "the body is not UTF-8"
    # The same reading Bolt will do (slack_bolt.request.internals.parse_body), checked first.
    if content_type == "application/json" or text.startswith("{"):
        try:
            if not isinstance(json.loads(text), dict):
                raise ValueError
        except ValueError:
            return 400, "the body is not the JSON its content type says"
    elif "payload" in text:
        payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
        try:
            if payload is not None and not isinstance(json.loads(payload), dict):
                raise ValueError
        except ValueError:
            return 400, "the payload field is not JSON"
    return None


def refuse_malformed(path: str) -> Middleware:
    """An aiohttp middleware refusing malformed requests to ``path`` before Bolt reads them.

    Example::

        web_app.middlewares.append(refuse_malformed("/slack/events"))
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != path or request.method != "POST":
            return await handler(request)
        body = await request.read()
        found = problem_with(
            body, request.content_type, request.headers.get("X-Slack-Request-Timestamp")
        )
        if found is not None:
            status, reason = found
            log.warning("refused a request to %s from %s: %s", path, request.remote, reason)
            return web.json_response({"error": reason}, status=status)
        return await handler(request)

    return middleware
