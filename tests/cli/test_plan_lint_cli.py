"""The ``plan`` and ``lint`` commands, run as a user runs them: in a subprocess."""

from __future__ import annotations

import hashlib
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


# --------------------------------------------------------------------------------------------
# Issue 10: messages that name the option, fidelity details, terminal output
# --------------------------------------------------------------------------------------------


def test_input_errors_name_the_option(tmp_path: Path) -> None:
    assert_invalid(
        plan(images=tmp_path / "nope.json"), f"--images {tmp_path}/nope.json: no such file"
    )
    assert_invalid(plan(policy=tmp_path / "nope.json"), f"--policy {tmp_path}/nope.json: no such")
    missing = plan("--manifests", str(tmp_path / "m.json"))
    assert_invalid(missing, f"--manifests {tmp_path}/m.json: no such file")
    lint_missing = run("lint", "--policy", str(tmp_path / "nope.json"))
    assert_invalid(lint_missing, f"--policy {tmp_path}/nope.json: no such file")


def test_swapped_policy_and_images_are_suggested() -> None:
    swapped = plan(policy=BLOG / "images.json", images=BLOG / "policy.json")
    assert_invalid(
        swapped,
        "this looks like `aws ecr describe-images` output, not a lifecycle policy; "
        "did you swap --policy and --images?",
    )
    assert swapped.stderr.splitlines()[0].startswith(f"--policy {BLOG / 'images.json'}: ")
    images_wrong = plan(images=BLOG / "policy.json")
    assert_invalid(
        images_wrong,
        f"--images {BLOG / 'policy.json'}: this looks like a lifecycle policy, not "
        "`aws ecr describe-images` output; did you swap --images and --policy?",
    )


def test_an_unknown_option_prints_that_commands_usage() -> None:
    typo = plan("--formt", "json")
    assert typo.returncode == 2
    assert typo.stderr.startswith("usage: ecr-lifeguard plan ")
    assert (
        "ecr-lifeguard plan: error: unrecognized arguments: --formt (did you mean --format?)"
        in (typo.stderr)
    )
    lint_typo = run("lint", "--policy", str(BLOG / "policy.json"), "--fail-one", "warning")
    assert lint_typo.returncode == 2
    assert lint_typo.stderr.startswith("usage: ecr-lifeguard lint ")
    assert "(did you mean --fail-on?)" in lint_typo.stderr


def example_b_images(tmp_path: Path) -> Path:
    """The AWS guide's "Filtering on all images, Example B" repository, tag "git hash" included."""
    pushed = {"A": 4.0, "B": 3.0, "C": 2.0, "D": 1.0, "E": 0.9}
    tags = {"A": ["alpha-1", "beta-1"], "B": [], "C": ["alpha-2"], "D": ["git hash"], "E": []}
    now = 1_671_796_800  # NOW, 2022-12-23T12:00:00Z
    details = []
    for label, days in pushed.items():
        item: dict[str, object] = {
            "imageDigest": "sha256:" + label.lower() * 64,
            "imagePushedAt": now - days * 86_400,
        }
        if tags[label]:
            item["imageTags"] = tags[label]
        details.append(item)
    return write(tmp_path, "example-b.json", json.dumps({"imageDetails": details}))


EXAMPLE_B_POLICY = {
    "rules": [
        {
            "rulePriority": 1,
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["alpha*"],
                "countType": "imageCountMoreThan",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 3,
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
            "action": {"type": "expire"},
        },
    ]
}


def test_the_aws_example_with_a_space_in_a_tag_is_planned_with_a_warning(tmp_path: Path) -> None:
    images = example_b_images(tmp_path)
    policy = write(tmp_path, "policy.json", json.dumps(EXAMPLE_B_POLICY))
    result = plan("--format", "json", policy=policy, images=images)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f'warning: --images {images}: imageDetails[3].imageTags[0]: tag "git hash" contains '
        "whitespace or control characters, which ECR tags cannot (evaluated as given)"
    ]
    expired = {r["imageDigest"][7] for r in json.loads(result.stdout)["previewResults"]}
    assert expired == {"a", "b", "d"}  # the guide's outcome: A, B and D expire


def test_a_manifest_whose_index_is_not_among_the_images_is_named(tmp_path: Path) -> None:
    absent = "sha256:" + "9" * 64
    child = "sha256:" + "8" * 64
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"digest": child, "size": 1}],
        }
    )
    manifests = write(
        tmp_path,
        "manifests.json",
        json.dumps({"images": [{"imageId": {"imageDigest": absent}, "imageManifest": manifest}]}),
    )
    result = plan("--manifests", str(manifests))
    assert result.returncode == 0, result.stderr
    assert (
        f"warning: --manifests {manifests}: 1 image index not in --images: {absent}."
        in result.stderr
    )
    assert "`--filter imageStatus=ANY`" in result.stderr


def no_trailing_spaces(text: str) -> None:
    bad = [line for line in text.splitlines() if line != line.rstrip()]
    assert not bad, bad


def test_terminal_output_has_no_trailing_spaces(tmp_path: Path) -> None:
    for result in (
        plan(),
        plan("--all"),
        run("lint", "--policy", str(BLOG / "policy.json")),
        plan(policy=write(tmp_path, "p.json", json.dumps(EXAMPLE_B_POLICY))),
    ):
        assert result.returncode == 0, result.stderr
        no_trailing_spaces(result.stdout)
        no_trailing_spaces(result.stderr)


def test_lint_text_never_wraps_inside_a_code_span() -> None:
    text = run("lint", "--policy", str(BLOG / "policy.json")).stdout
    prose = [line for line in text.splitlines() if not line.startswith(("{", "  {", "]"))]
    assert all(line.count("`") % 2 == 0 for line in prose), prose
    assert max(len(line) for line in prose) <= 100


def test_lint_names_every_rule_and_carries_every_fix() -> None:
    text = run("lint", "--policy", str(BLOG / "policy.json")).stdout
    assert "info LG006 rules 1 and 5: could archive instead of deleting" in text
    document = json.loads(
        run("lint", "--policy", str(BLOG / "policy.json"), "--format", "json").stdout
    )
    by_code = {f["code"]: f for f in document["findings"]}
    assert by_code["LG006"]["rulePriorities"] == [1, 5]
    assert "after 180 days in archive" in by_code["LG006"]["fix"]
    archive = [
        r for r in by_code["LG006"]["fixedPolicy"]["rules"] if "storageClass" in r["selection"]
    ]
    assert archive[0]["selection"]["countNumber"] == 180
    guard = by_code["LG002"]["fixedPolicy"]["rules"][0]
    assert guard["selection"]["tagPrefixList"] == ["keep-"]
    assert all("fixedPolicy" in f for f in document["findings"])  # LG002, LG004, LG006


def test_plan_marks_the_image_caught_by_the_first_push_trap() -> None:
    lines = plan().stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if "ec1477a7420a" in line)
    assert lines[row].startswith("│ EXPIRE")
    assert lines[row + 1].startswith("│ TRAP")
    assert "(expires 4, keeps 5, 1 first-push trap)" in lines[2]
    assert sum("TRAP" in line for line in lines) == 1


def test_a_large_plan_table_lists_the_rows_nearest_the_rule_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    now = 1_671_796_800
    details = [
        {
            "imageDigest": "sha256:" + hashlib.sha256(str(n).encode()).hexdigest(),
            "imagePushedAt": now - (20 + n) * 86_400,
        }
        for n in range(300)
    ]
    images = write(tmp_path, "images.json", json.dumps({"imageDetails": details}))
    policy = write(tmp_path, "p.json", json.dumps({"rules": [EXAMPLE_B_POLICY["rules"][1]]}))
    table = plan(policy=policy, images=images)
    assert table.returncode == 0, table.stderr
    assert "(expires 300, keeps 0)" in table.stdout
    assert sum(line.startswith("│ EXPIRE") for line in table.stdout.splitlines()) == 10
    assert "... and 290 more expired, pushed 2022-02-07 to 2022-11-23" in table.stdout
    assert "--all lists every image in the table" in table.stdout
    everything = plan("--all", policy=policy, images=images)
    assert sum(line.startswith("│ EXPIRE") for line in everything.stdout.splitlines()) == 300
