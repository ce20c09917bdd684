"""What the generators read from ``bot.settings.Settings``: the configuration file's sections.

Shared by ``scripts/gen_chart_schema.py`` (the chart's ``config:`` JSON schema) and
``scripts/gen_config_reference.py`` (docs/configuration.md). A *section* is a field of
``Settings`` read from the ``LIFEGUARD_CONFIG`` file and ``LIFEGUARD_<SECTION>__<FIELD>``
variables; the fields with an environment variable of their own (``SLACK_BOT_TOKEN``,
``REDIS_URL``...) are *connections*: secrets and URLs the chart sets from Secrets, never from the
ConfigMap.

    >>> [name for name, _ in sections()][:3]
    ['aws', 'kubernetes', 'inventory']
    >>> [env for _, env in connections()][:2]
    ['SLACK_BOT_TOKEN', 'SLACK_APP_TOKEN']
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot import settings as settings_module  # noqa: E402
from bot.settings import Settings  # noqa: E402

Json = dict[str, Any]
ENV_PREFIX = "LIFEGUARD_"
NESTED = "__"
# What bot.durations.parse_duration reads: a number of days, or parts such as 7d, 12h, 1d12h.
DURATION_PATTERN = r"^ *[0-9]+(\.[0-9]+)? *$|^( *[0-9]+(\.[0-9]+)? *[wdhmsWDHMS])+ *$"


def yaml_name(name: str, field: FieldInfo) -> str:
    """The key a field has in the YAML file (its alias, e.g. ``lambda``, else its name)."""
    return field.alias or name


def own_variable(field: FieldInfo) -> str | None:
    """The environment variable a connection field is read from (``SLACK_BOT_TOKEN``)."""
    alias = field.validation_alias
    choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
    upper = [c for c in choices if isinstance(c, str) and c.isupper()]
    return upper[0] if upper else None


def sections() -> list[tuple[str, FieldInfo]]:
    """The configuration file's sections, in the model's order."""
    return [(n, f) for n, f in Settings.model_fields.items() if own_variable(f) is None]


def connections() -> list[tuple[str, str]]:
    """``(field name, environment variable)`` of the fields set from their own variable."""
    found = []
    for name, field in Settings.model_fields.items():
        variable = own_variable(field)
        if variable is not None:
            found.append((name, variable))
    return found


def is_duration(field: FieldInfo) -> bool:
    """A ``bot.settings.Duration``: seconds as a number, or text such as ``15m``."""
    duration = getattr(settings_module, "_duration", None)
    return any(
        isinstance(item, BeforeValidator) and item.func is duration for item in field.metadata
    )


def models_within(model: type[BaseModel]) -> list[type[BaseModel]]:
    """``model`` and every model its fields hold (directly, in lists or optional), once each."""
    found: list[type[BaseModel]] = []
    pending = [model]
    while pending:
        current = pending.pop()
        if current in found:
            continue
        found.append(current)
        for field in current.model_fields.values():
            pending.extend(nested_models(field.annotation))
    return found


def nested_models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside a type annotation (``list[AwsAccount] | None`` → AwsAccount)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in nested_models(arg)]


def config_schema() -> Json:
    """The JSON schema of the configuration file (the chart's ``config:`` value), self-contained.

    Generated from the model (``extra="forbid"`` becomes ``additionalProperties: false``), with
    durations accepting text as the bot does, ``$ref`` inlined and titles dropped.
    """
    schema = Settings.model_json_schema(by_alias=True, mode="validation")
    definitions: dict[str, Json] = schema.get("$defs", {})
    for model in models_within(Settings):
        properties = definitions.get(model.__name__, {}).get("properties", {})
        for name, field in model.model_fields.items():
            key = yaml_name(name, field)
            if key in properties and is_duration(field):
                properties[key] = duration_schema(properties[key].get("default"))
    names = {yaml_name(n, f) for n, f in sections()}
    top = {key: value for key, value in schema["properties"].items() if key in names}
    document = {
        "type": "object",
        "description": "The settings file (LIFEGUARD_CONFIG) as YAML; see docs/configuration.md.",
        "additionalProperties": False,
        "properties": top,
    }
    return strip_titles(inline(document, definitions))


def duration_schema(default: Any) -> Json:
    """Seconds (a number ≥ 0) or a duration text such as ``15m``, ``7d``, ``1d12h``."""
    schema: Json = {
        "description": "seconds, or a duration such as 15m, 7d, 1d12h (a bare number in text "
        "means days)",
        "anyOf": [
            {"type": "number", "minimum": 0},
            {"type": "string", "pattern": DURATION_PATTERN},
        ],
    }
    if default is not None:
        schema["default"] = default
    return schema


def inline(node: Any, definitions: dict[str, Json]) -> Any:
    """``node`` with every ``{"$ref": "#/$defs/X"}`` replaced by a copy of X (no recursion here)."""
    if isinstance(node, list):
        return [inline(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(definitions[node["$ref"].rsplit("/", 1)[-1]])
        extra = {key: value for key, value in node.items() if key != "$ref"}
        return inline({**target, **extra}, definitions)
    return {key: inline(value, definitions) for key, value in node.items() if key != "$defs"}


def strip_titles(node: Any) -> Any:
    """``node`` without the ``title`` keywords pydantic adds (not property names ``title``)."""
    if isinstance(node, list):
        return [strip_titles(item) for item in node]
    if not isinstance(node, dict):
        return node
    cleaned = {}
    for key, value in node.items():
        if key == "properties":
            cleaned[key] = {name: strip_titles(sub) for name, sub in value.items()}
        elif key != "title":
            cleaned[key] = strip_titles(value)
    return cleaned
