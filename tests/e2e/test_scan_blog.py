"""The blog case end to end: ``ecr-lifeguard scan`` against moto and a fake Kubernetes API."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.blog import NOW, REPOSITORY, SHARED_DIGEST, image_uri, load_blog_repository
from tests.support.kube_api import (
    FakeKubeApi,
    container,
    deployment,
    pod,
    replica_set,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[FakeKubeApi, Path]]:
    api = await FakeKubeApi().start()
    try:
        yield api, api.kubeconfig(tmp_path / "kubeconfig", context="prod-eks")
    finally:
        await api.stop()


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
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


def deploy_shop(api: FakeKubeApi, by_tag: dict[str, str]) -> None:
    """shop/web runs tag-1-257-0; one pod still runs the shared digest; rollback history."""
    current = container("web", image_uri(f"{REPOSITORY}:tag-1-257-0"))
    api.add(
        "deployments",
        deployment(
            "shop",
            "web",
            [current],
            revision=7,
            annotations={"ecr-lifeguard/channel": "#shop-oncall"},
        ),
    )
    api.add(
        "replicasets",
        replica_set("shop", "web-7", [current], deployment="web", revision=7, replicas=3),
        replica_set(
            "shop",
            "web-6",
            [container("web", image_uri(f"{REPOSITORY}:tag-1-253-0"))],
            deployment="web",
            revision=6,
            replicas=0,
        ),
    )
    shared = image_uri(f"{REPOSITORY}@{SHARED_DIGEST}")
    api.add(
        "pods",
        pod(
            "shop",
            "web-6-x2k9",
            [container("web", image_uri(f"{REPOSITORY}:tag-1-253-0"), image_id=shared)],
            owner=("ReplicaSet", "web-6"),
        ),
        pod(
            "shop",
            "web-7-a1b2",
            [
                container(
                    "web",
                    image_uri(f"{REPOSITORY}:tag-1-257-0"),
                    image_id=image_uri(f"{REPOSITORY}@{by_tag['tag-1-257-0']}"),
                )
            ],
            owner=("ReplicaSet", "web-7"),
        ),
    )


async def test_scan_reports_the_in_use_shared_digest(
    boto: Any, cluster: tuple[FakeKubeApi, Path]
) -> None:
    api, kubeconfig = cluster
    by_tag = load_blog_repository(boto("ecr"))
    deploy_shop(api, by_tag)
    code, out, err = await run_cli(
        "scan",
        "--now",
        NOW,
        "--kube-context",
        "prod-eks",
        "--format",
        "json",
        env={"KUBECONFIG": str(kubeconfig)},
    )
    assert code == 3, err
    document = json.loads(out)
    [risk] = [r for r in document["risks"] if r["imageDigest"] == SHARED_DIGEST]
    assert risk["repositoryName"] == REPOSITORY
    assert risk["action"] == "EXPIRE" and risk["appliedRulePriority"] == 1
    assert risk["severity"] == "running"
    assert risk["when"]["kind"] == "now"
    assert "tag-1-253-0" in risk["imageTags"]
    kinds = {(c["kind"], c["name"], c["use"]) for c in risk["consumers"]}
    assert ("k8s-pod", "shop/web-6-x2k9", "running") in kinds
    assert any(c["use"] == "rollback" for c in risk["consumers"])
    assert "first push" in risk["reason"] and "tag-1-251-0" in risk["reason"]
    current = by_tag["tag-1-257-0"]
    assert all(r["imageDigest"] != current for r in document["risks"])
    calls = document["summary"]["apiCalls"]
    assert calls["ecr.DescribeImages"] == 1
    assert calls["ecr.GetLifecyclePolicy"] == 1
    assert document["summary"]["problems"] == []
    assert document["summary"]["complete"] is True
    sources = {s["source"]: s for s in document["summary"]["sources"]}
    assert sources["kubernetes prod-eks"]["status"] == "read"
    assert sources["kubernetes prod-eks"]["uses"] > 0
    assert sources["ecs default/us-east-1"]["status"] == "read"


async def test_scan_table_and_a_proposed_policy_that_fixes_it(
    boto: Any, cluster: tuple[FakeKubeApi, Path], tmp_path: Path
) -> None:
    api, kubeconfig = cluster
    by_tag = load_blog_repository(boto("ecr"))
    deploy_shop(api, by_tag)
    env = {"KUBECONFIG": str(kubeconfig)}
    code, out, err = await run_cli("scan", "--now", NOW, "--kube-context", "prod-eks", env=env)
    assert code == 3, err
    print(out)
    assert "could not check" not in out
    assert "RUNNING NOW" in out and "ec1477a7420a" in out and "shop/web-6-x2k9" in out
    # The release tags people search for come first in the title, not six git-* tags.
    assert "tag-1-253-0, tag-1-252-0, git-" in out
    assert "Kubernetes prod-eks: " in out
    used_by = out[out.index("used by") :]
    assert used_by.index("running now") < used_by.index("rollback target")
    safer = {
        "rules": [
            {
                "rulePriority": 1,
                "description": "Keep last 20 production images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["tag"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 20,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 5,
                "description": "Expire images older than 14 days",
                "selection": {
                    "tagStatus": "any",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 14,
                },
                "action": {"type": "expire"},
            },
        ]
    }
    proposed = tmp_path / "proposed.json"
    proposed.write_text(json.dumps(safer))
    code, out, err = await run_cli(
        "scan",
        "--now",
        NOW,
        "--kube-context",
        "prod-eks",
        "--policy",
        str(proposed),
        "--format",
        "json",
        env=env,
    )
    assert code == 0, (out, err)
    assert json.loads(out)["risks"] == []
