"""The AWS stand-in of the demo: moto's server on 127.0.0.1, and fake credentials for it only.

Everything the demo's AWS clients need is set in this process's environment before any client is
made: static fake keys, ``/dev/null`` for the config and credentials files (the user's ``~/.aws``
is never read), no instance metadata, and ``AWS_ENDPOINT_URL`` pointing at the emulator. The
environment is put back as it was when the emulator stops.

moto cannot be told everything ECR reports through its API (push times, the digests ECS
resolved): :class:`Emulator` sets those in moto's in-process state, which its responses then
serialise. This is the only module of the product that imports moto.

Example::

    with Emulator.started() as aws:          # AWS_ENDPOINT_URL is now aws.endpoint
        aws.set_pushed_at("app", digest, 1_671_796_800.0)
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bot.errors import CliInputError

ACCOUNT = "123456789012"
REGION = "us-east-1"
REGISTRY_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
# ECS service-revision APIs: moto 5.2 lacks them (the ECS adapter then reads task definitions).
UNOFFERED = frozenset({"ListServiceDeployments", "DescribeServiceRevisions"})
POLL_SECONDS = 0.1  # how soon the server notices it is asked to stop
EXTRA_NEEDED = "the demo needs the demo extra: pip install 'ecr-lifeguard[demo]'"


def demo_environment(endpoint: str, current: Mapping[str, str]) -> dict[str, str]:
    """The environment the demo runs in: ``current`` without AWS settings, plus the emulator's.

    Example:
        >>> env = demo_environment("http://127.0.0.1:5000", {"AWS_PROFILE": "prod", "HOME": "/h"})
        >>> "AWS_PROFILE" in env, env["AWS_CONFIG_FILE"] == os.devnull, env["HOME"]
        (False, True, '/h')
    """
    kept = {key: value for key, value in current.items() if not key.startswith("AWS_")}
    loopback = ",".join(filter(None, [current.get("NO_PROXY", ""), "127.0.0.1", "localhost"]))
    return {
        **kept,
        "AWS_ACCESS_KEY_ID": "AKIADEMODEMODEMODEMO",
        "AWS_SECRET_ACCESS_KEY": "demo-secret-not-a-real-key",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": endpoint,
        "NO_PROXY": loopback,
        "no_proxy": loopback,
    }


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Replace this process's environment by ``values`` for the duration, then put it back."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def require_emulator() -> None:
    """Raise :class:`CliInputError` (one line, exit 2) unless moto's server can be imported."""
    try:
        import moto.moto_server.werkzeug_app  # noqa: F401, PLC0415 (an optional extra)
    except ImportError:
        raise CliInputError([EXTRA_NEEDED]) from None


class Unoffered:
    """WSGI middleware answering the operations moto lacks as an endpoint without them does.

    moto answers an operation it does not implement with an HTTP 500 page; AWS endpoints (and
    older regions) answer ``UnknownOperationException``, on which the ECS adapter falls back to
    the task definitions of a service's deployments.
    """

    def __init__(self, app: Any, operations: frozenset[str]) -> None:
        self.app = app
        self.operations = operations

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Refuse an unoffered operation; hand anything else to moto."""
        operation = str(environ.get("HTTP_X_AMZ_TARGET", "")).rpartition(".")[2]
        if operation not in self.operations:
            return self.app(environ, start_response)
        body = json.dumps(
            {"__type": "UnknownOperationException", "message": f"{operation} is not offered"}
        ).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Content-Length", f"{len(body)}"),
        ]
        start_response("400 Bad Request", headers)
        return [body]


def serve(host: str = "127.0.0.1") -> tuple[Any, threading.Thread]:
    """moto's server (as ``moto.server.ThreadedMotoServer`` builds it, quiet) on a free port."""
    from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 (an optional extra)
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server  # noqa: PLC0415 (comes with moto's server)

    class QuietHandler(MotoRequestHandler):
        def log(self, type: str, message: str, *args: Any) -> None:
            """Requests and moto's own errors are not the demo's output."""

    app = Unoffered(DomainDispatcherApplication(create_backend_app), UNOFFERED)
    server = make_server(host, 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, args=(POLL_SECONDS,), name="aws-emulator", daemon=True
    )
    thread.start()
    return server, thread


class Emulator:
    """moto's server in a thread of this process, and access to its in-process state."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    @classmethod
    @contextmanager
    def started(cls) -> Iterator[Emulator]:
        """Start moto on a free loopback port with the demo environment; stop it on exit.

        Raises :class:`CliInputError` (one line, exit 2) when moto is not installed.
        """
        require_emulator()
        server, thread = serve()
        host, port = server.server_address[:2]
        endpoint = f"http://{host}:{port}"
        try:
            with environment(demo_environment(endpoint, os.environ)):
                yield cls(endpoint)
        finally:
            server.shutdown()
            thread.join(timeout=5)

    def set_pushed_at(self, repository: str, digest: str, pushed_at: float) -> None:
        """Backdate an image's ``imagePushedAt`` (moto stamps the wall-clock time of the push)."""
        self._image(repository, digest).image_pushed_at = int(pushed_at)

    def set_task_digests(self, cluster: str, task_arn: str, digests: list[str]) -> None:
        """Give a running task's containers the digests ECS resolved when it started."""
        from moto.ecs.models import ecs_backends  # noqa: PLC0415 (an optional extra)

        task: Any = ecs_backends[ACCOUNT][REGION].tasks[cluster][task_arn]
        for container, digest in zip(task.containers, digests, strict=False):
            container.image_digest = digest

    def _image(self, repository: str, digest: str) -> Any:
        from moto.ecr.models import ecr_backends  # noqa: PLC0415 (an optional extra)

        for image in ecr_backends[ACCOUNT][REGION].repositories[repository].images:
            if image.image_digest == digest:
                return image
        raise KeyError(f"{repository}@{digest}")
