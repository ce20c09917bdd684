"""deploy/aws/ecr-lifeguard.yaml: cfn-lint clean, IAM equal to deploy/iam/*.json, the queue
admits only the stack's rules, and the rules route the documented events (through moto's
EventBridge and SQS)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint_file

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "deploy" / "aws" / "ecr-lifeguard.yaml"
IAM = ROOT / "deploy" / "iam"
CHART_VALUES = ROOT / "helm" / "ecr-lifeguard" / "values.yaml"
Json = dict[str, Any]


class CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (``!Ref X`` → ``{"Ref": "X"}``, ``!Sub`` → ...)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Json:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)
TEMPLATE: Json = yaml.load(TEMPLATE_PATH.read_text(), Loader=CloudFormationLoader)
RESOURCES: Json = TEMPLATE["Resources"]


def resources_of(kind: str) -> dict[str, Json]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def policy_actions(path: Path) -> set[str]:
    actions: set[str] = set()
    for statement in json.loads(path.read_text())["Statement"]:
        value = statement["Action"]
        actions |= {value} if isinstance(value, str) else set(value)
    return actions


def statement_actions(document: Json) -> set[str]:
    actions: set[str] = set()
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        value = statement["Action"]
        actions |= {value} if isinstance(value, str) else set(value)
    return actions


def role_policies() -> tuple[Json, Json]:
    """The role's read policy, and the write policy with the condition that keeps it."""
    read, conditional = RESOURCES["BotRole"]["Properties"]["Policies"]
    condition, write, otherwise = conditional["Fn::If"]
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert condition == "MayChangeEcr"
    return read, write


def test_cfn_lint_finds_nothing() -> None:
    matches = lint_file(TEMPLATE_PATH)
    assert not matches, "\n".join(str(match) for match in matches)


def test_read_policy_equals_the_read_only_and_event_consumer_policies() -> None:
    read, _ = role_policies()
    expected = policy_actions(IAM / "read-only.json") | policy_actions(IAM / "event-consumer.json")
    assert statement_actions(read["PolicyDocument"]) == expected


def test_write_policy_equals_bot_write_and_is_left_out_when_alert_only() -> None:
    _, write = role_policies()
    assert statement_actions(write["PolicyDocument"]) == policy_actions(IAM / "bot-write.json")
    assert TEMPLATE["Conditions"]["MayChangeEcr"] == {"Fn::Equals": [{"Ref": "AlertOnly"}, "false"]}
    assert TEMPLATE["Parameters"]["AlertOnly"]["AllowedValues"] == ["true", "false"]


def test_every_policy_file_is_in_the_template() -> None:
    read, write = role_policies()
    granted = statement_actions(read["PolicyDocument"]) | statement_actions(write["PolicyDocument"])
    for path in sorted(IAM.glob("*.json")):
        assert policy_actions(path) <= granted, path.name


def test_the_queue_actions_are_scoped_to_the_event_queue() -> None:
    read, _ = role_policies()
    sqs = [s for s in read["PolicyDocument"]["Statement"] if s["Action"][0].startswith("sqs:")]
    assert [s["Resource"] for s in sqs] == [{"Fn::GetAtt": "EventQueue.Arn"}]


def test_the_role_trusts_only_the_charts_service_account() -> None:
    text = RESOURCES["BotRole"]["Properties"]["AssumeRolePolicyDocument"]["Fn::Sub"]
    values = {
        "AWS::Partition": "aws",
        "AWS::AccountId": "123456789012",
        "OidcProvider": "oidc.eks.eu-west-1.amazonaws.com/id/ABC",
        "ServiceAccountNamespace": "ecr-lifeguard",
        "ServiceAccountName": "ecr-lifeguard",
    }
    document = json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: values[m[1]], text))
    (statement,) = document["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"] == (
        "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
    )
    assert statement["Condition"]["StringEquals"] == {
        "oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub": (
            "system:serviceaccount:ecr-lifeguard:ecr-lifeguard"
        ),
        "oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
    }


def test_the_queue_admits_only_the_stacks_rules() -> None:
    rules = resources_of("AWS::Events::Rule")
    assert len(rules) == 4
    for rule in rules.values():
        assert rule["Properties"]["Targets"] == [
            {"Id": "lifeguard-queue", "Arn": {"Fn::GetAtt": "EventQueue.Arn"}}
        ]
    (policy,) = resources_of("AWS::SQS::QueuePolicy").values()
    allow, deny = policy["Properties"]["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    sources = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(sources, key=str) == sorted(
        ({"Fn::GetAtt": f"{name}.Arn"} for name in rules), key=str
    )
    assert deny["Effect"] == "Deny" and deny["Condition"]["Bool"] == {
        "aws:SecureTransport": "false"
    }


def test_both_queues_are_encrypted_and_failures_go_to_the_dead_letter_queue() -> None:
    queues = resources_of("AWS::SQS::Queue")
    assert set(queues) == {"EventQueue", "DeadLetterQueue"}
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    redrive = queues["EventQueue"]["Properties"]["RedrivePolicy"]
    assert redrive == {
        "deadLetterTargetArn": {"Fn::GetAtt": "DeadLetterQueue.Arn"},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }


def test_the_rules_listen_for_what_the_brief_names() -> None:
    api = RESOURCES["EcrApiCallRule"]["Properties"]["EventPattern"]
    assert api["detail-type"] == ["AWS API Call via CloudTrail"]
    assert set(api["detail"]["eventName"]) == {
        "PutLifecyclePolicy",
        "DeleteLifecyclePolicy",
        "BatchDeleteImage",
        "PutImage",
        "PutImageTagMutability",
        "UpdateImageStorageClass",
    }
    lifecycle = RESOURCES["EcrLifecycleRunRule"]["Properties"]
    # PolicyExecutionEvent is a read-only CloudTrail event: only this state receives it.
    assert lifecycle["State"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    assert lifecycle["EventPattern"]["detail"]["eventName"] == ["PolicyExecutionEvent"]


def test_the_outputs_are_the_values_the_chart_needs() -> None:
    outputs = TEMPLATE["Outputs"]
    assert outputs["QueueUrl"]["Value"] == {"Ref": "EventQueue"}
    assert outputs["RoleArn"]["Value"] == {"Fn::GetAtt": "BotRole.Arn"}
    values = yaml.safe_load(CHART_VALUES.read_text())
    flags = re.findall(r"--set ([a-zA-Z.]+)=", outputs["HelmArguments"]["Value"]["Fn::Sub"])
    assert flags == ["serviceAccount.roleArn", "events.queueUrl", "aws.region"]
    for flag in flags:
        section, key = flag.split(".")
        assert key in values[section], flag


DOCUMENTED_EVENTS = [
    (
        "aws.ecr",
        "ECR Image Action",
        {"result": "SUCCESS", "repository-name": "app", "action-type": "PUSH", "image-tag": "v1"},
        True,
    ),
    (
        "aws.ecr",
        "AWS API Call via CloudTrail",
        {"eventSource": "ecr.amazonaws.com", "eventName": "PutLifecyclePolicy"},
        True,
    ),
    (
        "aws.ecr",
        "AWS API Call via CloudTrail",
        {"eventSource": "ecr.amazonaws.com", "eventName": "UpdateImageStorageClass"},
        True,
    ),
    (
        "aws.ecr",
        "AWS API Call via CloudTrail",
        {"eventSource": "ecr.amazonaws.com", "eventName": "GetLifecyclePolicy"},
        False,
    ),
    (
        "aws.ecr",
        "AWS Service Event via CloudTrail",
        {"eventSource": "ecr.amazonaws.com", "eventName": "PolicyExecutionEvent"},
        True,
    ),
    ("aws.ecr", "ECR Image Scan", {"scan-status": "COMPLETE", "repository-name": "app"}, False),
    ("aws.ecs", "ECS Task State Change", {"lastStatus": "RUNNING", "clusterArn": "c"}, True),
    ("aws.ecs", "ECS Deployment State Change", {"eventName": "SERVICE_DEPLOYMENT_COMPLETED"}, True),
    ("aws.ecs", "ECS Container Instance State Change", {"status": "ACTIVE"}, False),
]


def test_the_rules_route_the_documented_events_to_the_queue(boto: Any) -> None:
    sqs, events = boto("sqs"), boto("events")
    queue_url = sqs.create_queue(QueueName="ecr-lifeguard-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    for name, rule in resources_of("AWS::Events::Rule").items():
        pattern = json.dumps(rule["Properties"]["EventPattern"])
        events.put_rule(Name=name, EventPattern=pattern, State="ENABLED")
        events.put_targets(Rule=name, Targets=[{"Id": "lifeguard-queue", "Arn": queue_arn}])
    entries = [
        {"Source": source, "DetailType": kind, "Detail": json.dumps(detail)}
        for source, kind, detail, _ in DOCUMENTED_EVENTS
    ]
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    delivered = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            body = json.loads(message["Body"])
            delivered.append((body["detail-type"], json.dumps(body["detail"], sort_keys=True)))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    expected = [
        (kind, json.dumps(detail, sort_keys=True))
        for _, kind, detail, routed in DOCUMENTED_EVENTS
        if routed
    ]
    assert sorted(delivered) == sorted(expected)


PARAMETER_INPUTS = [
    ("OidcProvider", "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE", True),
    ("OidcProvider", "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE", False),
    ("ServiceAccountNamespace", "ecr-lifeguard", True),
    ("ServiceAccountNamespace", "Platform_Tools", False),
    ("ServiceAccountName", "release-ecr-lifeguard", True),
    ("ServiceAccountName", "-bad", False),
]


@pytest.mark.parametrize(("parameter", "value", "accepted"), PARAMETER_INPUTS)
def test_parameters_accept_real_names_and_refuse_malformed_ones(
    parameter: str, value: str, accepted: bool
) -> None:
    spec = TEMPLATE["Parameters"][parameter]
    assert bool(re.fullmatch(spec["AllowedPattern"], value)) is accepted
    assert spec["ConstraintDescription"]
