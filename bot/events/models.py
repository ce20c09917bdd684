"""Typed events: frozen pydantic models of what EventBridge delivers about ECR and ECS.

The envelope (``version``, ``id``, ``detail-type``, ``source``, ``account``, ``time``, ``region``,
``resources``) is kept apart from the payload (``detail``). :data:`Event` is a discriminated union
on ``detail-type``; inside it, ``ECR Image Action`` is a union on ``detail.action-type`` and the two
CloudTrail detail-types are unions on ``detail.eventName`` (for ``eventSource:
ecr.amazonaws.com`` only). Shapes follow ``ecr-behaviour.md`` §4 and the AWS samples in
``tests/fixtures/events/``.

Rules every model follows:

* unknown fields are ignored (AWS adds fields), a required field missing or of the wrong type is a
  validation error;
* AWS's hyphenated and camelCase keys are aliases; Python names are snake_case;
* every event offers the same small surface, so a consumer needs no ``isinstance`` ladder:
  :attr:`~EventEnvelope.event_id`, :attr:`~EventEnvelope.at` (epoch seconds),
  :attr:`~EventEnvelope.repository` (a :class:`~bot.refs.RepositoryKey`, None for ECS events) and
  :attr:`~EventEnvelope.kind` (a short name for metrics, one of :data:`EVENT_KINDS`).

Use :func:`bot.events.parse.parse_message` to build one from an SQS message body.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.events.api_calls import (
    BatchDeleteImageCall,
    CloudTrailApiCall,
    DeleteLifecyclePolicyCall,
    ImageId,
    PutImageCall,
    PutImageTagMutabilityCall,
    PutLifecyclePolicyCall,
    UpdateImageStorageClassCall,
)
from bot.events.base import EcrEvent, EventEnvelope
from bot.events.cloudtrail import ECR_EVENT_SOURCE, CloudTrailEvent, UserIdentity
from bot.events.ecr import (
    ImageActionEvent,
    ImageDeleted,
    ImagePushed,
    ImageScanEvent,
    ImageStorageClassChanged,
)
from bot.events.ecs import EcsDeploymentStateChange, EcsTaskStateChange
from bot.events.lifecycle_runs import CloudTrailServiceEvent, PolicyExecution

Event = Annotated[
    ImageActionEvent
    | ImageScanEvent
    | CloudTrailApiCall
    | CloudTrailServiceEvent
    | EcsTaskStateChange
    | EcsDeploymentStateChange,
    Field(discriminator="detail_type"),
]

EVENT_KINDS: tuple[str, ...] = (
    *(m.KIND for m in (ImagePushed, ImageDeleted, ImageStorageClassChanged)),
    "image_scan",
    *(
        m.KIND
        for m in (
            PutLifecyclePolicyCall,
            DeleteLifecyclePolicyCall,
            BatchDeleteImageCall,
            PutImageCall,
            PutImageTagMutabilityCall,
            UpdateImageStorageClassCall,
        )
    ),
    PolicyExecution.KIND,
    "ecs_task",
    "ecs_deployment",
)

__all__ = [
    "ECR_EVENT_SOURCE",
    "EVENT_KINDS",
    "BatchDeleteImageCall",
    "CloudTrailApiCall",
    "CloudTrailEvent",
    "CloudTrailServiceEvent",
    "DeleteLifecyclePolicyCall",
    "EcrEvent",
    "EcsDeploymentStateChange",
    "EcsTaskStateChange",
    "Event",
    "EventEnvelope",
    "ImageActionEvent",
    "ImageDeleted",
    "ImageId",
    "ImagePushed",
    "ImageScanEvent",
    "ImageStorageClassChanged",
    "PolicyExecution",
    "PutImageCall",
    "PutImageTagMutabilityCall",
    "PutLifecyclePolicyCall",
    "UpdateImageStorageClassCall",
    "UserIdentity",
]
