"""What every local AWS fake here shares: an aiohttp server on a loopback port that answers some
JSON 1.1 operations itself and forwards everything else, unchanged, to moto.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

JSON_11 = "application/x-amz-json-1.1"
HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


def json_answer(payload: dict[str, Any], *, request_id: str = "fake") -> web.Response:
    """A successful JSON 1.1 answer."""
    return web.Response(
        body=json.dumps(payload).encode(),
        headers={"Content-Type": JSON_11, "x-amzn-RequestId": request_id},
    )


def json_error(error_type: str, message: str, *, request_id: str = "fake") -> web.Response:
    """An AWS error answer: HTTP 400 with ``__type`` and ``message``, as botocore parses it."""
    return web.Response(
        status=400,
        body=json.dumps({"__type": error_type, "message": message}).encode(),
        headers={"Content-Type": JSON_11, "x-amzn-RequestId": request_id},
    )


@dataclass
class ForwardingServer:
    """The server half of a fake: start it, read :attr:`url`, forward to :attr:`upstream`."""

    upstream: str
    url: str = ""
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    async def start_serving(self, handler: Any) -> None:
        """Serve every path and method with ``handler`` on 127.0.0.1 and a free port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._session = aiohttp.ClientSession()

    async def stop_serving(self) -> None:
        """Close the upstream session and the server."""
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def forward_raw(
        self, request: web.Request, body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        """Send the request to the upstream as it came; return its status, body and headers."""
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, data=body, headers=headers
        ) as upstream:
            payload = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            return upstream.status, payload, kept

    async def forward(self, request: web.Request, body: bytes) -> web.Response:
        """Send the request upstream and pass its answer back unchanged."""
        status, payload, headers = await self.forward_raw(request, body)
        return web.Response(status=status, body=payload, headers=headers)
