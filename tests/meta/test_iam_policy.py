"""The least-privilege IAM policy grants exactly the AWS operations the adapters call."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
READ_ONLY = ROOT / "deploy" / "iam" / "read-only.json"
BOT_WRITE = ROOT / "deploy" / "iam" / "bot-write.json"
EVENT_CONSUMER = ROOT / "deploy" / "iam" / "event-consumer.json"
READ_VERBS = ("Describe", "Get", "List", "BatchGet", "Lookup")
SERVICES = ("ecr", "ecs", "lambda", "cloudtrail", "sts", "sqs")
# Checked by AWS on calls that return tags; never called by name.
IMPLIED = {"ecs:ListTagsForResource", "lambda:ListTags"}
# Granted through the role trust set-up described in deploy/iam/README.md instead.
SEPARATE = {"sts:AssumeRole"}


def string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def called_operations() -> set[str]:
    """``service:Operation`` for every operation whose snake_case name the adapters use."""
    constants: set[str] = set()
    for path in [
        *(ROOT / "bot" / "edge" / "aws").glob("*.py"),
        ROOT / "bot" / "diagnose" / "investigate.py",
    ]:
        constants |= string_constants(path)
    session = botocore.session.get_session()
    found = set()
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            if xform_name(operation) in constants:
                found.add(f"{service}:{operation}")
    return found


def granted_actions(path: Path) -> set[str]:
    document = json.loads(path.read_text())
    actions: set[str] = set()
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        value = statement["Action"]
        actions |= {value} if isinstance(value, str) else set(value)
    return actions


# Named like writes, but they change nothing in the registry.
READS_BY_NATURE = {"ecr:StartLifecyclePolicyPreview"}


def is_read(action: str) -> bool:
    return action in READS_BY_NATURE or action.split(":")[1].startswith(READ_VERBS)


def test_every_read_operation_is_in_the_read_only_policy() -> None:
    reads = {op for op in called_operations() - SEPARATE if is_read(op) and not is_queue(op)}
    missing = reads - granted_actions(READ_ONLY)
    assert not missing, f"add to {READ_ONLY.relative_to(ROOT)}: {sorted(missing)}"


def is_queue(action: str) -> bool:
    return action.startswith("sqs:")


def test_every_queue_operation_is_in_the_event_consumer_policy() -> None:
    queue = {op for op in called_operations() if is_queue(op)}
    assert queue, "the consumer's SQS calls were not found"
    missing = queue - granted_actions(EVENT_CONSUMER)
    assert not missing, f"add to {EVENT_CONSUMER.relative_to(ROOT)}: {sorted(missing)}"


def test_every_change_is_in_the_bot_write_policy() -> None:
    writes = {op for op in called_operations() - SEPARATE if not is_read(op) and not is_queue(op)}
    missing = writes - granted_actions(BOT_WRITE)
    assert not missing, f"add to {BOT_WRITE.relative_to(ROOT)}: {sorted(missing)}"


def test_nothing_is_granted_that_no_adapter_calls() -> None:
    granted = (
        granted_actions(READ_ONLY) | granted_actions(BOT_WRITE) | granted_actions(EVENT_CONSUMER)
    )
    extra = granted - called_operations() - IMPLIED
    assert not extra, f"remove from the policies: {sorted(extra)}"


def test_read_only_policy_grants_no_wildcards_or_writes() -> None:
    for action in granted_actions(READ_ONLY):
        assert "*" not in action
        assert is_read(action), action


def test_the_detection_sees_the_known_calls() -> None:
    calls = called_operations()
    assert {
        "ecr:DescribeImages",
        "ecs:DescribeServiceRevisions",
        "cloudtrail:LookupEvents",
    } <= calls
