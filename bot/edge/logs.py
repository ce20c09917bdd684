"""Logging: readable lines by default; with ``LOG_FORMAT=json``, one JSON object a line with the
time, level, logger, message, the event id being handled, and the exception when there is one."""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

from bot.context import current_event

NOISY = ("slack_sdk", "slack_bolt", "aiobotocore", "botocore", "urllib3")
# Bolt warns that SLACK_BOT_TOKEN is unused when it is given a client: we give it one on purpose
# (the client carries the retries and the API URL), so the warning would only alarm whoever reads.
EXPECTED = frozenset({warning_client_prioritized_and_token_skipped()})


def drop_expected(record: logging.LogRecord) -> bool:
    """A logging filter: False for the library warnings listed in ``EXPECTED``.

    Example:
        >>> record = logging.LogRecord("slack_bolt", 30, "", 1, next(iter(EXPECTED)), (), None)
        >>> drop_expected(record)
        False
    """
    return record.getMessage() not in EXPECTED


class JsonFormatter(logging.Formatter):
    """One JSON object per record.

    Example:
        >>> record = logging.LogRecord("bot", logging.INFO, __file__, 1, "hello %s", ("you",), None)
        >>> json.loads(JsonFormatter().format(record))["message"]
        'hello you'
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as JSON."""
        document: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        event = current_event.get()
        if event is not None:
            document["event_id"] = event
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


def configure_logging() -> None:
    """Set up the root logger for ``ecr-lifeguard run`` (``LOG_FORMAT``: ``text`` or ``json``).

    Example::

        configure_logging()
    """
    handler = logging.StreamHandler()
    if os.environ.get("LOG_FORMAT", "text").lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    handler.addFilter(drop_expected)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
