"""``ECS Task State Change`` and ``ECS Deployment State Change``: only what keeping the in-use
inventory fresh needs (cluster, task or service, and the images and digests containers run).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from bot.events.base import EventEnvelope, EventModel


class EcsContainer(EventModel):
    """A container of a task: the image it was started from and the digest ECS resolved."""

    name: str | None = None
    image: str | None = None
    image_digest: str | None = Field(default=None, alias="imageDigest")
    last_status: str | None = Field(default=None, alias="lastStatus")
    container_arn: str | None = Field(default=None, alias="containerArn")


class EcsTaskDetail(EventModel):
    """What inventory freshness needs from a task state change."""

    cluster_arn: str = Field(alias="clusterArn")
    task_arn: str = Field(alias="taskArn")
    group: str | None = None
    last_status: str = Field(alias="lastStatus")
    desired_status: str = Field(alias="desiredStatus")
    containers: tuple[EcsContainer, ...] = ()
    task_definition_arn: str | None = Field(default=None, alias="taskDefinitionArn")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")

    @property
    def service_name(self) -> str | None:
        """The service that runs the task (``group: service:NAME``); None for standalone tasks."""
        if self.group and self.group.startswith("service:"):
            return self.group.removeprefix("service:")
        return None


class EcsTaskStateChange(EventEnvelope):
    """``detail-type: ECS Task State Change`` (source ``aws.ecs``)."""

    detail_type: Literal["ECS Task State Change"] = Field(alias="detail-type")
    source: Literal["aws.ecs"]
    detail: EcsTaskDetail

    @property
    def kind(self) -> str:
        """``ecs_task``."""
        return "ecs_task"


class EcsDeploymentDetail(EventModel):
    """A service deployment started, completed or failed."""

    event_type: str | None = Field(default=None, alias="eventType")
    event_name: Literal[
        "SERVICE_DEPLOYMENT_IN_PROGRESS",
        "SERVICE_DEPLOYMENT_COMPLETED",
        "SERVICE_DEPLOYMENT_FAILED",
    ] = Field(alias="eventName")
    deployment_id: str | None = Field(default=None, alias="deploymentId")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")
    reason: str | None = None


EcsDeployment = Annotated[EcsDeploymentDetail, Field(discriminator="event_name")]


class EcsDeploymentStateChange(EventEnvelope):
    """``detail-type: ECS Deployment State Change`` (source ``aws.ecs``); the service is in
    ``resources``.
    """

    detail_type: Literal["ECS Deployment State Change"] = Field(alias="detail-type")
    source: Literal["aws.ecs"]
    detail: EcsDeployment

    @property
    def service_arn(self) -> str | None:
        """The ARN of the service being deployed (the first service ARN in ``resources``)."""
        return next((r for r in self.resources if ":service/" in r), None)

    @property
    def kind(self) -> str:
        """``ecs_deployment``."""
        return "ecs_deployment"
