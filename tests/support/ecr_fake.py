"""A stand-in for the ECR operations moto 5.2.5 lacks or answers differently from AWS.

:class:`EcrFake` is a small HTTP server on 127.0.0.1 that speaks the real ECR wire protocol (JSON
1.1: ``POST /``, ``X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Operation>``, errors as
``{"__type": ..., "message": ...}`` with HTTP 400). Every request is forwarded unchanged to moto,
except:

* ``UpdateImageStorageClass`` (not in moto): archive (ACTIVE → ARCHIVED) and restore (ARCHIVED →
  ACTIVATING), on moto's own image objects; :meth:`EcrFake.finish_restore` then plays ECR
  finishing the restore (ACTIVATING → ACTIVE, with ``lastActivatedAt``).
* ``BatchCheckLayerAvailability``: moto only knows layers uploaded through its layer-upload API,
  so every layer of an image pushed with ``PutImage`` looks missing. The fake answers AVAILABLE
  for any well-formed digest except the layers the test declared cleaned up
  (:meth:`EcrFake.forget_layers`), which are ``MissingLayerDigest`` failures as in ECR.
* ``PutImage``: a manifest naming a forgotten layer fails with ``LayersNotFoundException``;
  moving an immutable tag fails with ``ImageTagAlreadyExistsException`` (moto says
  ``ImageAlreadyExistsException``, which ECR reserves for re-putting what is already there);
  an image whose last tag moves away stays, untagged (moto deletes it).
* ``GetLifecyclePolicy``: moto reports "now" as ``lastEvaluatedAt`` on every call; the fake keeps
  the first value it sees per repository (ECR evaluates about once a day) and reports it as the
  epoch number AWS sends, until the test says ECR evaluated again (:meth:`EcrFake.evaluated`).
* ``StartLifecyclePolicyPreview`` / ``GetLifecyclePolicyPreview`` (not in moto): one preview per
  repository at a time (``LifecyclePolicyPreviewInProgressException`` while one runs), the first
  :attr:`EcrFake.preview_polls` ``Get`` calls answer ``IN_PROGRESS``, then ``COMPLETE`` (or
  :attr:`EcrFake.preview_final_status`); results page by ``maxResults`` (1..100) with an opaque
  ``nextToken``, honour ``filter.tagStatus`` and ``imageIds``, and carry ``imagePushedAt`` as an
  epoch number. The results come from :mod:`tests.support.reference_evaluator`, not from
  ``bot.lifecycle``, evaluated at :attr:`EcrFake.preview_now` over moto's images when the preview
  starts; :attr:`EcrFake.preview_overrides` scripts a disagreement:
  ``fake.preview_overrides[("app", digest)] = None`` (AWS keeps it) or ``("EXPIRE", 1)``.

::

    async with EcrFake(moto_endpoint) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", fake.url)
        ...                                    # the code under test calls ECR through the fake
        fake.finish_restore("app", digest)     # ECR finished restoring the image
        assert fake.operations["UpdateImageStorageClass"] == 1
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from moto.ecr.models import ecr_backends

from bot.lifecycle.decisions import Outcome
from bot.lifecycle.images import Image, ImageStatus
from bot.lifecycle.parse import parse_policy
from bot.lifecycle.policy import LifecyclePolicy
from bot.lifecycle.problems import InputError
from tests.support.aws_json_fake import ForwardingServer, json_answer, json_error
from tests.support.moto_state import ACCOUNT, REGION
from tests.support.reference_evaluator import reference

TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
LAYER_MEDIA_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
PREVIEW_PAGE_LIMIT = 100
PreviewOverride = tuple[str, int] | None


@dataclass
class PreviewRun:
    """One lifecycle policy preview of a repository: its policy, progress and results."""

    policy_text: str
    polls_left: int
    final_status: str
    results: list[dict[str, Any]]

    def poll(self) -> str:
        """The status a ``Get`` call sees now; each call while running brings completion nearer."""
        if self.polls_left > 0:
            self.polls_left -= 1
            return "IN_PROGRESS"
        return self.final_status

    @property
    def running(self) -> bool:
        """True while ``Get`` calls still answer IN_PROGRESS."""
        return self.polls_left > 0


class EcrError(Exception):
    """An ECR error answer: HTTP 400 with ``__type`` and ``message``."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


@dataclass
class EcrFake(ForwardingServer):
    """The fake server; use as an async context manager, then read :attr:`url`."""

    account: str = ACCOUNT
    region: str = REGION
    gone_layers: set[str] = field(default_factory=set)
    last_evaluated: dict[str, float | None] = field(default_factory=dict)
    operations: Counter[str] = field(default_factory=Counter)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    preview_polls: int = 1
    preview_final_status: str = "COMPLETE"
    preview_now: float | None = None
    preview_overrides: dict[tuple[str, str], PreviewOverride] = field(default_factory=dict)
    previews: dict[tuple[str, str], PreviewRun] = field(default_factory=dict)
    # Called after ECR answered an operation successfully, e.g. to kill Redis mid-command.
    after: dict[str, Callable[[], None]] = field(default_factory=dict)
    # Answer the next N calls of an operation with ThrottlingException, as ECR rate-limits.
    throttle: Counter[str] = field(default_factory=Counter)
    # Seconds to wait before answering an operation (a slow ECR).
    delay: dict[str, float] = field(default_factory=dict)

    async def __aenter__(self) -> EcrFake:
        await self.start_serving(self._handle)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop_serving()

    # -- what tests do ----------------------------------------------------------------------------

    def forget_layers(self, *digests: str) -> None:
        """ECR cleaned these (unassociated) layers up: they are missing from now on."""
        self.gone_layers.update(digests)

    def finish_restore(self, repository: str, digest: str, at: datetime | None = None) -> None:
        """ECR finished restoring an ACTIVATING image: it is ACTIVE, activated ``at`` (now)."""
        image = self._image(repository, {"imageDigest": digest})
        if getattr(image, "image_status", "ACTIVE") != "ACTIVATING":
            raise AssertionError(f"{repository}@{digest} is not being restored")
        image.image_status = "ACTIVE"
        image.last_activated_at = at or datetime.now(UTC)

    def evaluated(self, repository: str, at: float | None) -> None:
        """ECR (last) ran the repository's lifecycle policy at ``at`` (epoch seconds).

        None: ECR has not evaluated it yet, and ``lastEvaluatedAt`` is left out, as AWS does.
        """
        self.last_evaluated[repository] = at

    def calls(self, operation: str) -> list[dict[str, Any]]:
        """The parameters of every request of ``operation`` that reached the fake."""
        return [params for name, params in self.requests if name == operation]

    # -- the server -------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        operation = request.headers.get("X-Amz-Target", "").removeprefix(TARGET_PREFIX)
        if operation in self.delay:
            await asyncio.sleep(self.delay[operation])
        response = await self._answer(request)
        hook = self.after.get(operation)
        if hook is not None and response.status == 200:
            hook()
        return response

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        target = request.headers.get("X-Amz-Target", "")
        operation = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else ""
        body = await request.read()
        try:
            params: dict[str, Any] = json.loads(body) if body else {}
        except ValueError:
            params = {}
        self.operations[operation or request.path] += 1
        self.requests.append((operation or request.path, params))
        if self.throttle[operation] > 0:
            self.throttle[operation] -= 1
            return _error("ThrottlingException", "Rate exceeded")
        answered = {
            "UpdateImageStorageClass": self._update_image_storage_class,
            "StartLifecyclePolicyPreview": self._start_lifecycle_policy_preview,
            "GetLifecyclePolicyPreview": self._get_lifecycle_policy_preview,
        }
        try:
            if operation in answered:
                return _json(answered[operation](params))
            if operation == "PutImage":
                return await self._put_image(request, body, params)
            if operation == "BatchCheckLayerAvailability":
                return await self._batch_check_layer_availability(request, body, params)
            if operation == "GetLifecyclePolicy":
                return await self._get_lifecycle_policy(request, body, params)
        except EcrError as exc:
            return _error(exc.error_type, exc.message)
        status, payload, headers = await self.forward_raw(request, body)
        return web.Response(status=status, body=payload, headers=headers)

    def _repository(self, params: dict[str, Any]) -> Any:
        name = str(params.get("repositoryName") or "")
        registry = str(params.get("registryId") or self.account)
        repositories = ecr_backends[registry][self.region].repositories
        if name not in repositories:
            raise EcrError(
                "RepositoryNotFoundException",
                f"The repository with name '{name}' does not exist in the registry with id "
                f"'{registry}'",
            )
        return repositories[name]

    def _image(self, repository: str, image_id: dict[str, Any], registry: str = "") -> Any:
        repo = self._repository({"repositoryName": repository, "registryId": registry})
        digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
        for image in repo.images:
            if digest is not None and image.image_digest != digest:
                continue
            if tag is not None and tag not in image.image_tags:
                continue
            return image
        raise EcrError(
            "ImageNotFoundException",
            f"The image with imageId {{imageDigest:'{digest}', imageTag:'{tag}'}} does not exist "
            f"within the repository with name '{repository}' in the registry with id "
            f"'{registry or self.account}'",
        )

    def _update_image_storage_class(self, params: dict[str, Any]) -> dict[str, Any]:
        image_id = params.get("imageId")
        target = params.get("targetStorageClass")
        if not isinstance(image_id, dict) or not (
            image_id.get("imageDigest") or image_id.get("imageTag")
        ):
            raise EcrError("InvalidParameterException", "imageId needs imageDigest or imageTag")
        if target not in {"STANDARD", "ARCHIVE"}:
            raise EcrError(
                "ValidationException",
                f"1 validation error detected: Value '{target}' at 'targetStorageClass' failed "
                "to satisfy constraint: Member must satisfy enum value set: [STANDARD, ARCHIVE]",
            )
        repo = self._repository(params)
        image = self._image(repo.name, image_id, str(params.get("registryId") or ""))
        status = getattr(image, "image_status", "ACTIVE")
        if target == "STANDARD" and status == "ARCHIVED":
            image.image_status = "ACTIVATING"
        elif target == "ARCHIVE" and status == "ACTIVE":
            image.image_status = "ARCHIVED"
            image.last_archived_at = datetime.now(UTC)
        elif not (target == "STANDARD" and status == "ACTIVATING"):
            raise EcrError(
                "ImageStorageClassUpdateNotSupportedException",
                "The requested image storage class update is not supported.",
            )
        answered_id = {"imageDigest": image.image_digest}
        if image_id.get("imageTag"):
            answered_id["imageTag"] = image_id["imageTag"]
        return {
            "registryId": repo.registry_id,
            "repositoryName": repo.name,
            "imageId": answered_id,
            "imageStatus": image.image_status,
        }

    async def _put_image(
        self, request: web.Request, body: bytes, params: dict[str, Any]
    ) -> web.Response:
        manifest_text = str(params.get("imageManifest") or "")
        try:
            manifest = json.loads(manifest_text)
        except ValueError:
            manifest = {}
        blobs = [layer.get("digest") for layer in manifest.get("layers", []) or []]
        if isinstance(manifest.get("config"), dict):
            blobs.append(manifest["config"].get("digest"))
        gone = [blob for blob in blobs if blob in self.gone_layers]
        if gone:
            raise EcrError(
                "LayersNotFoundException",
                f"Layers with digests '{gone}' required for pushing image into repository with "
                f"name '{params.get('repositoryName')}' in the registry with id "
                f"'{params.get('registryId') or self.account}' do not exist",
            )
        tag = params.get("imageTag")
        repo = self._repository(params)
        owner = next((i for i in repo.images if tag is not None and tag in i.image_tags), None)
        status, payload, headers = await self.forward_raw(request, body)
        error = json.loads(payload or b"{}").get("__type", "") if status == 400 else ""
        if (
            error.endswith("ImageAlreadyExistsException")
            and owner is not None
            and owner.image_manifest != manifest_text
        ):
            raise EcrError(
                "ImageTagAlreadyExistsException",
                f"The image tag '{tag}' already exists in the '{repo.name}' repository and "
                "cannot be overwritten because the repository is immutable.",
            )
        if status == 200 and owner is not None and owner not in repo.images:
            # moto deletes an image whose last tag moved away; ECR keeps it, untagged.
            owner.image_tags = []
            owner.image_tag = None
            repo.images.append(owner)
        return web.Response(status=status, body=payload, headers=headers)

    async def _batch_check_layer_availability(
        self, request: web.Request, body: bytes, params: dict[str, Any]
    ) -> web.Response:
        status, payload, headers = await self.forward_raw(request, body)
        if status != 200:
            return web.Response(status=status, body=payload, headers=headers)
        answer = json.loads(payload)
        layers = list(answer.get("layers", []))
        failures = []
        for failure in answer.get("failures", []):
            digest = failure.get("layerDigest", "")
            usable = failure.get("failureCode") == "MissingLayerDigest" and _DIGEST.fullmatch(
                digest
            )
            if usable and digest not in self.gone_layers:
                layers.append(
                    {
                        "layerDigest": digest,
                        "layerAvailability": "AVAILABLE",
                        "layerSize": 1024,
                        "mediaType": LAYER_MEDIA_TYPE,
                    }
                )
            else:
                failures.append(failure)
        gone = {layer["layerDigest"] for layer in layers} & self.gone_layers
        for digest in sorted(gone):
            failures.append(
                {
                    "layerDigest": digest,
                    "failureCode": "MissingLayerDigest",
                    "failureReason": f"Layer digest '{digest}' could not be found",
                }
            )
        layers = [layer for layer in layers if layer["layerDigest"] not in gone]
        return _json({"layers": layers, "failures": failures})

    async def _get_lifecycle_policy(
        self, request: web.Request, body: bytes, params: dict[str, Any]
    ) -> web.Response:
        status, payload, headers = await self.forward_raw(request, body)
        if status != 200:
            return web.Response(status=status, body=payload, headers=headers)
        answer = json.loads(payload)
        name = str(params.get("repositoryName"))
        if name not in self.last_evaluated:
            reported = answer.get("lastEvaluatedAt")
            if isinstance(reported, str):
                parsed = datetime.fromisoformat(reported.replace("Z", "+00:00"))
                self.last_evaluated[name] = parsed.replace(tzinfo=parsed.tzinfo or UTC).timestamp()
            elif isinstance(reported, int | float):
                self.last_evaluated[name] = float(reported)
        evaluated = self.last_evaluated.get(name)
        if evaluated is None:
            answer.pop("lastEvaluatedAt", None)
        else:
            answer["lastEvaluatedAt"] = evaluated
        return _json(answer)

    # -- lifecycle policy previews ----------------------------------------------------------------

    def _start_lifecycle_policy_preview(self, params: dict[str, Any]) -> dict[str, Any]:
        repo = self._repository(params)
        key = (repo.registry_id, repo.name)
        if key in self.previews and self.previews[key].running:
            raise EcrError(
                "LifecyclePolicyPreviewInProgressException",
                "The previous lifecycle policy preview request has not completed. Wait and "
                "try again.",
            )
        text = params.get("lifecyclePolicyText") or repo.lifecycle_policy
        if not text:
            raise EcrError(
                "LifecyclePolicyNotFoundException",
                f"Lifecycle policy does not exist for the repository with name '{repo.name}' "
                f"in the registry with id '{repo.registry_id}'",
            )
        results = self._preview_results(repo, _policy(str(text)))
        self.previews[key] = PreviewRun(
            str(text), self.preview_polls, self.preview_final_status, results
        )
        return {**self._preview_ids(repo, str(text)), "status": "IN_PROGRESS"}

    def _get_lifecycle_policy_preview(self, params: dict[str, Any]) -> dict[str, Any]:
        repo = self._repository(params)
        run = self.previews.get((repo.registry_id, repo.name))
        if run is None:
            raise EcrError(
                "LifecyclePolicyPreviewNotFoundException",
                f"There is no dry run for the repository with name '{repo.name}' in the "
                f"registry with id '{repo.registry_id}'",
            )
        limit = _max_results(params.get("maxResults", PREVIEW_PAGE_LIMIT))
        answer: dict[str, Any] = {**self._preview_ids(repo, run.policy_text)}
        answer["status"] = status = run.poll()
        if status != "COMPLETE":
            return {**answer, "previewResults": []}
        chosen = _selected(run.results, params)
        query = json.dumps([repo.name, params.get("filter"), params.get("imageIds")])
        start = _offset(params.get("nextToken"), query)
        answer["previewResults"] = chosen[start : start + limit]
        if start + limit < len(chosen):
            answer["nextToken"] = _token(start + limit, query)
        answer["summary"] = _summary(run.results)
        return answer

    def _preview_ids(self, repo: Any, text: str) -> dict[str, Any]:
        return {
            "registryId": repo.registry_id,
            "repositoryName": repo.name,
            "lifecyclePolicyText": text,
        }

    def _preview_results(self, repo: Any, policy: LifecyclePolicy) -> list[dict[str, Any]]:
        """What the reference evaluator removes now, as ``previewResults`` entries."""
        images = {image.digest: image for image in map(_as_image, repo.images)}
        now = self.preview_now if self.preview_now is not None else time.time()
        actions = {rule.rule_priority: rule.action.type.upper() for rule in policy.rules}
        planned: dict[str, tuple[str, int]] = {}
        for digest, decided in reference(policy, list(images.values()), now).items():
            if decided.outcome is not Outcome.KEEP and decided.priority is not None:
                planned[digest] = (actions[decided.priority], decided.priority)
        for (repository, digest), override in self.preview_overrides.items():
            if repository != repo.name or digest not in images:
                continue
            if override is None:
                planned.pop(digest, None)
            else:
                planned[digest] = override
        entries = [_preview_entry(images[d], *planned[d]) for d in planned]
        return sorted(entries, key=lambda e: (e["appliedRulePriority"], e["imagePushedAt"]))


def _policy(text: str) -> LifecyclePolicy:
    try:
        return parse_policy(text)
    except InputError as exc:
        raise EcrError(
            "InvalidParameterException",
            "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
            f"'Lifecycle policy validation failure: {exc.problems[0]}'",
        ) from None


def _instant(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return float(value)


def _as_image(image: Any) -> Image:
    """moto's image object as the evaluators see it (times, status, index children)."""
    try:
        manifest = json.loads(image.image_manifest)
    except ValueError:
        manifest = {}
    listed = manifest.get("manifests") if isinstance(manifest, dict) else None
    children = tuple(m["digest"] for m in listed or [] if isinstance(m, dict) and "digest" in m)
    return Image(
        digest=image.image_digest,
        tags=tuple(image.image_tags),
        pushed_at=_instant(image.image_pushed_at) or 0.0,
        last_pulled_at=_instant(getattr(image, "last_recorded_pull_time", None)),
        status=ImageStatus(getattr(image, "image_status", "ACTIVE")),
        last_archived_at=_instant(getattr(image, "last_archived_at", None)),
        last_activated_at=_instant(getattr(image, "last_activated_at", None)),
        media_type=image.image_manifest_media_type,
        children=children,
    )


def _preview_entry(image: Image, action: str, priority: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "imageDigest": image.digest,
        "imagePushedAt": image.pushed_at,
        "action": {"type": action},
        "appliedRulePriority": priority,
        "storageClass": "STANDARD" if image.status is ImageStatus.ACTIVE else "ARCHIVE",
    }
    if image.tags:
        entry["imageTags"] = list(image.tags)
    if action == "TRANSITION":
        entry["action"]["targetStorageClass"] = "ARCHIVE"
    return entry


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    expiring = sum(1 for r in results if r["action"]["type"] == "EXPIRE")
    summary: dict[str, Any] = {"expiringImageTotalCount": expiring}
    if len(results) > expiring:
        summary["transitioningImageTotalCounts"] = [
            {"targetStorageClass": "ARCHIVE", "imageTotalCount": len(results) - expiring}
        ]
    return summary


def _selected(results: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    tag_status = (params.get("filter") or {}).get("tagStatus", "ANY")
    if tag_status not in {"TAGGED", "UNTAGGED", "ANY"}:
        raise EcrError(
            "ValidationException",
            f"1 validation error detected: Value '{tag_status}' at 'filter.tagStatus' failed to "
            "satisfy constraint: Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]",
        )
    chosen = [
        r
        for r in results
        if tag_status == "ANY" or (tag_status == "TAGGED") == bool(r.get("imageTags"))
    ]
    wanted = params.get("imageIds")
    if wanted:
        chosen = [r for r in chosen if any(_names(image_id, r) for image_id in wanted)]
    return chosen


def _names(image_id: dict[str, Any], result: dict[str, Any]) -> bool:
    digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
    return (digest is None or digest == result["imageDigest"]) and (
        tag is None or tag in result.get("imageTags", [])
    )


def _max_results(value: Any) -> int:
    if isinstance(value, int) and 1 <= value <= PREVIEW_PAGE_LIMIT:
        return value
    bound = (
        "greater than or equal to 1"
        if isinstance(value, int) and value < 1
        else f"less than or equal to {PREVIEW_PAGE_LIMIT}"
    )
    raise EcrError(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy "
        f"constraint: Member must have value {bound}",
    )


def _token(offset: int, query: str) -> str:
    check = hashlib.sha256(query.encode()).hexdigest()[:16]
    return base64.urlsafe_b64encode(f"{offset}:{check}".encode()).decode()


def _offset(token: Any, query: str) -> int:
    if token is None:
        return 0
    try:
        offset, check = base64.urlsafe_b64decode(str(token).encode()).decode().split(":")
        position = int(offset)
    except ValueError:
        position, check = -1, ""
    if position < 0 or check != hashlib.sha256(query.encode()).hexdigest()[:16]:
        raise EcrError(
            "InvalidParameterException",
            "Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid token'",
        )
    return position


def _json(payload: dict[str, Any]) -> web.Response:
    return json_answer(payload, request_id="ecr-fake")


def _error(error_type: str, message: str) -> web.Response:
    return json_error(error_type, message, request_id="ecr-fake")
