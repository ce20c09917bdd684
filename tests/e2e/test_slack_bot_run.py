"""Running the bot: Socket Mode through the local Slack, start-up errors, secrets out of logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import build_runtime, serving
from bot.edge.stores.memory import MemoryStore
from bot.settings import Settings
from tests.support.redis_server import free_port
from tests.support.slack_stub import (
    APP_TOKEN,
    BOT_TOKEN,
    CHANNEL_ID,
    USER_ID,
    SlackStub,
    slash_command_fields,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def slack() -> AsyncIterator[SlackStub]:
    async with SlackStub() as stub:
        yield stub


def socket_settings(slack: SlackStub) -> Settings:
    return Settings(
        slack_bot_token=BOT_TOKEN,
        slack_app_token=APP_TOKEN,
        slack_api_url=slack.api_url,
        aws={"regions": ["us-east-1"], "max_attempts": 1},
        inventory={"ecs": False, "lambda": False},
        bot={"scan_interval": 3600},
    )


async def test_socket_mode_answers_slash_commands_and_reports_readiness(
    slack: SlackStub, moto: str
) -> None:
    runtime = build_runtime(socket_settings(slack), MemoryStore(), mode="socket")
    port = free_port()
    async with serving(runtime, "socket", port, host="127.0.0.1"):
        await slack.wait_for_socket()
        response_url = slack.response_url(user_id=USER_ID)
        fields = slash_command_fields(
            "help", user_id=USER_ID, channel_id=CHANNEL_ID, response_url=response_url
        )
        envelope = await slack.socket_send_slash_command(fields)
        ack = await slack.wait_for_ack(envelope)
        assert ack == {}  # help is answered through response_url, not in the ack
        answer = await slack.wait_for_response(url=response_url)
        assert "ECR Lifeguard" in json.dumps(answer.body["blocks"])
        usage = await slack.socket_send_slash_command(
            slash_command_fields("frobnicate", user_id=USER_ID, channel_id=CHANNEL_ID)
        )
        ack = await slack.wait_for_ack(usage)
        assert ack["response_type"] == "ephemeral"
        assert "unknown command" in ack["text"] and "protect" in ack["text"]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/readyz") as ready:
                assert ready.status == 200
            await slack.disconnect_socket()
            await slack.wait_for_socket(connections=2, timeout=15)
            async with session.get(f"http://127.0.0.1:{port}/readyz") as ready:
                assert ready.status == 200
    assert not slack.socket_connected


def run_bot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "REDIS_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", "run", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "args", "named"),
    [
        ({}, (), "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, (), "SLACK_APP_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, ("--http",), "SLACK_SIGNING_SECRET"),
        ({"SLACK_BOT_TOKEN": "xoxp-user-token"}, (), "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"}, (), "SLACK_APP_TOKEN"),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "LIFEGUARD_BOT__SCAN_INTERVAL": "soon"},
            (),
            "scan_interval",
        ),
    ],
)
def test_a_missing_or_invalid_setting_stops_start_up_with_one_line(
    env: dict[str, str], args: tuple[str, ...], named: str
) -> None:
    result = run_bot(env, *args)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert "Traceback" not in result.stderr


def test_tokens_never_appear_in_errors_or_logs() -> None:
    secret = "xoxb-very-secret-value-123"
    result = run_bot({"SLACK_BOT_TOKEN": secret, "REDIS_URL": "redis://:hunter2@127.0.0.1:9/0"})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert secret not in output and "hunter2" not in output


def test_without_redis_the_bot_says_state_is_not_shared(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio
    import logging

    from bot.app import open_store

    settings = Settings(slack_bot_token=BOT_TOKEN)
    with caplog.at_level(logging.WARNING):
        store: Any = asyncio.run(open_store(settings))
    assert isinstance(store, MemoryStore)
    assert "not shared" in caplog.text and "single replica" in caplog.text
