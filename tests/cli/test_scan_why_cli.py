"""``scan`` and ``why-missing`` run as a user runs them, in a subprocess: bad input and failures.

Every case checks the exit status (0 ok, 1 upstream failure or not everything checked, 2 invalid
input, 3 found) and that the message names the problem, never with a traceback; every output of
every run is checked for trailing spaces. Processes that need an in-process fake (moto's
backend state, the CloudTrail fake, the Kubernetes fake) are run with asyncio so the fakes keep
serving while the CLI talks to them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_ENV
from tests.support.cloudtrail_fake import (
    CloudTrailFake,
    batch_delete_image_event,
    lifecycle_image,
    policy_execution_event,
)
from tests.support.kube_api import FakeKubeApi
from tests.support.moto_state import (
    ACCOUNT,
    archive,
    digest_of,
    image_manifest,
    push,
    set_image_times,
)

ROOT = Path(__file__).resolve().parents[2]
OFFLINE = "http://127.0.0.1:9"  # nothing listens on the discard port
HOST = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
KEEP_ONE = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "Keep only the newest image",
            "selection": {
                "tagStatus": "any",
                "countType": "imageCountMoreThan",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        }
    ]
}


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def cli_env(endpoint: str = OFFLINE, **changes: str | None) -> dict[str, str]:
    """A clean environment: fake credentials, no profile or config file, one attempt per call.

    ``endpoint`` defaults to a closed port, so no test can ever reach real AWS.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "LIFEGUARD_")) and key != "KUBECONFIG"
    }
    env.update(TEST_ENV)
    env.update(
        {
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
            "AWS_ENDPOINT_URL": endpoint,
            "LIFEGUARD_AWS__MAX_ATTEMPTS": "1",
        }
    )
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def finished(code: int, out: str, err: str) -> Result:
    """The result of a run, once its output is known to carry no trailing spaces."""
    for stream in (out, err):
        ragged = [line for line in stream.splitlines() if line != line.rstrip()]
        assert not ragged, ragged
    return Result(code, out, err)


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    process = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        cwd=ROOT,
        env=env or cli_env(),
        timeout=120,
        check=False,
        text=True,
    )
    return finished(process.returncode, process.stdout, process.stderr)


async def run_async(*args: str, env: dict[str, str]) -> Result:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return finished(process.returncode, out.decode(), err.decode())


def assert_no_traceback(result: Result) -> None:
    assert "Traceback" not in result.text, result.err
    assert "botocore.exceptions" not in result.text, result.err


def assert_invalid(result: Result, *fragments: str) -> None:
    assert result.code == 2, result
    assert_no_traceback(result)
    assert result.out == ""
    for fragment in fragments:
        assert fragment in result.err, (fragment, result.err)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# Bad references and options (no AWS involved) -----------------------------------------------------

BAD_REFERENCES = {
    "uppercase-repository": ("Bad_Repo:v1", '"Bad_Repo" is not a valid repository name'),
    "tag-starts-with-dash": ("app:-x", '"-x" is not a valid tag'),
    "tag-too-long": ("app:" + "x" * 129, "at most 128 characters"),
    "short-digest": (
        "app@sha256:zz",
        "the digest must be sha256: followed by 64 lowercase hex digits",
    ),
    "not-sha256": ("app@md5:" + "a" * 32, "the digest must be sha256:"),
    "empty": ("", "the image reference is empty"),
    "no-version": ("app", "add a tag or digest, e.g. app:v1.2.3"),
    "docker-hub": ("docker.io/library/nginx:1", '"docker.io" is not an ECR registry'),
    "ecr-public": ("public.ecr.aws/nginx/nginx:1", '"public.ecr.aws" is not an ECR registry'),
    "bad-region-in-uri": (
        f"{ACCOUNT}.dkr.ecr.moon.amazonaws.com/app:v1",
        '"moon" is not an AWS region',
    ),
}
BAD_OPTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "why-region": (
        ("why-missing", "app:v1", "--region", "moon-1"),
        ('--region: "moon-1" is not an AWS region name',),
    ),
    "why-now": (("why-missing", "app:v1", "--now", "yesterday"), ("--now:", "yesterday")),
    "scan-region": (("scan", "--region", "moon-1"), ('--region: "moon-1" is not an AWS region',)),
    "scan-glob": (
        ("scan", "--repository", "My App"),
        ('--repository: "My App" can match no repository', "lowercase"),
    ),
    "scan-second-glob": (("scan", "--repository", "app", "--repository", "Team/*"), ('"Team/*"',)),
    "horizon-word": (("scan", "--horizon", "soon"), ('--horizon: "soon" is not a duration', "7d")),
    "horizon-too-long": (("scan", "--horizon", "400d"), ('--horizon: "400d" is out of range',)),
    "horizon-negative": (("scan", "--horizon=-1d"), ("--horizon:", '"-1d"')),
    "push-margin-negative": (
        ("scan", "--push-margin", "-1"),
        ("--push-margin: must be 0 or more",),
    ),
    "push-margin-word": (("scan", "--push-margin", "two"), ("--push-margin", "invalid int value")),
    "scan-now": (("scan", "--now", "tomorrow"), ("--now:", "tomorrow")),
    "no-kubernetes-and-a-context": (
        ("scan", "--no-kubernetes", "--kube-context", "prod-eks"),
        ("--no-kubernetes: cannot be combined with --kube-context",),
    ),
    "no-kubernetes-in-cluster": (
        ("scan", "--in-cluster", "--no-kubernetes"),
        ("--no-kubernetes: cannot be combined with --in-cluster",),
    ),
}
# A mistyped or unknown option: the sub-command's own usage, and the option probably meant.
UNKNOWN_OPTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "scan-typo": (
        ("scan", "--kube-contxt", "prod-eks"),
        ("usage: ecr-lifeguard scan ", "--kube-contxt (did you mean --kube-context?)"),
    ),
    "scan-unknown": (("scan", "--everything"), ("usage: ecr-lifeguard scan ", "--everything")),
    "why-typo": (
        ("why-missing", "app:v1", "--formt", "json"),
        ("usage: ecr-lifeguard why-missing ", "--formt (did you mean --format?)"),
    ),
    "why-no-ref": (
        ("why-missing", "--format", "json"),
        ("usage: ecr-lifeguard why-missing ", "the following arguments are required: REF"),
    ),
    "why-bad-format": (
        ("why-missing", "app:v1", "--format", "yaml"),
        ("usage: ecr-lifeguard why-missing ", "argument --format: invalid choice: 'yaml'"),
    ),
}


@pytest.fixture(scope="module")
def offline_runs() -> dict[tuple[str, ...], Result]:
    """Every table-driven invalid-input command, run once and concurrently (startup is slow)."""
    commands: list[tuple[str, ...]] = [
        ("why-missing", reference) for reference, _ in BAD_REFERENCES.values()
    ]
    commands += [args for args, _ in BAD_OPTIONS.values()]
    commands += [args for args, _ in UNKNOWN_OPTIONS.values()]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(commands, pool.map(lambda c: run(*c), commands), strict=True))


@pytest.mark.parametrize("case", list(BAD_REFERENCES))
def test_bad_reference_is_invalid_input(
    offline_runs: dict[tuple[str, ...], Result], case: str
) -> None:
    reference, problem = BAD_REFERENCES[case]
    result = offline_runs[("why-missing", reference)]
    assert_invalid(result, "REF: ", problem)
    assert len(result.err.strip().splitlines()) == 1


def test_bad_reference_is_rejected_before_any_aws_call() -> None:
    # Without credentials an AWS call would fail with exit 1: exit 2 shows nothing was called.
    env = cli_env(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None, AWS_SESSION_TOKEN=None)
    assert_invalid(run("why-missing", "Bad_Repo:v1", env=env), "Bad_Repo")


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_bad_option_is_invalid_input(
    offline_runs: dict[tuple[str, ...], Result], case: str
) -> None:
    args, fragments = BAD_OPTIONS[case]
    assert_invalid(offline_runs[args], *fragments)


@pytest.mark.parametrize("case", list(UNKNOWN_OPTIONS))
def test_unknown_option_prints_the_sub_commands_usage(
    offline_runs: dict[tuple[str, ...], Result], case: str
) -> None:
    args, fragments = UNKNOWN_OPTIONS[case]
    result = offline_runs[args]
    assert_invalid(result, *fragments)
    assert result.err.startswith(fragments[0])
    assert "usage: ecr-lifeguard plan" not in result.err


def test_invalid_proposed_policy_names_the_file_and_the_problem(tmp_path: Path) -> None:
    empty_rules = write(tmp_path / "proposed.json", '{"rules": []}')
    assert_invalid(
        run("scan", "--policy", str(empty_rules)),
        f"{empty_rules}: rules: a policy needs at least one rule",
    )
    not_json = write(tmp_path / "typo.json", "{rules: [}")
    assert_invalid(run("scan", "--policy", str(not_json)), f"{not_json}: not valid JSON")
    bad_rule = dict(KEEP_ONE)
    bad_rule["rules"] = [{**KEEP_ONE["rules"][0], "action": {"type": "delete"}}]
    wrong = write(tmp_path / "wrong.json", json.dumps(bad_rule))
    result = run("scan", "--policy", str(wrong))
    assert_invalid(result, f"{wrong}: ", "action")
    assert_invalid(
        run("scan", "--policy", str(tmp_path / "missing.json")),
        f"{tmp_path / 'missing.json'}: no such file",
    )


def test_unknown_setting_in_the_config_file_is_named(tmp_path: Path) -> None:
    nested = write(tmp_path / "nested.yaml", "aws:\n  regionz: [us-east-1]\n")
    assert_invalid(run("scan", "--config", str(nested)), "aws.regionz")
    top = write(tmp_path / "top.yaml", "colour: blue\n")
    assert_invalid(run("why-missing", "app:v1", "--config", str(top)), "colour")


def test_invalid_setting_values_in_the_config_file_are_named(tmp_path: Path) -> None:
    region = write(tmp_path / "region.yaml", "aws:\n  regions: [moon-1]\n")
    assert_invalid(
        run("scan", "--config", str(region)),
        'setting aws.regions: "moon-1" is not an AWS region name',
    )
    horizon = write(tmp_path / "horizon.yaml", "scan:\n  horizon_days: lots\n")
    assert_invalid(run("scan", "--config", str(horizon)), "setting scan.horizon_days")
    limit = write(tmp_path / "limit.yaml", "aws:\n  max_concurrency: 0\n")
    assert_invalid(run("scan", "--config", str(limit)), "setting aws.max_concurrency")


def test_config_file_that_is_not_a_mapping_is_invalid_input(tmp_path: Path) -> None:
    listed = write(tmp_path / "list.yaml", "- aws\n- scan\n")
    assert_invalid(run("scan", "--config", str(listed)), str(listed))


@pytest.mark.parametrize("command", [["scan"], ["why-missing", "app:v1"]])
def test_nonexistent_config_file_is_invalid_input(command: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert_invalid(run(*command, "--config", str(missing)), str(missing), "not a readable file")


def test_config_file_from_the_environment_is_checked_too(tmp_path: Path) -> None:
    env = cli_env(LIFEGUARD_CONFIG=str(tmp_path))  # a directory, not a file
    assert_invalid(run("scan", env=env), "LIFEGUARD_CONFIG", str(tmp_path), "not a readable file")


@pytest.mark.parametrize("command", [["scan"], ["why-missing", "app:v1"]], ids=["scan", "why"])
def test_malformed_yaml_config_is_invalid_input(command: list[str], tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.yaml", "aws:\n  regions: [us-east-1\n")
    assert_invalid(run(*command, "--config", str(broken)), str(broken))


# Credentials and endpoints -----------------------------------------------------------------------

NO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def test_why_missing_without_credentials_says_how_to_provide_them(moto: str) -> None:
    result = run("why-missing", "app:v1", env=cli_env(moto, **NO_CREDENTIALS))
    assert result.code == 1, result
    assert_no_traceback(result)
    assert result.out == ""
    assert "ecr-lifeguard: Unable to locate credentials" in result.err
    assert "ecr-lifeguard: to fix: provide AWS credentials" in result.err
    assert "AWS_PROFILE" in result.err and "AWS_ACCESS_KEY_ID" in result.err


def test_scan_without_credentials_fails_and_says_how_to_provide_them(moto: str) -> None:
    result = run("scan", "--format", "json", env=cli_env(moto, **NO_CREDENTIALS))
    assert result.code == 1, result
    assert_no_traceback(result)
    problems = json.loads(result.out)["summary"]["problems"]
    assert problems, result.out
    ecr = [p for p in problems if p.startswith("default/us-east-1: ecr ")]
    assert ecr and "NoCredentials" in ecr[0]
    assert all("provide AWS credentials" in p and "AWS_ACCESS_KEY_ID" in p for p in problems)


def test_scan_without_credentials_leads_with_what_it_could_not_check(moto: str) -> None:
    result = run("scan", env=cli_env(moto, **NO_CREDENTIALS))

    assert result.code == 1
    assert_no_traceback(result)
    lines = result.out.splitlines()
    assert lines[0] == "could not check everything, so this scan is not a pass:"
    assert lines[1].startswith("  • default/us-east-1: ecr DescribeRepositories failed")
    assert "NoCredentials" in result.out
    # The three sources share one fix: it is printed once, after them.
    assert result.out.count("provide AWS credentials") == 1
    assert "  to fix: provide AWS credentials: set AWS_PROFILE" in result.out
    inventory = _paragraph(result.out, "Inventory: ")
    assert "ECS default/us-east-1: could not be read" in inventory
    assert "Lambda default/us-east-1: could not be read" in inventory
    assert "Kubernetes: not configured" in inventory
    assert "No in-use image is at risk" not in result.out
    assert lines[-1] == (
        "No risk found in what could be read; what could not be checked is listed first."
    )


def _paragraph(out: str, start: str) -> str:
    """The wrapped line that starts with ``start``, joined back into one."""
    lines = out.splitlines()
    [first] = [n for n, line in enumerate(lines) if line.startswith(start)]
    end = next((n for n in range(first + 1, len(lines)) if lines[n].endswith((".", ":"))), first)
    return " ".join(lines[first : end + 1])


@pytest.mark.parametrize("command", [["scan"], ["why-missing", "app:v1"]], ids=["scan", "why"])
def test_unknown_profile_is_an_upstream_failure_with_advice(command: list[str], moto: str) -> None:
    env = cli_env(moto, **{**NO_CREDENTIALS, "AWS_PROFILE": "nope"})
    result = run(*command, env=env)
    assert result.code == 1, result
    assert_no_traceback(result)
    assert "nope" in result.text


def test_why_missing_against_an_unreachable_endpoint() -> None:
    result = run("why-missing", "app:v1", env=cli_env(OFFLINE))
    assert result.code == 1, result
    assert_no_traceback(result)
    assert result.out == ""
    assert "Unreachable" in result.err
    assert f'Could not connect to the endpoint URL: "{OFFLINE}/"' in result.err
    assert "AWS_ENDPOINT_URL" in result.err


def test_scan_against_an_unreachable_endpoint_lists_every_source() -> None:
    result = run("scan", "--format", "json", env=cli_env(OFFLINE))
    assert result.code == 1, result
    assert_no_traceback(result)
    problems = json.loads(result.out)["summary"]["problems"]
    assert [p.split(":")[0] for p in problems] == [
        "default/us-east-1",
        "ecs default/us-east-1",
        "lambda default/us-east-1",
    ]
    assert all(OFFLINE in p and "AWS_ENDPOINT_URL" in p for p in problems)


# Scans against moto ------------------------------------------------------------------------------


def test_scan_with_no_repositories_is_ok(moto: str) -> None:
    # No lifecycle policy anywhere: nothing can be at risk, so no inventory gap can matter.
    result = run("scan", env=cli_env(moto))
    assert result.code == 0, result
    assert_no_traceback(result)
    assert "0 repositories read" in result.out
    assert "Kubernetes: not configured" in result.out
    assert result.out.splitlines()[-1] == "No in-use image is at risk."
    assert "could not check" not in result.out


def test_scan_without_kubernetes_is_not_a_pass_until_the_user_says_there_is_none(
    boto: Any, moto: str, tmp_path: Path
) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="web")
    ecr.put_lifecycle_policy(repositoryName="web", lifecyclePolicyText=json.dumps(KEEP_ONE))
    push(ecr, "web", image_manifest("web-1"), ["v1"])
    env = cli_env(moto)

    table = run("scan", env=env)

    assert table.code == 1, table
    lines = table.out.splitlines()
    assert lines[0] == "could not check everything, so this scan is not a pass:"
    gap = _paragraph(table.out, "  • Kubernetes: not configured")
    assert "so no pod or workload was checked" in gap
    assert "--kube-context CONTEXT" in gap and "--in-cluster" in gap and "--no-kubernetes" in gap
    assert "No in-use image is at risk" not in table.out

    document = run("scan", "--format", "json", env=env)

    assert document.code == 1, document
    summary = json.loads(document.out)["summary"]
    assert summary["complete"] is False
    [problem] = summary["problems"]
    assert problem.startswith("Kubernetes: not configured")
    kubernetes = [s for s in summary["sources"] if s["kind"] == "kubernetes"]
    assert kubernetes == [
        {"source": "kubernetes", "kind": "kubernetes", "status": "not configured"}
    ]

    said_so = run("scan", "--no-kubernetes", env=env)

    assert said_so.code == 0, said_so
    assert "could not check" not in said_so.out
    assert "Kubernetes: skipped" in _paragraph(said_so.out, "Inventory: ")
    assert said_so.out.splitlines()[-1] == "No in-use image is at risk."

    # The configuration can say it too, for a bot and its CLI alike.
    config = write(tmp_path / "settings.yaml", "kubernetes:\n  enabled: false\n")
    configured = run("scan", "--config", str(config), "--format", "json", env=env)

    assert configured.code == 0, configured
    summary = json.loads(configured.out)["summary"]
    assert summary["complete"] is True and summary["problems"] == []
    assert {"source": "kubernetes", "kind": "kubernetes", "status": "skipped"} in summary["sources"]


def test_scan_of_a_repository_without_a_policy_is_ok_and_cheap(boto: Any, moto: str) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="no-policy")
    push(ecr, "no-policy", image_manifest("a"), ["v1"])

    result = run("scan", "--format", "json", env=cli_env(moto))

    assert result.code == 0, result
    document = json.loads(result.out)
    assert document["risks"] == []
    summary = document["summary"]
    assert (summary["repositories"], summary["repositoriesWithPolicy"]) == (1, 0)
    assert (summary["atRisk"], summary["upcoming"], summary["problems"]) == (0, 0, [])
    assert summary["apiCalls"]["ecr.GetLifecyclePolicy"] == 1
    assert "ecr.DescribeImages" not in summary["apiCalls"]  # no policy: nothing more to read


def test_scan_json_summary_counts(boto: Any, moto: str) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="web")
    ecr.create_repository(repositoryName="tools")
    ecr.put_lifecycle_policy(repositoryName="web", lifecyclePolicyText=json.dumps(KEEP_ONE))
    for n in range(3):
        digest = push(ecr, "web", image_manifest(f"web-{n}"), [f"v{n}"])
        set_image_times("web", digest, pushed=NOW - (10 - n) * DAY)

    result = run(
        "scan", "--now", NOW.isoformat(), "--no-ecs", "--no-lambda", "--no-kubernetes",
        "--format", "json", env=cli_env(moto),
    )  # fmt: skip

    assert result.code == 0, result  # two images expire, but nothing uses them
    document = json.loads(result.out)
    summary = document["summary"]
    assert summary["repositories"] == 2
    assert summary["repositoriesWithPolicy"] == 1
    assert summary["images"] == 3
    assert (summary["imagesInUse"], summary["atRisk"], summary["upcoming"]) == (0, 0, 0)
    assert summary["bySeverity"] == {}
    assert summary["apiCalls"] == {
        "ecr.DescribeImages": 1,
        "ecr.DescribeRepositories": 1,
        "ecr.GetLifecyclePolicy": 2,
    }
    assert summary["apiCallsTotal"] == 4
    assert summary["inventory"] == {}
    assert summary["sources"] == [
        {"source": "ecs", "kind": "ecs", "status": "skipped"},
        {"source": "lambda", "kind": "lambda", "status": "skipped"},
        {"source": "kubernetes", "kind": "kubernetes", "status": "skipped"},
        {"source": "static", "kind": "static", "status": "not configured"},
    ]
    assert summary["complete"] is True
    assert summary["problems"] == []
    assert document["scannedAt"] == NOW.timestamp()


def web_with_a_referenced_old_image(ecr: Any, tmp_path: Path) -> tuple[str, Path]:
    """``web`` keeps one image: v1 (10 days old, named in a references file) expires; v2 stays."""
    ecr.create_repository(repositoryName="web")
    ecr.put_lifecycle_policy(repositoryName="web", lifecyclePolicyText=json.dumps(KEEP_ONE))
    old = push(ecr, "web", image_manifest("old"), ["v1"])
    set_image_times("web", old, pushed=NOW - 10 * DAY)
    new = push(ecr, "web", image_manifest("new"), ["v2"])
    set_image_times("web", new, pushed=NOW - DAY)
    references = write(
        tmp_path / "references.yaml",
        f"references:\n  - image: {HOST}/web@{old}\n    name: disaster recovery runbook\n",
    )
    return old, references


def test_scan_finds_a_statically_referenced_image_at_risk(
    boto: Any, moto: str, tmp_path: Path
) -> None:
    old, references = web_with_a_referenced_old_image(boto("ecr"), tmp_path)

    result = run(
        "scan", "--now", NOW.isoformat(), "--no-ecs", "--no-lambda", "--no-kubernetes",
        "--references", str(references), "--format", "json", env=cli_env(moto),
    )  # fmt: skip

    assert result.code == 3, result
    document = json.loads(result.out)
    [risk] = document["risks"]
    assert (risk["repositoryName"], risk["imageDigest"]) == ("web", old)
    assert risk["imageTags"] == ["v1"]
    assert (risk["action"], risk["appliedRulePriority"]) == ("EXPIRE", 1)
    assert [c["name"] for c in risk["consumers"]] == ["disaster recovery runbook"]
    assert document["summary"]["atRisk"] == 1
    assert document["summary"]["imagesInUse"] == 1
    assert {
        "source": f"static {references}", "kind": "static", "status": "read", "uses": 1
    } in document["summary"]["sources"]  # fmt: skip


def test_scan_table_counts_in_the_singular_and_lists_its_sources(
    boto: Any, moto: str, tmp_path: Path
) -> None:
    _, references = web_with_a_referenced_old_image(boto("ecr"), tmp_path)

    result = run(
        "scan", "--now", NOW.isoformat(), "--no-kubernetes", "--references", str(references),
        "--horizon", "1d", "--push-margin", "1", env=cli_env(moto),
    )  # fmt: skip

    assert result.code == 3, result
    assert_no_traceback(result)
    headline = _paragraph(result.out, "Scan at 2024-06-01 12:00 UTC: ")
    assert "1 repository read (1 with a lifecycle policy), 2 images under a policy, 1 in use" in (
        headline
    )
    inventory = _paragraph(result.out, "Inventory: ")
    assert "ECS default/us-east-1: 0 image references" in inventory
    assert f"static references in {references}: 1 image reference" in inventory
    assert "Kubernetes: skipped" in inventory
    assert "1 in-use image at risk now, 0 more within 1 day or 1 push." in result.out
    assert "STATIC REFERENCE  web" in result.out
    assert result.out.splitlines()[-1].startswith("Protect the images above")
    for wrong in ("1 repositories", "1 images", "1 days", "1 pushes", "1 image references"):
        assert wrong not in result.out


def test_scan_with_an_invalid_references_file_lists_it_as_a_problem(
    moto: str, tmp_path: Path
) -> None:
    references = write(tmp_path / "references.yaml", "references:\n  - image: Bad_Repo:v1\n")
    result = run(
        "scan", "--no-ecs", "--no-lambda", "--references", str(references), "--format", "json",
        env=cli_env(moto),
    )  # fmt: skip
    assert result.code != 0, result
    assert_no_traceback(result)
    [problem] = json.loads(result.out)["summary"]["problems"]
    assert str(references) in problem and "references.0" in problem


def test_scan_with_a_missing_references_file_is_invalid_input(moto: str, tmp_path: Path) -> None:
    missing = tmp_path / "references.yaml"
    assert_invalid(run("scan", "--references", str(missing), env=cli_env(moto)), str(missing))


@pytest.fixture
async def kube_cluster(tmp_path: Path) -> AsyncIterator[tuple[FakeKubeApi, Path]]:
    api = await FakeKubeApi().start()
    try:
        yield api, api.kubeconfig(tmp_path / "kubeconfig", context="prod-eks")
    finally:
        await api.stop()


async def test_scan_with_a_missing_kube_context_reports_it_and_exits_1(
    boto: Any, moto: str, kube_cluster: tuple[FakeKubeApi, Path]
) -> None:
    api, kubeconfig = kube_cluster
    boto("ecr").create_repository(repositoryName="web")
    env = cli_env(moto, KUBECONFIG=str(kubeconfig))

    table = await run_async("scan", "--kube-context", "nope", env=env)

    assert table.code == 1, table
    assert_no_traceback(table)
    assert table.out.startswith("could not check everything, so this scan is not a pass:\n")
    assert "  • kubernetes: " in table.out
    assert 'no context "nope"' in table.out and "prod-eks" in table.out
    assert "1 repository read" in table.out  # the scan still ran and printed its results
    assert "Kubernetes: could not be read" in _paragraph(table.out, "Inventory: ")

    document = await run_async("scan", "--kube-context", "nope", "--format", "json", env=env)

    assert document.code == 1, document
    summary = json.loads(document.out)["summary"]
    assert summary["repositories"] == 1
    [problem] = summary["problems"]
    assert problem.startswith("kubernetes: ") and 'no context "nope"' in problem
    assert str(kubeconfig) in problem
    assert api.requests == []


# why-missing against moto ------------------------------------------------------------------------


def test_why_missing_without_cloudtrail_does_not_claim_certainty(boto: Any, moto: str) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    push(ecr, "app", image_manifest("v1.2.4"), ["v1.2.4"])

    result = run(
        "why-missing", "app:v1.2.3", "--no-cloudtrail", "--format", "json", env=cli_env(moto)
    )

    assert result.code == 0, result
    diagnosis = json.loads(result.out)
    assert diagnosis["verdict"] == "UNKNOWN"
    assert diagnosis["verdict"] not in {"NEVER_PUSHED", "EXPIRED_BY_LIFECYCLE", "DELETED_MANUALLY"}
    assert "CloudTrail was not read" in diagnosis["summary"]
    assert "never pushed" not in diagnosis["summary"]
    assert any("--no-cloudtrail" in e["text"] for e in diagnosis["evidence"])
    assert "Similar tags that exist: v1.2.4." in diagnosis["suggestions"]

    text = run("why-missing", "app:v1.2.3", "--no-cloudtrail", env=cli_env(moto))

    assert text.code == 0, text  # the user chose not to look: no failure, an open verdict
    assert text.out.startswith("UNKNOWN  app:v1.2.3\n")
    assert "Evidence" in text.out and "What to do" in text.out


def test_why_missing_for_a_uri_in_another_region_names_where_it_exists(
    boto: Any, moto: str
) -> None:
    boto("ecr").create_repository(repositoryName="app")
    reference = f"{ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/app:v1"

    result = run(
        "why-missing", reference, "--region", "us-east-1", "--format", "json", env=cli_env(moto)
    )

    assert result.code == 0, result
    diagnosis = json.loads(result.out)
    assert diagnosis["verdict"] == "REPOSITORY_NOT_FOUND"
    assert diagnosis["repository"] == f"{ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/app"
    assert any(
        s.startswith("A repository named app exists in default/us-east-1")
        for s in diagnosis["suggestions"]
    )


async def test_why_missing_when_cloudtrail_is_denied(boto: Any, moto: str) -> None:
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    push(ecr, "app", image_manifest("v2"), ["v2"])
    async with CloudTrailFake(deny=True) as trail:
        env = cli_env(moto, AWS_ENDPOINT_URL_CLOUDTRAIL=trail.url)

        result = await run_async("why-missing", "app:v1", "--format", "json", env=env)

        assert trail.requests, "the CLI should have asked CloudTrail"
    assert result.code == 1, result  # the verdict is open because CloudTrail refused
    assert_no_traceback(result)
    diagnosis = json.loads(result.out)
    assert diagnosis["verdict"] == "UNKNOWN"
    assert "AccessDeniedException" in diagnosis["failure"]
    assert any("AccessDeniedException" in e["text"] for e in diagnosis["evidence"])
    assert "Grant cloudtrail:LookupEvents" in diagnosis["suggestions"][-1]


def test_why_missing_when_the_endpoint_answers_an_html_page(boto: Any, moto: str) -> None:
    # moto does not implement CloudTrail LookupEvents: it answers an HTML 500 page, as a proxy
    # or a load balancer in front of an endpoint may.
    ecr = boto("ecr")
    ecr.create_repository(repositoryName="app")
    push(ecr, "app", image_manifest("v2"), ["v2"])

    text = run("why-missing", "app:v1", env=cli_env(moto))

    assert text.code == 1, text
    assert_no_traceback(text)
    lines = text.out.splitlines()
    assert lines[0] == "UNKNOWN  app:v1"
    assert "<" not in text.out and "html>" not in text.out.lower()
    assert "CloudTrail could not be read (LookupEvents: HTTP 500)" in text.out
    [evidence] = [n for n, line in enumerate(lines) if line.startswith("  • ")]
    assert lines[evidence].startswith("  • CloudTrail could not be read: LookupEvents failed: HTTP")
    assert lines[evidence + 1] == "    page, not an AWS error response)"  # its wrapped end
    assert "  1. CloudTrail failed on its side: run again in a few minutes" in text.out
    assert "Grant" not in text.out

    document = run("why-missing", "app:v1", "--format", "json", env=cli_env(moto))

    assert document.code == 1, document
    diagnosis = json.loads(document.out)
    assert diagnosis["failure"] == (
        "CloudTrail could not be read: LookupEvents failed: HTTP 500: Internal Server Error (an "
        "HTML page, not an AWS error response)"
    )
    assert "<" not in document.out


# What each verdict exits with (the README's table) ------------------------------------------------

OLD_RELEASE, PROD_1, PROD_2 = image_manifest("v0.9"), image_manifest("prod-1"), image_manifest("p2")
GONE, EXPIRED = image_manifest("gone"), image_manifest("expired")


def _arrange_every_verdict(ecr: Any, trail: CloudTrailFake) -> None:
    ecr.create_repository(repositoryName="app")
    push(ecr, "app", image_manifest("v2"), ["v2"])
    archive("app", push(ecr, "app", OLD_RELEASE, ["v0.9"]), NOW - 10 * DAY)
    restoring = push(ecr, "app", image_manifest("v0.8"), ["v0.8"])
    archive("app", restoring, NOW - 10 * DAY, activating=True)
    push(ecr, "app", PROD_1, ["prod", "build-41"])
    push(ecr, "app", PROD_2, ["prod"])
    trail.add(
        batch_delete_image_event(
            "app", NOW - DAY, [{"imageDigest": digest_of(GONE), "imageTag": "gone"}], user="bob"
        )
    )
    pushed_ms = int((NOW - 30 * DAY).timestamp() * 1000)
    action = lifecycle_image(digest_of(EXPIRED), ["expired"], pushed_ms)
    trail.add(policy_execution_event("app", NOW - 2 * DAY, [action]))


async def test_exit_status_per_verdict(boto: Any, moto: str) -> None:
    """0 for every verdict; 1 when UNKNOWN because CloudTrail failed, or when AWS failed first."""
    at = ("--now", NOW.isoformat(), "--format", "json")
    async with CloudTrailFake() as trail, CloudTrailFake(deny=True) as denied:
        _arrange_every_verdict(boto("ecr"), trail)
        env = cli_env(moto, AWS_ENDPOINT_URL_CLOUDTRAIL=trail.url)
        refused = cli_env(moto, AWS_ENDPOINT_URL_CLOUDTRAIL=denied.url)
        cases: dict[str, tuple[tuple[str, ...], dict[str, str], str, int, str | None]] = {
            "not found": (("nope:v1",), env, "REPOSITORY_NOT_FOUND", 0, None),
            "present": (("app:v2",), env, "PRESENT", 0, digest_of(image_manifest("v2"))),
            "archived": (("app:v0.9",), env, "ARCHIVED", 0, digest_of(OLD_RELEASE)),
            "restoring": (("app:v0.8",), env, "RESTORING", 0, None),
            "expired": (("app:expired",), env, "EXPIRED_BY_LIFECYCLE", 0, digest_of(EXPIRED)),
            "deleted": (("app:gone",), env, "DELETED_MANUALLY", 0, digest_of(GONE)),
            "moved": ((f"app:prod@{digest_of(PROD_1)}",), env, "TAG_MOVED", 0, digest_of(PROD_1)),
            "never": (("app:v1",), env, "NEVER_PUSHED", 0, None),
            "not read": (("app:v1", "--no-cloudtrail"), env, "UNKNOWN", 0, None),
            "refused": (("app:v1",), refused, "UNKNOWN", 1, None),
        }
        results = await asyncio.gather(
            *(run_async("why-missing", *args, *at, env=e) for args, e, *_ in cases.values())
        )
    for (case, (args, _, verdict, code, digest)), result in zip(
        cases.items(), results, strict=True
    ):
        assert_no_traceback(result)
        document = json.loads(result.out)
        assert (case, document["verdict"], result.code) == (case, verdict, code), result.err
        assert document["repositoryName"] == args[0].split(":")[0].split("@")[0]
        if digest is not None:
            assert document["imageDigest"] == digest, case
    restoring = json.loads(results[list(cases).index("restoring")].out)
    assert restoring["imageDigest"].startswith("sha256:") and len(restoring["imageDigest"]) == 71
    assert json.loads(results[list(cases).index("moved")].out)["tagNowPointsTo"] == digest_of(
        PROD_2
    )


def test_invalid_json_in_lifeguard_permissions_names_the_variable(moto: str) -> None:
    env = cli_env(moto, LIFEGUARD_PERMISSIONS='[{"repositories": "*", ')
    result = run("protections", env=env)
    assert result.code == 2, result
    assert_no_traceback(result)
    [line] = result.err.strip().splitlines()
    assert line.startswith("LIFEGUARD_PERMISSIONS (or a LIFEGUARD_PERMISSIONS__… variable)")
    assert "is not valid JSON" in line and "None" not in line
