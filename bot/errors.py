"""The errors ECR Lifeguard raises, each with a message a person can act on.

::

    LifeguardError
    ├── InputError            (bot.lifecycle.problems) a document or argument is wrong
    ├── ConfigError           a setting is missing or invalid
    └── UpstreamError         AWS, Kubernetes or Slack failed or refused
        ├── CredentialsError  no usable credentials: says how to provide them
        ├── AccessDenied      an IAM/RBAC permission is missing: names it
        ├── NotFound          the named resource does not exist
        ├── Throttled         rate limited even after retries
        └── Unreachable       the endpoint cannot be reached

Adapters translate SDK exceptions into these at the edge; the core and the commands never see
a botocore or aiohttp exception.
"""

from __future__ import annotations


class LifeguardError(Exception):
    """Base of every error ECR Lifeguard raises on purpose."""


class ConfigError(LifeguardError):
    """A setting is missing or invalid; the message names it.

    Example:
        >>> str(ConfigError("SLACK_BOT_TOKEN: required"))
        'SLACK_BOT_TOKEN: required'
    """


class UpstreamError(LifeguardError):
    """A call to AWS, Kubernetes or Slack failed.

    ``service`` and ``operation`` say what was called, ``code`` is the upstream error code, and
    ``hint`` what to do about it.

    Example:
        >>> err = UpstreamError("ecr", "DescribeImages", "ServerException", "boom", hint="retry")
        >>> str(err)
        'ecr DescribeImages failed: ServerException: boom (retry)'
    """

    def __init__(
        self,
        service: str,
        operation: str,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        account: str | None = None,
        region: str | None = None,
    ) -> None:
        self.service = service
        self.operation = operation
        self.code = code
        self.message = message
        self.hint = hint
        self.account = account
        self.region = region
        where = ", ".join(p for p in (account, region) if p)
        text = f"{service} {operation} failed" + (f" in {where}" if where else "")
        text += f": {code}: {message}" if code else f": {message}"
        super().__init__(text + (f" ({hint})" if hint else ""))


class CredentialsError(UpstreamError):
    """No usable credentials were found, or they expired."""


class AccessDenied(UpstreamError):
    """The caller lacks a permission; ``operation`` names the action to grant."""


class NotFound(UpstreamError):
    """The named resource (repository, image, function...) does not exist."""


class Throttled(UpstreamError):
    """Still rate limited after the configured retries."""


class Unreachable(UpstreamError):
    """The endpoint could not be reached (network, DNS, wrong endpoint URL)."""
