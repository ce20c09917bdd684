"""A CloudTrail ``LookupEvents`` endpoint on a loopback port (moto does not implement it).

It speaks the wire protocol botocore uses, AWS JSON 1.1: ``POST /`` with ``X-Amz-Target:
com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents``, times as epoch seconds,
pages of at most 50 events newest first with an opaque ``NextToken``, and errors as
``{"__type": ..., "message": ...}`` with status 400. It refuses what CloudTrail refuses (two lookup
attributes, ``MaxResults`` above 50, an end before the start, a token from another query) and
records when each request arrived, so tests can check the two-requests-per-second limit.

The helpers below build records shaped like the AWS documentation's samples and the blog case
("The mysterious case of the missing ECR image"). Point an SDK client at the fake with
``AWS_ENDPOINT_URL_CLOUDTRAIL``::

    async with CloudTrailFake() as fake:
        fake.add(blog_policy_execution_event())
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", fake.url)
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.demo.events import lifecycle_image, policy_execution_record

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
JSON_11 = "application/x-amz-json-1.1"
ACCOUNT = "123456789012"
REGION = "us-east-1"
MAX_RESULTS = 50
ATTRIBUTE_KEYS = {
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
}

BLOG_REPOSITORY = "tbnl/static"
BLOG_DIGEST = "sha256:ec1477a7420a97a789dd4b778a0a1141a6c6ba9314fce70599c134964121960c"
BLOG_TAGS = [
    "git-325dc21f",
    "git-684254dd",
    "git-06ec56d0",
    "git-719feb86",
    "git-418dbbae",
    "git-841e4719",
    "git-48a3a88a",
    "git-a714d9b2",
    "git-14c65fe5",
    "tag-1-252-0",
    "tag-1-253-0",
]
BLOG_PUSHED_AT_MS = 1671098240000
# The post does not say when the lifecycle run happened; any time after the push will do.
BLOG_RUN = datetime(2022, 12, 21, 3, 14, 7, tzinfo=UTC)
# The blog policy as CloudTrail spells it (human-readable enumerations).
BLOG_RULES: list[dict[str, Any]] = [
    {
        "rulePriority": 1,
        "description": "Keep last 5 production images",
        "lifecycleEventSelection": {
            "tagStatus": "Tagged",
            "tagPrefixList": ["tag"],
            "countType": "Image count more than",
            "countNumber": 5,
        },
        "action": "expire",
    },
    {
        "rulePriority": 5,
        "description": "Expire images older than 14 days",
        "lifecycleEventSelection": {
            "tagStatus": "Any",
            "tagPrefixList": [],
            "countType": "Time since image pushed",
            "countUnit": "Days",
            "countNumber": 14,
        },
        "action": "expire",
    },
]


@dataclass(frozen=True)
class LookupRequest:
    """One request as the fake received it: when (``time.monotonic``), and its JSON body."""

    at: float
    body: dict[str, Any]


@dataclass
class CloudTrailFake:
    """Serves ``LookupEvents`` over the events added to it. Use as an async context manager.

    ``deny`` answers every request with ``AccessDeniedException``. ``min_interval`` (seconds)
    answers ``ThrottlingException`` to a request that follows the previous one too closely.
    """

    deny: bool = False
    min_interval: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[LookupRequest] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> CloudTrailFake:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def add(self, record: dict[str, Any]) -> dict[str, Any]:
        """Store a CloudTrail record; the LookupEvents summary fields are derived from it."""
        identity = record.get("userIdentity") or {}
        event = {
            "EventId": record["eventID"],
            "EventName": record["eventName"],
            "ReadOnly": "true" if record.get("readOnly") else "false",
            "AccessKeyId": identity.get("accessKeyId"),
            "EventTime": _epoch(record["eventTime"]),
            "EventSource": record["eventSource"],
            "Username": identity.get("userName") or identity.get("invokedBy"),
            "Resources": [
                {"ResourceType": r.get("type", "AWS::ECR::Repository"), "ResourceName": r["ARN"]}
                for r in record.get("resources") or []
            ],
            "CloudTrailEvent": json.dumps(record),
        }
        self.events.append({key: value for key, value in event.items() if value is not None})
        return record

    def add_raw(self, event_name: str, cloudtrail_event: str, at: datetime) -> None:
        """Store an event whose ``CloudTrailEvent`` string is given as is (e.g. not JSON)."""
        self.events.append(
            {
                "EventId": str(uuid.uuid4()),
                "EventName": event_name,
                "ReadOnly": "false",
                "EventTime": at.timestamp(),
                "EventSource": "ecr.amazonaws.com",
                "Resources": [],
                "CloudTrailEvent": cloudtrail_event,
            }
        )

    def intervals(self) -> list[float]:
        """Seconds between consecutive requests, as they arrived."""
        times = [request.at for request in self.requests]
        return [later - earlier for earlier, later in itertools.pairwise(times)]

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        previous = self.requests[-1].at if self.requests else None
        body = await request.json(loads=json.loads) if request.can_read_body else {}
        self.requests.append(LookupRequest(arrived, body))
        if request.headers.get("X-Amz-Target") != TARGET:
            return _error("UnknownOperationException", "only LookupEvents is served here")
        if not request.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256"):
            return _error("MissingAuthenticationTokenException", "request is not signed", 403)
        if self.deny:
            return _error(
                "AccessDeniedException",
                f"User: arn:aws:iam::{ACCOUNT}:user/auditor is not authorized to perform: "
                "cloudtrail:LookupEvents because no identity-based policy allows the "
                "cloudtrail:LookupEvents action",
            )
        too_soon = previous is not None and arrived - previous < (self.min_interval or 0.0)
        if too_soon:
            return _error("ThrottlingException", "Rate exceeded")
        try:
            return web.json_response(self._lookup(body), content_type=JSON_11)
        except _Refused as refused:
            return _error(refused.code, refused.message)

    def _lookup(self, body: dict[str, Any]) -> dict[str, Any]:
        attributes = body.get("LookupAttributes") or []
        if len(attributes) > 1:
            raise _Refused(
                "InvalidLookupAttributesException", "You cannot specify more than one attribute."
            )
        if attributes and attributes[0].get("AttributeKey") not in ATTRIBUTE_KEYS:
            raise _Refused("InvalidLookupAttributesException", "The attribute key is not valid.")
        limit = body.get("MaxResults", MAX_RESULTS)
        if not 1 <= limit <= MAX_RESULTS:
            raise _Refused("InvalidMaxResultsException", "MaxResults must be from 1 to 50.")
        start, end = body.get("StartTime", 0.0), body.get("EndTime", time.time())
        if start > end:
            raise _Refused("InvalidTimeRangeException", "Start time must be before end time.")
        query = json.dumps([attributes, start, end], sort_keys=True)
        offset = _offset(body.get("NextToken"), query)
        found = [e for e in self._newest_first() if start <= e["EventTime"] <= end]
        found = [e for e in found if _matches(e, attributes[0] if attributes else None)]
        response: dict[str, Any] = {"Events": found[offset : offset + limit]}
        if offset + limit < len(found):
            response["NextToken"] = _token(offset + limit, query)
        return response

    def _newest_first(self) -> list[dict[str, Any]]:
        order = sorted(enumerate(self.events), key=lambda pair: (pair[1]["EventTime"], pair[0]))
        return [event for _, event in reversed(order)]


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _error(code: str, message: str, status: int = 400) -> web.Response:
    return web.json_response(
        {"__type": code, "message": message}, status=status, content_type=JSON_11
    )


def _matches(event: dict[str, Any], attribute: dict[str, str] | None) -> bool:
    if attribute is None:
        return True
    key, value = attribute["AttributeKey"], attribute["AttributeValue"]
    if key in {"ResourceType", "ResourceName"}:
        return any(resource.get(key) == value for resource in event["Resources"])
    return bool(event.get(key) == value)


def _token(offset: int, query: str) -> str:
    digest = hashlib.sha256(query.encode()).hexdigest()[:16]
    return base64.urlsafe_b64encode(f"{offset}:{digest}".encode()).decode()


def _offset(token: str | None, query: str) -> int:
    if token is None:
        return 0
    try:
        offset, digest = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        position = int(offset)
    except ValueError:
        raise _Refused("InvalidNextTokenException", "Invalid NextToken.") from None
    if digest != hashlib.sha256(query.encode()).hexdigest()[:16]:
        raise _Refused("InvalidNextTokenException", "NextToken does not match the query.")
    return position


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Records -----------------------------------------------------------------------------------------


def policy_execution_event(
    repository: str,
    at: datetime,
    actions: list[dict[str, Any]],
    *,
    rules: list[dict[str, Any]] | None = None,
    failures: list[dict[str, Any]] | None = None,
    region: str = REGION,
) -> dict[str, Any]:
    """A lifecycle ``PolicyExecutionEvent`` record, shaped like the documented sample."""
    rules = BLOG_RULES if rules is None else rules
    return policy_execution_record(
        repository, _iso(at), actions, rules, failures=failures, region=region
    )


def blog_policy_execution_event(
    repository: str = BLOG_REPOSITORY, at: datetime = BLOG_RUN
) -> dict[str, Any]:
    """The blog's lifecycle run: rule 1 expired the digest that carried ``tag-1-253-0``."""
    action = lifecycle_image(BLOG_DIGEST, BLOG_TAGS, BLOG_PUSHED_AT_MS, rule_priority=1)
    return policy_execution_event(repository, at, [action])


def _api_call(
    event_name: str, repository: str, at: datetime, user: str, region: str
) -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAJ45Q7YFFAREXAMPLE",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
            "accountId": ACCOUNT,
            "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
            "userName": user,
        },
        "eventTime": _iso(at),
        "eventSource": "ecr.amazonaws.com",
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.12",
        "userAgent": "aws-cli/2.17.0 md/command#ecr." + event_name.lower(),
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "resources": [{"ARN": _repository_arn(repository, region), "accountId": ACCOUNT}],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


def batch_delete_image_event(
    repository: str,
    at: datetime,
    deleted: list[dict[str, str]],
    *,
    requested: list[dict[str, str]] | None = None,
    failures: list[dict[str, Any]] | None = None,
    user: str = "alice",
    region: str = REGION,
) -> dict[str, Any]:
    """A ``BatchDeleteImage`` call by an IAM user; ``deleted`` are the response's imageIds."""
    record = _api_call("BatchDeleteImage", repository, at, user, region)
    record["requestParameters"] = {
        "registryId": ACCOUNT,
        "repositoryName": repository,
        "imageIds": deleted if requested is None else requested,
    }
    record["responseElements"] = {"imageIds": deleted, "failures": failures or []}
    return record


def put_image_event(
    repository: str,
    tag: str | None,
    manifest: str,
    at: datetime,
    *,
    with_response: bool = True,
    user: str = "ci-deployer",
    region: str = REGION,
) -> dict[str, Any]:
    """A ``PutImage`` call (a push or a retag); without response elements if told so."""
    record = _api_call("PutImage", repository, at, user, region)
    request = {"repositoryName": repository, "registryId": ACCOUNT, "imageManifest": manifest}
    record["requestParameters"] = {**request, **({"imageTag": tag} if tag else {})}
    image_id = {"imageDigest": digest_of(manifest), **({"imageTag": tag} if tag else {})}
    record["responseElements"] = (
        {"image": {**request, "imageId": image_id}} if with_response else None
    )
    return record


def manifest(seed: str) -> str:
    """A small OCI image manifest whose content (and digest) depends on ``seed``."""
    layer = "sha256:" + hashlib.sha256(f"layer-{seed}".encode()).hexdigest()
    config = "sha256:" + hashlib.sha256(f"config-{seed}".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": 1469,
                "digest": config,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "size": 2811478,
                    "digest": layer,
                }
            ],
        },
        separators=(",", ":"),
    )


def digest_of(text: str) -> str:
    """The digest of a manifest: sha256 of its bytes."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _repository_arn(repository: str, region: str) -> str:
    return f"arn:aws:ecr:{region}:{ACCOUNT}:repository/{repository}"
