"""Event models and parsing: every AWS sample parses to the right type, every broken message is
rejected with the right kind and a reason a person can act on, and nothing else ever escapes.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.events import (
    EVENT_KINDS,
    SQS_MAX_BYTES,
    CloudTrailApiCall,
    CloudTrailServiceEvent,
    EcsDeploymentStateChange,
    EcsTaskStateChange,
    EventRejected,
    ImageActionEvent,
    ImageDeleted,
    ImagePushed,
    ImageScanEvent,
    ImageStorageClassChanged,
    parse_event,
    parse_message,
)
from bot.events.models import (
    BatchDeleteImageCall,
    DeleteLifecyclePolicyCall,
    ImageId,
    PolicyExecution,
    PutImageCall,
    PutImageTagMutabilityCall,
    PutLifecyclePolicyCall,
    UpdateImageStorageClassCall,
)
from bot.refs import RepositoryKey
from tests.support.event_fixtures import EVENTS, event_bytes, load_event

ACCOUNT = "123456789012"
BLOG_REPO = RepositoryKey(ACCOUNT, "us-east-1", "webshop-assets")
SAMPLE_DIGEST = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"
ARCHIVE_DIGEST = "sha256:f98d67af8e53a536502bfc600de3266556b06ed635a32d60aa7a5fe6d7e609d7"
BLOG_DIGEST = "sha256:ec1477a7420a97a789dd4b778a0a1141a6c6ba9314fce70599c134964121960c"
CI_ROLE = f"arn:aws:sts::{ACCOUNT}:assumed-role/github-actions-deploy/gha-run-9172364"
ALICE = f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformAdmin/alice@example.com"


def parse(name: str, **options: Any) -> Any:
    return parse_message(event_bytes(name), **options)


def rejected(body: str | bytes | dict[str, Any], **options: Any) -> EventRejected:
    raw = json.dumps(body) if isinstance(body, dict) else body
    with pytest.raises(EventRejected) as caught:
        parse_message(raw, **options)
    return caught.value


# -- every fixture parses to the right type, with the right fields -------------------------------


def test_image_push_sample() -> None:
    event = parse("ecr-image-push")
    assert isinstance(event, ImageActionEvent)
    assert isinstance(event.detail, ImagePushed)
    assert event.event_id == "13cde686-328b-6117-af20-0e5566167482"
    assert event.at == 1573869274.0  # 2019-11-16T01:54:34Z
    assert event.kind == "image_push"
    assert event.repository == RepositoryKey(ACCOUNT, "us-west-2", "my-repository-name")
    assert event.detail.image_digest == SAMPLE_DIGEST
    assert event.detail.image_tag == "latest"
    assert event.detail.succeeded
    assert event.resources == ()


def test_image_delete_sample() -> None:
    event = parse("ecr-image-delete")
    assert isinstance(event.detail, ImageDeleted)
    assert event.kind == "image_delete"
    assert event.event_id == "dd3b46cb-2c74-f49e-393b-28286b67279d"
    assert event.detail.image_digest == SAMPLE_DIGEST


def test_archive_and_restore_samples() -> None:
    archived, restored = parse("ecr-image-archive"), parse("ecr-image-restore")
    for event in (archived, restored):
        assert isinstance(event.detail, ImageStorageClassChanged)
        assert event.kind == "image_storage_class"
        assert event.repository == RepositoryKey(ACCOUNT, "us-east-1", "ubuntu")
        assert event.detail.image_digest == ARCHIVE_DIGEST
        assert event.detail.image_tag is None  # the samples carry no tag
        assert event.detail.manifest_media_type == "application/vnd.oci.image.manifest.v1+json"
    assert archived.detail.target_storage_class == "ARCHIVE"
    assert archived.detail.last_activated_at is None
    assert restored.detail.target_storage_class == "STANDARD"
    assert restored.detail.last_activated_at.isoformat() == "2025-10-10T19:13:02.740000+00:00"


def test_image_scan_sample() -> None:
    event = parse("ecr-image-scan")
    assert isinstance(event, ImageScanEvent)
    assert event.kind == "image_scan"
    assert event.repository == RepositoryKey(ACCOUNT, "us-east-1", "my-repository-name")
    assert event.detail.scan_status == "COMPLETE"
    assert event.detail.finding_severity_counts == {"CRITICAL": 10, "MEDIUM": 9}
    assert event.detail.image_tags == ()


def test_scan_without_account_takes_the_registry_from_the_repository_arn() -> None:
    data = load_event("ecr-image-scan")
    del data["account"]
    event = parse_event(data)
    assert event.account is None
    assert event.repository == RepositoryKey(ACCOUNT, "us-east-1", "my-repository-name")


def test_put_lifecycle_policy_call() -> None:
    event = parse("cloudtrail-put-lifecycle-policy")
    assert isinstance(event, CloudTrailApiCall)
    assert isinstance(event.detail, PutLifecyclePolicyCall)
    assert event.kind == "put_lifecycle_policy"
    assert event.repository == BLOG_REPO
    assert event.detail.succeeded
    assert event.detail.who == ALICE
    assert event.detail.user_identity.principal_id == "AROAEXAMPLEROLEID12345:alice@example.com"
    assert json.loads(event.detail.policy_text)["rules"][0]["selection"]["countNumber"] == 10
    assert event.detail.request_parameters.registry_id is None  # the CLI did not name one
    assert event.detail.response_elements is not None
    assert event.detail.response_elements.lifecycle_policy_text == event.detail.policy_text


def test_failed_call_carries_the_error_and_no_response() -> None:
    event = parse("cloudtrail-put-lifecycle-policy-denied")
    assert isinstance(event.detail, PutLifecyclePolicyCall)
    assert not event.detail.succeeded
    assert event.detail.error_code == "AccessDenied"
    assert "is not authorized to perform: ecr:PutLifecyclePolicy" in event.detail.error_message
    assert event.detail.response_elements is None
    assert event.repository == BLOG_REPO


def test_delete_lifecycle_policy_call_keeps_the_deleted_policy() -> None:
    event = parse("cloudtrail-delete-lifecycle-policy")
    assert isinstance(event.detail, DeleteLifecyclePolicyCall)
    assert event.kind == "delete_lifecycle_policy"
    assert event.repository == BLOG_REPO
    deleted = json.loads(event.detail.deleted_policy_text)
    assert [r["rulePriority"] for r in deleted["rules"]] == [1, 5]


def test_batch_delete_image_call() -> None:
    event = parse("cloudtrail-batch-delete-image")
    assert isinstance(event.detail, BatchDeleteImageCall)
    assert event.kind == "batch_delete_image"
    assert event.repository == BLOG_REPO
    assert event.detail.request_parameters.image_ids == (
        ImageId(imageDigest=BLOG_DIGEST),
        ImageId(imageTag="git-0000000"),
    )
    assert {i.image_tag for i in event.detail.deleted} == {"tag-1-253-0", "git-684254dd"}
    assert {i.image_digest for i in event.detail.deleted} == {BLOG_DIGEST}
    [failure] = event.detail.response_elements.failures
    assert failure.failure_code == "ImageNotFound"
    assert failure.image_id == ImageId(imageTag="git-0000000")


def test_put_image_call_reads_the_digest_from_the_response() -> None:
    event = parse("cloudtrail-put-image")
    assert isinstance(event.detail, PutImageCall)
    assert event.kind == "put_image"
    assert event.detail.image_tag == "tag-1-258-0"
    assert event.detail.request_parameters.image_digest is None  # docker sends none
    assert (
        event.detail.image_digest
        == "sha256:5c3a1f0e9d8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c"
    )
    assert event.detail.who == CI_ROLE


def test_tag_mutability_and_storage_class_calls() -> None:
    mutability = parse("cloudtrail-put-image-tag-mutability")
    assert isinstance(mutability.detail, PutImageTagMutabilityCall)
    assert mutability.kind == "put_image_tag_mutability"
    assert mutability.detail.image_tag_mutability == "IMMUTABLE_WITH_EXCLUSION"
    assert [f.filter for f in mutability.detail.request_parameters.exclusion_filters] == ["latest"]
    storage = parse("cloudtrail-update-image-storage-class")
    assert isinstance(storage.detail, UpdateImageStorageClassCall)
    assert storage.kind == "update_image_storage_class"
    assert storage.detail.image_digest == BLOG_DIGEST
    assert storage.detail.request_parameters.target_storage_class == "STANDARD"
    assert storage.detail.response_elements.image_status == "ACTIVATING"


def test_documented_policy_execution_event() -> None:
    event = parse("cloudtrail-policy-execution")
    assert isinstance(event, CloudTrailServiceEvent)
    assert isinstance(event.detail, PolicyExecution)
    assert event.kind == "lifecycle_execution"
    assert event.repository == RepositoryKey(ACCOUNT, "us-west-2", "testrepo")
    assert event.detail.who == "AWS Internal"
    details = event.detail.service_event_details
    [rule] = details.policy.rules
    assert (rule.rule_priority, rule.action, rule.selection.count_type) == (
        1,
        "expire",
        "Image count more than",
    )
    assert [
        (a.image.tag_list, a.image.pushed_at, a.rule_priority) for a in details.image_actions
    ] == [
        (("alpine",), 1584042813.0, 1),
        (("centos",), 1584042842.0, 1),
    ]
    assert details.failures == ()


def test_policy_execution_that_expired_nothing() -> None:
    event = parse("cloudtrail-policy-execution-nothing-expired")
    assert event.repository.registry == "774305579662"
    details = event.detail.service_event_details
    assert details.image_actions == ()
    assert details.policy.last_evaluated_at == 1741782216108
    assert details.policy.rules[0].selection.tag_pattern_list == ()


def test_policy_execution_with_a_failure() -> None:
    event = parse("cloudtrail-policy-execution-with-failure")
    assert event.repository == RepositoryKey(ACCOUNT, "us-east-1", "platform/base")
    [failure] = event.detail.service_event_details.failures
    assert failure.failure_code == "ImageReferencedByManifestList"
    assert failure.image.digest.startswith("sha256:d2bce1a5")
    assert failure.rule_priority == 1


def test_ecs_task_state_change() -> None:
    event = parse("ecs-task-state-change")
    assert isinstance(event, EcsTaskStateChange)
    assert event.kind == "ecs_task"
    assert event.repository is None
    detail = event.detail
    assert detail.cluster_arn == f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/shop"
    assert detail.task_arn.endswith("task/shop/8f2d6c1a9b3e4f5d8a7c6b5e4d3c2b1a")
    assert detail.service_name == "webshop-static"
    assert (detail.last_status, detail.desired_status) == ("RUNNING", "RUNNING")
    assert (detail.containers[0].name, detail.containers[0].image_digest) == ("static", BLOG_DIGEST)
    assert detail.containers[0].image.endswith("/webshop-assets:tag-1-257-0")


def test_ecs_task_stopped_and_standalone_tasks() -> None:
    event = parse("ecs-task-stopped")
    assert (event.detail.last_status, event.detail.desired_status) == ("STOPPED", "STOPPED")
    data = load_event("ecs-task-state-change")
    data["detail"]["group"] = "family:nightly-report"
    assert parse_event(data).detail.service_name is None


def test_ecs_deployment_state_changes() -> None:
    started, failed = parse("ecs-deployment-state-change"), parse("ecs-deployment-failed")
    for event in (started, failed):
        assert isinstance(event, EcsDeploymentStateChange)
        assert event.kind == "ecs_deployment"
        assert event.repository is None
        assert event.service_arn == f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/shop/webshop-static"
    assert started.detail.event_name == "SERVICE_DEPLOYMENT_IN_PROGRESS"
    assert failed.detail.event_name == "SERVICE_DEPLOYMENT_FAILED"
    assert failed.detail.event_type == "ERROR"


def test_sns_wrapped_event_is_the_same_event() -> None:
    wrapped, bare = parse("sns-ecr-image-push"), parse("ecr-image-push")
    assert wrapped == bare


def test_moto_event_without_account_needs_a_default_account() -> None:
    problem = rejected(event_bytes("moto-ecr-image-push"))
    assert problem.kind == "malformed"
    assert "account is missing" in problem.reason
    event = parse("moto-ecr-image-push", default_account=ACCOUNT)
    assert event.repository == BLOG_REPO
    assert event.account == ACCOUNT
    # An event that names its account keeps it.
    assert parse("ecr-image-push", default_account="999999999999").account == ACCOUNT


def test_every_kind_is_listed_for_metrics() -> None:
    kinds = set()
    for path in sorted(EVENTS.glob("*.json")):
        try:
            kinds.add(parse_message(path.read_bytes(), default_account=ACCOUNT).kind)
        except EventRejected:
            continue
    assert kinds == set(EVENT_KINDS)


def test_events_are_frozen_and_ignore_fields_aws_adds() -> None:
    data = load_event("ecr-image-push")
    data["replay-name"] = "replay-1"
    data["detail"]["artifact-media-type"] = "application/vnd.oci.image.config.v1+json"
    data["detail"]["something-new"] = {"nested": [1, 2]}
    event = parse_event(data)
    assert event == parse("ecr-image-push")
    with pytest.raises(ValidationError):
        event.id = "changed"  # type: ignore[misc]


def test_failed_is_read_as_failure() -> None:
    data = load_event("ecr-image-push")
    for spelling in ("FAILED", "FAILURE"):
        data["detail"]["result"] = spelling
        event = parse_event(data)
        assert event.detail.result == "FAILURE"
        assert not event.detail.succeeded


# -- rejections: the right kind, and a readable one-line reason ----------------------------------


def mutated(name: str, change: Any) -> dict[str, Any]:
    data = load_event(name)
    change(data)
    return data


MALFORMED = [
    ("ecr-image-push", lambda d: d.pop("id"), "ECR Image Action: id is missing"),
    (
        "ecr-image-push",
        lambda d: d.update(id=42),
        "ECR Image Action: id must be a string, got number 42",
    ),
    (
        "ecr-image-push",
        lambda d: d["detail"].pop("image-digest"),
        "ECR Image Action: detail.image-digest is missing",
    ),
    (
        "ecr-image-push",
        lambda d: d["detail"].pop("action-type"),
        "ECR Image Action: detail.action-type is missing",
    ),
    (
        "ecr-image-push",
        lambda d: d["detail"].update(result="MAYBE"),
        "ECR Image Action: detail.result must be 'SUCCESS' or 'FAILURE', got \"MAYBE\"",
    ),
    (
        "ecr-image-push",
        lambda d: d.update(detail="pushed"),
        'ECR Image Action: detail must be an object, got string "pushed"',
    ),
    (
        "ecr-image-push",
        lambda d: d.update(time="yesterday"),
        'ECR Image Action: time must be an ISO 8601 timestamp, got string "yesterday"',
    ),
    (
        "ecr-image-push",
        lambda d: d.update(source="my.app"),
        "ECR Image Action: source must be 'aws.ecr', got \"my.app\"",
    ),
    ("ecr-image-push", lambda d: d.pop("detail-type"), "detail-type is missing"),
    (
        "ecr-image-push",
        lambda d: d.update({"detail-type": 7}),
        "detail-type must be a string, got number 7",
    ),
    (
        "cloudtrail-put-lifecycle-policy",
        lambda d: d["detail"].pop("eventName"),
        "AWS API Call via CloudTrail: detail.eventName is missing",
    ),
    (
        "cloudtrail-put-lifecycle-policy",
        lambda d: d["detail"]["requestParameters"].pop("lifecyclePolicyText"),
        "AWS API Call via CloudTrail: detail.requestParameters.lifecyclePolicyText is missing",
    ),
    (
        "cloudtrail-batch-delete-image",
        lambda d: d["detail"]["requestParameters"]["imageIds"].__setitem__(1, "latest"),
        "AWS API Call via CloudTrail: detail.requestParameters.imageIds[1] must be an object, "
        'got string "latest"',
    ),
    (
        "cloudtrail-policy-execution",
        lambda d: d["detail"]["serviceEventDetails"]["lifecycleEventImageActions"][0][
            "lifecycleEventImage"
        ].pop("digest"),
        "AWS Service Event via CloudTrail: detail.serviceEventDetails."
        "lifecycleEventImageActions[0].lifecycleEventImage.digest is missing",
    ),
    (
        "cloudtrail-put-image",
        lambda d: d["detail"].update(eventName=["PutImage"]),
        "AWS API Call via CloudTrail: detail.eventName must be a string, got array",
    ),
    (
        "ecr-image-push",
        lambda d: d["detail"].update({"action-type": 1}),
        "ECR Image Action: detail.action-type must be a string, got number 1",
    ),
    (
        "ecs-task-state-change",
        lambda d: d["detail"].pop("clusterArn"),
        "ECS Task State Change: detail.clusterArn is missing",
    ),
    (
        "ecs-deployment-state-change",
        lambda d: d["detail"].pop("eventName"),
        "ECS Deployment State Change: detail.eventName is missing",
    ),
]


@pytest.mark.parametrize(("name", "change", "reason"), MALFORMED)
def test_malformed_events_name_the_field_at_fault(name: str, change: Any, reason: str) -> None:
    data = mutated(name, change)
    problem = rejected(data)
    assert (problem.kind, problem.reason) == ("malformed", reason)
    assert problem.event_id == (data["id"] if isinstance(data.get("id"), str) else None)


UNKNOWN = [
    (
        "ecr-image-push",
        lambda d: d.update({"detail-type": "ECR Replication Action"}),
        'detail-type "ECR Replication Action" is not handled',
    ),
    (
        "ecr-image-push",
        lambda d: d["detail"].update({"action-type": "REPLICATE"}),
        'ECR Image Action with action-type "REPLICATE" is not handled',
    ),
    (
        "cloudtrail-put-image",
        lambda d: d["detail"].update(eventName="BatchGetImage"),
        'AWS API Call via CloudTrail for "BatchGetImage" is not handled',
    ),
    (
        "cloudtrail-put-image",
        lambda d: d["detail"].update(eventSource="ecs.amazonaws.com", eventName="CreateService"),
        'AWS API Call via CloudTrail from "ecs.amazonaws.com" (CreateService) is not handled',
    ),
    (
        "cloudtrail-policy-execution",
        lambda d: d["detail"].update(eventName="ReplicationEvent"),
        'AWS Service Event via CloudTrail for "ReplicationEvent" is not handled',
    ),
    (
        "ecs-deployment-state-change",
        lambda d: d["detail"].update(eventName="SERVICE_DEPLOYMENT_ROLLED_BACK"),
        'ECS Deployment State Change with eventName "SERVICE_DEPLOYMENT_ROLLED_BACK" '
        "is not handled",
    ),
]


@pytest.mark.parametrize(("name", "change", "reason"), UNKNOWN)
def test_unmodelled_types_and_actions_are_unknown(name: str, change: Any, reason: str) -> None:
    data = mutated(name, change)
    problem = rejected(data)
    assert (problem.kind, problem.reason) == ("unknown", reason)
    assert problem.event_id == data["id"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("ecr-replication-action", 'detail-type "ECR Replication Action" is not handled'),
        ("ecr-referrer-restore", 'detail-type "ECR Referrer Action" is not handled'),
        ("ecr-scan-resource-change", 'detail-type "ECR Scan Resource Change" is not handled'),
        ("cloudtrail-list-images", 'AWS API Call via CloudTrail for "ListImages" is not handled'),
    ],
)
def test_aws_samples_of_unmodelled_types_are_unknown(name: str, reason: str) -> None:
    problem = rejected(event_bytes(name))
    assert (problem.kind, problem.reason) == ("unknown", reason)


def test_broken_fixtures_are_malformed_with_a_reason() -> None:
    cases = {
        # The documented sample has a trailing comma: it is not JSON.
        "ecr-pull-through-cache-action": "the message is not JSON: Expecting property name "
        "enclosed in double quotes (line 20, column 5)",
        "broken-truncated": "the message is not JSON: Unterminated string starting at "
        "(line 7, column 13)",
        "broken-image-action-without-detail": "ECR Image Action: detail is missing",
        "broken-sns-message-not-json": "the Message of SNS notification "
        "7e6d5c4b-3a29-5f18-8e7d-6c5b4a392817 is not JSON: Expecting value (line 1, column 1)",
    }
    for name, reason in cases.items():
        problem = rejected(event_bytes(name))
        assert (problem.kind, problem.reason) == ("malformed", reason), name


def test_transport_rejections() -> None:
    sns = load_event("sns-ecr-image-push")
    cases: list[tuple[str | bytes, str]] = [
        (b"", "the message is empty"),
        ("  \n", "the message is empty"),
        (b'{"id": "caf\xe9"}', "the message is not valid UTF-8 (byte 11 is 0xe9)"),
        ("\ud800", "the message is not valid UTF-8 (byte 0 is 0xed)"),
        ("[1, 2]", "the message is a JSON array, not an object"),
        ('"ECR Image Action"', "the message is a JSON string, not an object"),
        ("[" * 100_000, "the message is not usable JSON (nested too deeply)"),
        (
            json.dumps({**sns, "Message": "[]"}),
            "the Message of SNS notification 2b1c6a57-83e8-5f0c-9a4d-6f0e1d2c3b4a is a JSON "
            "array, not an object",
        ),
        (
            json.dumps({k: v for k, v in sns.items() if k != "Message"}),
            "SNS notification: Message is missing",
        ),
        (json.dumps({**sns, "MessageId": 12}), "SNS notification: MessageId must be a string"),
    ]
    for body, reason in cases:
        problem = rejected(body)
        assert (problem.kind, problem.reason) == ("malformed", reason), body[:40]


def test_other_sns_messages_are_unknown() -> None:
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e2425e3d7a",
        "TopicArn": f"arn:aws:sns:us-west-2:{ACCOUNT}:ecr-lifeguard-events",
        "Message": "You have chosen to subscribe to the topic ...",
        "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
    }
    problem = rejected(confirmation)
    assert (problem.kind, problem.reason) == (
        "unknown",
        'SNS message of Type "SubscriptionConfirmation" is not an event (only notifications '
        "carry one)",
    )


def test_oversized_messages_are_refused_before_parsing() -> None:
    padding = "x" * SQS_MAX_BYTES
    problem = rejected('{"id": "' + padding + '"}')
    assert problem.kind == "oversized"
    assert problem.reason == "the message is 262,154 bytes, over the 262,144-byte limit"
    # The limit is a parameter, counted in UTF-8 bytes, and checked before the JSON is read.
    assert rejected("é" * 6, max_bytes=10).kind == "oversized"
    assert rejected("not even json", max_bytes=5).kind == "oversized"
    body = event_bytes("ecr-image-push")
    assert parse_message(body, max_bytes=len(body)).kind == "image_push"
    assert rejected(body, max_bytes=len(body) - 1).kind == "oversized"


def test_several_problems_are_counted_and_values_kept_short() -> None:
    data = load_event("ecr-image-push")
    del data["id"]
    del data["version"]
    data["detail"]["repository-name"] = ["x" * 200]
    problem = rejected(data)
    assert problem.reason == "ECR Image Action: version is missing (and 2 more problems)"
    data = load_event("ecr-image-push")
    data["detail"]["result"] = "line one\nline two " + "y" * 200
    reason = rejected(data).reason
    assert "\n" not in reason
    assert len(reason) < 200


# -- nothing but EventRejected ever escapes --------------------------------------------------------

FIXTURES = sorted(path.stem for path in EVENTS.glob("*.json"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse_or_reject(body: str | bytes) -> None:
    try:
        event = parse_message(body, default_account=ACCOUNT)
    except EventRejected as problem:
        assert problem.kind in {"oversized", "malformed", "unknown"}
        assert problem.reason
        assert "\n" not in problem.reason
        assert "validation error" not in problem.reason.lower()
    else:
        # Whatever parses offers the uniform surface.
        assert isinstance(event.event_id, str)
        assert isinstance(event.at, float)
        assert event.kind in EVENT_KINDS


@PROPERTY
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_event_rejected(body: bytes) -> None:
    _parse_or_reject(body)


@PROPERTY
@given(value=json_values)
def test_arbitrary_json_never_raises_anything_but_event_rejected(value: Any) -> None:
    _parse_or_reject(json.dumps(value))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> str:
    """A fixture with a few of its values replaced by arbitrary JSON or removed."""
    name = draw(st.sampled_from(FIXTURES))
    try:
        data: Any = load_event(name)
    except ValueError:
        return event_bytes(name).decode()
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        *parent_path, last = draw(st.sampled_from(paths))
        parent = data
        for part in parent_path:
            parent = parent[part]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[last]
        else:
            parent[last] = draw(json_values)
    if draw(st.booleans()):
        sns = copy.deepcopy(load_event("sns-ecr-image-push"))
        sns["Message"] = json.dumps(data)
        data = sns
    return json.dumps(data)


@PROPERTY
@given(body=mutated_fixtures())
def test_mutated_fixtures_never_raise_anything_but_event_rejected(body: str) -> None:
    _parse_or_reject(body)
