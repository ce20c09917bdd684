#!/usr/bin/env python3
"""The container's ``HEALTHCHECK``: exit 0 when the bot answers ``GET /healthz``, else 1.

The bot serves ``/healthz`` on ``bot.health_port`` (8080) in Socket Mode and on ``bot.http_port``
(3000) with ``--http``; the ports come from the bot's own settings (environment and the
``LIFEGUARD_CONFIG`` file), so both are tried in that order. ``LIFEGUARD_HEALTHCHECK_URL``
replaces them when the bot was started with ``--port``.

Usage (the image runs it as ``/opt/lifeguard/bin/lifeguard-healthcheck``)::

    $ export LIFEGUARD_HEALTHCHECK_URL=http://127.0.0.1:3000/healthz
    $ python3 scripts/container_healthcheck.py
    healthy: http://127.0.0.1:3000/healthz answered 200
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

URL_VARIABLE = "LIFEGUARD_HEALTHCHECK_URL"
DEFAULT_PORTS = (8080, 3000)
TIMEOUT_SECONDS = 3.0


def candidate_urls() -> list[str]:
    """The URLs to try: the override, else ``/healthz`` on the health port and the HTTP port."""
    override = os.environ.get(URL_VARIABLE)
    if override:
        return [override]
    return [f"http://127.0.0.1:{port}/healthz" for port in configured_ports()]


def configured_ports() -> tuple[int, ...]:
    """``bot.health_port`` and ``bot.http_port`` from the bot's settings, else the defaults."""
    try:
        from bot.settings import load_settings  # noqa: PLC0415 (works without the bot too)

        settings = load_settings()
    except Exception:  # not installed here, or settings the bot itself would refuse
        return DEFAULT_PORTS
    return tuple(dict.fromkeys((settings.bot.health_port, settings.bot.http_port)))


def probe(url: str) -> str | None:
    """None when ``url`` answers 200, else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{url} did not answer ({reason})"
    return None if status == 200 else f"{url} answered {status}"


def main() -> int:
    """Probe each candidate URL; print the verdict and return the exit status."""
    problems = []
    for url in candidate_urls():
        problem = probe(url)
        if problem is None:
            print(f"healthy: {url} answered 200")
            return 0
        problems.append(problem)
    print("unhealthy: " + "; ".join(problems), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
