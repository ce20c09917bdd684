"""A faithful local Slack for tests: the Web API, response_url and Socket Mode, on loopback.

:class:`SlackStub` is an aiohttp server on 127.0.0.1 (a free port) started in the test's event loop.
It answers the Web API methods ECR Lifeguard calls with Slack's real JSON shapes and errors, keeps
their state (messages, threads, Home tabs...), records every call, and serves Socket Mode over a
websocket so a real ``AsyncSocketModeHandler`` can connect to it. Tests wait on what reached it
(no sleeps)::

    async with SlackStub() as stub:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=stub.api_url)
        app = AsyncApp(client=client, signing_secret=SIGNING_SECRET)
        ...
        body = slash_command_body("images app", response_url=stub.response_url())
        headers = {**sign(body, SIGNING_SECRET), "Content-Type": FORM_CONTENT_TYPE}
        ...  # POST body + headers to the app
        call = await stub.wait_for("chat.postMessage", lambda c: "app" in c.args["text"])
        assert stub.message(call.response["channel"], call.response["ts"]).text == ...

Socket Mode, with the app's client pointed at the stub::

    handler = AsyncSocketModeHandler(app, app_token=APP_TOKEN)
    await handler.connect_async()  # apps.connections.open -> ws://.../socket, then "hello"
    envelope_id = await stub.socket_send_slash_command(slash_command_fields("images app"))
    assert await stub.wait_for_ack(envelope_id) == {"text": "working on it"}
    await handler.close_async()

The module-level helpers build what Slack sends to an app: :func:`sign` (the
``X-Slack-Signature`` scheme), :func:`slash_command_body`, :func:`block_action_body` and
:func:`event_callback`.
"""

# The waits take ``timeout=`` like the rest of the test API (``stub.wait_for(..., timeout=5)``).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import secrets
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import WSCloseCode, WSMsgType, web

Json = dict[str, Any]
T = TypeVar("T")

TEAM_ID = "T0LIFEGRD"
TEAM_DOMAIN = "lifeguard-test"
TEAM_NAME = "Lifeguard Test"
APP_ID = "A0LIFEGRD"
BOT_ID = "B0LIFEGRD"
BOT_USER_ID = "U0LIFEBOT"
BOT_NAME = "ecr-lifeguard"
BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"
SIGNING_SECRET = "test-signing-secret"
VERIFICATION_TOKEN = "deprecated-verification-token"
USER_ID = "U0ALICE"
USER_NAME = "alice"
CHANNEL_ID = "C0OPS"
CHANNEL_NAME = "ops"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# Port 9 ("discard") on loopback: a default response_url that fails fast and never leaves the host.
UNSET_RESPONSE_URL = "http://127.0.0.1:9/response/unset"

APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
MAX_TEXT = 40_000
MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
CREATED = 1_700_000_000
# Slack only lets an app answer these envelopes with a payload in the ack.
RESPONSE_PAYLOAD_INTERACTIONS = frozenset({"view_submission", "block_suggestion"})


# --- what Slack sends to an app ---


def sign(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The two headers Slack signs a request with: ``v0=`` HMAC-SHA256 of ``v0:{ts}:{body}``.

    ``timestamp`` defaults to now; pass an old one to test replay protection::

        headers = {**sign(body, SIGNING_SECRET), "Content-Type": FORM_CONTENT_TYPE}
        stale = sign(body, SIGNING_SECRET, timestamp=int(time.time()) - 600)
    """
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def trigger_id() -> str:
    """A fresh ``trigger_id`` in Slack's ``<digits>.<digits>.<hex>`` form."""
    return f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**11)}.{secrets.token_hex(16)}"


def slash_command_fields(
    text: str = "",
    *,
    command: str = "/ecr",
    user_id: str = USER_ID,
    user_name: str = USER_NAME,
    channel_id: str = CHANNEL_ID,
    channel_name: str = CHANNEL_NAME,
    response_url: str = UNSET_RESPONSE_URL,
    team_id: str = TEAM_ID,
) -> dict[str, str]:
    """The fields of a slash command, in Slack's order (the Socket Mode ``payload`` as is).

    >>> slash_command_fields("images app")["command"]
    '/ecr'
    """
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id(),
    }


def slash_command_body(
    text: str = "",
    *,
    command: str = "/ecr",
    user_id: str = USER_ID,
    channel_id: str = CHANNEL_ID,
    response_url: str = UNSET_RESPONSE_URL,
) -> str:
    """A slash command's HTTP body, URL-encoded like Slack's::

    body = slash_command_body("images app", response_url=stub.response_url())
    """
    fields = slash_command_fields(
        text, command=command, user_id=user_id, channel_id=channel_id, response_url=response_url
    )
    return urllib.parse.urlencode(fields)


def block_action_payload(
    action_id: str,
    value: str,
    *,
    user_id: str = USER_ID,
    channel_id: str = CHANNEL_ID,
    message_ts: str = "1700000000.000100",
    response_url: str = UNSET_RESPONSE_URL,
    block_id: str = "actions",
    message: Json | None = None,
    selected: bool = False,
) -> Json:
    """A ``block_actions`` payload for a button click on a bot message, or (``selected``) for
    choosing the option whose value is ``value`` in a ``static_select`` menu.

    ``message`` defaults to a minimal bot message holding the button; pass the stored one
    (``stub.message(channel, ts).to_json()``) to click a message the app really posted.
    """
    button: Json = {
        "type": "button",
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": value, "emoji": True},
        "value": value,
    }
    if selected:
        button = {
            "type": "static_select",
            "action_id": action_id,
            "block_id": block_id,
            "selected_option": {
                "text": {"type": "plain_text", "text": value, "emoji": True},
                "value": value,
            },
            "placeholder": {"type": "plain_text", "text": "Snooze…", "emoji": True},
        }
    if message is None:
        message = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": message_ts,
            "text": "",
            "blocks": [{"type": "actions", "block_id": block_id, "elements": [button]}],
        }
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": USER_NAME, "name": USER_NAME, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id(),
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": CHANNEL_NAME},
        "message": message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [{**button, "action_ts": f"{time.time():.6f}"}],
    }


def block_action_body(
    action_id: str,
    value: str,
    *,
    user_id: str = USER_ID,
    channel_id: str = CHANNEL_ID,
    message_ts: str = "1700000000.000100",
    response_url: str = UNSET_RESPONSE_URL,
) -> str:
    """A ``block_actions`` HTTP body: ``payload=<json>``, URL-encoded like Slack's::

    body = block_action_body("approve", "plan-7", message_ts=ts, response_url=url)
    """
    payload = block_action_payload(
        action_id,
        value,
        user_id=user_id,
        channel_id=channel_id,
        message_ts=message_ts,
        response_url=response_url,
    )
    return urllib.parse.urlencode({"payload": json.dumps(payload, separators=(",", ":"))})


def event_callback(
    event: Json, *, team_id: str = TEAM_ID, bot_user_id: str = BOT_USER_ID, app_id: str = APP_ID
) -> Json:
    """The Events API wrapper around ``event`` (an HTTP body, or a Socket Mode payload)::

    body = json.dumps(event_callback({"type": "app_mention", "text": "<@U0LIFEBOT> hi", ...}))
    """
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": app_id,
        "event": event,
        "type": "event_callback",
        "event_id": "Ev" + secrets.token_hex(5).upper(),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": secrets.token_urlsafe(24),
    }


# --- what the stub records ---


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One Web API call: the method, its arguments (query, form or JSON), headers and answer."""

    method: str
    args: Json
    headers: dict[str, str]
    time: float
    http_method: str
    status: int
    response: Json

    @property
    def ok(self) -> bool:
        """Whether Slack answered ``"ok": true``."""
        return bool(self.response.get("ok"))


@dataclass(frozen=True, slots=True)
class ResponsePost:
    """One JSON body POSTed to a ``response_url`` (``respond()`` in Bolt)."""

    hook_id: str
    body: Json
    headers: dict[str, str]
    time: float


@dataclass(frozen=True, slots=True)
class Ephemeral:
    """An ephemeral message: from ``chat.postEphemeral`` (``source="api"``) or a response_url."""

    channel: str
    user: str
    text: str
    blocks: list[Json]
    thread_ts: str | None
    message_ts: str
    source: str


@dataclass(frozen=True, slots=True)
class SocketAck:
    """The app's acknowledgement of a Socket Mode envelope, and how long it took."""

    envelope_id: str
    payload: Json
    time: float
    latency: float


@dataclass(slots=True)
class Message:
    """A message as Slack stores it; :meth:`to_json` is the shape the API returns."""

    channel: str
    ts: str
    user: str
    text: str
    blocks: list[Json] = field(default_factory=list)
    attachments: list[Json] = field(default_factory=list)
    thread_ts: str | None = None
    bot_id: str | None = None
    edited: Json | None = None

    @property
    def is_reply(self) -> bool:
        """Whether this is a reply in a thread (not the thread's parent)."""
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_json(self) -> Json:
        """The message as ``chat.postMessage``/``chat.update`` and interactions show it."""
        data: Json = {"type": "message", "user": self.user, "ts": self.ts, "text": self.text}
        data["team"] = TEAM_ID
        if self.bot_id is not None:
            data.update(bot_id=self.bot_id, app_id=APP_ID)
        if self.blocks:
            data["blocks"] = self.blocks
        if self.attachments:
            data["attachments"] = self.attachments
        if self.thread_ts is not None:
            data["thread_ts"] = self.thread_ts
        if self.edited is not None:
            data["edited"] = self.edited
        return data


@dataclass(slots=True)
class User:
    """A workspace member; :meth:`to_json` is the ``users.info`` shape."""

    id: str
    name: str
    real_name: str
    email: str | None = None
    is_admin: bool = False
    is_bot: bool = False
    deleted: bool = False
    tz: str = "Europe/London"

    def to_json(self, team_id: str) -> Json:
        """The ``user`` object of ``users.info``."""
        profile: Json = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.name,
            "display_name_normalized": self.name,
            "status_text": "",
            "status_emoji": "",
            "image_48": f"https://avatars.slack-edge.com/{self.id}_48.png",
            "team": team_id,
        }
        if self.email is not None:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": "Greenwich Mean Time",
            "tz_offset": 0,
            "profile": profile,
            "is_admin": self.is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": CREATED,
        }


@dataclass(slots=True)
class Channel:
    """A conversation; :meth:`to_json` is the ``conversations.info`` shape."""

    id: str
    name: str
    is_private: bool = False
    is_member: bool = True
    is_archived: bool = False
    im_user: str | None = None

    def to_json(self, team_id: str) -> Json:
        """The ``channel`` object of ``conversations.info``."""
        if self.im_user is not None:
            return {
                "id": self.id,
                "created": CREATED,
                "is_im": True,
                "is_org_shared": False,
                "user": self.im_user,
                "is_user_deleted": False,
                "priority": 0,
            }
        empty = {"value": "", "creator": "", "last_set": 0}
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "created": CREATED,
            "is_archived": self.is_archived,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "context_team_id": team_id,
            "shared_team_ids": [team_id],
            "is_member": self.is_member,
            "topic": dict(empty),
            "purpose": dict(empty),
            "previous_names": [],
        }


@dataclass(frozen=True, slots=True)
class _Failure:
    error: str
    status: int
    retry_after: int | None


@dataclass(frozen=True, slots=True)
class _Hook:
    """Where a response_url's replies go: the channel, the user, the message it came from."""

    channel: str | None
    user: str | None
    message_ts: str | None


class SlackError(Exception):
    """A Web API error: the stub answers ``{"ok": false, "error": <error>}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


Handler = Callable[[Json], Json]


class SlackStub:
    """A local Slack workspace: Web API at :attr:`api_url`, response_urls, Socket Mode.

    It starts with the bot (:data:`BOT_USER_ID`), one member (:data:`USER_ID`) and one public
    channel the bot is in (:data:`CHANNEL_ID`, ``#ops``); add more with :meth:`add_user`,
    :meth:`add_channel` and :meth:`set_usergroup`. Use it as ``async with SlackStub() as stub``
    or ``stub = await SlackStub().start()`` ... ``await stub.stop()``.
    """

    def __init__(self, *, bot_token: str = BOT_TOKEN, app_token: str = APP_TOKEN) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()
        self._methods: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "conversations.info": self._conversations_info,
            "apps.connections.open": self._apps_connections_open,
        }
        self._sockets: list[web.WebSocketResponse] = []
        self._tickets: set[str] = set()
        self.socket_connections = 0
        self._reset_state()

    def _reset_state(self) -> None:
        self._response_failures: list[int] = []
        self.calls: list[ApiCall] = []
        self.response_posts: list[ResponsePost] = []
        self.ephemerals: list[Ephemeral] = []
        self.home_views: dict[str, Json] = {}
        self.envelopes: dict[str, tuple[Json, float]] = {}
        self.acks: dict[str, SocketAck] = {}
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, list[str]] = {}
        self._messages: dict[str, dict[str, Message]] = {}
        self._last_ts: dict[str, int] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._hooks: dict[str, _Hook] = {}
        self._view_ids = itertools.count(1)
        self.add_user(BOT_USER_ID, BOT_NAME, is_bot=True)
        self.add_user(USER_ID, USER_NAME, real_name="Alice Example", email="alice@example.com")
        self.add_channel(CHANNEL_ID, CHANNEL_NAME)

    def reset(self) -> None:
        """Forget every call, message, view and setting; back to the initial workspace."""
        self._reset_state()

    # --- lifecycle ---

    async def start(self) -> Self:
        """Listen on 127.0.0.1 on a free port; :attr:`url` is then ``http://127.0.0.1:<port>``."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{hook_id}", self._response_url)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        """Close every websocket (code 1001, going away), then the listener."""
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        """The ``base_url`` for ``AsyncWebClient``: ``http://127.0.0.1:<port>/api/``."""
        return f"{self.url}/api/"

    # --- arranging the workspace ---

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        email: str | None = None,
        is_admin: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
    ) -> User:
        """Add (or replace) a member that ``users.info`` knows and DMs can go to."""
        user = User(user_id, name, real_name or name, email, is_admin, is_bot, deleted)
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_private: bool = False,
        is_member: bool = True,
        is_archived: bool = False,
    ) -> Channel:
        """Add a channel. The bot posting where it is not a member gets ``not_in_channel``
        (public) or ``channel_not_found`` (private), as in Slack.
        """
        channel = Channel(channel_id, name, is_private, is_member, is_archived)
        self.channels[channel_id] = channel
        return channel

    def set_usergroup(self, usergroup_id: str, user_ids: Iterable[str]) -> None:
        """Define a user group (``S...``) for ``usergroups.users.list``."""
        self.usergroups[usergroup_id] = list(user_ids)

    def add_message(
        self, channel: str, text: str, *, user: str = USER_ID, thread_ts: str | None = None
    ) -> Message:
        """Store a message someone else posted (the bot may not ``chat.update`` it)."""
        message = Message(channel, self._next_ts(channel), user, text, thread_ts=thread_ts)
        self._messages.setdefault(channel, {})[message.ts] = message
        return message

    def fail_next(
        self,
        method: str,
        error: str,
        *,
        retry_after: int | None = None,
        status: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``error``.

        With ``retry_after`` the answer is HTTP 429 with a ``Retry-After`` header, as Slack
        rate-limits (use ``error="ratelimited"``); otherwise HTTP ``status`` (default 200)::

            stub.fail_next("chat.postMessage", "ratelimited", retry_after=1)
            stub.fail_next("chat.postMessage", "channel_not_found")
        """
        code = status or (429 if retry_after is not None else 200)
        self._failures.setdefault(method, []).extend([_Failure(error, code, retry_after)] * times)

    def response_url(
        self,
        *,
        channel_id: str | None = CHANNEL_ID,
        user_id: str | None = USER_ID,
        message_ts: str | None = None,
    ) -> str:
        """A fresh response_url to put in a payload.

        Replies to it act like Slack's: ephemeral to ``user_id`` by default, a new message with
        ``response_type: in_channel``, and ``replace_original``/``delete_original`` change the
        message ``message_ts`` (the one a button was clicked on).
        """
        hook_id = uuid.uuid4().hex
        self._hooks[hook_id] = _Hook(channel_id, user_id, message_ts)
        return f"{self.url}/response/{hook_id}"

    # --- reading the state ---

    def calls_to(self, method: str) -> list[ApiCall]:
        """The recorded calls of one method, oldest first."""
        return [call for call in self.calls if call.method == method]

    def message(self, channel: str, ts: str) -> Message:
        """The current state of a message (``KeyError`` if absent or deleted)."""
        return self._messages[channel][ts]

    def messages(self, channel: str) -> list[Message]:
        """The channel's top-level messages (thread parents included, replies not), oldest first."""
        return [m for m in self._messages.get(channel, {}).values() if not m.is_reply]

    def replies(self, channel: str, thread_ts: str) -> list[Message]:
        """The replies in one thread (without its parent), oldest first."""
        return [
            m
            for m in self._messages.get(channel, {}).values()
            if m.is_reply and m.thread_ts == thread_ts
        ]

    @property
    def socket_connected(self) -> bool:
        """Whether a Socket Mode client is connected now."""
        return any(not ws.closed for ws in self._sockets)

    # --- waiting (on an asyncio.Condition: no polling, no sleeps) ---

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[ApiCall], bool] | None = None,
        *,
        timeout: float = 5.0,
        count: int = 1,
    ) -> ApiCall:
        """The ``count``-th call of ``method`` matching ``predicate``, already made or to come::

        call = await stub.wait_for("chat.postMessage", lambda c: c.args.get("thread_ts"))
        """

        def found() -> ApiCall | None:
            matches = [c for c in self.calls_to(method) if predicate is None or predicate(c)]
            return matches[count - 1] if len(matches) >= count else None

        def describe() -> str:
            return f"matching {method} call (saw: {sorted({c.method for c in self.calls})})"

        return await self._wait(found, timeout, describe)

    async def wait_for_response(
        self,
        predicate: Callable[[ResponsePost], bool] | None = None,
        *,
        url: str | None = None,
        timeout: float = 5.0,
    ) -> ResponsePost:
        """The first POST to a response_url (``url`` if given) matching ``predicate``."""
        hook_id = url.rsplit("/", 1)[-1] if url is not None else None

        def found() -> ResponsePost | None:
            for post in self.response_posts:
                if hook_id in (None, post.hook_id) and (predicate is None or predicate(post)):
                    return post
            return None

        return await self._wait(found, timeout, lambda: f"a response_url POST to {url or 'any'}")

    async def wait_for_ack(self, envelope_id: str, *, timeout: float = 5.0) -> Json:
        """The payload the app acked a Socket Mode envelope with (``{}`` for a bare ack)."""
        ack = await self._wait(lambda: self.acks.get(envelope_id), timeout, f"ack {envelope_id}")
        return ack.payload

    async def wait_for_socket(self, *, connections: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``connections`` websockets were opened in all, and one is open now."""

        def ready() -> bool | None:
            return (self.socket_connections >= connections and self.socket_connected) or None

        await self._wait(ready, timeout, f"Socket Mode connection #{connections}")

    async def wait_for_socket_closed(self, *, timeout: float = 5.0) -> None:
        """Wait until no Socket Mode client is connected."""
        await self._wait(lambda: (not self.socket_connected) or None, timeout, "socket close")

    async def _wait(
        self, found: Callable[[], T | None], timeout: float, what: str | Callable[[], str]
    ) -> T:
        result: T | None = None

        def ready() -> bool:
            nonlocal result
            result = found()
            return result is not None

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(ready)
        except TimeoutError:
            description = what() if callable(what) else what
            raise TimeoutError(f"Slack stub: no {description} within {timeout}s") from None
        assert result is not None
        return result

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # --- the Web API ---

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: Json = {}
        headers: dict[str, str] = {}
        try:
            args = await _request_args(request)
            # Slack also takes the token as a form field; never from a JSON body.
            token = _bearer(request) or (args.pop("token", None) if _is_form(request) else None)
            status, body, headers = self._answer(method, token, args)
        except SlackError as exc:
            status, body = 200, {"ok": False, "error": exc.error}
        self.calls.append(
            ApiCall(method, args, dict(request.headers), time.time(), request.method, status, body)
        )
        await self._notify()
        return web.json_response(body, status=status, headers=headers)

    def _answer(
        self, method: str, token: str | None, args: Json
    ) -> tuple[int, Json, dict[str, str]]:
        handler = self._methods.get(method)
        if handler is None:
            raise SlackError("unknown_method")
        self._authenticate(method, token)
        failures = self._failures.get(method)
        if failures:
            failure = failures.pop(0)
            retry = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            return failure.status, {"ok": False, "error": failure.error}, retry
        return 200, {"ok": True, **handler(args)}, {}

    def _authenticate(self, method: str, token: str | None) -> None:
        if not token:
            raise SlackError("not_authed")
        if token not in (self.bot_token, self.app_token):
            raise SlackError("invalid_auth")
        if (token == self.app_token) != (method in APP_TOKEN_METHODS):
            raise SlackError("not_allowed_token_type")

    def _auth_test(self, args: Json) -> Json:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: Json) -> Json:
        channel = self._channel_to_post(args.get("channel"))
        content = _content(args)
        thread_ts = self._thread_root(channel.id, args.get("thread_ts"))
        message = self._post(channel.id, content, thread_ts)
        return {"channel": channel.id, "ts": message.ts, "message": self._message_json(message)}

    def _chat_update(self, args: Json) -> Json:
        channel = self._find_channel(args.get("channel"))
        message = self._messages.get(channel.id, {}).get(str(args.get("ts")))
        if message is None:
            raise SlackError("message_not_found")
        if message.user != BOT_USER_ID:
            raise SlackError("cant_update_message")
        changes = _content(args, partial=True)
        if not changes:
            raise SlackError("no_text")
        for name, value in changes.items():
            setattr(message, name, value)
        message.edited = {"user": BOT_USER_ID, "ts": self._next_ts(channel.id)}
        body = self._message_json(message)
        return {"channel": channel.id, "ts": message.ts, "text": message.text, "message": body}

    def _chat_post_ephemeral(self, args: Json) -> Json:
        channel = self._channel_to_post(args.get("channel"))
        user = self._user(args.get("user"))
        content = _content(args)
        message_ts = self._next_ts(channel.id)
        text, blocks, thread_ts = content["text"], content["blocks"], args.get("thread_ts")
        self.ephemerals.append(
            Ephemeral(channel.id, user.id, text, blocks, thread_ts, message_ts, "api")
        )
        return {"message_ts": message_ts}

    def _chat_get_permalink(self, args: Json) -> Json:
        channel = self._find_channel(args.get("channel"))
        message = self._messages.get(channel.id, {}).get(str(args.get("message_ts")))
        if message is None:
            raise SlackError("message_not_found")
        ts_digits = message.ts.replace(".", "")
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel.id}/p{ts_digits}"
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    def _views_publish(self, args: Json) -> Json:
        user = self._user(args.get("user_id"))
        view = _json_arg(args.get("view"))
        if not isinstance(view, dict) or view.get("type") != "home":
            raise SlackError("invalid_arguments")
        if len(view.get("blocks", [])) > MAX_HOME_BLOCKS:
            raise SlackError("invalid_arguments")
        current = self.home_views.get(user.id)
        if args.get("hash") and current is not None and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view_id = current["id"] if current else f"V{next(self._view_ids):08d}"
        stored: Json = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": "home",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "state": {"values": {}},
            **view,
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        self.home_views[user.id] = stored
        return {"view": stored}

    def _users_info(self, args: Json) -> Json:
        return {"user": self._user(args.get("user")).to_json(TEAM_ID)}

    def _usergroups_users_list(self, args: Json) -> Json:
        usergroup = args.get("usergroup")
        if not usergroup:
            raise SlackError("invalid_arguments")
        if usergroup not in self.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.usergroups[usergroup])}

    def _conversations_info(self, args: Json) -> Json:
        channel = self._find_channel(args.get("channel"))
        if channel.is_private and not channel.is_member:
            raise SlackError("channel_not_found")
        return {"channel": channel.to_json(TEAM_ID)}

    def _apps_connections_open(self, args: Json) -> Json:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        ws_url = self.url.replace("http://", "ws://", 1)
        return {"url": f"{ws_url}/socket?ticket={ticket}&app_id={APP_ID}"}

    # --- Web API helpers ---

    def _find_channel(self, ref: object) -> Channel:
        if not isinstance(ref, str) or not ref:
            raise SlackError("channel_not_found")
        if ref.startswith("#"):
            named = [c for c in self.channels.values() if c.name == ref[1:]]
            if named:
                return named[0]
        elif ref in self.channels:
            return self.channels[ref]
        elif ref in self.users:  # posting to a user ID opens (or reuses) the DM
            dm_id = "D" + ref[1:]
            return self.channels.setdefault(dm_id, Channel(dm_id, dm_id, True, True, im_user=ref))
        raise SlackError("channel_not_found")

    def _channel_to_post(self, ref: object) -> Channel:
        channel = self._find_channel(ref)
        if channel.is_archived:
            raise SlackError("is_archived")
        if not channel.is_member:
            raise SlackError("channel_not_found" if channel.is_private else "not_in_channel")
        return channel

    def _user(self, user_id: object) -> User:
        if not isinstance(user_id, str) or user_id not in self.users:
            raise SlackError("user_not_found")
        return self.users[user_id]

    def _thread_root(self, channel_id: str, thread_ts: object) -> str | None:
        if not thread_ts:
            return None
        parent = self._messages.get(channel_id, {}).get(str(thread_ts))
        # Replying to a reply lands in its thread, as in Slack.
        return parent.thread_ts if parent is not None and parent.is_reply else str(thread_ts)

    def _next_ts(self, channel_id: str) -> str:
        micros = max(time.time_ns() // 1000, self._last_ts.get(channel_id, 0) + 1)
        self._last_ts[channel_id] = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _post(self, channel_id: str, content: Json, thread_ts: str | None) -> Message:
        ts = self._next_ts(channel_id)
        message = Message(
            channel_id, ts, BOT_USER_ID, thread_ts=thread_ts, bot_id=BOT_ID, **content
        )
        self._messages.setdefault(channel_id, {})[ts] = message
        return message

    def _message_json(self, message: Message) -> Json:
        data = message.to_json()
        if message.is_reply:
            parent = self._messages.get(message.channel, {}).get(message.thread_ts or "")
            data["parent_user_id"] = parent.user if parent else BOT_USER_ID
        else:
            replies = self.replies(message.channel, message.ts)
            if replies:
                data.update(
                    thread_ts=message.ts,
                    reply_count=len(replies),
                    reply_users=sorted({r.user for r in replies}),
                    latest_reply=replies[-1].ts,
                )
        return data

    # --- response_url ---

    def fail_next_responses(self, status: int = 500, *, times: int = 1) -> None:
        """Answer the next ``times`` posts to any response_url with HTTP ``status`` (recorded,
        not applied)::

            stub.fail_next_responses(500)
        """
        self._response_failures.extend([status] * times)

    async def _response_url(self, request: web.Request) -> web.Response:
        hook_id = request.match_info["hook_id"]
        if self._response_failures:
            status = self._response_failures.pop(0)
            await self._notify()
            return web.Response(status=status, text="failed")
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        self.response_posts.append(ResponsePost(hook_id, body, dict(request.headers), time.time()))
        try:
            self._apply_response(self._hooks.get(hook_id), body)
        except SlackError as exc:
            await self._notify()
            status = 404 if exc.error == "message_not_found" else 400
            return web.Response(status=status, text=exc.error)
        await self._notify()
        return web.Response(text="ok")

    def _apply_response(self, hook: _Hook | None, body: Json) -> None:
        if hook is None or hook.channel is None:
            return  # a hand-made URL: recorded only
        original = self._messages.get(hook.channel, {}).get(hook.message_ts or "")
        if body.get("delete_original"):
            if original is None:
                raise SlackError("message_not_found")
            del self._messages[hook.channel][original.ts]
            return
        content = _content(body)
        if body.get("replace_original"):
            if original is None:
                raise SlackError("message_not_found")
            original.text, original.blocks = content["text"], content["blocks"]
            original.attachments = content["attachments"]
        elif body.get("response_type") == "in_channel":
            thread_ts = self._thread_root(hook.channel, body.get("thread_ts"))
            self._post(hook.channel, content, thread_ts)
        else:
            message_ts = self._next_ts(hook.channel)
            text, blocks, user = content["text"], content["blocks"], hook.user or ""
            self.ephemerals.append(
                Ephemeral(
                    hook.channel,
                    user,
                    text,
                    blocks,
                    body.get("thread_ts"),
                    message_ts,
                    "response_url",
                )
            )

    # --- Socket Mode ---

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:  # a ticket from apps.connections.open is single-use
            return web.Response(status=401, text="invalid_ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        self.socket_connections += 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": sum(not s.closed for s in self._sockets),
                "debug_info": {"host": "applink-stub", "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            }
        )
        await self._notify()
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    await self._on_socket_text(frame.data)
        finally:
            self._sockets.remove(ws)
            await self._notify()
        return ws

    async def _on_socket_text(self, data: str) -> None:
        message = json.loads(data)
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if envelope_id is None:
            return
        sent = self.envelopes.get(envelope_id)
        latency = time.time() - sent[1] if sent else 0.0
        payload = message.get("payload") or {}
        self.acks[envelope_id] = SocketAck(envelope_id, payload, time.time(), latency)
        await self._notify()

    async def socket_send(
        self,
        envelope_type: str,
        payload: Json,
        *,
        accepts_response_payload: bool = False,
        timeout: float = 5.0,
        **extra: Any,
    ) -> str:
        """Push one envelope to the connected client; returns its fresh ``envelope_id``."""
        ws = await self._wait(self._open_socket, timeout, "Socket Mode client to send to")
        envelope_id = str(uuid.uuid4())
        envelope: Json = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": envelope_type,
            "accepts_response_payload": accepts_response_payload,
            **extra,
        }
        self.envelopes[envelope_id] = (envelope, time.time())
        await ws.send_json(envelope)
        return envelope_id

    async def socket_send_slash_command(self, form_fields: Mapping[str, str]) -> str:
        """Push a slash command (see :func:`slash_command_fields`); returns the envelope_id."""
        return await self.socket_send(
            "slash_commands", dict(form_fields), accepts_response_payload=True
        )

    async def socket_send_interaction(self, payload: Json) -> str:
        """Push an interaction payload (see :func:`block_action_payload`)."""
        accepts = payload.get("type") in RESPONSE_PAYLOAD_INTERACTIONS
        return await self.socket_send("interactive", payload, accepts_response_payload=accepts)

    async def socket_send_event(self, event: Json) -> str:
        """Push an Events API event, wrapped like Slack's ``event_callback``."""
        wrapped = event_callback(event)
        return await self.socket_send("events_api", wrapped, retry_attempt=0, retry_reason="")

    async def disconnect_socket(self, *, graceful: bool = False) -> None:
        """Drop the Socket Mode connections, so the client must reconnect.

        ``graceful=True`` sends Slack's ``{"type": "disconnect", "reason": "refresh_requested"}``
        and lets the client close; otherwise the server closes the websocket (code 1001).
        """
        for ws in [s for s in self._sockets if not s.closed]:
            if graceful:
                notice = {"type": "disconnect", "reason": "refresh_requested"}
                await ws.send_json({**notice, "debug_info": {"host": "applink-stub"}})
            else:
                await ws.close(code=WSCloseCode.GOING_AWAY)

    def _open_socket(self) -> web.WebSocketResponse | None:
        open_sockets = [ws for ws in self._sockets if not ws.closed]
        return open_sockets[-1] if open_sockets else None


# --- request parsing and content checks ---


def _is_form(request: web.Request) -> bool:
    return request.content_type in (FORM_CONTENT_TYPE, "multipart/form-data")


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _request_args(request: web.Request) -> Json:
    """Query arguments, overlaid with the form or JSON body, like Slack reads them."""
    args: Json = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return args
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        args.update(body)
    else:
        form = await request.post()
        args.update({key: value for key, value in form.items() if isinstance(value, str)})
    return args


def _json_arg(value: object) -> object:
    """A structured argument: as is from a JSON body, decoded from a form field."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise SlackError("invalid_arguments") from None
    return value


def _content(args: Json, *, partial: bool = False) -> Json:
    """``text``/``blocks``/``attachments`` checked like Slack; ``partial`` keeps absent ones out."""
    content: Json = {}
    if "text" in args:
        content["text"] = str(args["text"] or "")
    for name in ("blocks", "attachments"):
        if name in args:
            value = _json_arg(args[name]) or []
            if not isinstance(value, list) or not all(isinstance(b, dict) for b in value):
                raise SlackError(f"invalid_{name}")
            content[name] = value
    if len(content.get("text", "")) > MAX_TEXT:
        raise SlackError("msg_too_long")
    blocks = content.get("blocks", [])
    if len(blocks) > MAX_BLOCKS or any(not isinstance(b.get("type"), str) for b in blocks):
        raise SlackError("invalid_blocks")
    if partial:
        return content
    if not (content.get("text") or content.get("blocks") or content.get("attachments")):
        raise SlackError("no_text")
    return {"text": "", "blocks": [], "attachments": [], **content}
