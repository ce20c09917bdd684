"""What arrives: EventBridge events about ECR and ECS, parsed from SQS messages (pure).

:func:`parse_message` turns one SQS message body (the event itself, or an SNS notification that
carries it) into a typed, frozen :data:`Event`, or raises :class:`EventRejected` saying why not.
"""

from bot.errors import EventRejected, RejectionKind
from bot.events.envelopes import SQS_MAX_BYTES, event_object
from bot.events.models import (
    EVENT_KINDS,
    CloudTrailApiCall,
    CloudTrailServiceEvent,
    EcsDeploymentStateChange,
    EcsTaskStateChange,
    Event,
    EventEnvelope,
    ImageActionEvent,
    ImageDeleted,
    ImagePushed,
    ImageScanEvent,
    ImageStorageClassChanged,
)
from bot.events.parse import parse_event, parse_message

__all__ = [
    "EVENT_KINDS",
    "SQS_MAX_BYTES",
    "CloudTrailApiCall",
    "CloudTrailServiceEvent",
    "EcsDeploymentStateChange",
    "EcsTaskStateChange",
    "Event",
    "EventEnvelope",
    "EventRejected",
    "ImageActionEvent",
    "ImageDeleted",
    "ImagePushed",
    "ImageScanEvent",
    "ImageStorageClassChanged",
    "RejectionKind",
    "event_object",
    "parse_event",
    "parse_message",
]
