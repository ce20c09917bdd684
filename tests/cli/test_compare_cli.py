"""``ecr-lifeguard plan --repository NAME --compare-with-aws``: AWS's preview beside the local
evaluation, as a user runs it (a subprocess; ECR through the fake, which serves the preview API)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.cli.test_scan_why_cli import assert_invalid, assert_no_traceback, cli_env, run, run_async
from tests.support.blog import REPOSITORY, SHARED_DIGEST, load_blog_repository
from tests.support.ecr_fake import EcrFake


@pytest.fixture
async def fake(moto: str) -> AsyncIterator[EcrFake]:
    async with EcrFake(moto) as ecr_fake:
        yield ecr_fake


def compare_env(moto: str, fake: EcrFake) -> dict[str, str]:
    return cli_env(moto, AWS_ENDPOINT_URL_ECR=fake.url)


ARGS = ("plan", "--repository", REPOSITORY, "--compare-with-aws", "--region", "us-east-1")


async def test_when_aws_agrees_it_says_so_and_exits_0(boto: Any, fake: EcrFake, moto: str) -> None:
    load_blog_repository(boto("ecr"))
    fake.preview_polls = 1
    result = await run_async(*ARGS, env=compare_env(moto, fake))
    assert result.code == 0, result
    assert_no_traceback(result)
    assert result.out.strip() == f"AWS's lifecycle preview of {REPOSITORY} agrees on all 17 images."
    assert fake.operations["StartLifecyclePolicyPreview"] == 1
    assert fake.operations["PutImage"] == fake.operations["PutLifecyclePolicy"] == 0  # read-only


async def test_when_aws_differs_it_names_the_image_and_both_answers_and_exits_3(
    boto: Any, fake: EcrFake, moto: str
) -> None:
    load_blog_repository(boto("ecr"))
    fake.preview_overrides[(REPOSITORY, SHARED_DIGEST)] = None
    text = await run_async(*ARGS, env=compare_env(moto, fake))
    assert text.code == 3, text
    assert "differs on 1 image of 17 images" in text.out
    assert SHARED_DIGEST in text.out and "AWS's lifecycle preview: kept" in text.out
    document = await run_async(*ARGS, "--format", "json", env=compare_env(moto, fake))
    assert document.code == 3
    found = json.loads(document.out)
    assert found["agrees"] is False and found["compared"] == 17
    [difference] = found["differences"]
    assert difference["imageDigest"] == SHARED_DIGEST and difference["aws"] == "kept"


def test_compare_needs_a_repository() -> None:
    assert_invalid(
        run("plan", "--compare-with-aws"), "--repository and --compare-with-aws go together"
    )
    assert_invalid(run("plan"), "plan needs --policy and --images")
