"""AWS's lifecycle preview, end to end: moto holds the repository, the ECR fake answers the preview
API moto lacks (computed by the independent reference evaluator), the adapter reads it over real
HTTP, and the comparison sets it against the local evaluation of the same policy.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from bot.edge.aws.clients import AwsClients, targets
from bot.edge.aws.ecr import EcrRegistry
from bot.edge.aws.preview import LifecyclePreviews
from bot.errors import NotFound, UpstreamError
from bot.lifecycle.compare import Comparison, LifecyclePreview, compare
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.parse import parse_policy
from bot.lifecycle.timefmt import parse_instant
from bot.refs import RepositoryKey
from bot.settings import AwsSettings
from tests.support.aws_json_fake import JSON_11
from tests.support.blog import BLOG, NOW, REPOSITORY, SHARED_DIGEST, load_blog_repository
from tests.support.ecr_fake import TARGET_PREFIX, EcrFake
from tests.support.moto_state import ACCOUNT, archive, image_manifest, push, set_image_times

SETTINGS = AwsSettings(regions=["us-east-1"], max_attempts=1)
TARGET = targets(SETTINGS)[0]
BLOG_KEY = RepositoryKey(ACCOUNT, "us-east-1", REPOSITORY)
BLOG_NOW = parse_instant(NOW)
FAST = {"poll_interval": 0.01, "timeout": 10.0}
KEEP_TEN = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "description": "Keep the last 10 images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": 10,
                },
                "action": {"type": "expire"},
            }
        ]
    }
)


@pytest.fixture
async def fake(moto: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EcrFake]:
    """The ECR fake in front of moto; the adapter's ECR client goes through it."""
    async with EcrFake(moto) as ecr_fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", ecr_fake.url)
        ecr_fake.preview_now = BLOG_NOW
        yield ecr_fake


@pytest.fixture
def ecr(boto: Any, fake: EcrFake) -> Any:
    """boto3 straight to moto, to arrange the repository."""
    return boto("ecr")


@pytest.fixture
def blog(ecr: Any) -> dict[str, str]:
    """The blog's repository and policy in moto; tag → digest."""
    return load_blog_repository(ecr)


async def run_preview(
    key: RepositoryKey = BLOG_KEY, policy_text: str | None = None, **options: Any
) -> tuple[LifecyclePreview | None, dict[str, int]]:
    async with AwsClients(SETTINGS) as aws:
        previews = LifecyclePreviews(aws, TARGET, **{**FAST, **options})
        preview = await previews.preview(key, policy_text)
        return preview, dict(aws.calls)


async def local_comparison(preview: LifecyclePreview, now: float = BLOG_NOW) -> Comparison:
    """List the repository, evaluate the policy the preview used, compare."""
    async with AwsClients(SETTINGS) as aws:
        registry = EcrRegistry(aws, TARGET)
        repository = await registry.repository(preview.repository.name)
        assert repository is not None
        images = await registry.images(repository)
    local = evaluate(parse_policy(preview.policy_text), images, now)
    return compare(preview.results, local, aws_as_of=preview.started_at)


def blog_plan() -> dict[str, int]:
    """The blog's documented outcome at NOW: expiring digest → rule priority."""
    plan = json.loads((BLOG / "plan.json").read_text())
    return {r["imageDigest"]: r["appliedRulePriority"] for r in plan["previewResults"]}


# -- agreement and difference on the blog's repository -------------------------------------------


async def test_aws_preview_of_the_blog_repository_agrees_with_the_local_evaluation(
    blog: dict[str, str], fake: EcrFake
) -> None:
    fake.preview_polls = 2
    preview, calls = await run_preview()
    assert preview is not None
    assert preview.policy_text == (BLOG / "policy.json").read_text()
    assert {r.digest: r.rule_priority for r in preview.results} == blog_plan()
    assert preview.summary.expiring == 8
    assert preview.summary.transitioning == 0
    shared = next(r for r in preview.results if r.digest == SHARED_DIGEST)
    assert (shared.action, shared.rule_priority, shared.storage_class) == ("EXPIRE", 1, "STANDARD")
    assert "tag-1-253-0" in shared.tags
    assert shared.pushed_at == parse_instant("2022-12-15T09:57:20Z")
    # One start, two polls IN_PROGRESS, the third COMPLETE with every result on its page.
    assert calls == {"ecr.StartLifecyclePolicyPreview": 1, "ecr.GetLifecyclePolicyPreview": 3}
    assert all(
        p
        == {"registryId": ACCOUNT, "repositoryName": REPOSITORY, "maxResults": 100}
        | {"filter": {"tagStatus": "ANY"}}
        for p in fake.calls("GetLifecyclePolicyPreview")
    )

    comparison = await local_comparison(preview)
    assert comparison.agrees
    assert comparison.counts == {
        "compared": 17,
        "agreed": 17,
        "differences": 0,
        "only_local": 0,
        "only_aws": 0,
    }
    assert comparison.describe() == (
        "AWS's lifecycle preview agrees with ECR Lifeguard on all 17 images"
    )


async def test_a_scripted_disagreement_names_the_digest_and_both_answers(
    blog: dict[str, str], fake: EcrFake
) -> None:
    kept_by_aws = SHARED_DIGEST
    expired_by_aws = blog["tag-1-257-0"]  # the newest release: kept by rule 1 locally
    fake.preview_overrides[(REPOSITORY, kept_by_aws)] = None
    fake.preview_overrides[(REPOSITORY, expired_by_aws)] = ("EXPIRE", 5)
    preview, _ = await run_preview()
    assert preview is not None

    comparison = await local_comparison(preview)
    assert not comparison.agrees
    assert comparison.counts["differences"] == 2
    lines = {d.digest: d.describe() for d in comparison.differences}
    assert lines[kept_by_aws] == (
        f"{kept_by_aws} (git-325dc21f, git-684254dd, git-06ec56d0 +8): AWS's lifecycle preview: "
        "kept; ECR Lifeguard: expire (rule 1)"
    )
    assert lines[expired_by_aws].endswith(
        "AWS's lifecycle preview: expire (rule 5); ECR Lifeguard: kept"
    )
    assert expired_by_aws in lines[expired_by_aws]
    assert comparison.describe() == (
        "AWS's lifecycle preview differs from ECR Lifeguard on 2 of 17 images"
    )


async def test_images_on_one_side_only_are_reported_apart(
    ecr: Any, blog: dict[str, str], fake: EcrFake
) -> None:
    preview, _ = await run_preview()
    assert preview is not None
    # After the preview: an image is pushed, and one the preview expires is deleted.
    newcomer = push(ecr, REPOSITORY, image_manifest("after-the-preview"), ["tag-1-258-0"])
    set_image_times(REPOSITORY, newcomer, pushed=datetime.now(UTC) + timedelta(seconds=5))
    gone = blog["tag-1-248-0"]
    ecr.batch_delete_image(repositoryName=REPOSITORY, imageIds=[{"imageDigest": gone}])

    comparison = await local_comparison(preview)
    assert comparison.only_local == (newcomer,)
    assert [image.digest for image in comparison.only_aws] == [gone]
    # The push moves the oldest kept release out of rule 1's window of 5: a real difference.
    [difference] = comparison.differences
    assert difference.digest == blog["tag-1-251-0"]
    assert (str(difference.aws), str(difference.local)) == ("kept", "expire (rule 1)")
    assert comparison.counts["compared"] == 16
    assert "(not compared: 1 pushed after the preview started, 1 no longer in the local" in (
        comparison.describe()
    )


# -- previews already running, given policies, missing ones --------------------------------------


async def test_a_running_preview_is_waited_for_not_restarted(
    blog: dict[str, str], fake: EcrFake
) -> None:
    fake.preview_polls = 3
    await raw_call(fake, "StartLifecyclePolicyPreview", {"repositoryName": REPOSITORY})
    # Results are fixed when a preview starts: an override set now can only show in a new one.
    fake.preview_overrides[(REPOSITORY, SHARED_DIGEST)] = None
    preview, calls = await run_preview()
    assert preview is not None
    assert SHARED_DIGEST in {r.digest for r in preview.results}  # the colleague's preview
    # The refused start, three polls IN_PROGRESS, one COMPLETE, and the current policy read to
    # check that the preview we joined is of it.
    assert calls == {
        "ecr.StartLifecyclePolicyPreview": 1,
        "ecr.GetLifecyclePolicyPreview": 4,
        "ecr.GetLifecyclePolicy": 1,
    }
    assert fake.operations["StartLifecyclePolicyPreview"] == 2
    assert (await local_comparison(preview)).agrees


async def test_a_running_preview_of_another_policy_is_waited_for_then_ours_runs(
    blog: dict[str, str], fake: EcrFake
) -> None:
    await raw_call(
        fake,
        "StartLifecyclePolicyPreview",
        {"repositoryName": REPOSITORY, "lifecyclePolicyText": KEEP_TEN},
    )
    preview, calls = await run_preview()
    assert preview is not None
    assert preview.policy_text == (BLOG / "policy.json").read_text()
    assert {r.digest for r in preview.results} == set(blog_plan())
    assert calls["ecr.StartLifecyclePolicyPreview"] == 2  # refused, then ours
    assert fake.operations["StartLifecyclePolicyPreview"] == 3


async def test_a_given_policy_is_previewed_instead_of_the_current_one(
    blog: dict[str, str], fake: EcrFake
) -> None:
    preview, _ = await run_preview(policy_text=KEEP_TEN)
    assert preview is not None
    assert preview.policy_text == KEEP_TEN
    assert len(preview.results) == 7  # 17 images, keep the newest 10
    assert {r.rule_priority for r in preview.results} == {1}
    assert fake.calls("StartLifecyclePolicyPreview")[0]["lifecyclePolicyText"] == KEEP_TEN
    assert (await local_comparison(preview)).agrees


async def test_a_repository_without_a_policy_has_no_preview(ecr: Any, fake: EcrFake) -> None:
    ecr.create_repository(repositoryName="no-policy")
    preview, calls = await run_preview(RepositoryKey(ACCOUNT, "us-east-1", "no-policy"))
    assert preview is None
    assert calls == {"ecr.StartLifecyclePolicyPreview": 1}


async def test_a_missing_repository_is_a_clear_not_found(fake: EcrFake) -> None:
    with pytest.raises(NotFound) as caught:
        await run_preview(RepositoryKey(ACCOUNT, "us-east-1", "ghost"))
    assert "The repository with name 'ghost' does not exist" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "why"),
    [("FAILED", "ECR could not complete it"), ("EXPIRED", "its results expired")],
)
async def test_a_failed_or_expired_preview_is_an_upstream_error(
    blog: dict[str, str], fake: EcrFake, status: str, why: str
) -> None:
    fake.preview_final_status = status
    with pytest.raises(UpstreamError) as caught:
        await run_preview()
    error = caught.value
    assert error.code == f"Preview{status.title()}"
    assert f"the lifecycle policy preview of {REPOSITORY} ended {status}: {why}" in str(error)
    assert error.hint is not None and "run the preview again" in error.hint


async def test_a_preview_that_never_completes_times_out(
    blog: dict[str, str], fake: EcrFake
) -> None:
    fake.preview_polls = 10_000
    with pytest.raises(UpstreamError) as caught:
        await run_preview(poll_interval=0.02, timeout=0.2)
    assert caught.value.code == "PreviewTimeout"
    assert f"preview of {REPOSITORY} was still IN_PROGRESS after 0.2 s" in str(caught.value)
    # It polled (how often depends on the machine's load) and gave up while the preview ran.
    assert fake.operations["GetLifecyclePolicyPreview"] >= 1
    assert fake.previews[(ACCOUNT, REPOSITORY)].running


# -- paging and archive transitions --------------------------------------------------------------


async def test_every_page_of_a_large_preview_is_read(ecr: Any, fake: EcrFake) -> None:
    ecr.create_repository(repositoryName="busy")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(230):
        digest = push(ecr, "busy", image_manifest(f"busy-{n}"), [f"build-{n}"])
        set_image_times("busy", digest, pushed=start + timedelta(hours=n))
    ecr.put_lifecycle_policy(repositoryName="busy", lifecyclePolicyText=KEEP_TEN)
    fake.preview_now = (start + timedelta(days=30)).timestamp()
    key = RepositoryKey(ACCOUNT, "us-east-1", "busy")

    preview, calls = await run_preview(key)
    assert preview is not None
    assert len(preview.results) == 220
    assert len({r.digest for r in preview.results}) == 220
    assert preview.summary.expiring == 220
    # Start, the COMPLETE poll (first page), then the paginator's three pages of 100.
    assert calls == {"ecr.StartLifecyclePolicyPreview": 1, "ecr.GetLifecyclePolicyPreview": 5}
    comparison = await local_comparison(preview, now=fake.preview_now)
    assert comparison.agrees
    assert comparison.compared == 230


async def test_archive_transitions_are_typed_and_compared(ecr: Any, fake: EcrFake) -> None:
    ecr.create_repository(repositoryName="archive-me")
    old = datetime(2024, 1, 1, tzinfo=UTC)
    digests = [push(ecr, "archive-me", image_manifest(f"a-{n}"), [f"v{n}"]) for n in range(4)]
    for n, digest in enumerate(digests):
        set_image_times("archive-me", digest, pushed=old + timedelta(days=n))
    archive("archive-me", digests[0], datetime(2024, 2, 1, tzinfo=UTC))
    policy = {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "any",
                    "storageClass": "archive",
                    "countType": "sinceImageTransitioned",
                    "countUnit": "days",
                    "countNumber": 90,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": 1,
                },
                "action": {"type": "transition", "targetStorageClass": "archive"},
            },
        ]
    }
    # moto refuses archive rules in PutLifecyclePolicy: preview the policy as a given text.
    fake.preview_now = datetime(2024, 6, 1, tzinfo=UTC).timestamp()
    key = RepositoryKey(ACCOUNT, "us-east-1", "archive-me")
    preview, _ = await run_preview(key, policy_text=json.dumps(policy))
    assert preview is not None
    by_digest = {r.digest: r for r in preview.results}
    assert (by_digest[digests[0]].action, by_digest[digests[0]].storage_class) == (
        "EXPIRE",
        "ARCHIVE",
    )
    for digest in digests[1:3]:
        assert (by_digest[digest].action, by_digest[digest].target_storage_class) == (
            "TRANSITION",
            "ARCHIVE",
        )
    assert digests[3] not in by_digest  # the newest stays
    assert (preview.summary.expiring, preview.summary.transitioning) == (1, 2)
    assert (await local_comparison(preview, now=fake.preview_now)).agrees


# -- the fake speaks the preview API's wire format ------------------------------------------------


async def raw_call(
    fake: EcrFake, operation: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """One JSON 1.1 request as the SDK sends it, and the answer exactly as it came.

    Also how "a colleague" starts a preview. (The fake serves on this event loop: a synchronous
    client here would block it.)
    """
    headers = {"X-Amz-Target": TARGET_PREFIX + operation, "Content-Type": JSON_11}
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.url, data=json.dumps(body), headers=headers) as answer,
    ):
        return answer.status, json.loads(await answer.read())


async def test_the_fake_answers_with_the_real_wire_format(
    blog: dict[str, str], fake: EcrFake
) -> None:
    fake.preview_polls = 1
    ids = {"repositoryName": REPOSITORY}
    assert await raw_call(fake, "GetLifecyclePolicyPreview", ids) == (
        400,
        {
            "__type": "LifecyclePolicyPreviewNotFoundException",
            "message": f"There is no dry run for the repository with name '{REPOSITORY}' in "
            f"the registry with id '{ACCOUNT}'",
        },
    )
    status, started = await raw_call(fake, "StartLifecyclePolicyPreview", ids)
    assert (status, started["status"], started["registryId"]) == (200, "IN_PROGRESS", ACCOUNT)
    status, again = await raw_call(fake, "StartLifecyclePolicyPreview", ids)
    assert (status, again["__type"]) == (400, "LifecyclePolicyPreviewInProgressException")
    status, running = await raw_call(fake, "GetLifecyclePolicyPreview", ids)
    assert (running["status"], running["previewResults"]) == ("IN_PROGRESS", [])
    assert "summary" not in running

    status, page = await raw_call(fake, "GetLifecyclePolicyPreview", {**ids, "maxResults": 3})
    assert (status, page["status"], len(page["previewResults"])) == (200, "COMPLETE", 3)
    assert page["summary"] == {"expiringImageTotalCount": 8}  # no transitions: key left out
    entry = page["previewResults"][0]
    assert set(entry) == {
        "imageDigest",
        "imageTags",
        "imagePushedAt",
        "action",
        "appliedRulePriority",
        "storageClass",
    }
    assert isinstance(entry["imagePushedAt"], float)  # an epoch number, as AWS sends it
    rest = []
    token = page.get("nextToken")
    while token:
        _, more = await raw_call(fake, "GetLifecyclePolicyPreview", {**ids, "nextToken": token})
        rest += more["previewResults"]
        token = more.get("nextToken")
    assert len(page["previewResults"]) + len(rest) == 8

    _, untagged = await raw_call(
        fake, "GetLifecyclePolicyPreview", {**ids, "filter": {"tagStatus": "UNTAGGED"}}
    )
    assert [r.get("imageTags") for r in untagged["previewResults"]] == [None]
    _, tagged = await raw_call(
        fake, "GetLifecyclePolicyPreview", {**ids, "filter": {"tagStatus": "TAGGED"}}
    )
    assert len(tagged["previewResults"]) == 7
    _, one = await raw_call(
        fake, "GetLifecyclePolicyPreview", {**ids, "imageIds": [{"imageDigest": SHARED_DIGEST}]}
    )
    assert [r["imageDigest"] for r in one["previewResults"]] == [SHARED_DIGEST]


@pytest.mark.parametrize(
    ("operation", "body", "error"),
    [
        ("GetLifecyclePolicyPreview", {"maxResults": 101}, "ValidationException"),
        ("GetLifecyclePolicyPreview", {"maxResults": 0}, "ValidationException"),
        ("GetLifecyclePolicyPreview", {"nextToken": "bm90LWEtdG9rZW4="}, "InvalidParameter"),
        ("GetLifecyclePolicyPreview", {"filter": {"tagStatus": "ALL"}}, "ValidationException"),
        ("StartLifecyclePolicyPreview", {"lifecyclePolicyText": "{}"}, "InvalidParameter"),
        ("StartLifecyclePolicyPreview", {"repositoryName": "ghost"}, "RepositoryNotFound"),
    ],
)
async def test_the_fake_refuses_what_ecr_refuses(
    blog: dict[str, str], fake: EcrFake, operation: str, body: dict[str, Any], error: str
) -> None:
    ids = {"repositoryName": REPOSITORY}
    started, _ = await raw_call(fake, "StartLifecyclePolicyPreview", ids)
    assert started == 200
    await raw_call(fake, "GetLifecyclePolicyPreview", ids)  # the preview completes
    status, answer = await raw_call(fake, operation, {"repositoryName": REPOSITORY, **body})
    assert status == 400
    assert answer["__type"].startswith(error)
    assert answer["message"]


async def test_the_fake_needs_a_policy_to_preview(ecr: Any, fake: EcrFake) -> None:
    ecr.create_repository(repositoryName="bare")
    assert await raw_call(fake, "StartLifecyclePolicyPreview", {"repositoryName": "bare"}) == (
        400,
        {
            "__type": "LifecyclePolicyNotFoundException",
            "message": "Lifecycle policy does not exist for the repository with name 'bare' in "
            f"the registry with id '{ACCOUNT}'",
        },
    )
