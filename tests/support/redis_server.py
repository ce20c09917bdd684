"""A throwaway ``redis-server`` for tests: loopback, a free port, a temp dir, no persistence.

::

    server = start_redis_server()          # or start_redis_server("--requirepass", "s3cret")
    url = server.url                       # redis://127.0.0.1:<port>/0
    ...
    server.stop()

Set ``LIFEGUARD_TEST_REDIS_URL`` to run the tests against an existing server instead
(:func:`redis_url_from_environment`); the tests then only touch keys under their own prefix.
The binary comes from ``PATH``; without it :func:`start_redis_server` raises
:class:`RedisServerMissing`, which says how to install it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis

ENVIRONMENT_VARIABLE = "LIFEGUARD_TEST_REDIS_URL"
INSTALL_HINT = (
    "redis-server is not on PATH; the Redis integration tests start their own. Install it "
    "(Debian/Ubuntu: `sudo apt-get install -y --no-install-recommends redis-server`; macOS: "
    f"`brew install redis`) or set {ENVIRONMENT_VARIABLE}=redis://HOST:PORT/DB to use a running "
    "server"
)
ANSWERS = (b"+PONG", b"-NOAUTH")  # a server with --requirepass answers, with an error


class RedisServerMissing(RuntimeError):
    """``redis-server`` is not installed; the message says how to install it."""


@dataclass
class RedisServer:
    """A ``redis-server`` process this test session started, and how to reach it."""

    port: int
    process: subprocess.Popen[bytes]
    directory: Path
    _cleanup: tempfile.TemporaryDirectory[str] = field(repr=False)

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s) and remove its directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._cleanup.cleanup()


def redis_server_binary() -> str:
    """The path of ``redis-server``; raises :class:`RedisServerMissing` when it is not on PATH."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisServerMissing(INSTALL_HINT)
    return binary


def redis_url_from_environment() -> str | None:
    """The URL in ``LIFEGUARD_TEST_REDIS_URL``, when set and not empty."""
    return os.environ.get(ENVIRONMENT_VARIABLE) or None


def start_redis_server(
    *extra: str, port: int | None = None, attempts: int = 3, timeout: float = 10.0
) -> RedisServer:
    """Start ``redis-server`` on a free loopback port (or ``port``); return once it answers PING.

    ``extra`` are more server arguments, e.g. ``"--requirepass", "s3cret"``. Another process may
    take a free port before the server binds it; then another is tried, ``attempts`` times in all.
    """
    binary = redis_server_binary()
    failure = ""
    for _ in range(attempts if port is None else 1):
        cleanup = tempfile.TemporaryDirectory(prefix="lifeguard-redis-")
        server = _launch(binary, port or free_port(), Path(cleanup.name), cleanup, extra)
        failure = _wait_until_answering(server, timeout)
        if not failure:
            return server
        server.stop()
    raise RuntimeError(f"redis-server did not start: {failure}")


def _launch(
    binary: str,
    port: int,
    directory: Path,
    cleanup: tempfile.TemporaryDirectory[str],
    extra: tuple[str, ...],
) -> RedisServer:
    command = [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
        "--logfile", str(directory / "redis.log"),
        *extra,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return RedisServer(port, process, directory, cleanup)


def _wait_until_answering(server: RedisServer, timeout: float) -> str:
    """'' once the server answers PING; otherwise why not (its exit status and log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return f"exited with status {server.process.returncode}: {_log_tail(server)}"
        if _answers(server.port):
            return ""
        time.sleep(0.01)
    return f"no answer on port {server.port} within {timeout} s: {_log_tail(server)}"


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(ANSWERS)
    except OSError:
        return False


def _log_tail(server: RedisServer) -> str:
    log = server.directory / "redis.log"
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


def free_port() -> int:
    """A loopback port nothing listens on (at the time of the call)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def flush_prefix(url: str, prefix: str) -> int:
    """Delete every key under ``prefix`` (SCAN + UNLINK) and nothing else; return how many."""
    client = aioredis.from_url(url, decode_responses=True)
    try:
        keys = [key async for key in client.scan_iter(match=f"{_glob_escape(prefix)}*", count=500)]
        return int(await client.unlink(*keys)) if keys else 0
    finally:
        await client.aclose()


async def keys_under(url: str, pattern: str = "*") -> dict[str, str]:
    """Every key matching ``pattern`` and its Redis type, to check how a store lays out data."""
    client = aioredis.from_url(url, decode_responses=True)
    try:
        return {key: str(await client.type(key)) async for key in client.scan_iter(match=pattern)}
    finally:
        await client.aclose()


def _glob_escape(text: str) -> str:
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)
