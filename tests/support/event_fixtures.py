"""The EventBridge event fixtures of ``tests/fixtures/events/``, loaded by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def load_event(name: str) -> dict[str, Any]:
    """The decoded JSON of ``tests/fixtures/events/<name>.json``."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def event_bytes(name: str) -> bytes:
    """The fixture's bytes exactly as stored (some are deliberately not valid JSON)."""
    return (EVENTS / f"{name}.json").read_bytes()
