"""The blog case after the deletion: ``ecr-lifeguard why-missing`` names rule 1 and the reason."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.blog import REPOSITORY, SHARED_DIGEST, load_blog_repository
from tests.support.cloudtrail_fake import CloudTrailFake, blog_policy_execution_event

ROOT = Path(__file__).resolve().parents[2]
RUN = datetime(2022, 12, 23, 13, 0, tzinfo=UTC)


async def why_missing(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "why-missing",
        *args,
        "--now",
        "2022-12-24T09:00:00Z",
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    for stream in (out.decode(), err.decode()):
        assert all(line == line.rstrip() for line in stream.splitlines()), stream
    return process.returncode, out.decode(), err.decode()


async def test_why_missing_names_rule_1_and_the_first_push(boto: Any) -> None:
    ecr = boto("ecr")
    load_blog_repository(ecr)
    ecr.batch_delete_image(repositoryName=REPOSITORY, imageIds=[{"imageDigest": SHARED_DIGEST}])
    async with CloudTrailFake() as trail:
        trail.add(blog_policy_execution_event(repository=REPOSITORY, at=RUN))
        env = {"AWS_ENDPOINT_URL_CLOUDTRAIL": trail.url}
        code, out, err = await why_missing(f"{REPOSITORY}:tag-1-253-0", "--format", "json", env=env)
        assert code == 0, err
        diagnosis = json.loads(out)
        assert diagnosis["verdict"] == "EXPIRED_BY_LIFECYCLE"
        assert diagnosis["repositoryName"] == REPOSITORY
        assert diagnosis["imageTag"] == "tag-1-253-0"
        assert diagnosis["imageDigest"] == SHARED_DIGEST  # in full, to copy into a command
        assert diagnosis["failure"] is None
        assert "rule 1" in diagnosis["summary"]
        texts = " ".join(e["text"] for e in diagnosis["evidence"])
        assert "Keep last 5 production images" in texts
        assert "first push" in texts and "tag-1-251-0" in texts
        assert any("commit 325dc21f" in s for s in diagnosis["suggestions"])

        code, out, err = await why_missing(f"{REPOSITORY}:tag-1-253-0", env=env)
        assert code == 0, err
        assert out.startswith("EXPIRED_BY_LIFECYCLE")
        assert "What to do" in out and "Evidence" in out
        assert f"\ndigest: {SHARED_DIGEST}\n" in out
        assert f"`ecr-lifeguard restore {REPOSITORY}@{SHARED_DIGEST}`" in out
