"""A stand-in for the ECS service-revision APIs, which moto 5.2.5 does not implement.

:class:`EcsRevisionsFake` is a small HTTP server on 127.0.0.1 that speaks the real ECS wire protocol
(JSON 1.1: ``POST /``, ``X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Operation>``, errors as
``{"__type": ..., "message": ...}`` with HTTP 400). It answers ``ListServiceDeployments`` and
``DescribeServiceRevisions`` from data the test registers, and forwards every other request
unchanged to moto, so one ``AWS_ENDPOINT_URL_ECS`` serves the whole ECS API::

    async with EcsRevisionsFake(moto_endpoint) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECS", fake.url)
        revision = fake.add_revision(service_arn, task_definition_arn,
                                     [("web", "123….amazonaws.com/app:v1", digest)])
        fake.add_deployment(service_arn, revision, "SUCCESSFUL")
        fake.fail("ListServiceDeployments", "UnknownOperationException")   # to test fallbacks
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.aws_json_fake import ForwardingServer, json_answer, json_error

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
DESCRIBE_REVISIONS_LIMIT = 20


@dataclass
class EcsRevisionsFake(ForwardingServer):
    """The fake server; use as an async context manager, then read :attr:`url`."""

    deployments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    revisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, tuple[str, str]] = field(default_factory=dict)
    operations: Counter[str] = field(default_factory=Counter)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def __aenter__(self) -> EcsRevisionsFake:
        await self.start_serving(self._handle)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop_serving()

    # -- what tests register --------------------------------------------------------------------

    def add_revision(
        self,
        service_arn: str,
        task_definition: str,
        images: list[tuple[str, str, str | None]],
    ) -> str:
        """Register a revision; ``images`` are (container, image, digest). Returns its ARN."""
        prefix, _, path = service_arn.partition(":service/")
        arn = f"{prefix}:service-revision/{path}/{next(self._ids)}"
        self.revisions[arn] = {
            "serviceRevisionArn": arn,
            "serviceArn": service_arn,
            "clusterArn": f"{prefix}:cluster/{path.split('/')[0]}",
            "taskDefinition": task_definition,
            "containerImages": [
                {"containerName": name, "image": image, **({"imageDigest": d} if d else {})}
                for name, image, d in images
            ],
            "createdAt": time.time(),
        }
        return arn

    def add_deployment(
        self, service_arn: str, revision_arn: str, status: str, *, age: float = 0.0
    ) -> str:
        """Register a deployment to a revision, ``age`` seconds ago. Returns its ARN."""
        prefix, _, path = service_arn.partition(":service/")
        arn = f"{prefix}:service-deployment/{path}/d{next(self._ids)}"
        when = time.time() - age
        finished = {"finishedAt": when} if status not in {"PENDING", "IN_PROGRESS"} else {}
        self.deployments.setdefault(service_arn, []).append(
            {
                "serviceDeploymentArn": arn,
                "serviceArn": service_arn,
                "clusterArn": f"{prefix}:cluster/{path.split('/')[0]}",
                "targetServiceRevisionArn": revision_arn,
                "status": status,
                "createdAt": when,
                "startedAt": when,
                **finished,
            }
        )
        return arn

    def fail(self, operation: str, error_type: str, message: str | None = None) -> None:
        """Answer every call of ``operation`` with this error (HTTP 400), as ECS would."""
        self.errors[operation] = (error_type, message or f"{operation} failed ({error_type})")

    # -- the server -----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        target = request.headers.get("X-Amz-Target", "")
        operation = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else ""
        self.operations[operation or request.path] += 1
        if operation in self.errors:
            return _error(*self.errors[operation])
        body = await request.read()
        if operation == "ListServiceDeployments":
            return self._list_service_deployments(json.loads(body or b"{}"))
        if operation == "DescribeServiceRevisions":
            return self._describe_service_revisions(json.loads(body or b"{}"))
        return await self.forward(request, body)

    def _list_service_deployments(self, params: dict[str, Any]) -> web.Response:
        service = params.get("service")
        if not service:
            return _error("InvalidParameterException", "service is required")
        arn = self._service_arn(str(service), str(params.get("cluster") or "default"))
        found = list(self.deployments.get(arn or "", []))
        if params.get("status"):
            found = [d for d in found if d["status"] in params["status"]]
        found.sort(key=lambda d: d["createdAt"], reverse=True)
        start = int(params.get("nextToken") or 0)
        size = int(params.get("maxResults") or 20)
        page = found[start : start + size]
        result: dict[str, Any] = {"serviceDeployments": page}
        if start + size < len(found):
            result["nextToken"] = str(start + size)
        return _json(result)

    def _service_arn(self, service: str, cluster: str) -> str | None:
        if service.startswith("arn:"):
            return service
        cluster_name = cluster.rsplit("/", 1)[-1]
        for arn in self.deployments:
            if arn.endswith(f":service/{cluster_name}/{service}"):
                return arn
        return None

    def _describe_service_revisions(self, params: dict[str, Any]) -> web.Response:
        arns = list(params.get("serviceRevisionArns") or [])
        if not arns or len(arns) > DESCRIBE_REVISIONS_LIMIT:
            return _error(
                "InvalidParameterException",
                f"serviceRevisionArns must list 1 to {DESCRIBE_REVISIONS_LIMIT} ARNs",
            )
        return _json(
            {
                "serviceRevisions": [self.revisions[a] for a in arns if a in self.revisions],
                "failures": [
                    {"arn": a, "reason": "MISSING"} for a in arns if a not in self.revisions
                ],
            }
        )


def _json(payload: dict[str, Any]) -> web.Response:
    return json_answer(payload, request_id="ecs-revisions-fake")


def _error(error_type: str, message: str) -> web.Response:
    return json_error(error_type, message, request_id="ecs-revisions-fake")
