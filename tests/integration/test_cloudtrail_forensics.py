"""The CloudTrail forensics adapter against a LookupEvents fake, over real HTTP and the real SDK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from bot.diagnose.cloudtrail_models import ImageFailure, LifecycleRuleRecord
from bot.diagnose.cloudtrail_records import lifecycle_rule_record, tag_moves
from bot.diagnose.cloudtrail_rules import policy_from_rules, policy_rule
from bot.edge.aws.clients import AwsClients, targets
from bot.edge.aws.cloudtrail import CloudTrailForensics
from bot.errors import AccessDenied, Throttled, UpstreamError
from bot.lifecycle.parse import policy_from_data
from bot.settings import AwsSettings
from tests.support.cloudtrail_fake import (
    ACCOUNT,
    BLOG_DIGEST,
    BLOG_PUSHED_AT_MS,
    BLOG_REPOSITORY,
    BLOG_RULES,
    BLOG_RUN,
    BLOG_TAGS,
    CloudTrailFake,
    batch_delete_image_event,
    blog_policy_execution_event,
    digest_of,
    lifecycle_image,
    manifest,
    policy_execution_event,
    put_image_event,
)

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = AwsSettings(regions=["us-east-1"], max_attempts=1)
START = datetime(2022, 12, 1, tzinfo=UTC)
END = datetime(2023, 1, 1, tzinfo=UTC)
FAST = 1000.0
R = TypeVar("R")


@pytest.fixture
async def cloudtrail(
    aws_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[CloudTrailFake]:
    async with CloudTrailFake() as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", fake.url)
        yield fake


async def investigate(
    work: Callable[[CloudTrailForensics], Awaitable[R]], *, rate: float = FAST, max_pages: int = 20
) -> tuple[R, dict[str, int]]:
    async with AwsClients(SETTINGS) as aws:
        trail = CloudTrailForensics(aws, targets(SETTINGS)[0], rate=rate, max_pages=max_pages)
        result = await work(trail)
        return result, dict(aws.calls)


def digest(n: int) -> str:
    return "sha256:" + f"{n:064x}"


def add_lifecycle_runs(fake: CloudTrailFake, count: int, repository: str = "app") -> None:
    for n in range(count):
        action = lifecycle_image(digest(n), [f"v{n}"], BLOG_PUSHED_AT_MS + n, rule_priority=5)
        fake.add(policy_execution_event(repository, START + timedelta(hours=n), [action]))


async def test_finds_the_blog_lifecycle_action_with_its_rule(cloudtrail: CloudTrailFake) -> None:
    cloudtrail.add(blog_policy_execution_event())

    found, calls = await investigate(lambda t: t.lifecycle_actions(BLOG_REPOSITORY, START, END))

    [action] = found.items
    assert action.repository == BLOG_REPOSITORY
    assert action.digest == BLOG_DIGEST
    assert action.tags == tuple(BLOG_TAGS)
    assert "tag-1-253-0" in action.tags
    assert action.pushed_at == 1671098240.0
    assert action.rule_priority == 1
    assert action.rule is not None
    assert action.rule.description == "Keep last 5 production images"
    assert action.event_time == BLOG_RUN.timestamp()
    assert action.failure_code is None
    assert (found.truncated, found.pages, found.malformed, found.unrelated) == (False, 1, 0, 0)
    assert calls == {"cloudtrail.LookupEvents": 1}
    [request] = cloudtrail.requests
    assert request.body["LookupAttributes"] == [
        {"AttributeKey": "EventName", "AttributeValue": "PolicyExecutionEvent"}
    ]
    assert (request.body["StartTime"], request.body["EndTime"]) == (
        START.timestamp(),
        END.timestamp(),
    )
    assert request.body["MaxResults"] == 50


async def test_other_repositories_sources_and_times_are_left_out(
    cloudtrail: CloudTrailFake,
) -> None:
    cloudtrail.add(blog_policy_execution_event())
    cloudtrail.add(blog_policy_execution_event("someone/else"))
    public = blog_policy_execution_event()
    public["eventSource"] = "ecr-public.amazonaws.com"
    cloudtrail.add(public)
    cloudtrail.add(blog_policy_execution_event(at=END + timedelta(days=1)))

    found, _ = await investigate(lambda t: t.lifecycle_actions(BLOG_REPOSITORY, START, END))
    every, _ = await investigate(lambda t: t.lifecycle_actions(None, START, END))

    assert [a.repository for a in found.items] == [BLOG_REPOSITORY]
    assert found.unrelated == 2
    assert sorted(a.repository for a in every.items) == sorted([BLOG_REPOSITORY, "someone/else"])
    assert every.unrelated == 1


async def test_pages_through_more_than_fifty_events(cloudtrail: CloudTrailFake) -> None:
    add_lifecycle_runs(cloudtrail, 120)

    found, calls = await investigate(lambda t: t.lifecycle_actions("app", START, END))

    assert [a.digest for a in found.items] == [digest(n) for n in range(120)]
    assert (found.pages, found.truncated) == (3, False)
    assert calls == {"cloudtrail.LookupEvents": 3}
    tokens = [request.body.get("NextToken") for request in cloudtrail.requests]
    assert tokens[0] is None
    assert all(tokens[1:])


async def test_the_page_cap_flags_truncation(cloudtrail: CloudTrailFake) -> None:
    add_lifecycle_runs(cloudtrail, 120)

    found, calls = await investigate(lambda t: t.lifecycle_actions("app", START, END), max_pages=2)

    assert (found.truncated, found.pages, len(found.items)) == (True, 2, 100)
    assert found.items[0].digest == digest(20)  # newest first: the 20 oldest were not read
    assert calls == {"cloudtrail.LookupEvents": 2}


async def test_real_rate_spaces_requests_per_target_across_lookups(
    cloudtrail: CloudTrailFake,
) -> None:
    add_lifecycle_runs(cloudtrail, 60)
    cloudtrail.add(batch_delete_image_event("app", START, [{"imageDigest": digest(1)}]))
    cloudtrail.min_interval = 0.499  # the fake throttles anything closer than 2/s

    async with AwsClients(SETTINGS) as aws:
        target = targets(SETTINGS)[0]
        first, second = CloudTrailForensics(aws, target), CloudTrailForensics(aws, target)
        actions, deletions = await asyncio.gather(
            first.lifecycle_actions("app", START, END), second.deletions("app", START, END)
        )

    assert (len(actions.items), len(deletions.items)) == (60, 1)
    assert len(cloudtrail.requests) == 3
    assert all(gap >= 0.499 for gap in cloudtrail.intervals()), cloudtrail.intervals()


async def test_an_injected_rate_makes_tests_fast(cloudtrail: CloudTrailFake) -> None:
    add_lifecycle_runs(cloudtrail, 120)

    found, _ = await investigate(lambda t: t.lifecycle_actions("app", START, END), rate=FAST)

    assert found.pages == 3
    assert all(gap < 0.4 for gap in cloudtrail.intervals()), cloudtrail.intervals()


async def test_malformed_records_are_skipped_and_counted(cloudtrail: CloudTrailFake) -> None:
    cloudtrail.add(blog_policy_execution_event())
    cloudtrail.add_raw("PolicyExecutionEvent", '{"eventVersion": "1.09", "truncat', START)
    cloudtrail.add_raw("PolicyExecutionEvent", "[]", START)
    no_details = blog_policy_execution_event()
    del no_details["serviceEventDetails"]
    cloudtrail.add(no_details)
    good, bad = lifecycle_image(digest(7), [], 1671000000000), lifecycle_image(digest(8), [], 1)
    del bad["lifecycleEventImage"]["digest"]
    cloudtrail.add(policy_execution_event(BLOG_REPOSITORY, BLOG_RUN, [good, bad]))

    found, _ = await investigate(lambda t: t.lifecycle_actions(BLOG_REPOSITORY, START, END))

    assert sorted(a.digest for a in found.items) == sorted([BLOG_DIGEST, digest(7)])
    assert found.malformed == 4  # three records, one action entry
    assert found.unrelated == 0


async def test_lifecycle_failures_carry_their_code(cloudtrail: CloudTrailFake) -> None:
    failure = {
        **lifecycle_image(digest(3), [], 1746202309561),
        "failureCode": "ImageReferencedByManifestList",
        "failureReason": f"Requested image referenced by manifest list: [{digest(4)}]",
    }
    cloudtrail.add(policy_execution_event("app", BLOG_RUN, [], failures=[failure]))

    found, _ = await investigate(lambda t: t.lifecycle_actions("app", START, END))

    [action] = found.items
    assert (action.digest, action.tags) == (digest(3), ())
    assert action.failure_code == "ImageReferencedByManifestList"
    assert action.failure_reason is not None and digest(4) in action.failure_reason


async def test_deletions_name_the_principal_and_the_failures(cloudtrail: CloudTrailFake) -> None:
    deleted = [{"imageDigest": digest(1), "imageTag": "v1"}, {"imageDigest": digest(2)}]
    missing = {
        "imageId": {"imageTag": "gone"},
        "failureCode": "ImageNotFound",
        "failureReason": "Requested image not found",
    }
    requested = [{"imageTag": "v1"}, {"imageDigest": digest(2)}, {"imageTag": "gone"}]
    cloudtrail.add(
        batch_delete_image_event(
            "app", BLOG_RUN, deleted, requested=requested, failures=[missing], user="alice"
        )
    )
    refused = batch_delete_image_event("app", BLOG_RUN, [], user="mallory")
    refused.update(errorCode="AccessDenied", errorMessage="denied", responseElements=None)
    cloudtrail.add(refused)

    found, calls = await investigate(lambda t: t.deletions("app", START, END))

    [deletion] = found.items
    assert deletion.principal == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert deletion.digests == (digest(1), digest(2))
    assert deletion.tags == ("v1",)
    assert deletion.failures == (
        ImageFailure(None, "gone", "ImageNotFound", "Requested image not found"),
    )
    assert found.unrelated == 1  # the refused call deleted nothing
    assert calls == {"cloudtrail.LookupEvents": 1}
    assert cloudtrail.requests[0].body["LookupAttributes"][0]["AttributeValue"] == (
        "BatchDeleteImage"
    )


async def test_tag_pushes_show_a_tag_moving(cloudtrail: CloudTrailFake) -> None:
    old, new = manifest("old"), manifest("new")
    cloudtrail.add(put_image_event("app", "prod", old, BLOG_RUN))
    cloudtrail.add(
        put_image_event("app", "prod", new, BLOG_RUN + timedelta(hours=1), with_response=False)
    )
    cloudtrail.add(put_image_event("app", "v2", new, BLOG_RUN + timedelta(hours=2)))
    cloudtrail.add(put_image_event("other", "prod", old, BLOG_RUN + timedelta(hours=3)))

    found, _ = await investigate(lambda t: t.tag_pushes("app", START, END, tag="prod"))

    assert [(p.tag, p.digest) for p in found.items] == [
        ("prod", digest_of(old)),
        ("prod", digest_of(new)),  # no response elements: sha256 of the manifest sent
    ]
    assert found.unrelated == 2
    [move] = tag_moves(found.items)
    assert (move.tag, move.previous_digest, move.digest) == ("prod", digest_of(old), digest_of(new))
    assert move.principal == f"arn:aws:iam::{ACCOUNT}:user/ci-deployer"
    assert move.event_time == (BLOG_RUN + timedelta(hours=1)).timestamp()


async def test_access_denied_is_translated(cloudtrail: CloudTrailFake) -> None:
    cloudtrail.deny = True

    with pytest.raises(AccessDenied) as caught:
        await investigate(lambda t: t.lifecycle_actions("app", START, END))

    assert caught.value.service == "cloudtrail"
    assert caught.value.operation == "LookupEvents"
    assert caught.value.hint is not None and "cloudtrail:LookupEvents" in caught.value.hint


async def test_the_fake_refuses_what_cloudtrail_refuses(cloudtrail: CloudTrailFake) -> None:
    cloudtrail.min_interval = 60.0
    two = [
        {"AttributeKey": "EventName", "AttributeValue": "PutImage"},
        {"AttributeKey": "EventSource", "AttributeValue": "ecr.amazonaws.com"},
    ]

    async with AwsClients(SETTINGS) as aws:
        target = targets(SETTINGS)[0]
        with pytest.raises(UpstreamError) as caught:
            await aws.call(target, "cloudtrail", "lookup_events", LookupAttributes=two)
        with pytest.raises(Throttled):
            await aws.call(target, "cloudtrail", "lookup_events")

    assert caught.value.code == "InvalidLookupAttributesException"


async def test_start_after_end_is_refused_before_any_call(cloudtrail: CloudTrailFake) -> None:
    with pytest.raises(ValueError, match="after end"):
        await investigate(lambda t: t.deletions("app", END, START))
    assert cloudtrail.requests == []


def test_the_blog_rule_records_convert_back_to_the_blog_policy() -> None:
    records = [lifecycle_rule_record(rule) for rule in reversed(BLOG_RULES)]

    policy = policy_from_rules(records)

    assert policy == json.loads((ROOT / "examples/blog/policy.json").read_text())
    assert [rule.rule_priority for rule in policy_from_data(policy).rules] == [1, 5]


def test_rule_records_with_unconfirmed_names_do_not_convert() -> None:
    untagged = {
        "tagStatus": "Untagged",
        "tagPrefixList": [],
        "tagPatternList": [],
        "countType": "Time since image pushed",
        "countUnit": "Days",
        "countNumber": 365,
    }
    pulled = {**untagged, "countType": "Time since image pulled"}

    assert policy_rule(LifecycleRuleRecord(1, None, untagged, "expire")) == {
        "rulePriority": 1,
        "selection": {
            "tagStatus": "untagged",
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": 365,
        },
        "action": {"type": "expire"},
    }
    assert policy_rule(LifecycleRuleRecord(1, None, pulled, "expire")) is None
    assert policy_rule(LifecycleRuleRecord(1, None, untagged, "transition")) is None
    assert policy_rule(LifecycleRuleRecord(1, None, {**untagged, "new": 1}, "expire")) is None
    api_name = {**untagged, "countType": "sinceImagePulled"}
    assert policy_rule(LifecycleRuleRecord(1, None, api_name, "expire")) is not None
    good, bad = (LifecycleRuleRecord(p, None, s, "expire") for p, s in [(1, untagged), (2, pulled)])
    assert policy_from_rules([good, bad]) is None
    assert policy_from_rules([]) is None
