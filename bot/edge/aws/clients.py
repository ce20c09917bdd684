"""aiobotocore clients for many accounts and regions, with retries, limits and call counting.

One :class:`AwsClients` lives for one scan (or one bot cycle). It creates each client once per
(account, region, service), limits concurrent requests per account and region, counts every API
call by operation, and turns SDK exceptions into :mod:`bot.errors`.

Configuration follows the SDK: the credential chain, ``AWS_PROFILE``, ``AWS_REGION``,
``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>`` (so the same code runs against moto or any
compatible endpoint). Extra accounts are reached by assuming a role or through a named profile.
"""

from __future__ import annotations

import asyncio
import http
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, TypeVar

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore import exceptions as boto

from bot.errors import (
    AccessDenied,
    CredentialsError,
    NotFound,
    Throttled,
    Unreachable,
    UpstreamError,
)
from bot.settings import AwsAccount, AwsSettings

T = TypeVar("T")

CREDENTIALS_HINT = (
    "provide AWS credentials: set AWS_PROFILE (after `aws sso login`) or AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, or run with an IAM role (instance profile, IRSA, ECS task role)"
)
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
}
_BAD_CREDENTIALS = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
}
_THROTTLED = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}

_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


# Every AWS call this process made, by ``service.Operation`` (for ``/metrics``).
PROCESS_CALLS: Counter[str] = Counter()

# Services whose responses keep timestamps as sent (epoch numbers); the adapters parse them.
RAW_TIMESTAMP_SERVICES = frozenset({"ecr"})


@dataclass(frozen=True, slots=True)
class AwsTarget:
    """Where to call: an account (as configured) and a region.

    Example:
        >>> AwsTarget(AwsAccount(name="prod"), "eu-west-1").label
        'prod/eu-west-1'
    """

    account: AwsAccount
    region: str

    @property
    def label(self) -> str:
        """How messages name the target."""
        name = self.account.name or self.account.profile or _role_account(self.account.role_arn)
        return f"{name or 'default'}/{self.region}"


def _role_account(role_arn: str | None) -> str | None:
    return role_arn.split(":")[4] if role_arn else None


def targets(settings: AwsSettings) -> list[AwsTarget]:
    """Every (account, region) pair the settings name; raises when no region is known.

    Example:
        >>> from bot.settings import AwsSettings
        >>> [t.label for t in targets(AwsSettings(regions=["eu-west-1", "us-east-1"]))]
        ['default/eu-west-1', 'default/us-east-1']
    """
    default_regions = settings.default_regions()
    found = [
        AwsTarget(account, region)
        for account in settings.accounts
        for region in (account.regions or default_regions)
    ]
    if not found:
        raise CredentialsError(
            "aws",
            "configuration",
            "NoRegion",
            "no AWS region is configured",
            hint="set AWS_REGION, or list regions under aws.regions in the configuration",
        )
    return found


def target_for(settings: AwsSettings, region: str | None) -> AwsTarget:
    """The target an image reference points at: its region when it names one (with the first
    account), else the first configured target.

    Example:
        >>> from bot.settings import AwsSettings
        >>> target_for(AwsSettings(regions=["eu-west-1"]), "us-east-2").region
        'us-east-2'
    """
    configured = targets(settings)
    if region is None:
        return configured[0]
    for target in configured:
        if target.region == region:
            return target
    return AwsTarget(configured[0].account, region)


class AwsClients:
    """Shared clients, limits and counters for one unit of work. Use as an async context manager.

    Example::

        async with AwsClients(settings.aws) as aws:
            target = targets(settings.aws)[0]
            async for page in aws.paginate(target, "ecr", "describe_repositories"):
                ...
            print(aws.calls)   # Counter({'ecr.DescribeRepositories': 1})
    """

    def __init__(self, settings: AwsSettings, session: AioSession | None = None) -> None:
        self.settings = settings
        self.calls: Counter[str] = Counter()
        self._base = session or get_session()
        self._stack = AsyncExitStack()
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._sessions: dict[str, AioSession] = {}
        self._assumed: dict[str, tuple[str, str, str]] = {}
        self._limits: dict[tuple[str, str], asyncio.Semaphore] = {}
        self._creating = asyncio.Lock()
        self.closed = False
        self._config = AioConfig(
            retries={"mode": "adaptive", "total_max_attempts": settings.max_attempts},
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_pool_connections=max(10, settings.max_concurrency * 2),
        )

    async def __aenter__(self) -> AwsClients:
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()
        self.closed = True

    async def call(self, target: AwsTarget, service: str, operation: str, /, **params: Any) -> Any:
        """Call one operation (snake_case name) and return its response dict.

        Errors are raised as :mod:`bot.errors` types.
        """
        client = await self.client(target, service)
        async with self._limit(target):
            return await self._translated(
                target, service, operation, getattr(client, operation)(**params)
            )

    async def paginate(
        self, target: AwsTarget, service: str, operation: str, /, **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield the pages of a paginated operation, one request at a time within the limits."""
        client = await self.client(target, service)
        pages = client.get_paginator(operation).paginate(**params).__aiter__()
        while True:
            async with self._limit(target):
                try:
                    page = await self._translated(target, service, operation, pages.__anext__())
                except StopAsyncIteration:
                    return
            yield page

    async def client(self, target: AwsTarget, service: str) -> Any:
        """The (cached) client for a service at a target."""
        key = (self._account_key(target.account), target.region, service)
        if key not in self._clients:
            async with self._creating:
                if key not in self._clients:
                    self._clients[key] = await self._translated(
                        target, service, "create_client", self._create(target, service)
                    )
        return self._clients[key]

    async def _create(self, target: AwsTarget, service: str) -> Any:
        session = await self._session_for(target, raw_times=service in RAW_TIMESTAMP_SERVICES)
        client = await self._stack.enter_async_context(
            session.create_client(service, region_name=target.region, config=self._config)
        )
        client.meta.events.register("before-call", self._count)
        return client

    def _count(self, model: Any, **_: Any) -> None:
        operation = f"{model.service_model.service_name}.{model.name}"
        self.calls[operation] += 1
        PROCESS_CALLS[operation] += 1

    def _limit(self, target: AwsTarget) -> asyncio.Semaphore:
        key = (self._account_key(target.account), target.region)
        if key not in self._limits:
            self._limits[key] = asyncio.Semaphore(self.settings.max_concurrency)
        return self._limits[key]

    @staticmethod
    def _account_key(account: AwsAccount) -> str:
        return account.role_arn or account.profile or account.name or ""

    async def _session_for(self, target: AwsTarget, *, raw_times: bool = False) -> AioSession:
        account = target.account
        key = f"{self._account_key(account)}|{raw_times}"
        if key in self._sessions:
            return self._sessions[key]
        if account.profile:
            session = AioSession(profile=account.profile)
        elif account.role_arn:
            session = AioSession()
            session.set_credentials(*await self._assumed_credentials(target))
        else:
            session = AioSession() if raw_times else self._base
        if raw_times:
            # Keep timestamps as the numbers the service sent: turning hundreds of thousands
            # of them into datetimes costs more than the whole lifecycle evaluation.
            parsers = session.get_component("response_parser_factory")
            parsers.set_parser_defaults(timestamp_parser=lambda value: value)
        self._sessions[key] = session
        return session

    async def _assumed_credentials(self, target: AwsTarget) -> tuple[str, str, str]:
        account = target.account
        assert account.role_arn is not None
        if account.role_arn not in self._assumed:
            params: dict[str, Any] = {
                "RoleArn": account.role_arn,
                "RoleSessionName": "ecr-lifeguard",
            }
            if account.external_id:
                params["ExternalId"] = account.external_id
            base = AwsTarget(AwsAccount(), target.region)
            credentials = (await self.call(base, "sts", "assume_role", **params))["Credentials"]
            self._assumed[account.role_arn] = (
                credentials["AccessKeyId"],
                credentials["SecretAccessKey"],
                credentials["SessionToken"],
            )
        return self._assumed[account.role_arn]

    async def _translated(
        self, target: AwsTarget, service: str, operation: str, awaitable: Awaitable[T]
    ) -> T:
        name, region = _pascal(operation), target.region
        try:
            return await awaitable
        except boto.ClientError as exc:
            raise translate_client_error(exc, service, operation, target) from exc
        except (boto.NoCredentialsError, boto.PartialCredentialsError) as exc:
            raise CredentialsError(
                service, name, "NoCredentials", str(exc), hint=CREDENTIALS_HINT, region=region
            ) from exc
        except (
            boto.EndpointConnectionError,
            boto.ConnectTimeoutError,
            boto.ReadTimeoutError,
        ) as exc:
            raise Unreachable(
                service,
                name,
                "Unreachable",
                str(exc),
                region=region,
                hint="check the network, proxy and AWS_ENDPOINT_URL settings",
            ) from exc
        except boto.ProfileNotFound as exc:
            raise CredentialsError(
                service,
                name,
                "ProfileNotFound",
                str(exc),
                region=region,
                hint="check AWS_PROFILE and ~/.aws/config (`aws configure list-profiles`)",
            ) from exc
        except boto.NoRegionError as exc:
            raise CredentialsError(
                service,
                name,
                "NoRegion",
                str(exc),
                region=region,
                hint="set AWS_REGION or aws.regions in the configuration",
            ) from exc


def translate_client_error(
    exc: boto.ClientError, service: str, operation: str, target: AwsTarget
) -> UpstreamError:
    """Map an AWS error response to the matching :mod:`bot.errors` type, with a hint."""
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code, message = readable_error(
        str(error.get("Code", "Unknown")), str(error.get("Message", exc)), status
    )
    action = f"{service}:{_pascal(operation)}"
    kinds: tuple[type[UpstreamError], str | None]
    if code in _DENIED:
        kinds = (AccessDenied, f"grant {action} to the identity running ECR Lifeguard")
    elif code in _BAD_CREDENTIALS:
        kinds = (CredentialsError, CREDENTIALS_HINT)
    elif code in _THROTTLED:
        kinds = (Throttled, "lower aws.max_concurrency or raise aws.max_attempts")
    elif code.endswith("NotFoundException") or code in {"ResourceNotFound", "NoSuchEntity"}:
        kinds = (NotFound, None)
    elif isinstance(status, int) and status >= 500:
        kinds = (
            UpstreamError,
            f"the service failed on its side: retry in a few minutes; if AWS_ENDPOINT_URL or "
            f"AWS_ENDPOINT_URL_{service.upper()} is set, check that it serves {action}",
        )
    else:
        kinds = (UpstreamError, None)
    error_type, hint = kinds
    return error_type(
        service,
        _pascal(operation),
        code,
        message,
        hint=hint,
        region=target.region,
        account=_role_account(target.account.role_arn),
    )


def readable_error(code: str, message: str, status: int | None) -> tuple[str, str]:
    """An error response's code and message, fit for one line.

    A proxy, a load balancer or a mock server may answer with an HTML page instead of an AWS
    error: the page becomes its title, and a bare status code reads as one.

    Example:
        >>> page = "<!doctype html>\\n<title>500 Internal Server Error</title>\\n<h1>Oops</h1>"
        >>> readable_error("500", page, 500)
        ('HTTP 500', 'Internal Server Error (an HTML page, not an AWS error response)')
        >>> readable_error("ThrottlingException", "Rate exceeded", 400)
        ('ThrottlingException', 'Rate exceeded')
    """
    if code.isdigit():
        code = f"HTTP {code}"
    if message.lstrip().startswith("<"):
        title = _HTML_TITLE.search(message)
        phrase = _status_phrase(status)
        text = title.group(1).strip() if title else phrase
        if status is not None:
            text = text.removeprefix(str(status)).strip() or phrase
        message = f"{text} (an HTML page, not an AWS error response)"
    return code, " ".join(message.split()) or _status_phrase(status)


def _status_phrase(status: int | None) -> str:
    try:
        return http.HTTPStatus(status or 0).phrase
    except ValueError:
        return "no error message"


def _pascal(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))
