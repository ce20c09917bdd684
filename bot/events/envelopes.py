"""Unwrap the transport: one SQS message body → the EventBridge event as a JSON object.

EventBridge delivers to SQS in two ways, and both arrive here:

* **EventBridge → SQS**: the body is the event JSON itself.
* **EventBridge → SNS → SQS** (raw message delivery off): the body is an SNS notification
  envelope, ``{"Type": "Notification", "MessageId": ..., "TopicArn": ..., "Message": "<the event
  JSON as a string>", ...}``.

Nothing here knows what an ECR event looks like (:mod:`bot.events.models` does). The size limit
is checked before anything is decoded, so an oversized message costs no parsing.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import EventRejected

# SQS's largest message: 256 KiB.
SQS_MAX_BYTES = 256 * 1024


class SnsNotification(BaseModel):
    """The SNS envelope of a notification delivered to SQS without raw message delivery.

    Example:
        >>> SnsNotification.model_validate({"Type": "Notification", "MessageId": "m-1",
        ...     "TopicArn": "arn:aws:sns:us-east-1:123456789012:ecr", "Message": "{}"}).message
        '{}'
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["Notification"] = Field(alias="Type")
    message_id: str = Field(alias="MessageId")
    topic_arn: str = Field(alias="TopicArn")
    message: str = Field(alias="Message")


def event_object(body: str | bytes, *, max_bytes: int = SQS_MAX_BYTES) -> dict[str, Any]:
    """The EventBridge event carried by one SQS message body, as a JSON object.

    Raises :class:`EventRejected`: ``oversized`` when the body is larger than ``max_bytes``
    (UTF-8 bytes), ``malformed`` when it is not UTF-8, not JSON, not an object, or an SNS
    notification whose ``Message`` is not a JSON object, ``unknown`` for another SNS message
    (``SubscriptionConfirmation``...).

    Example:
        >>> event_object('{"id": "e-1", "detail-type": "ECR Image Action"}')["id"]
        'e-1'
        >>> sns = {"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:x",
        ...        "Message": '{"id": "e-2"}'}
        >>> event_object(json.dumps(sns))["id"]
        'e-2'
        >>> event_object(b"\\xff")
        Traceback (most recent call last):
        ...
        bot.errors.EventRejected: malformed event: the message is not valid UTF-8 (byte 0 is 0xff)
    """
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if len(raw) > max_bytes:
        raise EventRejected(
            "oversized", f"the message is {len(raw):,} bytes, over the {max_bytes:,}-byte limit"
        )
    data = json_object(_utf8(raw), "the message")
    if data.get("Type") == "Notification":
        return _sns_message(data)
    if "TopicArn" in data and "Type" in data:
        kind = str(data["Type"])[:40]
        raise EventRejected(
            "unknown",
            f'SNS message of Type "{kind}" is not an event (only notifications carry one)',
        )
    return data


def json_object(text: str, what: str) -> dict[str, Any]:
    """Decode ``text`` as a JSON object; ``what`` names it in the rejection reason.

    Example:
        >>> json_object("[1, 2]", "the message")
        Traceback (most recent call last):
        ...
        bot.errors.EventRejected: malformed event: the message is a JSON array, not an object
    """
    if not text.strip():
        raise EventRejected("malformed", f"{what} is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventRejected(
            "malformed", f"{what} is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except (ValueError, RecursionError):
        raise EventRejected("malformed", f"{what} is not usable JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise EventRejected("malformed", f"{what} is a JSON {json_type(data)}, not an object")
    return data


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, as messages say it.

    Example:
        >>> json_type([]), json_type(1.5), json_type(None), json_type(True)
        ('array', 'number', 'null', 'boolean')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventRejected(
            "malformed",
            f"the message is not valid UTF-8 (byte {exc.start} is 0x{raw[exc.start]:02x})",
        ) from None


def _sns_message(data: dict[str, Any]) -> dict[str, Any]:
    try:
        notification = SnsNotification.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in error["loc"]) or "the envelope"
        problem = "is missing" if error["type"] == "missing" else "must be a string"
        raise EventRejected(
            "malformed", f"SNS notification: {field} {problem}", event_id=None
        ) from None
    return json_object(
        notification.message, f"the Message of SNS notification {notification.message_id}"
    )
