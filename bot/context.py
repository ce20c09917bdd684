"""What the current task is working on, for the logs (pure): the event id of the event being
handled, so every log line about it can name it."""

from __future__ import annotations

from contextvars import ContextVar

current_event: ContextVar[str | None] = ContextVar("current_event", default=None)
