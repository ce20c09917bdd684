"""The ``plan`` and ``lint`` commands: read files, call the engine, print the result."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from rich.console import Console

from bot.cli.exits import Exit
from bot.cli.files import display_name, parse_file
from bot.cli.render_lint import render_lint
from bot.cli.render_plan import render_plan
from bot.errors import CliInputError
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.inputs import attach_children, parse_batch_get_image, parse_describe_images
from bot.lifecycle.lint import Severity, lint
from bot.lifecycle.parse import parse_policy_document
from bot.lifecycle.preview import preview_document
from bot.lifecycle.timefmt import human, parse_instant
from bot.lifecycle.validate import MAX_POLICY_CHARACTERS

# A policy is at most 30,720 characters; get-lifecycle-policy output escapes it, so allow slack.
MAX_POLICY_FILE_BYTES = 4 * MAX_POLICY_CHARACTERS + 4096


def stdout_console() -> Console:
    """The console for results: the terminal's width up to 100 columns, 100 when piped."""
    probe = Console()
    width = min(probe.width, 100) if probe.is_terminal else 100
    return Console(width=width, highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    """The console for notes and warnings."""
    return Console(stderr=True, highlight=False)


def parse_now(value: str | None) -> float:
    """The evaluation instant from ``--now`` (ISO 8601), or the current time.

    Example:
        >>> parse_now("2022-12-23T12:00:00Z")
        1671796800.0
    """
    if value is None:
        return time.time()
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise CliInputError([f"--now: {exc}"]) from None


def run_plan(args: argparse.Namespace) -> Exit:
    """``ecr-lifeguard plan``: evaluate a policy against describe-images output, offline."""
    if args.policy == "-" and args.images == "-":
        raise CliInputError(["--policy and --images cannot both read standard input"])
    now = parse_now(args.now)
    policy = parse_file(args.policy, parse_policy_document, max_bytes=MAX_POLICY_FILE_BYTES)
    images = parse_file(args.images, parse_describe_images)
    if args.manifests:
        images = attach_children(images, parse_file(args.manifests, parse_batch_get_image))
    _warn_about_unknown_children(images, bool(args.manifests))
    evaluation = evaluate(policy, images, now)
    if args.format == "json":
        document = preview_document(evaluation, include_kept=args.all)
        _print_json(document)
    else:
        heading = (
            f"Plan for {display_name(args.images)} ({len(images)} images) at {human(now)}\n"
            f"Policy: {display_name(args.policy)}"
        )
        render_plan(stdout_console(), evaluation, heading=heading, show_kept=args.all)
    return Exit.OK


def _warn_about_unknown_children(images: list[Any], have_manifests: bool) -> None:
    unknown = [i for i in images if i.is_index and not i.children]
    if unknown:
        hint = (
            "they are missing from --manifests"
            if have_manifests
            else "pass --manifests with `aws ecr batch-get-image` output for them"
        )
        stderr_console().print(
            f"note: {len(unknown)} image index(es) with unknown children ({hint}); their "
            "platform images are evaluated as if no index referenced them."
        )


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False))
    sys.stdout.write("\n")


def run_lint(args: argparse.Namespace) -> Exit:
    """``ecr-lifeguard lint``: advice beyond validity, with concrete fixes."""
    policy = parse_file(args.policy, parse_policy_document, max_bytes=MAX_POLICY_FILE_BYTES)
    findings = lint(policy)
    if args.format == "json":
        _print_json(
            {
                "findings": [
                    {
                        "code": f.code,
                        "severity": f.severity.label,
                        "rulePriority": f.rule_priority,
                        "title": f.title,
                        "detail": f.detail,
                        "fix": f.fix,
                        **(
                            {"fixedPolicy": json.loads(f.fixed_policy.to_json())}
                            if f.fixed_policy
                            else {}
                        ),
                    }
                    for f in findings
                ]
            }
        )
    else:
        render_lint(stdout_console(), findings, display_name(args.policy))
    threshold = _FAIL_ON.get(args.fail_on)
    if threshold is not None and any(f.severity >= threshold for f in findings):
        return Exit.FOUND
    return Exit.OK


_FAIL_ON = {"info": Severity.INFO, "warning": Severity.WARNING, "error": Severity.ERROR}
