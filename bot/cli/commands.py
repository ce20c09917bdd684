"""The ``plan`` and ``lint`` commands: read files, call the engine, print the result.

``plan`` keeps up with its input: msgspec decodes the describe-images bytes straight into the
fields evaluation reads (skipping the rest), orjson writes the JSON output, the table explains
only the rows it shows, and the cyclic garbage collector, which would only walk the millions of
acyclic objects a large plan makes, is paused. Rich is imported only to render text.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, BinaryIO, TypedDict

import msgspec
import orjson

from bot.cli.exits import Exit
from bot.cli.files import (
    Hint,
    display_name,
    parse_file,
    parse_file_bytes,
    source_name,
)
from bot.cli.prose import wrap
from bot.errors import CliInputError
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.images import Image, gc_paused
from bot.lifecycle.inputs import (
    DescribeImages,
    attach_children,
    images_from_documents,
    parse_batch_get_image,
    read_describe_images,
)
from bot.lifecycle.lint import Severity, lint
from bot.lifecycle.parse import parse_policy_document
from bot.lifecycle.preview import Chunks, preview_sections
from bot.lifecycle.problems import Problem
from bot.lifecycle.timefmt import human, parse_instant
from bot.lifecycle.validate import MAX_POLICY_CHARACTERS
from bot.text import plural

if TYPE_CHECKING:
    from rich.console import Console

# A policy is at most 30,720 characters; get-lifecycle-policy output escapes it, so allow slack.
MAX_POLICY_FILE_BYTES = 4 * MAX_POLICY_CHARACTERS + 4096
MAX_WARNINGS_SHOWN = 10
_SNIFF_BYTES = 65_536


def stdout_console() -> Console:
    """The console for results: the terminal's width up to 100 columns, 100 when piped."""
    from rich.console import Console  # noqa: PLC0415 (lazy: start-up)

    probe = Console()
    width = min(probe.width, 100) if probe.is_terminal else 100
    return Console(width=width, highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    """The console for notes and warnings."""
    from rich.console import Console  # noqa: PLC0415 (lazy: start-up)

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
    with gc_paused():  # everything the plan builds is freed (by reference counting) on return
        return _plan(args)


def _plan(args: argparse.Namespace) -> Exit:
    if args.repository or args.compare_with_aws:
        from bot.cli.compare_cmd import run_compare  # noqa: PLC0415 (lazy: start-up)

        return run_compare(args)
    missing = [name for name in ("--policy", "--images") if not getattr(args, name[2:])]
    if missing:
        raise CliInputError(
            [f"plan needs {' and '.join(missing)} (or --repository NAME --compare-with-aws)"]
        )
    _one_reader_of_stdin(args)
    now = parse_now(args.now)
    policy = parse_file(
        args.policy,
        parse_policy_document,
        option="--policy",
        max_bytes=MAX_POLICY_FILE_BYTES,
        hint=_hint_for("--policy"),
    )
    read = parse_file_bytes(args.images, read_images, option="--images", hint=_hint_for("--images"))
    _warn(source_name(args.images, "--images"), read.warnings)
    images = read.images
    if args.manifests:
        children = parse_file_bytes(
            args.manifests,
            parse_batch_get_image,
            option="--manifests",
            hint=_hint_for("--manifests"),
        )
        _warn_about_absent_indexes(images, children, args)
        images = attach_children(images, children)
    _warn_about_unknown_children(images, bool(args.manifests))
    evaluation = evaluate(policy, images, now)
    del images, read
    if args.format == "json":
        write_json(preview_sections(evaluation, include_kept=args.all), sys.stdout.buffer)
        _end_process_now(args)
    else:
        from bot.cli.render_plan import render_plan  # noqa: PLC0415 (lazy: start-up)

        heading = (
            f"Plan for {display_name(args.images)} ({plural(len(evaluation.decisions), 'image')})"
            f" at {human(now)}\nPolicy: {display_name(args.policy)}"
        )
        render_plan(stdout_console(), evaluation, heading=heading, show_kept=args.all)
        _end_process_now(args)
    return Exit.OK


def _end_process_now(args: argparse.Namespace) -> None:
    """When the process is this command, end it once the output is out: exit 0, at once.

    Freeing a large plan's heap (millions of objects) takes longer than some whole plans; the
    process is ending anyway, so it skips that, as mypy does. Run in-process (``main(argv)``,
    tests), the command returns normally.
    """
    if not getattr(args, "whole_process", False):
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass  # the reader went away (| head): as main() does, that is success
    os._exit(int(Exit.OK))


def _one_reader_of_stdin(args: argparse.Namespace) -> None:
    readers = [
        option
        for option, path in (
            ("--policy", args.policy),
            ("--images", args.images),
            ("--manifests", getattr(args, "manifests", None)),
        )
        if path == "-"
    ]
    if len(readers) > 1:
        raise CliInputError(
            [f"{' and '.join(readers)} cannot all read standard input; give files for all but one"]
            if len(readers) > 2
            else [f"{readers[0]} and {readers[1]} cannot both read standard input"]
        )


class _ImageDetail(TypedDict, total=False):
    """The ImageDetail fields evaluation reads (``bot.lifecycle.inputs.IMAGE_DETAIL_FIELDS``)."""

    imageDigest: Any
    imageTags: Any
    imagePushedAt: Any
    imageStatus: Any
    imageManifestMediaType: Any
    lastRecordedPullTime: Any
    lastArchivedAt: Any
    lastActivatedAt: Any


class _DescribeImagesPage(TypedDict):
    imageDetails: list[_ImageDetail]


_PAGE = msgspec.json.Decoder(_DescribeImagesPage)


def read_images(raw: bytes) -> DescribeImages:
    """Read ``aws ecr describe-images`` output, decoding only the fields evaluation reads.

    The usual layout (one response object) is decoded by msgspec into just those fields; other
    layouts (pages, JSON lines) and bad input go through :func:`read_describe_images`, which
    names every problem.

    Example:
        >>> raw = b'{"imageDetails": [{"imageDigest": "sha256:' + b"a" * 64 + (
        ...     b'", "imagePushedAt": 0, "imageSizeInBytes": 5}], "nextToken": "x"}')
        >>> read_images(raw).images[0].digest[:9]
        'sha256:aa'
    """
    try:
        page = _PAGE.decode(raw)
    except msgspec.MsgspecError:
        return read_describe_images(raw)
    return images_from_documents([("", page)])


# What each input option takes, and how to recognise that output when it is given elsewhere.
_KINDS = {
    "--policy": ("a lifecycle policy", (b'"rules"', b'"lifecyclePolicyText"')),
    "--images": ("`aws ecr describe-images` output", (b'"imageDetails"',)),
    "--manifests": ("`aws ecr batch-get-image` output", (b'"imageManifest"',)),
}


def _hint_for(option: str) -> Hint:
    """A guess at the mistake when a file given to ``option`` cannot be used: a swapped file."""

    def hint(data: bytes) -> str | None:
        head = data[:_SNIFF_BYTES]
        for other, (kind, markers) in _KINDS.items():
            if other != option and any(marker in head for marker in markers):
                wanted = _KINDS[option][0]
                return f"this looks like {kind}, not {wanted}; did you swap {option} and {other}?"
        return None

    return hint


def _warn(source: str, warnings: Iterable[Problem]) -> None:
    shown = list(warnings)
    for problem in shown[:MAX_WARNINGS_SHOWN]:
        _note(f"warning: {source}: {problem} (evaluated as given)")
    if len(shown) > MAX_WARNINGS_SHOWN:
        _note(f"warning: {source}: ... and {len(shown) - MAX_WARNINGS_SHOWN} more like these")


def _warn_about_absent_indexes(
    images: list[Image], children: dict[str, tuple[str, ...]], args: argparse.Namespace
) -> None:
    present = {image.digest for image in images}
    absent = [digest for digest in children if digest not in present]
    if not absent:
        return
    listed = ", ".join(absent[:3]) + (f" and {len(absent) - 3} more" if len(absent) > 3 else "")
    _note(
        f"warning: {source_name(args.manifests, '--manifests')}: "
        f"{plural(len(absent), 'image index', 'image indexes')} not in --images: {listed}. "
        "Their platform images are evaluated as if no index referenced them. Archived indexes "
        "are hidden unless describe-images runs with `--filter imageStatus=ANY`."
    )


def _warn_about_unknown_children(images: list[Image], have_manifests: bool) -> None:
    unknown = sum(1 for image in images if image.is_index and not image.children)
    if unknown:
        hint = (
            "they are missing from --manifests"
            if have_manifests
            else "pass --manifests with `aws ecr batch-get-image` output for them"
        )
        indexes = plural(unknown, "image index", "image indexes")
        _note(
            f"note: {indexes} with unknown children ({hint}); their platform images are "
            "evaluated as if no index referenced them."
        )


def _note(text: str) -> None:
    """Print a note on standard error, wrapped to the terminal without trailing spaces."""
    width = shutil.get_terminal_size((100, 24)).columns if sys.stderr.isatty() else 10_000
    for line in wrap(text, max(width, 40), indent="  "):
        print(line, file=sys.stderr)


def _print_json(document: Any) -> None:
    sys.stdout.flush()
    write_json(document, sys.stdout.buffer)


def write_json(document: dict[str, Any], out: BinaryIO) -> None:
    """Write a JSON object as ``json.dumps(document, indent=2, ensure_ascii=False)`` would, and a
    newline; a :class:`~bot.lifecycle.preview.Chunks` value is written a chunk at a time.

    orjson encodes each value; only the framing of the top-level object and of chunked lists is
    written here, so that a plan of 100,000 images never holds all its entries, or their text.
    (Floats would be written as orjson writes them; the plan and lint documents have none.)

    Example:
        >>> import io
        >>> from bot.lifecycle.preview import Chunks
        >>> out = io.BytesIO()
        >>> write_json({"n": 1, "items": Chunks(lambda: iter([[{"a": 1}], [{"a": 2}]]))}, out)
        >>> out.getvalue() == (json.dumps({"n": 1, "items": [{"a": 1}, {"a": 2}]}, indent=2)
        ...                    + "\\n").encode()
        True
    """
    if not document:
        out.write(b"{}\n")
        return
    for index, (key, value) in enumerate(document.items()):
        out.write(b",\n  " if index else b"{\n  ")
        out.write(orjson.dumps(key) + b": ")
        if isinstance(value, Chunks):
            _write_chunks(value, out)
        else:
            out.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n  "))
    out.write(b"\n}\n")
    out.flush()


def _write_chunks(chunks: Chunks, out: BinaryIO) -> None:
    """A list, one chunk of items at a time, as the value of a top-level key."""
    empty = True
    for chunk in chunks:
        if not chunk:
            continue
        # "[\n  item,\n  item\n]" at the top level: keep the items, two spaces deeper.
        items = orjson.dumps(chunk, option=orjson.OPT_INDENT_2)[2:-2]
        out.write(b"[\n  " if empty else b",\n  ")
        out.write(items.replace(b"\n", b"\n  "))
        empty = False
    out.write(b"[]" if empty else b"\n  ]")


def run_lint(args: argparse.Namespace) -> Exit:
    """``ecr-lifeguard lint``: advice beyond validity, with concrete fixes."""
    policy = parse_file(
        args.policy,
        parse_policy_document,
        option="--policy",
        max_bytes=MAX_POLICY_FILE_BYTES,
        hint=_hint_for("--policy"),
    )
    findings = lint(policy)
    if args.format == "json":
        _print_json(
            {
                "findings": [
                    {
                        "code": f.code,
                        "severity": f.severity.label,
                        "rulePriority": f.rule_priority,
                        "rulePriorities": list(f.rule_priorities),
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
        from bot.cli.render_lint import render_lint  # noqa: PLC0415 (lazy: start-up)

        render_lint(stdout_console(), findings, display_name(args.policy))
    threshold = _FAIL_ON.get(args.fail_on)
    if threshold is not None and any(f.severity >= threshold for f in findings):
        return Exit.FOUND
    return Exit.OK


_FAIL_ON = {"info": Severity.INFO, "warning": Severity.WARNING, "error": Severity.ERROR}
