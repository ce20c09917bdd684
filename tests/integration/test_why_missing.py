"""why-missing in process: ``investigate`` + ``conclude`` against moto and a CloudTrail fake.

Every verdict is reached from real ECR state (moto in server mode, over HTTP) and real
``LookupEvents`` answers (the CloudTrail fake), through the same adapters the CLI uses.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.diagnose.investigate import Investigation, investigate
from bot.diagnose.verdict import Diagnosis, Facts, Verdict, conclude
from bot.edge.aws.clients import AwsClients, AwsTarget
from bot.edge.aws.cloudtrail import CloudTrailForensics
from bot.edge.aws.ecr import EcrRegistry
from bot.refs import parse_image_ref
from bot.settings import AwsAccount, AwsSettings
from tests.support.blog import REPOSITORY as BLOG_REPOSITORY
from tests.support.blog import SHARED_DIGEST, load_blog_repository
from tests.support.cloudtrail_fake import (
    CloudTrailFake,
    batch_delete_image_event,
    blog_policy_execution_event,
    digest_of,
    lifecycle_image,
    manifest,
    policy_execution_event,
    put_image_event,
)
from tests.support.moto_state import ACCOUNT, archive, push, set_image_times

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = AwsSettings(regions=["us-east-1"], max_attempts=1)
HOME = AwsTarget(AwsAccount(), "us-east-1")
FAST = 1000.0
HOST = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user"
BLOG_NOW = datetime(2022, 12, 24, 9, 0, tzinfo=UTC)
BLOG_RUN = datetime(2022, 12, 23, 13, 0, tzinfo=UTC)
KEEP_TWO_RELEASES = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "Keep the last 2 releases",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": ["v"],
                "countType": "imageCountMoreThan",
                "countNumber": 2,
            },
            "action": {"type": "expire"},
        }
    ]
}
EXPIRE_UNTAGGED_RULES = [
    {
        "rulePriority": 2,
        "description": "Expire untagged after 1 day",
        "lifecycleEventSelection": {
            "tagStatus": "Untagged",
            "countType": "Time since image pushed",
            "countUnit": "Days",
            "countNumber": 1,
        },
        "action": "expire",
    }
]


@pytest.fixture
async def cloudtrail(
    aws_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[CloudTrailFake]:
    async with CloudTrailFake() as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", fake.url)
        yield fake


@pytest.fixture
async def denied_cloudtrail(
    aws_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[CloudTrailFake]:
    async with CloudTrailFake(deny=True) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", fake.url)
        yield fake


@dataclass(frozen=True)
class Outcome:
    facts: Facts
    diagnosis: Diagnosis
    calls: dict[str, int]

    @property
    def evidence(self) -> list[str]:
        return [e.text for e in self.diagnosis.evidence]

    @property
    def suggestions(self) -> str:
        return "\n".join(self.diagnosis.suggestions)


async def diagnose(
    reference: str,
    *,
    now: datetime = NOW,
    other_regions: Sequence[str] = (),
    trail: bool = True,
) -> Outcome:
    async with AwsClients(SETTINGS) as aws:
        others = [EcrRegistry(aws, AwsTarget(AwsAccount(), region)) for region in other_regions]
        where = Investigation(
            registry=EcrRegistry(aws, HOME),
            others=others,
            trail=CloudTrailForensics(aws, HOME, rate=FAST) if trail else None,
        )
        facts = await investigate(parse_image_ref(reference), where, now.timestamp())
        return Outcome(facts, conclude(facts), dict(aws.calls))


def pushed(ecr: Any, repository: str, seed: str, tags: list[str], at: datetime) -> str:
    """Push ``manifest(seed)`` under ``tags`` and date it ``at``; return its digest."""
    digest = push(ecr, repository, manifest(seed), tags)
    set_image_times(repository, digest, pushed=at)
    return digest


def lookups(fake: CloudTrailFake) -> list[str]:
    names = []
    for request in fake.requests:
        [attribute] = request.body["LookupAttributes"]
        assert attribute["AttributeKey"] == "EventName"
        names.append(attribute["AttributeValue"])
    return names


def minutes(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


# REPOSITORY_NOT_FOUND ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "suggested"),
    [
        ("myapp:v1", "my-app:v1"),
        ("myapp@sha256:" + "a" * 64, "my-app@sha256:" + "a" * 64),
    ],
)
async def test_missing_repository_suggests_the_closest_name(
    boto: Any, cloudtrail: CloudTrailFake, reference: str, suggested: str
) -> None:
    ecr = boto("ecr")
    for name in ("my-app", "billing", "payments/api"):
        ecr.create_repository(repositoryName=name)

    outcome = await diagnose(reference)

    diagnosis = outcome.diagnosis
    assert diagnosis.verdict is Verdict.REPOSITORY_NOT_FOUND
    assert diagnosis.summary == f"Repository myapp does not exist in account {ACCOUNT}, us-east-1."
    assert outcome.evidence == [f"DescribeRepositories: no repository myapp in {ACCOUNT}/us-east-1"]
    assert diagnosis.suggestions[0] == f"Did you mean my-app? ({suggested})"
    assert "billing" not in outcome.suggestions
    assert "payments/api" not in outcome.suggestions
    assert "DeleteRepository" in diagnosis.suggestions[-1]
    assert outcome.facts.similar_repositories == ("my-app",)
    assert outcome.facts.repository_exists is False
    assert "ecr.DescribeImages" not in outcome.calls
    assert cloudtrail.requests == []


async def test_missing_repository_names_the_other_region_where_it_exists(
    boto: Any, cloudtrail: CloudTrailFake
) -> None:
    boto("ecr", "us-west-2").create_repository(repositoryName="billing")
    boto("ecr", "eu-west-1").create_repository(repositoryName="shipping")

    outcome = await diagnose("billing:v3", other_regions=["us-west-2", "eu-west-1"])

    diagnosis = outcome.diagnosis
    assert diagnosis.verdict is Verdict.REPOSITORY_NOT_FOUND
    assert outcome.facts.found_elsewhere == ("default/us-west-2",)
    assert outcome.facts.similar_repositories == ()
    [elsewhere] = [s for s in diagnosis.suggestions if "exists in" in s]
    assert elsewhere.startswith("A repository named billing exists in default/us-west-2")
    assert "check the account and region in the image URI" in elsewhere
    assert "eu-west-1" not in outcome.suggestions
    assert cloudtrail.requests == []


# PRESENT -----------------------------------------------------------------------------------------


async def test_present_image_points_at_the_pull_path(boto: Any, cloudtrail: CloudTrailFake) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    digest = pushed(ecr, "app", "v1", ["v1", "latest"], NOW - 3 * DAY)

    outcome = await diagnose("app:v1")

    diagnosis = outcome.diagnosis
    assert diagnosis.verdict is Verdict.PRESENT
    assert diagnosis.summary == (
        f"app:v1 is present and active in {ACCOUNT}/us-east-1: the problem is on the pull path."
    )
    assert diagnosis.digest == digest
    [found] = diagnosis.evidence
    assert digest in found.text and "tags: v1, latest" in found.text
    assert found.at == (NOW - 3 * DAY).timestamp()
    suggestions = outcome.suggestions
    assert f"Pull with the exact URI {HOST}/app:v1" in suggestions
    assert "credentials" in suggestions and "ecr:GetAuthorizationToken" in suggestions
    assert "no repository policy: pulls from other accounts are denied" in suggestions
    assert "Tags are mutable here: v1 may point to a different image" in suggestions
    assert "pin the digest" in suggestions
    assert "VPC endpoints" in suggestions
    assert outcome.facts.tag_mutability == "MUTABLE"
    assert outcome.calls == {
        "ecr.DescribeRepositories": 1,
        "ecr.DescribeImages": 1,
        "ecr.GetRepositoryPolicy": 1,
        "cloudtrail.LookupEvents": 1,
    }
    assert len(cloudtrail.requests) == 1  # only PutImage, for recent moves of the tag


async def test_present_image_with_a_repository_policy_and_immutable_tags(
    boto: Any, cloudtrail: CloudTrailFake
) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="team/api", imageTagMutability="IMMUTABLE")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "pull",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            }
        ],
    }
    ecr.set_repository_policy(repositoryName="team/api", policyText=json.dumps(policy))
    pushed(ecr, "team/api", "api-2", ["2.0.0"], NOW - DAY)

    outcome = await diagnose(f"{HOST}/team/api:2.0.0")

    diagnosis = outcome.diagnosis
    assert diagnosis.verdict is Verdict.PRESENT
    assert outcome.facts.repository_policy is not None
    assert "222222222222" in outcome.facts.repository_policy
    assert "The repository policy must allow the pulling account" in outcome.suggestions
    assert "no repository policy" not in outcome.suggestions
    assert "mutable" not in outcome.suggestions.lower()
    assert f"{HOST}/team/api:2.0.0" in outcome.suggestions
    assert lookups(cloudtrail) == ["PutImage"]  # recent moves of the tag only


async def test_present_digest_reference_suggests_the_uri_with_the_digest(
    boto: Any, cloudtrail: CloudTrailFake
) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    digest = pushed(ecr, "app", "v1", ["v1"], NOW - DAY)

    outcome = await diagnose(f"app@{digest}")

    assert outcome.diagnosis.verdict is Verdict.PRESENT
    assert f"Pull with the exact URI {HOST}/app@{digest}" in outcome.suggestions


async def test_present_image_shows_recent_moves_of_its_mutable_tag(
    boto: Any, cloudtrail: CloudTrailFake
) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    pushed(ecr, "app", "prod-1", ["prod"], NOW - 5 * DAY)
    now_on = pushed(ecr, "app", "prod-2", ["prod"], NOW - DAY)
    cloudtrail.add(put_image_event("app", "prod", manifest("prod-1"), NOW - 5 * DAY))
    cloudtrail.add(put_image_event("app", "prod", manifest("prod-2"), NOW - DAY))

    outcome = await diagnose("app:prod")

    assert outcome.diagnosis.verdict is Verdict.PRESENT
    moves = [e for e in outcome.diagnosis.evidence if e.source == "cloudtrail"]
    assert [e.text for e in moves] == [
        f"PutImage put prod on {now_on[:19]}… ({USER_ARN}/ci-deployer)"
    ]


# ARCHIVED and RESTORING --------------------------------------------------------------------------


async def test_archived_image_says_how_to_restore_it(boto: Any, cloudtrail: CloudTrailFake) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    digest = pushed(ecr, "app", "old", ["v0.9"], NOW - 200 * DAY)
    archived_at = NOW - 10 * DAY
    archive("app", digest, archived_at)

    outcome = await diagnose("app:v0.9")

    diagnosis = outcome.diagnosis
    assert diagnosis.verdict is Verdict.ARCHIVED
    assert diagnosis.summary == (
        f"app:v0.9 is archived since {minutes(archived_at)}: "
        "archived images cannot be pulled (404)."
    )
    assert f"imageStatus ARCHIVED since {minutes(archived_at)}" in outcome.evidence
    restore = diagnosis.suggestions[0]
    assert f"`ecr-lifeguard restore app@{digest}`" in restore
    assert (
        f"aws ecr update-image-storage-class --repository-name app --image-id "
        f"imageDigest={digest} --target-storage-class STANDARD"
    ) in restore
    assert "20 minutes" in restore
    assert f"`ecr-lifeguard protect app@{digest}`" in diagnosis.suggestions[1]
    assert outcome.facts.image is not None and outcome.facts.image.digest == digest
    assert diagnosis.digest == digest


async def test_restoring_image_says_to_wait(boto: Any, cloudtrail: CloudTrailFake) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    digest = pushed(ecr, "app", "old", ["v0.9"], NOW - 200 * DAY)
    archive("app", digest, NOW - 10 * DAY, activating=True)

    outcome = await diagnose(f"app@{digest}")

    diagnosis = outcome.diagnosis
    assert diagnosis.verdict is Verdict.RESTORING
    assert diagnosis.summary == (
        f"app@{digest[:19]}… is being restored from archive; pulls fail until it is ACTIVE again."
    )
    assert digest in outcome.evidence[0]
    assert diagnosis.suggestions == (
        "Wait for the restore to finish (usually within 20 minutes), then retry the pull.",
    )


# EXPIRED_BY_LIFECYCLE ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "name", "looked_up"),
    [
        (
            f"{BLOG_REPOSITORY}:tag-1-253-0",
            f"{BLOG_REPOSITORY}:tag-1-253-0",
            ["BatchDeleteImage", "PolicyExecutionEvent", "PutImage"],
        ),
        (
            f"{BLOG_REPOSITORY}@{SHARED_DIGEST}",
            f"{BLOG_REPOSITORY}@{SHARED_DIGEST[:19]}…",
            ["BatchDeleteImage", "PolicyExecutionEvent"],  # no tag: no PutImage lookup
        ),
    ],
    ids=["tag", "digest"],
)
async def test_blog_expiry_names_rule_1_and_reconstructs_the_first_push(
    boto: Any, cloudtrail: CloudTrailFake, reference: str, name: str, looked_up: list[str]
) -> None:
    ecr = boto("ecr")
    load_blog_repository(ecr)
    ecr.batch_delete_image(
        repositoryName=BLOG_REPOSITORY, imageIds=[{"imageDigest": SHARED_DIGEST}]
    )
    cloudtrail.add(blog_policy_execution_event(repository=BLOG_REPOSITORY, at=BLOG_RUN))
    cloudtrail.add(blog_policy_execution_event(repository="someone/else", at=BLOG_RUN))

    outcome = await diagnose(reference, now=BLOG_NOW)

    diagnosis = outcome.diagnosis
    assert diagnosis.verdict is Verdict.EXPIRED_BY_LIFECYCLE
    assert diagnosis.summary == f"{name} was expired by lifecycle rule 1 on {minutes(BLOG_RUN)}."
    event, reconstructed = diagnosis.evidence
    assert event.source == "cloudtrail" and event.at == BLOG_RUN.timestamp()
    assert event.text.startswith(
        'PolicyExecutionEvent: lifecycle rule 1 ("Keep last 5 production images") expired '
        f"{SHARED_DIGEST[:19]}… (tags: git-325dc21f,"
    )
    assert "tag-1-253-0" in event.text and "first pushed 2022-12-15 09:57 UTC" in event.text
    assert reconstructed.source == "policy"
    assert reconstructed.text.startswith("Reconstructed from the policy at the time: ")
    assert "first push" in reconstructed.text and "tag-1-251-0" in reconstructed.text
    suggestions = outcome.suggestions
    assert f"`ecr-lifeguard restore {BLOG_REPOSITORY}@{SHARED_DIGEST}`" in suggestions
    assert not any("`" in s and "…" in s for s in diagnosis.suggestions)  # commands stay whole
    assert diagnosis.digest == SHARED_DIGEST
    assert "rebuild it from commit 325dc21f" in suggestions
    assert "ecr-lifeguard lint" in suggestions and "rule 1 cannot reach them" in suggestions
    [expiry] = outcome.facts.expiries
    assert expiry.rule_priority == 1 and expiry.digest == SHARED_DIGEST
    assert outcome.facts.deletions == () and outcome.facts.tag_moves == ()
    start = (BLOG_NOW - 90 * DAY).timestamp()
    assert sorted(lookups(cloudtrail)) == looked_up
    assert all(
        (r.body["StartTime"], r.body["EndTime"]) == (start, BLOG_NOW.timestamp())
        for r in cloudtrail.requests
    )


async def test_expiry_without_a_recorded_policy_is_explained_from_the_current_one(
    boto: Any, cloudtrail: CloudTrailFake
) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="api")
    ecr.put_lifecycle_policy(
        repositoryName="api", lifecyclePolicyText=json.dumps(KEEP_TWO_RELEASES)
    )
    run = NOW - 2 * DAY
    gone = "sha256:" + "1" * 64
    pushed(ecr, "api", "v2", ["v2"], NOW - 20 * DAY)
    pushed(ecr, "api", "v3", ["v3"], NOW - 10 * DAY)
    pushed(ecr, "api", "v4", ["v4"], NOW - DAY)  # after the run: not counted then
    action = lifecycle_image(gone, ["v1"], int((NOW - 30 * DAY).timestamp() * 1000))
    cloudtrail.add(policy_execution_event("api", run, [action], rules=[]))

    outcome = await diagnose("api:v1")

    diagnosis = outcome.diagnosis
    assert diagnosis.verdict is Verdict.EXPIRED_BY_LIFECYCLE
    assert diagnosis.summary == f"api:v1 was expired by lifecycle rule 1 on {minutes(run)}."
    event, reconstructed = diagnosis.evidence
    assert event.text.startswith(f"PolicyExecutionEvent: lifecycle rule 1 expired {gone[:19]}…")
    assert "(tags: v1, first pushed" in event.text
    assert reconstructed.text == (
        'Reconstructed from the policy at the time: Rule 1 ("Keep the last 2 releases") expires '
        'it: it is number 3 of 3 images with a tag starting with "v", newest first, and the rule '
        "keeps 2."
    )
    assert "rebuild it from the commit it was built from" in outcome.suggestions


# DELETED_MANUALLY --------------------------------------------------------------------------------


async def test_manual_deletion_names_the_iam_principal(
    boto: Any, cloudtrail: CloudTrailFake
) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    pushed(ecr, "app", "v2", ["v2"], NOW - 3 * DAY)
    gone = "sha256:" + "d" * 64
    deleted_at = NOW - 2 * DAY
    cloudtrail.add(
        batch_delete_image_event(
            "app",
            deleted_at,
            [{"imageDigest": gone, "imageTag": "git-abc1234"}],
            requested=[{"imageTag": "git-abc1234"}],
            user="bob",
        )
    )
    cloudtrail.add(
        batch_delete_image_event(
            "app", deleted_at, [{"imageDigest": "sha256:" + "e" * 64, "imageTag": "other"}]
        )
    )

    outcome = await diagnose("app:git-abc1234")

    diagnosis = outcome.diagnosis
    principal = f"{USER_ARN}/bob"
    assert diagnosis.verdict is Verdict.DELETED_MANUALLY
    assert diagnosis.summary == (
        f"app:git-abc1234 was deleted by {principal} on {minutes(deleted_at)}."
    )
    [evidence] = diagnosis.evidence
    assert evidence.text == f"BatchDeleteImage by {principal}: git-abc1234, {gone[:19]}…"
    assert (evidence.source, evidence.at) == ("cloudtrail", deleted_at.timestamp())
    suggestions = outcome.suggestions
    assert f"Ask {principal} why, and restrict ecr:BatchDeleteImage" in suggestions
    assert f"`ecr-lifeguard restore app@{gone}`" in suggestions
    assert diagnosis.digest == gone
    assert "rebuild it from commit abc1234" in suggestions
    [deletion] = outcome.facts.deletions
    assert deletion.principal == principal and deletion.digests == (gone,)


async def test_deletion_by_digest_is_found_for_a_tag_reference(
    boto: Any, cloudtrail: CloudTrailFake
) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    pushed(ecr, "app", "v2", ["v2"], NOW - 3 * DAY)
    cloudtrail.add(put_image_event("app", "v1", manifest("v1"), NOW - 10 * DAY))
    gone = push(ecr, "app", manifest("v1"), ["v1"])
    ecr.batch_delete_image(repositoryName="app", imageIds=[{"imageDigest": gone}])
    cloudtrail.add(
        batch_delete_image_event("app", NOW - 2 * DAY, [{"imageDigest": gone}], user="bob")
    )

    outcome = await diagnose("app:v1")

    assert outcome.diagnosis.verdict is Verdict.DELETED_MANUALLY
    assert f"{USER_ARN}/bob" in outcome.diagnosis.summary


async def test_the_latest_removal_is_the_verdict(boto: Any, cloudtrail: CloudTrailFake) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    pushed(ecr, "app", "v2", ["v2"], NOW - 30 * DAY)
    digest = digest_of(manifest("v1"))
    expired_at, deleted_at = NOW - 20 * DAY, NOW - 2 * DAY
    action = lifecycle_image(digest, ["v1"], int((NOW - 40 * DAY).timestamp() * 1000))
    cloudtrail.add(policy_execution_event("app", expired_at, [action]))
    cloudtrail.add(put_image_event("app", "v1", manifest("v1"), NOW - 10 * DAY))  # pushed again
    cloudtrail.add(
        batch_delete_image_event(
            "app", deleted_at, [{"imageDigest": digest, "imageTag": "v1"}], user="bob"
        )
    )

    outcome = await diagnose("app:v1")

    assert outcome.diagnosis.verdict is Verdict.DELETED_MANUALLY


# TAG_MOVED ---------------------------------------------------------------------------------------


async def test_tag_moved_to_another_digest_while_the_old_one_stays(
    boto: Any, cloudtrail: CloudTrailFake
) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    # The old image keeps another tag, so it stays (moto drops an image left without tags).
    old = pushed(ecr, "app", "prod-1", ["prod", "build-41"], NOW - 5 * DAY)
    new = pushed(ecr, "app", "prod-2", ["prod"], NOW - DAY)
    cloudtrail.add(put_image_event("app", "prod", manifest("prod-1"), NOW - 5 * DAY))
    cloudtrail.add(put_image_event("app", "prod", manifest("prod-2"), NOW - DAY))
    cloudtrail.add(put_image_event("app", "dev", manifest("prod-1"), NOW - 4 * DAY))

    outcome = await diagnose(f"app:prod@{old}")

    diagnosis = outcome.diagnosis
    assert diagnosis.verdict is Verdict.TAG_MOVED
    assert diagnosis.summary.startswith("Tag prod was moved to another image")
    assert diagnosis.summary.endswith("the old digest still exists.")
    assert outcome.evidence == [
        f"prod now points to {new}, first pushed {minutes(NOW - DAY)}",
        f"PutImage put prod on {new[:19]}… ({USER_ARN}/ci-deployer)",
    ]
    assert diagnosis.evidence[1].source == "cloudtrail"
    assert diagnosis.evidence[1].at == (NOW - DAY).timestamp()
    assert diagnosis.suggestions[0].startswith("Pin workloads to a digest (app@<digest>)")
    assert "expired" not in outcome.suggestions
    assert diagnosis.digest == old
    assert diagnosis.as_json()["tagNowPointsTo"] == new
    [move] = outcome.facts.tag_moves
    assert (move.tag, move.digest) == ("prod", new)


async def test_tag_moved_and_the_untagged_old_digest_was_expired(
    boto: Any, cloudtrail: CloudTrailFake
) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    old = pushed(ecr, "app", "prod-1", ["prod"], NOW - 5 * DAY)
    new = pushed(ecr, "app", "prod-2", ["prod"], NOW - 3 * DAY)
    ecr.batch_delete_image(repositoryName="app", imageIds=[{"imageDigest": old}])
    cloudtrail.add(put_image_event("app", "prod", manifest("prod-1"), NOW - 5 * DAY))
    cloudtrail.add(put_image_event("app", "prod", manifest("prod-2"), NOW - 3 * DAY))
    action = lifecycle_image(old, [], int((NOW - 5 * DAY).timestamp() * 1000), rule_priority=2)
    cloudtrail.add(policy_execution_event("app", NOW - DAY, [action], rules=EXPIRE_UNTAGGED_RULES))

    outcome = await diagnose(f"app:prod@{old}")

    diagnosis = outcome.diagnosis
    assert diagnosis.verdict is Verdict.TAG_MOVED
    assert diagnosis.summary == "Tag prod was moved to another image and the old digest is gone."
    texts = outcome.evidence
    assert texts[0] == f"prod now points to {new}, first pushed {minutes(NOW - 3 * DAY)}"
    assert f"PutImage put prod on {new[:19]}… ({USER_ARN}/ci-deployer)" in texts
    assert any(
        t.startswith('PolicyExecutionEvent: lifecycle rule 2 ("Expire untagged after 1 day")')
        and "(tags: (untagged)" in t
        for t in texts
    )
    assert "a lifecycle rule then expired it" in outcome.suggestions
    assert "ecr-lifeguard protect" in outcome.suggestions


async def test_tag_moved_summary_is_well_formed(boto: Any, cloudtrail: CloudTrailFake) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    old = pushed(ecr, "app", "prod-1", ["prod", "build-41"], NOW - 5 * DAY)
    pushed(ecr, "app", "prod-2", ["prod"], NOW - DAY)

    outcome = await diagnose(f"app:prod@{old}")

    assert outcome.diagnosis.summary == (
        "Tag prod was moved to another image; the old digest still exists."
    )


# NEVER_PUSHED ------------------------------------------------------------------------------------


async def test_never_pushed_suggests_similar_tags(boto: Any, cloudtrail: CloudTrailFake) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    pushed(ecr, "app", "v1.2.4", ["v1.2.4"], NOW - 2 * DAY)
    pushed(ecr, "app", "v1.2.2", ["v1.2.2"], NOW - 9 * DAY)
    pushed(ecr, "app", "nightly", ["nightly-20240530"], NOW - DAY)
    # Unrelated history: another repository, and another tag of this one.
    cloudtrail.add(put_image_event("other", "v1.2.3", manifest("x"), NOW - DAY))
    cloudtrail.add(put_image_event("app", "v1.2.4", manifest("v1.2.4"), NOW - 2 * DAY))

    outcome = await diagnose("app:v1.2.3")

    diagnosis = outcome.diagnosis
    assert diagnosis.verdict is Verdict.NEVER_PUSHED
    assert diagnosis.summary.startswith(
        "app:v1.2.3 is not in the repository, and CloudTrail has no trace of it in the last 90 "
        "days: it was never pushed here"
    )
    assert outcome.evidence == [
        "No PutImage, PolicyExecutionEvent or BatchDeleteImage for it in 90 days"
    ]
    similar = diagnosis.suggestions[0]
    assert similar.startswith("Similar tags that exist: ")
    assert "v1.2.4" in similar and "v1.2.2" in similar and "nightly" not in similar
    assert diagnosis.suggestions[-1] == (
        "Check the build pipeline pushed it to this account and region."
    )
    assert sorted(lookups(cloudtrail)) == ["BatchDeleteImage", "PolicyExecutionEvent", "PutImage"]
    assert diagnosis.digest is None and diagnosis.failure is None


async def test_a_recorded_push_is_not_never_pushed(boto: Any, cloudtrail: CloudTrailFake) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    pushed(ecr, "app", "v2", ["v2"], NOW - 3 * DAY)
    cloudtrail.add(put_image_event("app", "v1", manifest("v1"), NOW - 10 * DAY))

    outcome = await diagnose("app:v1")

    assert outcome.diagnosis.verdict is not Verdict.NEVER_PUSHED
    assert "No PutImage" not in " ".join(outcome.evidence)


# UNKNOWN -----------------------------------------------------------------------------------------


async def test_cloudtrail_access_denied_gives_unknown_with_the_permission_to_grant(
    boto: Any, denied_cloudtrail: CloudTrailFake
) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    pushed(ecr, "app", "v1.2.4", ["v1.2.4"], NOW - 2 * DAY)

    outcome = await diagnose("app:v1.2.3")

    diagnosis = outcome.diagnosis
    assert diagnosis.verdict is Verdict.UNKNOWN
    assert diagnosis.summary == (
        "app:v1.2.3 is not in the repository; CloudTrail could not be read (LookupEvents: "
        "AccessDeniedException), so whether a lifecycle rule or a person removed it is unknown."
    )
    [denied] = diagnosis.evidence
    assert denied.source == "cloudtrail"
    assert denied.text.startswith("CloudTrail could not be read: LookupEvents failed: ")
    assert "AccessDeniedException" in denied.text
    assert "(grant" not in denied.text  # the advice is a suggestion, not repeated in the evidence
    assert diagnosis.failure == denied.text
    assert diagnosis.inconclusive_because_of_a_failure
    assert "Similar tags that exist: v1.2.4." in diagnosis.suggestions
    assert diagnosis.suggestions[-1] == (
        "Grant cloudtrail:LookupEvents to ECR Lifeguard so it can tell expiry from deletion."
    )
    assert outcome.facts.cloudtrail_error is not None
    assert len(denied_cloudtrail.requests) == 1  # the first refusal ends the lookups


def app_with_only_v2(ecr: Any) -> None:
    """``app`` holds v2 only: asking for v1 needs CloudTrail to say why."""
    ecr.create_repository(repositoryName="app")
    pushed(ecr, "app", "v2", ["v2"], NOW - 2 * DAY)


async def test_cloudtrail_answering_an_html_page_is_named_in_one_line(
    boto: Any, aws_environment: dict[str, str]
) -> None:
    # No CloudTrail fake: moto itself answers LookupEvents, which it does not implement, with
    # an HTML "500 Internal Server Error" page, as a proxy or a load balancer may.
    app_with_only_v2(boto("ecr"))

    outcome = await diagnose("app:v1")

    diagnosis = outcome.diagnosis
    assert diagnosis.verdict is Verdict.UNKNOWN
    assert "(LookupEvents: HTTP 500)" in diagnosis.summary
    assert diagnosis.failure == (
        "CloudTrail could not be read: LookupEvents failed: HTTP 500: Internal Server Error (an "
        "HTML page, not an AWS error response)"
    )
    everything = json.dumps(diagnosis.as_json())
    assert "<" not in everything and "html>" not in everything.lower()
    assert all("\n" not in e.text for e in diagnosis.evidence)
    advice = diagnosis.suggestions[-1]
    assert advice.startswith("CloudTrail failed on its side: run again in a few minutes")
    assert "AWS_ENDPOINT_URL_CLOUDTRAIL" in advice
    assert "Grant" not in outcome.suggestions


async def test_unreachable_cloudtrail_advises_on_the_network_and_endpoint(
    boto: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_with_only_v2(boto("ecr"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", "http://127.0.0.1:9")

    outcome = await diagnose("app:v1")

    diagnosis = outcome.diagnosis
    assert diagnosis.verdict is Verdict.UNKNOWN
    assert "(LookupEvents: Unreachable)" in diagnosis.summary
    assert diagnosis.failure is not None and "http://127.0.0.1:9" in diagnosis.failure
    assert diagnosis.suggestions[-1].startswith(
        "CloudTrail could not be reached: check the network"
    )


async def test_throttled_cloudtrail_advises_to_wait(
    boto: Any, aws_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app_with_only_v2(boto("ecr"))
    async with CloudTrailFake(min_interval=60.0) as throttling:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", throttling.url)

        outcome = await diagnose("app:v1")

    diagnosis = outcome.diagnosis
    assert len(throttling.requests) == 2  # the first lookup answered, the second refused
    assert diagnosis.verdict is Verdict.UNKNOWN
    assert "(LookupEvents: ThrottlingException)" in diagnosis.summary
    assert diagnosis.suggestions[-1].startswith("CloudTrail throttled the lookups")
    assert "run again in a minute" in diagnosis.suggestions[-1]


async def test_archived_image_is_still_diagnosed_when_cloudtrail_is_denied(
    boto: Any, denied_cloudtrail: CloudTrailFake
) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    digest = pushed(ecr, "app", "old", ["v0.9"], NOW - 200 * DAY)
    archive("app", digest, NOW - 10 * DAY)

    outcome = await diagnose("app:v0.9")

    assert outcome.diagnosis.verdict is Verdict.ARCHIVED
    assert "ecr-lifeguard restore" in outcome.diagnosis.suggestions[0]


async def test_without_cloudtrail_a_missing_tag_is_unknown(
    boto: Any, cloudtrail: CloudTrailFake
) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    pushed(ecr, "app", "v1.2.4", ["v1.2.4"], NOW - 2 * DAY)

    outcome = await diagnose("app:v1.2.3", trail=False)

    assert outcome.diagnosis.verdict is Verdict.UNKNOWN
    assert "CloudTrail was not read" in outcome.diagnosis.summary
    assert cloudtrail.requests == []
    assert "cloudtrail.LookupEvents" not in outcome.calls


async def test_without_cloudtrail_the_advice_is_to_turn_it_on(
    boto: Any, cloudtrail: CloudTrailFake
) -> None:
    app_with_only_v2(boto("ecr"))

    outcome = await diagnose("app:v1", trail=False)

    assert "Grant cloudtrail:LookupEvents" not in outcome.suggestions
    assert "--no-cloudtrail" in outcome.suggestions


# JSON --------------------------------------------------------------------------------------------


async def test_diagnosis_json_shape(boto: Any, cloudtrail: CloudTrailFake) -> None:
    ecr = boto("ecr")
    load_blog_repository(ecr)
    ecr.batch_delete_image(
        repositoryName=BLOG_REPOSITORY, imageIds=[{"imageDigest": SHARED_DIGEST}]
    )
    cloudtrail.add(blog_policy_execution_event(repository=BLOG_REPOSITORY, at=BLOG_RUN))

    outcome = await diagnose(f"{HOST}/{BLOG_REPOSITORY}:tag-1-253-0", now=BLOG_NOW)

    document = json.loads(json.dumps(outcome.diagnosis.as_json()))
    assert list(document) == [
        "reference",
        "repository",
        "registryId",
        "region",
        "repositoryName",
        "imageTag",
        "imageDigest",
        "verdict",
        "summary",
        "failure",
        "evidence",
        "suggestions",
    ]
    assert document["reference"] == f"{HOST}/{BLOG_REPOSITORY}:tag-1-253-0"
    assert document["repository"] == f"{HOST}/{BLOG_REPOSITORY}"
    assert (document["registryId"], document["region"]) == (ACCOUNT, "us-east-1")
    assert (document["repositoryName"], document["imageTag"]) == (BLOG_REPOSITORY, "tag-1-253-0")
    assert document["imageDigest"] == SHARED_DIGEST  # in full, from the PolicyExecutionEvent
    assert document["failure"] is None
    assert document["verdict"] == "EXPIRED_BY_LIFECYCLE"
    assert document["summary"] == outcome.diagnosis.summary
    event, reconstructed = document["evidence"]
    assert set(event) == {"text", "source", "at"}
    assert event["source"] == "cloudtrail"
    assert event["at"] == "2022-12-23T13:00:00+00:00"
    assert set(reconstructed) == {"text", "source"}
    assert reconstructed["source"] == "policy"
    assert document["suggestions"] == list(outcome.diagnosis.suggestions)
    assert all(isinstance(s, str) and s for s in document["suggestions"])
