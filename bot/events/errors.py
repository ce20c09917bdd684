"""Why an SQS message could not be turned into an event the bot handles.

:class:`EventRejected` is the only exception :func:`bot.events.parse.parse_message` raises. Its
``kind`` says what the consumer should count (every kind is logged once and the message deleted;
none is worth a retry), and ``reason`` is one line that names the field or type at fault.
"""

from __future__ import annotations

from typing import Literal

from bot.errors import LifeguardError

RejectionKind = Literal["oversized", "malformed", "unknown"]


class EventRejected(LifeguardError):
    """A message that is not an event the bot handles.

    ``kind`` is ``oversized`` (over the size limit, not parsed), ``malformed`` (not JSON, not an
    object, or a known event with a required field missing or of the wrong type) or ``unknown``
    (a well-formed event of a type or action the bot does not model). ``event_id`` is the event's
    ``id`` when it could be read.

    Example:
        >>> err = EventRejected("unknown", 'detail-type "ECR Replication Action" is not handled')
        >>> str(err)
        'unknown event: detail-type "ECR Replication Action" is not handled'
    """

    def __init__(self, kind: RejectionKind, reason: str, *, event_id: str | None = None) -> None:
        self.kind: RejectionKind = kind
        self.reason = reason
        self.event_id = event_id
        super().__init__(f"{kind} event: {reason}")
