"""Running the bot: Socket Mode through the local Slack, start-up errors, secrets out of logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
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


# --- start-up checks and stopping, as a pod is started and stopped -----------------------------


class BlackHole:
    """A TCP server that accepts connections and never answers (a hung Slack, Redis or AWS)."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> BlackHole:
        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            self.writers.append(writer)
            try:
                await reader.read()  # until the client gives up
            finally:
                writer.close()

        self.server = await asyncio.start_server(swallow, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def until_connected(self, within: float = 30.0) -> None:
        """Until a client connects (start-up, imports included, is slow on a busy machine)."""
        deadline = time.monotonic() + within
        while self.connections < 1:
            assert time.monotonic() < deadline, "nothing connected"
            await asyncio.sleep(0.05)

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        for writer in self.writers:
            writer.close()
        self.server.close()
        await self.server.wait_closed()
        for writer in self.writers:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@dataclass
class Exited:
    """How a bot process ended: status, seconds from SIGTERM to exit, what it printed."""

    code: int
    stopped_in: float
    stderr: str


def bot_env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "REDIS_"))}
    return {**clean, "LIFEGUARD_BOT__SCAN_INTERVAL": "1h", **extra}


async def start_bot(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", *args,
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def stop_bot(process: asyncio.subprocess.Process, *, after: float) -> Exited:
    await asyncio.sleep(after)
    assert process.returncode is None, "the bot ended before it was stopped"
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    return Exited(process.returncode or 0, time.monotonic() - sent, stderr.decode())


async def ended(process: asyncio.subprocess.Process) -> Exited:
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    return Exited(process.returncode or 0, 0.0, stderr.decode())


async def test_a_token_slack_refuses_stops_start_up_with_one_line(slack: SlackStub) -> None:
    slack.fail_next("auth.test", "invalid_auth")
    env = bot_env(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_URL=slack.api_url)
    result = await ended(await start_bot(env))
    assert result.code == 1, result
    assert (
        result.stderr.strip() == "ecr-lifeguard: SLACK_BOT_TOKEN: Slack refused it (invalid_auth)"
    )


async def test_an_app_token_slack_refuses_stops_start_up_with_one_line(slack: SlackStub) -> None:
    slack.fail_next("apps.connections.open", "invalid_auth")
    env = bot_env(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_URL=slack.api_url)
    result = await ended(await start_bot(env))
    assert result.code == 1, result
    assert (
        result.stderr.strip() == "ecr-lifeguard: SLACK_APP_TOKEN: Slack refused it (invalid_auth)"
    )


async def test_no_aws_region_stops_start_up_with_one_line(slack: SlackStub) -> None:
    env = bot_env(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_URL=slack.api_url)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        env.pop(name, None)
    env["AWS_CONFIG_FILE"] = os.devnull
    result = await ended(await start_bot(env))
    assert result.code == 1, result
    [line] = result.stderr.strip().splitlines()
    assert "no AWS region is configured" in line and "AWS_REGION" in line


async def test_sigterm_while_slack_does_not_answer_stops_within_ten_seconds() -> None:
    async with BlackHole() as hole:
        env = bot_env(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_API_URL=f"http://127.0.0.1:{hole.port}/api/",
            AWS_REGION="us-east-1",
        )
        process = await start_bot(env)
        await hole.until_connected()  # it is waiting for Slack
        result = await stop_bot(process, after=0.5)
    assert result.stopped_in < 10.0 and result.code == 0, result
    assert "Traceback" not in result.stderr


async def test_sigterm_while_redis_does_not_answer_stops_within_ten_seconds(
    slack: SlackStub,
) -> None:
    async with BlackHole() as hole:
        env = bot_env(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_API_URL=slack.api_url,
            REDIS_URL=f"redis://127.0.0.1:{hole.port}/0",
            AWS_REGION="us-east-1",
        )
        process = await start_bot(env)
        await hole.until_connected()  # it is waiting for Redis
        result = await stop_bot(process, after=0.5)
    assert result.stopped_in < 10.0 and result.code == 0, result
    assert "Traceback" not in result.stderr


async def test_sigterm_while_aws_does_not_answer_stops_within_ten_seconds(
    slack: SlackStub,
) -> None:
    async with BlackHole() as hole:
        env = bot_env(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_API_URL=slack.api_url,
            AWS_REGION="us-east-1",
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{hole.port}",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            LIFEGUARD_AWS__READ_TIMEOUT="60",
        )
        process = await start_bot(env, "--port", str(free_port()))
        await slack.wait_for_socket(timeout=20)
        await hole.until_connected()  # the first scan is waiting for ECR
        result = await stop_bot(process, after=0.5)
    assert result.stopped_in < 10.0 and result.code == 0, result
    assert "ECR Lifeguard stopped" in result.stderr and "Traceback" not in result.stderr
    assert "token` will be unused" not in result.stderr  # no warning about how Bolt is wired
