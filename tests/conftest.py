"""Shared fixtures: real components on loopback ports (moto in server mode, redis-server...)."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "MOTO_LAMBDA_STUB_ECR": "false",
}


@pytest.fixture(scope="session")
def aws_environment() -> Iterator[dict[str, str]]:
    """Fake credentials and a region for the whole session; no real AWS is ever reachable."""
    saved = {key: os.environ.get(key) for key in [*TEST_ENV, "AWS_PROFILE", "AWS_CONFIG_FILE"]}
    os.environ.update(TEST_ENV)
    os.environ.pop("AWS_PROFILE", None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    yield dict(TEST_ENV)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def moto_endpoint(aws_environment: dict[str, str]) -> Iterator[str]:
    """moto in server mode, in this process (so tests can reach its backend state), on a free port.

    AWS_ENDPOINT_URL points every SDK client of this process (and of subprocesses) at it.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    yield endpoint
    os.environ.pop("AWS_ENDPOINT_URL", None)
    server.stop()


@pytest.fixture
def moto(moto_endpoint: str) -> Iterator[str]:
    """A clean moto for one test: every backend is reset afterwards."""
    yield moto_endpoint
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture
def boto(moto: str) -> Any:
    """A factory of synchronous boto3 clients for arranging moto state: ``boto("ecr")``."""
    import boto3

    return lambda service, region="us-east-1": boto3.client(
        service, region_name=region, endpoint_url=moto
    )
