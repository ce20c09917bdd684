#!/usr/bin/env python3
"""Write docs/configuration.md: every setting of ``bot.settings.Settings``, as tables.

One row per setting: its YAML path in the ``LIFEGUARD_CONFIG`` file, its environment variable
(``LIFEGUARD_<SECTION>__<FIELD>``, or its own name such as ``SLACK_BOT_TOKEN``), its type and
limits, its default, and its description (the field's docstring or ``description``, else the
docstring of its model).

Usage::

    python3 scripts/gen_config_reference.py           # write the file
    python3 scripts/gen_config_reference.py --check   # exit 1 when the committed file is stale
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_chart_schema import write_or_check
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from settings_model import (
    ENV_PREFIX,
    NESTED,
    ROOT,
    connections,
    is_duration,
    nested_models,
    sections,
    yaml_name,
)

from bot.durations import format_duration
from bot.settings import Settings

TARGET = ROOT / "docs" / "configuration.md"
HEADER = """\
# Configuration reference

<!-- Generated from bot/settings.py by `python3 scripts/generate.py`; do not edit by hand.
     tests/deploy/test_generated.py fails when this file is stale. -->

ECR Lifeguard reads its settings from, highest precedence first: the environment (each setting
below has a variable; lists and lists of objects are JSON), then the YAML file named by
`LIFEGUARD_CONFIG` (the Helm chart renders its `config:` value into that file), then the
defaults. AWS credentials, profile, region and endpoints are the SDK's own
(`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`...). A bad value stops start-up with one line
naming the setting, e.g. `setting aws.regions: "moon-1" is not an AWS region name`.

Durations are seconds as a number, or text such as `15m`, `12h`, `7d`, `2w`, `1d12h` (a bare
number written as text means days).
"""


def attribute_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """The string literal right under each field of ``model`` (what pydantic's
    ``use_attribute_docstrings`` would read)."""
    try:
        tree = ast.parse(inspect.getsource(model))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    found = {}
    for node, following in itertools.pairwise(body):
        is_docstring = isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and is_docstring:
            found[node.target.id] = inspect.cleandoc(str(following.value.value))
    return found


def describe(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    """The field's description, else its docstring, else its model's first docstring line."""
    text = field.description or attribute_docstrings(model).get(name)
    if not text:
        inner = nested_models(field.annotation)
        text = first_line(inner[0].__doc__) if inner else ""
    return markdown(text or "")


def first_line(doc: str | None) -> str:
    """The first paragraph of a docstring, on one line."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def type_name(field: FieldInfo) -> str:
    """A reader's name for the field's type, with its limits."""
    name = "duration" if is_duration(field) else annotation_name(field.annotation)
    limits = [limit for item in field.metadata for limit in constraint_text(item)]
    return ", ".join([name, *limits])


def annotation_name(annotation: Any) -> str:
    """``list[str] | None`` → ``list of text, or empty``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        named = " or ".join(annotation_name(a) for a in kept)
        return f"{named}, or empty" if len(kept) < len(args) else named
    if origin is list:
        return f"list of {annotation_name(args[0])}"
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    simple = {bool: "boolean", int: "integer", float: "number", str: "text", SecretStr: "secret"}
    if annotation in simple:
        return simple[annotation]
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "file path"
    return getattr(annotation, "__name__", str(annotation))


def constraint_text(item: Any) -> list[str]:
    """``Ge(ge=1)`` → ``["≥ 1"]``; a pattern → ``["matching `…`"]``."""
    words = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "length ≥"}
    found = [f"{sign} {getattr(item, key)}" for key, sign in words.items() if hasattr(item, key)]
    pattern = getattr(item, "pattern", None)
    if isinstance(pattern, str):
        found.append(f"matching `{pattern}`")
    return found


def default_text(field: FieldInfo) -> str:
    """The default as a reader writes it: ``15m``, ``["*"]``, ``[{}]`` or empty."""
    if field.is_required():
        return "(required)"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "(none)"
    if is_duration(field) and isinstance(value, int | float):
        return f"`{format_duration(value)}`"
    return f"`{json.dumps(plain(value), ensure_ascii=False)}`"


def plain(value: Any) -> Any:
    """Models (without their defaults) and lists of them as JSON-ready values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|")


def markdown(doc: str) -> str:
    """reST inline literals (````x````) as Markdown code, whitespace folded."""
    return " ".join(doc.replace("``", "`").split())


def rows_for(model: type[BaseModel], path: str, env: str | None) -> list[list[str]]:
    """The rows of every field of ``model``, under ``path`` (``aws``, ``aws.accounts[]``)."""
    rows = []
    for name, field in model.model_fields.items():
        key = yaml_name(name, field)
        variable = f"{env}{NESTED}{key.upper()}" if env else None
        inner = nested_models(field.annotation)
        is_list = typing.get_origin(field.annotation) is list
        shown = f"`{variable}`" + (" (JSON)" if is_list or inner else "") if variable else "—"
        row = [f"`{path}.{key}`", shown, type_name(field), default_text(field)]
        rows.append([*row, describe(model, name, field)])
        if inner:
            child = f"{path}.{key}[]" if is_list else f"{path}.{key}"
            rows.extend(rows_for(inner[0], child, None if is_list else variable))
    return rows


def section_table(name: str, field: FieldInfo) -> str:
    """One section: heading, its docstring, its table."""
    key = yaml_name(name, field)
    model = nested_models(field.annotation)[0]
    variable = f"{ENV_PREFIX}{key.upper()}"
    is_list = typing.get_origin(field.annotation) is list
    heading = f"## `{key}`" + (" (a list)" if is_list else "")
    lines = [heading, "", markdown(model.__doc__ or "")]
    rows = []
    if is_list:
        lines += ["", f"Set the whole list as JSON in `{variable}`; default {default_text(field)}."]
        rows = rows_for(model, f"{key}[]", None)
    else:
        rows = rows_for(model, key, variable)
    return "\n".join([*lines, "", *table(rows)])


def table(rows: list[list[str]]) -> list[str]:
    """A Markdown table with the standard columns."""
    header = ["YAML path", "Environment variable", "Type", "Default", "Description"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def connections_table() -> str:
    """The settings read from their own variables: tokens and URLs (Secrets in the chart)."""
    rows = []
    for name, variable in connections():
        field = Settings.model_fields[name]
        kind = type_name(field)
        row = [f"`{name}`", f"`{variable}`", kind, default_text(field)]
        rows.append([*row, describe(Settings, name, field)])
    intro = (
        "## Connections and secrets\n\nRead from their own environment variables (the chart "
        "sets them from Secrets); the YAML key works too but keeps a secret in a file.\n"
    )
    return intro + "\n" + "\n".join(table(rows))


def render() -> str:
    """The complete docs/configuration.md text."""
    parts = [HEADER, connections_table()]
    parts += [section_table(name, field) for name, field in sections()]
    return "\n\n".join(part.rstrip() for part in parts) + "\n"


def main(argv: list[str]) -> int:
    """Entry point: write, or check with ``--check``."""
    TARGET.parent.mkdir(exist_ok=True)
    return write_or_check(TARGET, render(), argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
