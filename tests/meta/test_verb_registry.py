"""Every verb in the registry is complete, and what it declares holds: its IAM actions are granted
in ``deploy/iam/``, Slack's help and the CLI list exactly the typed verbs, and a verb that needs
permission can only change ECR after authorising."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.ops.registry import BY_NAME, TYPED, VERBS, catalogue
from bot.ops.verb import Verb

ROOT = Path(__file__).resolve().parents[2]
IAM = ROOT / "deploy" / "iam"


def granted() -> set[str]:
    actions: set[str] = set()
    for path in IAM.glob("*.json"):
        for statement in json.loads(path.read_text())["Statement"]:
            value = statement["Action"]
            actions |= {value} if isinstance(value, str) else set(value)
    return actions


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v.name)
def test_every_verb_is_complete(verb: Verb[object, object]) -> None:
    assert verb.name and verb.name == verb.name.lower() and " " not in verb.name
    assert verb.usage.split()[0] == verb.name or not verb.typed
    assert verb.summary and not verb.summary.endswith(".")
    for part in (verb.parse, verb.run, verb.present):
        assert inspect.getdoc(part), f"{verb.name}: {part.__name__} has no docstring"
    assert inspect.iscoroutinefunction(verb.run)
    module = inspect.getmodule(verb.run)
    assert module is not None and module.__name__.startswith("bot.ops.verbs.")


def test_verb_names_are_unique() -> None:
    assert len(BY_NAME) == len(VERBS)


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v.name)
def test_the_iam_actions_a_verb_declares_are_granted(verb: Verb[object, object]) -> None:
    missing = set(verb.iam_actions) - granted()
    assert not missing, f"{verb.name} calls {sorted(missing)}: grant them in deploy/iam/"


def test_changing_verbs_declare_the_changes_they_make() -> None:
    for verb in VERBS:
        changes = [
            a
            for a in verb.iam_actions
            if a.split(":")[1].startswith(("Put", "BatchDelete", "Update"))
        ]
        if changes:
            assert verb.permission is not None, f"{verb.name} changes ECR without a permission"


def _calls_mutation_or_authorize(verb: Verb[object, object]) -> tuple[bool, bool]:
    module = inspect.getmodule(verb.run)
    assert module is not None
    tree = ast.parse(inspect.getsource(module))
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    return "mutation" in attributes, "authorize" in attributes


@pytest.mark.parametrize("verb", [v for v in VERBS if v.permission], ids=lambda v: v.name)
def test_a_verb_with_a_permission_authorises(verb: Verb[object, object]) -> None:
    _, authorizes = _calls_mutation_or_authorize(verb)
    assert authorizes, f"{verb.name} declares a permission but never calls call.authorize"


@pytest.mark.parametrize("verb", [v for v in VERBS if not v.permission], ids=lambda v: v.name)
def test_a_read_only_verb_never_changes_ecr(verb: Verb[object, object]) -> None:
    mutates, _ = _calls_mutation_or_authorize(verb)
    assert not mutates, f"{verb.name} is read-only but makes a change"


def test_help_lists_exactly_the_typed_verbs() -> None:
    assert [usage.split()[0] for usage, _ in catalogue()] == [v.name for v in TYPED]


def test_the_cli_offers_every_typed_verb() -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    missing = {v.name for v in TYPED} - set(commands) - {"help"}
    assert not missing, f"the CLI lacks {sorted(missing)}"
