"""Exit codes shared by every ``ecr-lifeguard`` command."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """What the process exit status means.

    Example:
        >>> int(Exit.INVALID_INPUT)
        2
    """

    OK = 0
    UPSTREAM_FAILURE = 1  # AWS, Kubernetes or Slack failed or refused us
    INVALID_INPUT = 2  # the command line or an input file is wrong
    FOUND = 3  # something is at risk (scan) or a finding reached --fail-on (lint)
