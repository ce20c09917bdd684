"""The Slack stub is faithful: the real slack_bolt AsyncApp and slack_sdk clients work against it.

The apps here are built in the tests (not ECR Lifeguard's handlers): over HTTP with signed
requests, and over Socket Mode through ``apps.connections.open`` and the stub's websocket.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond, AsyncSay
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.support.slack_stub import (
    APP_TOKEN,
    BOT_TOKEN,
    BOT_USER_ID,
    CHANNEL_ID,
    FORM_CONTENT_TYPE,
    SIGNING_SECRET,
    USER_ID,
    SlackStub,
    block_action_body,
    block_action_payload,
    sign,
    slash_command_body,
    slash_command_fields,
)

Json = dict[str, Any]


@pytest.fixture
async def stub() -> AsyncIterator[SlackStub]:
    async with SlackStub() as slack:
        yield slack


def web_client(stub: SlackStub, token: str | None = BOT_TOKEN, **options: Any) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=stub.api_url, **options)


def bolt_app(stub: SlackStub, token: str = BOT_TOKEN) -> AsyncApp:
    return AsyncApp(client=web_client(stub, token), signing_secret=SIGNING_SECRET)


@asynccontextmanager
async def serve(app: AsyncApp) -> AsyncIterator[str]:
    """Serve the app over HTTP on a free loopback port; yields its request URL."""
    runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/slack/events"
    finally:
        await runner.cleanup()


def signed(body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    return {**sign(body, secret, timestamp), "Content-Type": FORM_CONTENT_TYPE}


async def post(url: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body.encode(), headers=headers) as response,
    ):
        return response.status, await response.text()


# --- HTTP mode ---


async def test_signed_slash_command_is_acked_and_its_replies_reach_slack(stub: SlackStub) -> None:
    app = bolt_app(stub)

    @app.command("/ecr")
    async def ecr(
        ack: AsyncAck, command: Json, respond: AsyncRespond, say: AsyncSay, client: AsyncWebClient
    ) -> None:
        await ack(f"working on `{command['text']}`")
        await respond("only you can see this")
        posted = await say(f"images of {command['text']}")
        await client.chat_postMessage(
            channel=command["channel_id"], thread_ts=posted["ts"], text="details"
        )

    assert stub.calls == []  # AsyncApp makes no call when it is built...
    hook = stub.response_url()
    body = slash_command_body("images app", response_url=hook)
    async with serve(app) as url:
        assert await post(url, body, signed(body)) == (200, "working on `images app`")
        reply = await stub.wait_for_response(url=hook)
        said = await stub.wait_for("chat.postMessage", lambda c: "thread_ts" not in c.args)
        threaded = await stub.wait_for("chat.postMessage", lambda c: "thread_ts" in c.args)
        second = slash_command_body("images web", response_url=stub.response_url())
        assert await post(url, second, signed(second)) == (200, "working on `images web`")
        await stub.wait_for("chat.postMessage", count=4)

    # ...it calls auth.test lazily on the first request, and caches the answer.
    assert [c.method for c in stub.calls].count("auth.test") == 1
    assert stub.calls[0].method == "auth.test"
    assert reply.body == {"text": "only you can see this"}  # no response_type: ephemeral
    ephemeral = stub.ephemerals[0]
    assert (ephemeral.user, ephemeral.text, ephemeral.source) == (
        USER_ID,
        reply.body["text"],
        "response_url",
    )
    assert said.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert said.args["channel"] == CHANNEL_ID and said.args["team_id"]  # bolt adds team_id
    parent = stub.message(CHANNEL_ID, said.response["ts"])
    assert parent.text == "images of images app"
    assert threaded.args["thread_ts"] == parent.ts
    assert [m.text for m in stub.replies(CHANNEL_ID, parent.ts)] == ["details"]
    assert threaded.response["message"]["parent_user_id"] == BOT_USER_ID


@pytest.mark.parametrize("tamper", ["wrong secret", "stale timestamp", "missing headers", "body"])
async def test_badly_signed_requests_are_rejected(stub: SlackStub, tamper: str) -> None:
    app = bolt_app(stub)
    handled: list[Json] = []

    @app.command("/ecr")
    async def ecr(ack: AsyncAck, command: Json) -> None:
        handled.append(command)
        await ack()

    body = slash_command_body("images app", response_url=stub.response_url())
    headers = {
        "wrong secret": signed(body, secret="not-the-secret"),
        "stale timestamp": signed(body, timestamp=int(time.time()) - 600),
        "missing headers": {"Content-Type": FORM_CONTENT_TYPE},
        "body": signed(body.replace("images", "delete")),
    }[tamper]
    async with serve(app) as url:
        status, text = await post(url, body, headers)

    assert (status, json.loads(text)) == (401, {"error": "invalid request"})
    assert handled == [] and stub.calls == []


async def test_a_revoked_bot_token_fails_bolts_lazy_auth_test(stub: SlackStub) -> None:
    app = bolt_app(stub, token="xoxb-revoked")

    @app.command("/ecr")
    async def ecr(ack: AsyncAck) -> None:
        await ack("never")  # pragma: no cover

    body = slash_command_body("images app")
    async with serve(app) as url:
        status, text = await post(url, body, signed(body))

    # Bolt answers the user (HTTP 200) instead of running the listener.
    assert status == 200 and "install this app" in text
    [auth] = stub.calls
    assert (auth.method, auth.response) == ("auth.test", {"ok": False, "error": "invalid_auth"})


async def test_signed_block_action_runs_its_handler_and_replaces_the_message(
    stub: SlackStub,
) -> None:
    app = bolt_app(stub)
    clicks: list[Json] = []

    @app.action("approve")
    async def approve(ack: AsyncAck, body: Json, respond: AsyncRespond) -> None:
        await ack()
        clicks.append(body)
        await respond(replace_original=True, text=f"approved {body['actions'][0]['value']}")

    posted = await web_client(stub).chat_postMessage(channel=CHANNEL_ID, text="approve plan-7?")
    hook = stub.response_url(message_ts=posted["ts"])
    body = block_action_body("approve", "plan-7", message_ts=posted["ts"], response_url=hook)
    assert body.startswith("payload=")
    async with serve(app) as url:
        assert await post(url, body, signed(body)) == (200, "")
        replaced = await stub.wait_for_response(url=hook)

    assert replaced.body["replace_original"] is True
    assert stub.message(CHANNEL_ID, posted["ts"]).text == "approved plan-7"
    [click] = clicks
    assert click["container"]["message_ts"] == posted["ts"]
    assert click["team"]["id"] == click["user"]["team_id"] and click["trigger_id"]


# --- Socket Mode ---


@asynccontextmanager
async def socket_mode(app: AsyncApp, stub: SlackStub) -> AsyncIterator[AsyncSocketModeHandler]:
    handler = AsyncSocketModeHandler(app, app_token=APP_TOKEN)
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        await stub.wait_for_socket()
        yield handler
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
    await stub.wait_for_socket_closed()


async def test_socket_mode_slash_command_is_acked_with_the_handlers_payload(
    stub: SlackStub,
) -> None:
    app = bolt_app(stub)

    @app.command("/ecr")
    async def ecr(ack: AsyncAck, command: Json, say: AsyncSay, respond: AsyncRespond) -> None:
        await ack(f"working on `{command['text']}`")
        await say("public progress")
        await respond("private result")

    hook = stub.response_url()
    async with socket_mode(app, stub):
        [opened] = stub.calls_to("apps.connections.open")
        envelope_id = await stub.socket_send_slash_command(
            slash_command_fields("images app", response_url=hook)
        )
        assert await stub.wait_for_ack(envelope_id) == {"text": "working on `images app`"}
        said = await stub.wait_for("chat.postMessage")
        await stub.wait_for_response(url=hook)

    assert opened.headers["Authorization"] == f"Bearer {APP_TOKEN}"
    assert opened.response["url"].startswith(stub.url.replace("http", "ws") + "/socket?ticket=")
    assert stub.acks[envelope_id].latency < 3  # Slack retries envelopes not acked within 3 s
    assert stub.message(CHANNEL_ID, said.response["ts"]).text == "public progress"
    assert stub.ephemerals[0].text == "private result"


async def test_socket_mode_interactions_and_events(stub: SlackStub) -> None:
    app = bolt_app(stub)

    @app.action("approve")
    async def approve(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        await respond(delete_original=True)

    @app.event("app_mention")
    async def mention(event: Json, say: AsyncSay) -> None:
        await say(text="hello", thread_ts=event["ts"])

    posted = await web_client(stub).chat_postMessage(channel=CHANNEL_ID, text="approve?")
    hook = stub.response_url(message_ts=posted["ts"])
    mention_ts = stub.add_message(CHANNEL_ID, f"<@{BOT_USER_ID}> hi").ts
    async with socket_mode(app, stub):
        click = block_action_payload("approve", "p1", message_ts=posted["ts"], response_url=hook)
        clicked = await stub.socket_send_interaction(click)
        assert await stub.wait_for_ack(clicked) == {}
        await stub.wait_for_response(url=hook)
        event = {
            "type": "app_mention",
            "user": USER_ID,
            "text": f"<@{BOT_USER_ID}> hi",
            "ts": mention_ts,
            "channel": CHANNEL_ID,
            "event_ts": mention_ts,
        }
        mentioned = await stub.socket_send_event(event)
        assert await stub.wait_for_ack(mentioned) == {}
        await stub.wait_for("chat.postMessage", lambda c: c.args.get("thread_ts") == mention_ts)

    assert stub.envelopes[mentioned][0]["payload"]["event"] == event
    assert [m.ts for m in stub.messages(CHANNEL_ID)] == [mention_ts]  # the clicked one is deleted
    assert [m.text for m in stub.replies(CHANNEL_ID, mention_ts)] == ["hello"]


@pytest.mark.parametrize("graceful", [False, True], ids=["connection dropped", "refresh requested"])
async def test_socket_mode_client_reconnects(stub: SlackStub, graceful: bool) -> None:
    app = bolt_app(stub)

    @app.command("/ecr")
    async def ecr(ack: AsyncAck) -> None:
        await ack("still here")

    async with socket_mode(app, stub):
        await stub.disconnect_socket(graceful=graceful)
        await stub.wait_for_socket(connections=2)
        envelope_id = await stub.socket_send_slash_command(slash_command_fields("x"))
        assert await stub.wait_for_ack(envelope_id) == {"text": "still here"}

    # Each connection needs a fresh single-use ticket from apps.connections.open.
    assert len(stub.calls_to("apps.connections.open")) == 2
    assert stub.socket_connections == 2


# --- the Web API itself ---


async def test_messages_threads_updates_and_permalinks(stub: SlackStub) -> None:
    client = web_client(stub)
    first = await client.chat_postMessage(channel=CHANNEL_ID, text="scan started")
    reply = await client.chat_postMessage(channel=CHANNEL_ID, text="1/2", thread_ts=first["ts"])
    # A reply to a reply lands in the same thread.
    nested = await client.chat_postMessage(channel=CHANNEL_ID, text="2/2", thread_ts=reply["ts"])
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*done*"}}]
    updated = await client.chat_update(
        channel=CHANNEL_ID, ts=first["ts"], text="done", blocks=blocks
    )

    assert float(first["ts"]) < float(reply["ts"]) < float(nested["ts"])
    message = stub.message(CHANNEL_ID, first["ts"])
    assert (message.text, message.blocks) == ("done", blocks)
    assert updated["message"]["edited"]["user"] == BOT_USER_ID
    assert updated["message"]["reply_count"] == 2
    assert [m.text for m in stub.replies(CHANNEL_ID, first["ts"])] == ["1/2", "2/2"]
    assert [m.ts for m in stub.messages(CHANNEL_ID)] == [first["ts"]]

    link = await client.chat_getPermalink(channel=CHANNEL_ID, message_ts=nested["ts"])
    assert link["permalink"].endswith(
        f"/archives/{CHANNEL_ID}/p{nested['ts'].replace('.', '')}"
        f"?thread_ts={first['ts']}&cid={CHANNEL_ID}"
    )
    with pytest.raises(SlackApiError) as missing:
        await client.chat_update(channel=CHANNEL_ID, ts="1.000001", text="x")
    assert missing.value.response["error"] == "message_not_found"
    someone_elses = stub.add_message(CHANNEL_ID, "mine")
    with pytest.raises(SlackApiError) as not_ours:
        await client.chat_update(channel=CHANNEL_ID, ts=someone_elses.ts, text="x")
    assert not_ours.value.response["error"] == "cant_update_message"
    with pytest.raises(SlackApiError) as empty:
        await client.api_call("chat.postMessage", json={"channel": CHANNEL_ID})
    assert empty.value.response["error"] == "no_text"


async def test_rate_limits_answer_429_with_retry_after(stub: SlackStub) -> None:
    retrying = web_client(stub, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    stub.fail_next("chat.postMessage", "ratelimited", retry_after=1)
    started = time.monotonic()
    posted = await retrying.chat_postMessage(channel=CHANNEL_ID, text="eventually")
    assert time.monotonic() - started >= 1  # slack_sdk slept for Retry-After
    assert posted["ok"] and [c.status for c in stub.calls_to("chat.postMessage")] == [429, 200]

    stub.fail_next("chat.postMessage", "ratelimited", retry_after=30)
    with pytest.raises(SlackApiError) as limited:
        await web_client(stub).chat_postMessage(channel=CHANNEL_ID, text="no retry handler")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "30"
    assert limited.value.response["error"] == "ratelimited"


async def test_tokens_methods_and_channels_are_checked_like_slack(stub: SlackStub) -> None:
    async def error(client: AsyncWebClient, method: str, **args: Any) -> str:
        with pytest.raises(SlackApiError) as failed:
            await client.api_call(method, json=args)
        return str(failed.value.response["error"])

    assert await error(web_client(stub, None), "auth.test") == "not_authed"
    assert await error(web_client(stub, "xoxb-wrong"), "auth.test") == "invalid_auth"
    assert await error(web_client(stub, APP_TOKEN), "auth.test") == "not_allowed_token_type"
    assert await error(web_client(stub), "chat.frobnicate") == "unknown_method"
    with pytest.raises(SlackApiError) as bot_token:
        await web_client(stub).apps_connections_open(app_token=BOT_TOKEN)
    assert bot_token.value.response["error"] == "not_allowed_token_type"

    client = web_client(stub)
    stub.add_channel("C0QUIET", "quiet", is_member=False)
    stub.add_channel("G0SECRET", "secret", is_private=True, is_member=False)
    assert (
        await error(client, "chat.postMessage", channel="C0NOPE", text="x") == "channel_not_found"
    )
    assert await error(client, "chat.postMessage", channel="C0QUIET", text="x") == "not_in_channel"
    assert await error(client, "conversations.info", channel="G0SECRET") == "channel_not_found"
    stub.fail_next("chat.postMessage", "channel_not_found")
    assert (
        await error(client, "chat.postMessage", channel=CHANNEL_ID, text="x") == "channel_not_found"
    )
    assert (await client.chat_postMessage(channel="#ops", text="by name"))["channel"] == CHANNEL_ID
    dm = await client.chat_postMessage(channel=USER_ID, text="a DM")
    assert dm["channel"].startswith("D") and stub.message(dm["channel"], dm["ts"]).text == "a DM"


async def test_form_bodies_and_form_tokens_are_accepted(stub: SlackStub) -> None:
    form = {"token": BOT_TOKEN, "channel": CHANNEL_ID, "text": "from a form", "blocks": "[]"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{stub.api_url}chat.postMessage", data=form) as response,
    ):
        answer = await response.json()

    assert response.status == 200 and answer["ok"], answer
    [call] = stub.calls
    assert call.args == {"channel": CHANNEL_ID, "text": "from a form", "blocks": "[]"}
    assert stub.message(CHANNEL_ID, answer["ts"]).text == "from a form"


async def test_users_groups_channels_ephemerals_and_home_views(stub: SlackStub) -> None:
    client = web_client(stub)
    stub.add_user("U0BOB", "bob", email="bob@example.com", is_admin=True)
    stub.set_usergroup("S0ADMINS", [USER_ID, "U0BOB"])

    bob = (await client.users_info(user="U0BOB"))["user"]
    assert (bob["name"], bob["is_admin"], bob["profile"]["email"]) == (
        "bob",
        True,
        "bob@example.com",
    )
    members = await client.usergroups_users_list(usergroup="S0ADMINS")
    assert members["users"] == [USER_ID, "U0BOB"]
    channel = (await client.conversations_info(channel=CHANNEL_ID))["channel"]
    assert (channel["name"], channel["is_member"], channel["is_private"]) == ("ops", True, False)

    ephemeral = await client.chat_postEphemeral(channel=CHANNEL_ID, user="U0BOB", text="psst")
    assert stub.ephemerals[0].message_ts == ephemeral["message_ts"]

    home = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
    }
    published = await client.views_publish(user_id="U0BOB", view=home)
    assert stub.home_views["U0BOB"]["blocks"] == home["blocks"]
    again = await client.views_publish(
        user_id="U0BOB", view={**home, "blocks": []}, hash=published["view"]["hash"]
    )
    assert (
        again["view"]["id"] == published["view"]["id"] and stub.home_views["U0BOB"]["blocks"] == []
    )

    for call, expected in [
        (client.users_info(user="U0NOBODY"), "user_not_found"),
        (client.usergroups_users_list(usergroup="S0NONE"), "no_such_subteam"),
        (client.views_publish(user_id="U0BOB", view=home, hash="stale"), "hash_conflict"),
        (client.views_publish(user_id="U0BOB", view={"type": "modal"}), "invalid_arguments"),
    ]:
        with pytest.raises(SlackApiError) as failed:
            await call
        assert failed.value.response["error"] == expected


def test_sign_matches_slacks_documented_example() -> None:
    # The worked example of https://api.slack.com/authentication/verifying-requests-from-slack
    body = urllib.parse.urlencode(
        {
            "token": "xyzz0WbapA4vBCDEFasx0q6G",
            "team_id": "T1DC2JH3J",
            "team_domain": "testteamnow",
            "channel_id": "G8PSS9T3V",
            "channel_name": "foobar",
            "user_id": "U2CERLKJA",
            "user_name": "roadrunner",
            "command": "/webhook-collect",
            "text": "",
            "response_url": "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN",
            "trigger_id": "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
        }
    )
    assert sign(body, "8f742231b10e8888abcd99yyyzzz85a5", timestamp=1531420618) == {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }
    fresh = block_action_body("approve", "p1")
    assert SignatureVerifier(SIGNING_SECRET).is_valid_request(fresh, sign(fresh, SIGNING_SECRET))
