"""The ``plan`` and ``lint`` commands, run as a user runs them: in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOG = ROOT / "examples" / "blog"
NOW = "2022-12-23T12:00:00Z"
SHARED_DIGEST = "sha256:ec1477a7420a97a789dd4b778a0a1141a6c6ba9314fce70599c134964121960c"


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    process = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    return subprocess.CompletedProcess(
        process.args,
        process.returncode,
        process.stdout.decode(),
        process.stderr.decode(),
    )


def plan(
    *extra: str,
    policy: str | Path = BLOG / "policy.json",
    images: str | Path = BLOG / "images.json",
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    return run(
        "plan", "--policy", str(policy), "--images", str(images), "--now", NOW, *extra, stdin=stdin
    )


def assert_invalid(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def test_plan_table_shows_the_blog_expiry_with_its_reason() -> None:
    result = plan()
    assert result.returncode == 0, result.stderr
    assert "ec1477a7420a" in result.stdout
    assert "First-push trap" in result.stdout
    assert "tag-1-251-0" in result.stdout
    assert "8 expire" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 100


def test_plan_json_has_the_preview_shape() -> None:
    result = plan("--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    shared = [r for r in document["previewResults"] if r["imageDigest"] == SHARED_DIGEST]
    assert shared == [
        {
            "imageDigest": SHARED_DIGEST,
            "imageTags": [
                "git-325dc21f",
                "git-684254dd",
                "git-06ec56d0",
                "git-719feb86",
                "git-418dbbae",
                "git-841e4719",
                "git-48a3a88a",
                "git-a714d9b2",
                "git-14c65fe5",
                "tag-1-252-0",
                "tag-1-253-0",
            ],
            "imagePushedAt": "2022-12-15T09:57:20+00:00",
            "action": {"type": "EXPIRE"},
            "appliedRulePriority": 1,
            "storageClass": "STANDARD",
        }
    ]
    assert document["summary"] == {
        "expiringImageTotalCount": 8,
        "transitioningImageTotalCounts": [],
    }
    reasons = {entry["imageDigest"]: entry["reason"] for entry in document["images"]}
    assert "first push" in reasons[SHARED_DIGEST]


def test_plan_all_explains_kept_images_too() -> None:
    default = json.loads(plan("--format", "json").stdout)
    everything = json.loads(plan("--format", "json", "--all").stdout)
    assert len(default["images"]) == 8
    assert len(everything["images"]) == 17
    kept = [e for e in everything["images"] if e["outcome"] == "KEEP"]
    assert all(e["reason"] for e in kept)
    assert any(e.get("headroom") == 0 for e in kept)


@pytest.mark.parametrize("name", ["plan.txt", "plan.json", "lint.txt", "lint.json"])
def test_examples_are_real_cli_output(name: str) -> None:
    args = {
        "plan.txt": [
            "plan",
            "--policy",
            "examples/blog/policy.json",
            "--images",
            "examples/blog/images.json",
            "--now",
            NOW,
        ],
        "plan.json": [
            "plan",
            "--policy",
            "examples/blog/policy.json",
            "--images",
            "examples/blog/images.json",
            "--now",
            NOW,
            "--format",
            "json",
        ],
        "lint.txt": ["lint", "--policy", "examples/blog/policy.json"],
        "lint.json": ["lint", "--policy", "examples/blog/policy.json", "--format", "json"],
    }[name]
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (BLOG / name).read_text(), f"run examples/regenerate.sh ({name})"


def test_policy_from_stdin_and_get_lifecycle_policy_output() -> None:
    policy_text = (BLOG / "policy.json").read_text()
    wrapped = json.dumps(
        {
            "registryId": "123456789012",
            "repositoryName": "webshop-assets",
            "lifecyclePolicyText": policy_text,
            "lastEvaluatedAt": 0,
        }
    )
    result = plan("--format", "json", policy="-", stdin=wrapped.encode())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["expiringImageTotalCount"] == 8


def test_images_as_pages_and_as_json_lines(tmp_path: Path) -> None:
    details = json.loads((BLOG / "images.json").read_text())["imageDetails"]
    pages = tmp_path / "pages.json"
    pages.write_text(json.dumps([{"imageDetails": details[:10]}, {"imageDetails": details[10:]}]))
    lines = tmp_path / "lines.jsonl"
    lines.write_text("\n".join(json.dumps({"imageDetails": [d]}) for d in details) + "\n")
    for images in (pages, lines):
        result = plan("--format", "json", images=images)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["summary"]["expiringImageTotalCount"] == 8


def test_images_from_stdin_with_epoch_seconds() -> None:
    details = json.loads((BLOG / "images.json").read_text())["imageDetails"]
    for detail in details:
        detail["imagePushedAt"] = (
            1671098240.0 if detail["imageDigest"] == SHARED_DIGEST else 1671700000
        )
    result = plan(
        "--format", "json", images="-", stdin=json.dumps({"imageDetails": details}).encode()
    )
    assert result.returncode == 0, result.stderr


def test_manifests_protect_children_of_a_kept_index(tmp_path: Path) -> None:
    child = "sha256:" + "c" * 64
    index = "sha256:" + "d" * 64
    images = tmp_path / "images.json"
    images.write_text(
        json.dumps(
            {
                "imageDetails": [
                    {
                        "imageDigest": index,
                        "imageTags": ["v2"],
                        "imagePushedAt": "2022-12-22T00:00:00Z",
                        "imageManifestMediaType": "application/vnd.oci.image.index.v1+json",
                    },
                    {"imageDigest": child, "imagePushedAt": "2022-11-01T00:00:00Z"},
                ]
            }
        )
    )
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "digest": child,
                    "size": 500,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                }
            ],
        }
    )
    manifests = tmp_path / "manifests.json"
    manifests.write_text(
        json.dumps(
            {
                "images": [
                    {"imageId": {"imageDigest": index, "imageTag": "v2"}, "imageManifest": manifest}
                ],
                "failures": [],
            }
        )
    )
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "selection": {
                            "tagStatus": "untagged",
                            "countType": "sinceImagePushed",
                            "countUnit": "days",
                            "countNumber": 7,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
        )
    )
    without = plan("--format", "json", policy=policy, images=images)
    assert "unknown children" in without.stderr
    assert json.loads(without.stdout)["summary"]["expiringImageTotalCount"] == 1
    protected = plan(
        "--format", "json", "--manifests", str(manifests), policy=policy, images=images
    )
    document = json.loads(protected.stdout)
    assert document["summary"]["expiringImageTotalCount"] == 0
    assert document["failures"][0]["failureCode"] == "ImageReferencedByManifestList"
    assert index in document["failures"][0]["failureReason"]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert_invalid(plan(policy=tmp_path / "nope.json"), "nope.json: no such file")
    assert_invalid(plan(policy=tmp_path), "is a directory")


def test_empty_binary_and_malformed_files(tmp_path: Path) -> None:
    assert_invalid(
        plan(policy=write(tmp_path, "empty.json", "  \n")), "empty.json: the file is empty"
    )
    assert_invalid(
        plan(policy=write(tmp_path, "bin.json", b"\x89PNG\x00\x01")), "bin.json: binary data"
    )
    assert_invalid(
        plan(policy=write(tmp_path, "latin.json", b'{"rules": "\xe9"}')), "latin.json: not UTF-8"
    )
    assert_invalid(
        plan(policy=write(tmp_path, "bad.json", '{"rules": [')),
        "bad.json: not valid JSON",
        "line 1",
    )
    assert_invalid(plan(policy=write(tmp_path, "deep.json", "[" * 100_000)), "deep.json:")


def test_invalid_policy_names_rule_field_and_problem(tmp_path: Path) -> None:
    bad = {
        "rules": [
            {
                "rulePriority": 3,
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "imageCountMoreThan",
                    "countUnit": "days",
                    "countNumber": 0,
                },
                "action": {"type": "expire"},
            }
        ]
    }
    result = plan(policy=write(tmp_path, "policy.json", json.dumps(bad)))
    assert_invalid(
        result,
        "policy.json: rules[0] (rulePriority 3).selection.countUnit: only allowed with",
        "policy.json: rules[0] (rulePriority 3).selection.countNumber: must be a positive integer",
    )


def test_invalid_images_name_the_field(tmp_path: Path) -> None:
    images = {"imageDetails": [{"imageDigest": "sha256:" + "a" * 64, "imagePushedAt": "yesterday"}]}
    assert_invalid(
        plan(images=write(tmp_path, "images.json", json.dumps(images))),
        "images.json: imageDetails[0].imagePushedAt:",
        "yesterday",
    )
    assert_invalid(
        plan(images=write(tmp_path, "other.json", '{"repositories": []}')), "imageDetails"
    )


def test_bad_command_line() -> None:
    assert_invalid(plan("--now", "next tuesday"), "--now:")
    assert_invalid(plan(policy="-", images="-", stdin=b"{}"), "cannot both read standard input")
    unknown = run("plan", "--policy", "p.json")
    assert unknown.returncode == 2
    assert "--images" in unknown.stderr


def test_lint_reports_findings_and_gates_ci() -> None:
    text = run("lint", "--policy", str(BLOG / "policy.json"))
    assert text.returncode == 0
    assert "LG002" in text.stdout and "Fix:" in text.stdout
    gate = run("lint", "--policy", str(BLOG / "policy.json"), "--fail-on", "warning")
    assert gate.returncode == 3
    relaxed = run("lint", "--policy", str(BLOG / "policy.json"), "--fail-on", "error")
    assert relaxed.returncode == 0
    document = json.loads(
        run("lint", "--policy", str(BLOG / "policy.json"), "--format", "json").stdout
    )
    codes = [f["code"] for f in document["findings"]]
    assert codes[0] == "LG002" and "LG006" in codes
    fixed = next(f for f in document["findings"] if f["code"] == "LG006")["fixedPolicy"]
    assert {r["action"]["type"] for r in fixed["rules"]} == {"transition", "expire"}


def test_lint_rejects_an_invalid_policy(tmp_path: Path) -> None:
    result = run("lint", "--policy", str(write(tmp_path, "p.json", '{"rules": [], "extra": 1}')))
    assert_invalid(result, "p.json: extra: unknown key")


def test_version_and_help() -> None:
    assert run("--version").stdout.startswith("ecr-lifeguard ")
    help_text = run("plan", "--help").stdout
    assert "--manifests" in help_text and "describe-images" in help_text
