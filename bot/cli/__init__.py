"""The ``ecr-lifeguard`` command line.

Usage::

    ecr-lifeguard plan --policy policy.json --images images.json [--now 2024-05-01T00:00:00Z]
    ecr-lifeguard lint --policy policy.json [--format json] [--fail-on warning]
    ecr-lifeguard scan [--repository GLOB ...] [--horizon 7d] [--policy proposed.json]
    ecr-lifeguard why-missing REF [--format json]
    ecr-lifeguard protect|unprotect|protections|retag|restore|audit ARGS   (as /ecr in Slack)
    ecr-lifeguard run [--http]                                           (the Slack bot)
    ecr-lifeguard demo [--slack --channel C]          (the bot on embedded stand-ins, offline)

Exit codes: 0 success, 1 upstream failure, 2 invalid input, 3 something found (see each command).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Sequence

from bot import __version__
from bot.cli.commands import run_lint, run_plan
from bot.cli.exits import Exit
from bot.errors import CliInputError, LifeguardError, explain

Command = Callable[[argparse.Namespace], Exit]

# Commands that need neither AWS nor Slack: for them the parser is built without importing the
# SDKs and the bot (about a second of start-up on a small machine).
OFFLINE_COMMANDS = ("plan", "lint")


def build_parser(*, offline_only: bool = False) -> argparse.ArgumentParser:
    """The argument parser for every sub-command (with ``offline_only``, for plan and lint only).

    Example:
        >>> build_parser().parse_args(["lint", "--policy", "p.json"]).format
        'text'
    """
    parser = argparse.ArgumentParser(
        prog="ecr-lifeguard",
        description="Stop ECR lifecycle policies from deleting images that services still need.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_plan(commands)
    _add_lint(commands)
    if not offline_only:
        from bot.cli.ops_cmd import add_ops_commands  # noqa: PLC0415 (lazy: start-up)

        _add_scan(commands)
        _add_why_missing(commands)
        add_ops_commands(commands)
        _add_demo(commands)
    for subparser in commands.choices.values():
        subparser.set_defaults(subparser=subparser)
    return parser


def _add_plan(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = commands.add_parser(
        "plan",
        help="show what a lifecycle policy will expire or archive, and why (offline)",
        description="Evaluate a lifecycle policy against `aws ecr describe-images` output, "
        "exactly as ECR would, and explain every decision. With --repository and "
        "--compare-with-aws, read the repository from ECR instead, run AWS's own lifecycle "
        "preview of its policy, and print where the two differ (read-only): exit 0 when they "
        "agree, 3 when they differ.",
    )
    plan.add_argument(
        "--policy",
        metavar="FILE",
        help="the policy JSON, or `aws ecr get-lifecycle-policy` output; - for stdin",
    )
    plan.add_argument(
        "--images",
        metavar="FILE",
        help="`aws ecr describe-images` output (object, array of pages, or JSON lines)",
    )
    plan.add_argument(
        "--manifests",
        metavar="FILE",
        help="`aws ecr batch-get-image` output for image indexes, to protect their children",
    )
    plan.add_argument(
        "--now", metavar="ISO8601", help="evaluate at this instant instead of the current time"
    )
    plan.add_argument("--format", choices=["table", "json"], default="table")
    plan.add_argument(
        "--all", action="store_true", help="list kept images too, not only those near a rule"
    )
    plan.add_argument(
        "--repository",
        metavar="NAME",
        help="read this repository from ECR (with --compare-with-aws)",
    )
    plan.add_argument(
        "--compare-with-aws",
        action="store_true",
        help="run AWS's lifecycle policy preview and compare it with the local evaluation",
    )
    plan.add_argument("--region", action="append", metavar="REGION", help="AWS region")
    plan.add_argument("--config", metavar="FILE", help="settings YAML")
    plan.set_defaults(handler=run_plan)


def _add_lint(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lint = commands.add_parser(
        "lint",
        help="advice on a lifecycle policy beyond validity, with concrete fixes",
        description="Check a lifecycle policy for rules that do not do what people mean.",
    )
    lint.add_argument("--policy", required=True, metavar="FILE", help="policy JSON; - for stdin")
    lint.add_argument("--format", choices=["text", "json"], default="text")
    lint.add_argument(
        "--fail-on",
        choices=["info", "warning", "error", "never"],
        default="never",
        help="exit 3 when a finding is at least this severe (for CI gates)",
    )
    lint.set_defaults(handler=run_lint)


def _add_scan(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bot.cli.scan_cmd import add_scan_arguments, run_scan  # noqa: PLC0415 (lazy: start-up)

    scan = commands.add_parser(
        "scan",
        help="find in-use images that lifecycle policies will expire or archive (AWS, Kubernetes)",
        description="Evaluate every repository's lifecycle policy (or a proposed one) and join "
        "it with the images in use by ECS, Kubernetes, Lambda and static references. Exit 0 when "
        "nothing is at risk, 3 when something is, 1 when something could not be read.",
    )
    add_scan_arguments(scan)
    scan.set_defaults(handler=run_scan)


def _add_why_missing(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bot.cli.why_cmd import add_why_arguments, run_why_missing  # noqa: PLC0415 (lazy: start-up)

    why = commands.add_parser(
        "why-missing",
        help="explain why an image cannot be pulled (expired, deleted, archived, moved...)",
        description="Look up the repository, the image and CloudTrail to tell why REF is missing.",
    )
    add_why_arguments(why)
    why.set_defaults(handler=run_why_missing)


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bot.demo.command import DESCRIPTION, add_demo_arguments, run_demo  # noqa: PLC0415

    demo = commands.add_parser(
        "demo",
        help="try the bot in a minute: offline, no account, Slack drawn in the terminal",
        description=DESCRIPTION,
    )
    add_demo_arguments(demo)
    demo.set_defaults(handler=run_demo)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Example:
        >>> main(["plan", "--policy", "/nonexistent.json", "--images", "-"])
        2
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(offline_only=_command_word(arguments) in OFFLINE_COMMANDS)
    args, unknown = parser.parse_known_args(arguments)
    if unknown:
        _refuse_unknown(args.subparser, unknown)
    args.whole_process = argv is None  # run as the program: a command may end the process itself
    handler: Command = args.handler
    try:
        return int(handler(args))
    except LifeguardError as exc:
        explanation = explain(exc)
        prefix = "" if isinstance(exc, CliInputError) else "ecr-lifeguard: "
        for line in explanation.lines:
            print(f"{prefix}{line}", file=sys.stderr)
        return int(explanation.exit)
    except KeyboardInterrupt:
        print("ecr-lifeguard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return int(Exit.OK)


def _command_word(arguments: Sequence[str]) -> str | None:
    return next((word for word in arguments if not word.startswith("-")), None)


def _refuse_unknown(subparser: argparse.ArgumentParser, unknown: list[str]) -> None:
    """Exit 2 with the sub-command's own usage, and the option probably meant."""
    known = [o for action in subparser._actions for o in action.option_strings]
    guesses = [
        f"{word} (did you mean {match[0]}?)"
        if (match := difflib.get_close_matches(word, known, 1))
        else word
        for word in (u.split("=", 1)[0] for u in unknown if u.startswith("-"))
    ]
    others = [u for u in unknown if not u.startswith("-")]
    subparser.error("unrecognized arguments: " + " ".join(guesses + others))
