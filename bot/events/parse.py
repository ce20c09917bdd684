"""One SQS message body → one typed :data:`~bot.events.models.Event`, or :class:`EventRejected`.

::

    try:
        event = parse_message(message["Body"], default_account=account)
    except EventRejected as rejected:
        log.info("dropping message %s: %s", message["MessageId"], rejected)   # and delete it
    else:
        metrics.events.labels(event.kind).inc()
        key = event.repository            # None for ECS events

Validation errors become a one-line ``reason`` that names the field at fault in AWS's spelling
(``detail.image-digest is missing``), never a pydantic dump.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from bot.errors import EventRejected, RejectionKind
from bot.events.envelopes import SQS_MAX_BYTES, event_object, json_type
from bot.events.models import ECR_EVENT_SOURCE, Event

_EVENTS: TypeAdapter[Event] = TypeAdapter(Event)

_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dict_type": "an object",
    "tuple_type": "an array",
    "list_type": "an array",
    "datetime_type": "an ISO 8601 timestamp",
    "datetime_parsing": "an ISO 8601 timestamp",
    "datetime_from_date_parsing": "an ISO 8601 timestamp",
}
_SHOWN_VALUE = 60


def parse_message(
    body: str | bytes, *, max_bytes: int = SQS_MAX_BYTES, default_account: str | None = None
) -> Event:
    """Parse one SQS message body (an EventBridge event, bare or in an SNS envelope).

    ``max_bytes`` bounds the body before anything is decoded; ``default_account`` stands in
    for the event's ``account`` when it has none (moto's EventBridge leaves it out). Raises
    :class:`EventRejected` and nothing else.

    Example:
        >>> parse_message('{"detail-type": "ECR Replication Action"}')
        Traceback (most recent call last):
        ...
        bot.errors.EventRejected: unknown event: detail-type "ECR Replication Action" is not handled
        >>> parse_message("x" * 10, max_bytes=8)
        Traceback (most recent call last):
        ...
        bot.errors.EventRejected: oversized event: the message is 10 bytes, over the 8-byte limit
    """
    return parse_event(event_object(body, max_bytes=max_bytes), default_account=default_account)


def parse_event(data: dict[str, Any], *, default_account: str | None = None) -> Event:
    """Validate an EventBridge event already decoded from JSON; see :func:`parse_message`."""
    if data.get("account") is None and default_account:
        data = {**data, "account": default_account}
    try:
        return _EVENTS.validate_python(data)
    except ValidationError as exc:
        raise rejection(exc, data) from None


def rejection(exc: ValidationError, data: dict[str, Any]) -> EventRejected:
    """The :class:`EventRejected` that says, in one line, why ``data`` is not a valid event."""
    errors = exc.errors(include_url=False)
    unknown = [e for e in errors if e["type"] == "union_tag_invalid" and _tag_is_text(e)]
    kind: RejectionKind = "unknown" if unknown else "malformed"
    first = unknown[0] if unknown else errors[0]
    reason = _unknown_reason(first, data) if unknown else _problem(first, data)
    detail_type = data.get("detail-type")
    if not unknown and isinstance(detail_type, str) and first["loc"]:
        reason = f"{_shown(detail_type, quote=False)}: {reason}"
    if len(errors) > 1 and not unknown:
        more = len(errors) - 1
        reason += f" (and {more} more problem{'s' if more > 1 else ''})"
    event_id = data.get("id")
    return EventRejected(kind, reason, event_id=event_id if isinstance(event_id, str) else None)


def _tag_is_text(error: ErrorDetails) -> bool:
    tagged = error["input"]
    if not isinstance(tagged, dict):
        return False
    if error["loc"] == ():
        return isinstance(tagged.get("detail-type"), str)
    return all(isinstance(tagged.get(key, ""), str) for key in ("action-type", "eventName"))


def _unknown_reason(error: ErrorDetails, data: dict[str, Any]) -> str:
    detail_type = str(data.get("detail-type"))
    if error["loc"] == ():
        return f"detail-type {_shown(detail_type)} is not handled"
    detail = error["input"]
    if "eventSource" not in detail:
        field = "action-type" if "action-type" in detail else "eventName"
        return f"{detail_type} with {field} {_shown(detail.get(field))} is not handled"
    source, name = detail.get("eventSource"), detail.get("eventName")
    if source == ECR_EVENT_SOURCE:
        return f"{detail_type} for {_shown(name)} is not handled"
    return f"{detail_type} from {_shown(source)} ({_shown(name, quote=False)}) is not handled"


def _problem(error: ErrorDetails, data: dict[str, Any]) -> str:
    kind, given = error["type"], error["input"]
    path = _path(error["loc"], data, missing=kind == "missing")
    if kind == "missing":
        return f"{path} is missing"
    if kind in {"union_tag_not_found", "union_tag_invalid"}:
        return _tag_problem(error, path)
    if kind == "literal_error":
        expected = (error.get("ctx") or {}).get("expected", "")
        return f"{path} must be {expected}, got {_shown(given)}"
    if kind in _EXPECTED:
        return f"{path or 'the event'} must be {_EXPECTED[kind]}, got {_described(given)}"
    message = error["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    return f"{path}: {message}" if path else message


def _tag_problem(error: ErrorDetails, path: str) -> str:
    """A union tag (``detail-type``, ``action-type``, ``eventName``) that is absent or not text."""
    given = error["input"]
    if not isinstance(given, dict):
        return f"{path or 'the event'} must be an object, got {json_type(given)}"
    field = _discriminator_field(str((error.get("ctx") or {}).get("discriminator", "")))
    if field in given:
        return f"{_join(path, field)} must be a string, got {_described(given[field])}"
    return f"{_join(path, field)} is missing"


def _path(loc: tuple[int | str, ...], data: Any, *, missing: bool) -> str:
    """The AWS-spelled path of an error location; union tags in ``loc`` are left out."""
    parts: list[str] = []
    node = data
    walked = loc[:-1] if missing and loc else loc
    for part in walked:
        if isinstance(node, dict) and part in node:
            node = node[part]
            parts.append(f".{part}")
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            parts.append(f"[{part}]")
    if missing and loc:
        parts.append(f".{loc[-1]}")
    return "".join(parts).removeprefix(".")


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


def _discriminator_field(description: str) -> str:
    # "'action_type' | 'action-type'" names the field and its alias; "_cloudtrail_tag()" is ours.
    if description.endswith("()"):
        return "eventName"
    return description.rsplit("|", 1)[-1].strip().strip("'")


def _described(value: object) -> str:
    if isinstance(value, dict | list) or value is None:
        return json_type(value)
    return f"{json_type(value)} {_shown(value)}"


def _shown(value: object, *, quote: bool = True) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    if len(text) > _SHOWN_VALUE:
        text = text[: _SHOWN_VALUE - 1] + "…"
    return f'"{text}"' if quote and isinstance(value, str) else text
