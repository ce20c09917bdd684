"""``ecr-lifeguard demo`` as a user runs it: a subprocess, offline, with no AWS account.

The main run goes in a network namespace of its own with only the loopback interface up when
the machine allows it (``unshare -n``): the demo must need nothing beyond 127.0.0.1. ``--slack``
runs against the local Slack stub.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.demo.scene import scenario_text
from tests.support.slack_stub import BOT_TOKEN, CHANNEL_ID, SlackStub

ROOT = Path(__file__).resolve().parents[2]
DEMO_SECONDS = 60.0
STOP_SECONDS = 10.0


@dataclass(frozen=True)
class Run:
    """One finished run of the demo."""

    code: int
    out: str
    err: str
    seconds: float

    def step(self, number: int) -> str:
        """The output of one numbered step (up to the next step, or the end)."""
        start = self.out.index(f"Step {number} of 5")
        following = self.out.find(f"Step {number + 1} of 5", start)
        return self.out[start : following if following >= 0 else None]


def clean_environment(**extra: str) -> dict[str, str]:
    """This environment without Slack or AWS settings, and a profile that must not be read."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AWS_"))}
    return {**kept, "AWS_PROFILE": "no-such-profile", "LIFEGUARD_DEMO_CHANNEL": "", **extra}


@functools.cache
def loopback_only() -> list[str]:
    """A command prefix running the rest without any network but loopback, when possible."""
    prefix = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return []
    probe = subprocess.run([*prefix, "true"], capture_output=True, check=False, timeout=10)
    return prefix if probe.returncode == 0 else []


async def run_demo(*args: str, env: dict[str, str], offline: bool = False) -> Run:
    command = [sys.executable, "-m", "bot", "demo", *args]
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *(loopback_only() if offline else []),
        *command,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode(), time.monotonic() - started)


def assert_clean_output(run: Run) -> None:
    for stream in (run.out, run.err):
        assert "Traceback" not in stream, stream
        assert all(line == line.rstrip() for line in stream.splitlines()), stream


async def test_the_demo_tells_the_whole_story_offline_in_under_a_minute() -> None:
    run = await run_demo(env=clean_environment(), offline=True)

    assert run.code == 0, run.err
    assert run.seconds < DEMO_SECONDS, run.seconds
    assert run.err == ""
    assert_clean_output(run)
    scan = run.step(1)
    assert "webshop-assets tag-1-253-0 (running in prod/checkout) expires within 24 h" in scan
    assert "More on why webshop-assets tag-1-253-0" in scan and "first pushed" in scan
    assert "running now: prod/checkout" in scan and "running now: shop/pod/web-" in scan
    assert "[Protect 7 days]" in scan
    push = run.step(2)
    assert "webshop-assets tag-1-251-0 (rollback target of checkout) expires within 24 h" in push
    assert "message 2 edited" in push and "at ECR's next run" in push
    assert "image push event: applied" in push
    protect = run.step(3)
    assert "keep-ec1477a7420a" in protect
    assert "now shielded" in protect
    assert "Protected: webshop-assets tag-1-253-0" in protect
    deletion = run.step(4)
    assert "tag-1-253-0" in deletion and "lifecycle execution event: applied" in deletion
    why = run.step(5)
    assert "EXPIRED_BY_LIFECYCLE: webshop-assets-copy:tag-1-253-0" in why
    assert "lifecycle rule 1" in why and "first pushed 2022-12-15" in why
    assert "Done in" in run.out and "What next" in run.out


async def test_slack_posts_the_same_messages_to_the_channel() -> None:
    async with SlackStub() as slack:
        env = clean_environment(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=slack.api_url)
        run = await run_demo("--slack", "--channel", CHANNEL_ID, env=env)

        assert run.code == 0, run.err
        assert_clean_output(run)
        assert slack.calls_to("auth.test")
        alert = "webshop-assets tag-1-253-0 (running in prod/checkout) expires within 24 h"
        [posted] = [
            call
            for call in slack.calls_to("chat.postMessage")
            if alert in call.args["text"] and call.args["channel"] == CHANNEL_ID
        ]
        assert "lg_protect" in json.dumps(posted.args["blocks"])
        # The alert, updated in place once protected; the why-missing reply in the channel.
        protected = slack.message(CHANNEL_ID, posted.response["ts"])
        assert "Protected: webshop-assets tag-1-253-0" in protected.text, protected.text
        texts = [message.text for message in slack.messages(CHANNEL_ID)]
        assert any("expired by lifecycle rule 1" in text for text in texts), texts
        assert alert in run.out  # and in the terminal too


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_signal_ends_it_at_once_and_cleanly(sig: signal.Signals) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "demo", cwd=ROOT, env=clean_environment(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    seen = b""
    while b"Step 2 of 5" not in seen:  # mid-story: the bot and the emulator are running
        line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        assert line, seen.decode()
        seen += line
    process.send_signal(sig)
    stopping = time.monotonic()
    _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert time.monotonic() - stopping < STOP_SECONDS
    assert process.returncode == 130
    assert err.decode().strip() == "ecr-lifeguard: interrupted"


@pytest.mark.parametrize(
    ("env", "args", "named"),
    [
        ({}, ("--slack", "--channel", "C0OPS"), "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, ("--slack",), "--channel"),
        ({"SLACK_BOT_TOKEN": "xoxp-user"}, ("--slack", "--channel", "C0OPS"), "slack_bot_token"),
    ],
)
async def test_slack_without_what_it_needs_stops_with_one_line(
    env: dict[str, str], args: tuple[str, ...], named: str
) -> None:
    run = await run_demo(*args, env=clean_environment(**env))

    assert run.code == 2, run
    assert run.out == ""
    [line] = run.err.strip().splitlines()
    assert named in line
    assert_clean_output(run)


def test_without_the_demo_extra_it_says_what_to_install() -> None:
    hide_moto = "import sys; sys.modules['moto'] = None; from bot.cli import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", hide_moto, "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == "the demo needs the demo extra: pip install 'ecr-lifeguard[demo]'\n"


def test_help_documents_the_demo_and_slack() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0
    assert "moto" in result.stdout and "--slack" in result.stdout and "--channel" in result.stdout
    assert "SLACK_BOT_TOKEN" in result.stdout


def test_the_embedded_scenario_is_the_blog_example() -> None:
    for name in ("policy.json", "images.json"):
        embedded = json.loads(scenario_text(name))
        assert embedded == json.loads((ROOT / "examples" / "blog" / name).read_text()), name
