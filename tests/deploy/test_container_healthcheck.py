"""scripts/container_healthcheck.py, the image's HEALTHCHECK, against local HTTP servers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.redis_server import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "container_healthcheck.py"


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def serve(status: int) -> Iterator[int]:
    handler = type("Handler", (_Health,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def healthy_port() -> Iterator[int]:
    yield from serve(200)


@pytest.fixture
def failing_port() -> Iterator[int]:
    yield from serve(503)


def healthcheck(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIFEGUARD_")}
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_healthy_when_the_url_answers_200(healthy_port: int) -> None:
    url = f"http://127.0.0.1:{healthy_port}/healthz"
    result = healthcheck(LIFEGUARD_HEALTHCHECK_URL=url)
    assert (result.returncode, result.stdout.strip()) == (0, f"healthy: {url} answered 200")


def test_unhealthy_names_the_status(failing_port: int) -> None:
    url = f"http://127.0.0.1:{failing_port}/healthz"
    result = healthcheck(LIFEGUARD_HEALTHCHECK_URL=url)
    assert result.returncode == 1
    assert result.stderr.strip() == f"unhealthy: {url} answered 503"


def test_tries_the_health_port_then_the_http_port_of_the_settings(healthy_port: int) -> None:
    closed = free_port()
    result = healthcheck(
        LIFEGUARD_BOT__HEALTH_PORT=str(closed), LIFEGUARD_BOT__HTTP_PORT=str(healthy_port)
    )
    assert result.returncode == 0, result.stderr
    assert f":{healthy_port}/healthz answered 200" in result.stdout


def test_nothing_listening_is_unhealthy_with_both_urls_named() -> None:
    first, second = free_port(), free_port()
    result = healthcheck(
        LIFEGUARD_BOT__HEALTH_PORT=str(first), LIFEGUARD_BOT__HTTP_PORT=str(second)
    )
    assert result.returncode == 1
    assert f"127.0.0.1:{first}/healthz did not answer" in result.stderr
    assert f"127.0.0.1:{second}/healthz did not answer" in result.stderr
    assert "Traceback" not in result.stderr
