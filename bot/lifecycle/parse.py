"""Turn policy text into a validated :class:`LifecyclePolicy`, or say exactly what is wrong.

Two entry points:

* :func:`parse_policy` takes the lifecycle policy JSON itself, as sent to ``PutLifecyclePolicy``.
* :func:`parse_policy_document` also accepts the output of ``aws ecr get-lifecycle-policy``, whose
  ``lifecyclePolicyText`` field holds the policy as a string.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from bot.lifecycle.policy import LifecyclePolicy
from bot.lifecycle.problems import InputError, Problem, join_path
from bot.lifecycle.strictjson import loads_strict
from bot.lifecycle.validate import check_policy, rule_label

_KNOWN_KEYS = {
    "": ["rules"],
    "rule": ["rulePriority", "description", "selection", "action"],
    "selection": [
        "tagStatus",
        "tagPatternList",
        "tagPrefixList",
        "storageClass",
        "countType",
        "countUnit",
        "countNumber",
    ],
    "action": ["type", "targetStorageClass"],
}


def parse_policy(text: str) -> LifecyclePolicy:
    """Parse and validate lifecycle policy JSON; raise :class:`InputError` listing every problem.

    Example:
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
        ...                 "countUnit": "days", "countNumber": 14}}]}''')
        >>> policy.rules[0].selection.count_number
        14
    """
    data = loads_strict(text)
    return policy_from_data(data, text_length=len(text))


def parse_policy_document(text: str) -> LifecyclePolicy:
    """Parse either a policy or ``aws ecr get-lifecycle-policy`` output (``lifecyclePolicyText``).

    Problems inside the embedded policy are reported under ``lifecyclePolicyText``.

    Example:
        >>> import json
        >>> inner = json.dumps({"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
        ...                 "countNumber": 9}}]})
        >>> output = json.dumps({"repositoryName": "app", "lifecyclePolicyText": inner})
        >>> parse_policy_document(output).rules[0].selection.count_number
        9
    """
    data = loads_strict(text)
    if isinstance(data, dict) and "lifecyclePolicyText" in data:
        inner = data["lifecyclePolicyText"]
        if not isinstance(inner, str):
            raise InputError.single("lifecyclePolicyText", "must be the policy as a JSON string")
        try:
            return parse_policy(inner)
        except InputError as exc:
            raise InputError(
                Problem(
                    join_path("lifecyclePolicyText", p.path) if p.path else "lifecyclePolicyText",
                    p.message,
                )
                for p in exc.problems
            ) from None
    return policy_from_data(data, text_length=len(text))


def policy_from_data(data: Any, text_length: int | None = None) -> LifecyclePolicy:
    """Validate already-decoded JSON as a lifecycle policy.

    Example:
        >>> policy_from_data({"rules": []})
        Traceback (most recent call last):
        ...
        bot.errors.InputError: rules: a policy needs at least one rule
    """
    nulls = list(_nulls(data))
    null_paths = {problem.path for problem in nulls}
    try:
        policy = LifecyclePolicy.model_validate(_without_nulls(data))
    except ValidationError as exc:
        shape = [p for p in _shape_problems(exc) if p.path not in null_paths]
        raise InputError(_label_rules(data, nulls + shape)) from None
    if nulls:
        raise InputError(_label_rules(data, nulls))
    problems = check_policy(policy, text_length)
    if problems:
        raise InputError(problems)
    return policy


def _nulls(value: Any, path: str = "") -> Iterator[Problem]:
    if value is None and not path:
        yield Problem("(document)", "the document is null; expected a policy object")
    elif isinstance(value, dict):
        for key, item in value.items():
            child = join_path(path, key)
            if item is None:
                yield Problem(child, "null is not allowed; omit the key instead")
            else:
                yield from _nulls(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            child = join_path(path, index)
            if item is None:
                yield Problem(child, "null is not allowed here; expected a value")
            else:
                yield from _nulls(item, child)


def _without_nulls(value: Any) -> Any:
    """The same JSON with null members dropped, so shape checks report everything else."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _shape_problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        path = ""
        for key in loc:
            path = join_path(path, key)
        message = _message(error["type"], error["msg"], loc, error.get("input"))
        problems.append(Problem(path or "(document)", message))
    return problems


def _message(kind: str, default: str, loc: tuple[Any, ...], given: Any) -> str:
    if kind == "extra_forbidden":
        allowed = _KNOWN_KEYS.get(_context(loc[:-1]), [])
        return f"unknown key; allowed keys here are {', '.join(allowed)}"
    if kind == "missing":
        return "required"
    if kind in {"model_type", "model_attributes_type"}:
        return f"must be a JSON object, not {_json_type(given)}"
    if kind in {"tuple_type", "list_type"}:
        return f"must be a JSON array, not {_json_type(given)}"
    if kind == "int_type":
        if isinstance(given, float) and given.is_integer():
            return f"must be a JSON integer ({int(given)}, not {given})"
        return f"must be a JSON integer, not {_json_type(given)}"
    return default[0].lower() + default[1:] if default else kind


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names |= {list: "an array", dict: "an object"}
    return names.get(type(value), "null")


def _context(loc: tuple[Any, ...]) -> str:
    if not loc:
        return ""
    if loc[-1] in ("selection", "action"):
        return str(loc[-1])
    return "rule" if isinstance(loc[-1], int) else ""


def _label_rules(data: Any, problems: list[Problem]) -> list[Problem]:
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, list):
        return problems
    labelled = []
    for problem in problems:
        path = problem.path
        for index, rule in enumerate(rules):
            plain = f"rules[{index}]"
            if path == plain or path.startswith((plain + ".", plain + "[")):
                priority = rule.get("rulePriority") if isinstance(rule, dict) else None
                path = rule_label(index, priority) + path[len(plain) :]
                break
        labelled.append(Problem(path, problem.message))
    return labelled
