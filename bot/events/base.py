"""What every event model shares: the frozen model base, the EventBridge envelope, and the base
of events about one ECR repository.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.refs import RepositoryKey


class EventModel(BaseModel):
    """Frozen; unknown fields ignored (AWS adds fields to its events over time)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class EventEnvelope(EventModel):
    """What every EventBridge event carries, whatever its ``detail``.

    ``account`` is optional: moto's EventBridge leaves it out (AWS always sends it).
    """

    version: str
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str | None = None
    time: datetime
    region: str
    resources: tuple[str, ...] = ()

    @property
    def event_id(self) -> str:
        """The EventBridge event id: unique per event, the key for idempotency."""
        return self.id

    @property
    def at(self) -> float:
        """When the event happened, in epoch seconds (UTC)."""
        return _epoch(self.time)

    @property
    def repository(self) -> RepositoryKey | None:
        """The ECR repository the event concerns; None when it concerns none (ECS events)."""
        return None

    @property
    def kind(self) -> str:
        """A short, stable name of what happened, for metrics labels and logs."""
        return "event"


def arn_account(arn: str) -> str | None:
    """The account id in an ARN, if it has one.

    Example:
        >>> arn_account("arn:aws:ecr:us-east-1:123456789012:repository/app")
        '123456789012'
    """
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


class EcrEvent(EventEnvelope):
    """An event about one ECR repository: its registry must be known, or it is malformed."""

    @property
    def registry(self) -> str | None:
        """The account id of the registry the repository lives in, when the event says."""
        return self.account

    @property
    def repository_name(self) -> str:
        """The name of the repository (subclasses read it from their detail)."""
        raise NotImplementedError

    @property
    def repository(self) -> RepositoryKey:
        """The repository the event concerns (account, region, name)."""
        assert self.registry is not None  # checked at validation
        return RepositoryKey(self.registry, self.region, self.repository_name)

    @model_validator(mode="after")
    def _registry_known(self) -> EcrEvent:
        if self.registry is None:
            raise ValueError(
                "account is missing and the event names no registry, so the repository "
                "cannot be identified"
            )
        return self
