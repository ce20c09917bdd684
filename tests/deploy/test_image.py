"""The built container image, run by a real engine: ``bash .ci/image`` builds it and runs these.

They need ``LIFEGUARD_IMAGE`` (the image to test) and a reachable Docker daemon
(``LIFEGUARD_DOCKER``, default ``docker``; ``DOCKER_HOST``); without them they are skipped.
The container runs as the chart runs it (read-only root, ``/tmp`` the only writable place, no
capabilities, no privilege escalation) with ``--network host``, against moto, a redis-server and
the Slack stub of this test session on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from tests.support.redis_server import RedisServer, free_port, start_redis_server
from tests.support.slack_stub import (
    APP_TOKEN,
    BOT_TOKEN,
    FORM_CONTENT_TYPE,
    SIGNING_SECRET,
    SlackStub,
    sign,
    slash_command_body,
)

IMAGE = os.environ.get("LIFEGUARD_IMAGE", "")
DOCKER = os.environ.get("LIFEGUARD_DOCKER", "docker")
STOP_WITHIN_SECONDS = 10.0

pytestmark = pytest.mark.skipif(
    not IMAGE, reason="LIFEGUARD_IMAGE is not set: bash .ci/image builds the image and runs these"
)
HARDENED = [
    "--read-only",
    "--tmpfs", "/tmp:rw,nosuid,nodev,size=64m",
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
    "--network", "host",
]  # fmt: skip


async def docker(*args: str, within: float = 60.0) -> tuple[int, str]:
    """Run the docker client; its exit status and its output (stdout and stderr together)."""
    process = await asyncio.create_subprocess_exec(
        DOCKER, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), within)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


@dataclass
class Container:
    """A container started in the background, and how to stop it."""

    name: str

    async def logs(self) -> str:
        """What the bot printed so far."""
        return (await docker("logs", self.name))[1]

    async def terminate(self) -> tuple[int, float]:
        """SIGTERM, then wait for the exit: its status and how long it took, in seconds."""
        started = time.monotonic()
        status, output = await docker("kill", "--signal", "TERM", self.name)
        assert status == 0, output
        _, code = await docker("wait", self.name, within=STOP_WITHIN_SECONDS + 20)
        return int(code.strip()), time.monotonic() - started


async def start(env: dict[str, str], *args: str, options: tuple[str, ...] = ()) -> Container:
    """``docker run -d`` the image with the hardened options, these variables and arguments."""
    name = f"lifeguard-test-{uuid.uuid4().hex[:8]}"
    variables = [item for key, value in env.items() for item in ("-e", f"{key}={value}")]
    status, output = await docker(
        "run", "-d", "--name", name, *HARDENED, *options, *variables, IMAGE, *args
    )
    if status != 0:
        await docker("rm", "--force", name)
        pytest.fail(f"docker run failed: {output}")
    return Container(name)


async def wait_for_status(url: str, wanted: int, container: Container, within: float = 60) -> str:
    """Poll ``url`` until it answers ``wanted``; its body. Fails with the bot's log otherwise."""
    deadline = time.monotonic() + within
    last = "no answer"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    body = await response.text()
                    if response.status == wanted:
                        return body
                    last = f"{response.status} {body}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = repr(exc)
            await asyncio.sleep(0.25)
    pytest.fail(f"{url} never answered {wanted} (last: {last}); log:\n{await container.logs()}")


@pytest.fixture
async def slack() -> AsyncIterator[SlackStub]:
    async with SlackStub() as stub:
        yield stub


@pytest.fixture
def redis() -> AsyncIterator[RedisServer]:
    server = start_redis_server()
    yield server
    server.stop()


@pytest.fixture
async def cleanup() -> AsyncIterator[list[Container]]:
    started: list[Container] = []
    yield started
    for container in started:
        await docker("rm", "--force", container.name)


def bot_environment(moto: str, slack: SlackStub, redis: RedisServer) -> dict[str, str]:
    """What the container needs: fake AWS at moto, the Slack stub, Redis, fast AWS failures."""
    return {
        "AWS_ENDPOINT_URL": moto,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "REDIS_URL": redis.url,
        "LIFEGUARD_AWS__MAX_ATTEMPTS": "1",
    }


async def test_help_lists_the_commands() -> None:
    status, output = await docker("run", "--rm", *HARDENED, IMAGE, "--help")
    assert status == 0, output
    assert "usage: ecr-lifeguard" in output
    for verb in ("run", "scan", "why-missing", "protect"):
        assert verb in output


async def test_metadata_non_root_entrypoint_healthcheck_labels() -> None:
    status, output = await docker("image", "inspect", IMAGE)
    assert status == 0, output
    config = json.loads(output)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["ecr-lifeguard"]
    assert config["Cmd"] == ["run"]
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert "lifeguard-healthcheck" in config["Healthcheck"]["Test"][-1]
    labels = config["Labels"]
    for key in ("title", "description", "version", "revision", "created", "licenses"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert labels["org.opencontainers.image.version"] == "0.1.0"


async def test_final_stage_has_no_pip_compiler_or_caches() -> None:
    script = (
        "import importlib.util, os, pwd, shutil\n"
        "spec = importlib.util.find_spec\n"
        "print(spec('pip') is None, spec('bot') is not None)\n"
        "print([tool for tool in ('gcc', 'cc', 'pip', 'pip3', 'make') if shutil.which(tool)])\n"
        "print([p for p in ('/root/.cache/pip', '/src', '/rootfs') if os.path.exists(p)])\n"
        "print(os.getuid(), pwd.getpwuid(os.getuid()).pw_name)\n"
    )
    status, output = await docker(
        "run", "--rm", *HARDENED, "--entrypoint", "/opt/lifeguard/bin/python", IMAGE, "-c", script
    )
    assert status == 0, output
    assert output.split("\n")[:4] == ["True True", "[]", "[]", "10001 lifeguard"]


async def test_http_mode_serves_health_and_slack_and_stops_cleanly_on_sigterm(
    moto: str, slack: SlackStub, redis: RedisServer, cleanup: list[Container]
) -> None:
    port = free_port()
    env = {
        **bot_environment(moto, slack, redis),
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "LIFEGUARD_BOT__HTTP_PORT": str(port),
    }
    options = ("--health-interval", "1s", "--health-start-period", "0s")
    container = await start(env, "run", "--http", options=options)
    cleanup.append(container)
    base = f"http://127.0.0.1:{port}"
    assert await wait_for_status(f"{base}/healthz", 200, container) == "ok"
    assert await wait_for_status(f"{base}/readyz", 200, container) == "ready"
    assert "lifeguard_ready" in await wait_for_status(f"{base}/metrics", 200, container)

    response_url = slack.response_url()
    body = slash_command_body("help", response_url=response_url)
    headers = {**sign(body, SIGNING_SECRET), "Content-Type": FORM_CONTENT_TYPE}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/slack/events", data=body, headers=headers) as answer,
    ):
        assert answer.status == 200
    help_reply = await slack.wait_for_response(url=response_url, timeout=20)
    assert "ECR Lifeguard" in json.dumps(help_reply.body["blocks"])

    await wait_for_health(container, "healthy")
    code, seconds = await container.terminate()
    logs = await container.logs()
    assert code == 0, logs
    assert seconds < STOP_WITHIN_SECONDS, logs
    assert "ECR Lifeguard stopped" in logs
    assert "Traceback" not in logs


async def test_socket_mode_is_the_default_command_and_ready_once_connected(
    moto: str, slack: SlackStub, redis: RedisServer, cleanup: list[Container]
) -> None:
    port = free_port()
    env = {
        **bot_environment(moto, slack, redis),
        "SLACK_APP_TOKEN": APP_TOKEN,
        "LIFEGUARD_BOT__HEALTH_PORT": str(port),
    }
    container = await start(env)
    cleanup.append(container)
    await slack.wait_for_socket(timeout=30)
    assert await wait_for_status(f"http://127.0.0.1:{port}/readyz", 200, container) == "ready"
    code, seconds = await container.terminate()
    logs = await container.logs()
    assert (code, seconds < STOP_WITHIN_SECONDS) == (0, True), logs
    assert "Socket Mode" in logs or "socket mode" in logs


async def test_missing_token_stops_with_one_clear_line(cleanup: list[Container]) -> None:
    status, output = await docker("run", "--rm", *HARDENED, IMAGE, "run", "--http")
    assert status != 0
    assert "SLACK_BOT_TOKEN is not set" in output
    assert "Traceback" not in output


async def wait_for_health(container: Container, wanted: str, within: float = 30) -> None:
    """Wait until Docker's HEALTHCHECK reports ``wanted`` for the container."""
    deadline = time.monotonic() + within
    state = ""
    while time.monotonic() < deadline:
        _, state = await docker("inspect", "--format", "{{.State.Health.Status}}", container.name)
        if state.strip() == wanted:
            return
        await asyncio.sleep(0.5)
    _, detail = await docker("inspect", "--format", "{{json .State.Health}}", container.name)
    pytest.fail(f"HEALTHCHECK is {state.strip()!r}, not {wanted!r}: {detail}")
