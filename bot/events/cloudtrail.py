"""What every CloudTrail record delivered through EventBridge shares, whatever the call.

EventBridge delivers an ECR CloudTrail record as the ``detail`` of an ``AWS API Call via
CloudTrail`` or ``AWS Service Event via CloudTrail`` event; :func:`cloudtrail_tag` tells the
records apart by ``eventName``, for ECR's own records (``eventSource: ecr.amazonaws.com``) only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from bot.events.base import EcrEvent, EventModel

ECR_EVENT_SOURCE = "ecr.amazonaws.com"


class UserIdentity(EventModel):
    """Who made a call, as CloudTrail records it (``userIdentity``)."""

    type: str | None = None
    principal_id: str | None = Field(default=None, alias="principalId")
    arn: str | None = None
    account_id: str | None = Field(default=None, alias="accountId")
    invoked_by: str | None = Field(default=None, alias="invokedBy")

    @property
    def who(self) -> str:
        """The most specific name available: ARN, invoking service, principal id or type."""
        return self.arn or self.invoked_by or self.principal_id or self.type or "unknown"


class CloudTrailResource(EventModel):
    """One entry of a CloudTrail record's ``resources``."""

    arn: str = Field(alias="ARN")
    account_id: str | None = Field(default=None, alias="accountId")
    type: str | None = None


class CloudTrailRecord(EventModel):
    """The fields every ECR CloudTrail record has; subclasses add the call's own."""

    event_version: str | None = Field(default=None, alias="eventVersion")
    event_source: Literal["ecr.amazonaws.com"] = Field(alias="eventSource")
    event_time: datetime = Field(alias="eventTime")
    aws_region: str | None = Field(default=None, alias="awsRegion")
    cloudtrail_event_id: str = Field(alias="eventID")
    user_identity: UserIdentity = Field(alias="userIdentity")
    recipient_account_id: str | None = Field(default=None, alias="recipientAccountId")
    resources: tuple[CloudTrailResource, ...] | None = None

    KIND: ClassVar[str] = "cloudtrail"

    @property
    def who(self) -> str:
        """Who made the call (``userIdentity.arn`` or the next best name)."""
        return self.user_identity.who

    def registry_hint(self) -> str | None:
        """The registry the record names, if any (subclasses look in their parameters first)."""
        for resource in self.resources or ():
            if resource.account_id:
                return resource.account_id
        return self.recipient_account_id

    @property
    def repository_name(self) -> str:
        """The repository the record is about (each record says where)."""
        raise NotImplementedError


def cloudtrail_tag(detail: Any) -> str | None:
    """The union tag of a CloudTrail record: its eventName, for ECR's records only."""
    if not isinstance(detail, dict):
        return None
    name, source = detail.get("eventName"), detail.get("eventSource")
    if not isinstance(name, str):
        return None
    return name if source == ECR_EVENT_SOURCE else f"{source}:{name}"


class CloudTrailEvent(EcrEvent):
    """An ECR CloudTrail record delivered by EventBridge (source ``aws.ecr``)."""

    source: Literal["aws.ecr"]
    detail: CloudTrailRecord

    @property
    def registry(self) -> str | None:
        """The registry the record names, else the event's account."""
        return self.detail.registry_hint() or self.account

    @property
    def repository_name(self) -> str:
        """The repository the record is about."""
        return self.detail.repository_name

    @property
    def kind(self) -> str:
        """The record, in snake case: ``put_lifecycle_policy``, ``lifecycle_execution``..."""
        return self.detail.KIND
