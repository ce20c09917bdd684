"""AWS's own lifecycle policy preview of a repository: ``StartLifecyclePolicyPreview``, then
``GetLifecyclePolicyPreview`` until it is done, then every page of results.

ECR runs one preview per repository at a time. When one is already running
(``LifecyclePolicyPreviewInProgressException``), :class:`LifecyclePreviews` waits for it instead
of starting another; if it turns out to have previewed a different policy, it then starts its own.
Compare the results with the local evaluation with :func:`bot.lifecycle.compare.compare`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, Literal

from bot.edge.aws.clients import AwsClients, AwsTarget
from bot.errors import NotFound, UpstreamError
from bot.lifecycle.compare import LifecyclePreview, PreviewedImage, PreviewSummary
from bot.lifecycle.timefmt import parse_instant
from bot.refs import RepositoryKey

PAGE_SIZE = 100
ALL_IMAGES = {"tagStatus": "ANY"}
_IN_PROGRESS = "LifecyclePolicyPreviewInProgressException"
_NO_POLICY = "LifecyclePolicyNotFoundException"
_ENDED = {
    "FAILED": "ECR could not complete it",
    "EXPIRED": "its results expired before they were read",
}

Start = Literal["started", "joined", "no policy"]


class LifecyclePreviews:
    """Runs AWS's lifecycle policy previews in one registry (an account and region).

    ``poll_interval`` is the wait between two ``GetLifecyclePolicyPreview`` polls and
    ``timeout`` the longest a preview may take, both in seconds.

    Example::

        async with AwsClients(settings.aws) as aws:
            previews = LifecyclePreviews(aws, target, poll_interval=5, timeout=300)
            preview = await previews.preview(repository.key)      # None: no policy
            comparison = compare(preview.results, evaluate(policy, images, preview.started_at),
                                 aws_as_of=preview.started_at)
    """

    def __init__(
        self,
        aws: AwsClients,
        target: AwsTarget,
        *,
        poll_interval: float = 5.0,
        timeout: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.aws = aws
        self.target = target
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.clock = clock

    async def preview(
        self, repository: RepositoryKey, policy_text: str | None = None
    ) -> LifecyclePreview | None:
        """AWS's preview of ``policy_text``, or of the repository's current policy when None.

        Returns None when no policy is given and the repository has none. Raises
        :class:`~bot.errors.NotFound` for a missing repository and
        :class:`~bot.errors.UpstreamError` when the preview fails, expires or times out.
        """
        deadline = time.monotonic() + self.timeout
        while True:
            started_at = self.clock()
            start = await self._start(repository, policy_text)
            if start == "no policy":
                return None
            page = await self._completed(repository, deadline)
            if start == "started" or await self._previewed(repository, page, policy_text):
                return await self._preview(repository, page, started_at)
            # The running preview was of another policy; it is done, so ours can start now.

    async def _start(self, repository: RepositoryKey, policy_text: str | None) -> Start:
        params = _ids(repository)
        if policy_text is not None:
            params["lifecyclePolicyText"] = policy_text
        try:
            await self.aws.call(self.target, "ecr", "start_lifecycle_policy_preview", **params)
        except NotFound as exc:
            if exc.code == _NO_POLICY:
                return "no policy"
            raise
        except UpstreamError as exc:
            if exc.code == _IN_PROGRESS:
                return "joined"
            raise
        return "started"

    async def _completed(self, repository: RepositoryKey, deadline: float) -> dict[str, Any]:
        """Poll until the running preview is COMPLETE; the answer is its first page."""
        while True:
            page: dict[str, Any] = await self.aws.call(
                self.target,
                "ecr",
                "get_lifecycle_policy_preview",
                maxResults=PAGE_SIZE,
                filter=ALL_IMAGES,
                **_ids(repository),
            )
            status = page.get("status")
            if status == "COMPLETE":
                return page
            if status != "IN_PROGRESS":
                raise self._ended(repository, str(status))
            if time.monotonic() + self.poll_interval > deadline:
                raise self._timed_out(repository)
            await asyncio.sleep(self.poll_interval)

    async def _previewed(
        self, repository: RepositoryKey, page: dict[str, Any], policy_text: str | None
    ) -> bool:
        """Whether the preview we waited for used the policy we want previewed."""
        wanted = policy_text
        if wanted is None:
            response = await self._current_policy(repository)
            wanted = response.get("lifecyclePolicyText") if response else None
        return wanted is not None and _same_policy(str(page.get("lifecyclePolicyText")), wanted)

    async def _current_policy(self, repository: RepositoryKey) -> dict[str, Any] | None:
        try:
            response: dict[str, Any] = await self.aws.call(
                self.target, "ecr", "get_lifecycle_policy", **_ids(repository)
            )
        except NotFound as exc:
            if exc.code == _NO_POLICY:
                return None
            raise
        return response

    async def _preview(
        self, repository: RepositoryKey, first: dict[str, Any], started_at: float
    ) -> LifecyclePreview:
        entries = list(first.get("previewResults", []))
        if first.get("nextToken"):
            entries = []  # read every page with the paginator, from the first one
            async for page in self.aws.paginate(
                self.target,
                "ecr",
                "get_lifecycle_policy_preview",
                filter=ALL_IMAGES,
                PaginationConfig={"PageSize": PAGE_SIZE},
                **_ids(repository),
            ):
                entries.extend(page.get("previewResults", []))
        return LifecyclePreview(
            repository=repository,
            policy_text=str(first.get("lifecyclePolicyText", "")),
            results=tuple(self._previewed_image(repository, entry) for entry in entries),
            summary=_summary(first.get("summary")),
            started_at=started_at,
        )

    def _previewed_image(self, repository: RepositoryKey, entry: Any) -> PreviewedImage:
        try:
            action = entry.get("action") or {}
            return PreviewedImage(
                digest=str(entry["imageDigest"]),
                tags=tuple(str(tag) for tag in entry.get("imageTags") or ()),
                pushed_at=parse_instant(entry["imagePushedAt"]),
                action=str(action["type"]),
                rule_priority=int(entry["appliedRulePriority"]),
                storage_class=str(entry.get("storageClass") or "STANDARD"),
                target_storage_class=action.get("targetStorageClass"),
            )
        except KeyError as exc:
            problem = f"has no {exc.args[0]}"
        except (TypeError, ValueError, AttributeError) as exc:
            problem = f"cannot be read ({exc})"
        raise UpstreamError(
            "ecr",
            "GetLifecyclePolicyPreview",
            "UnexpectedResponse",
            f"{repository.name}: a previewResults entry {problem}: {entry!r:.200}",
            region=self.target.region,
        )

    def _ended(self, repository: RepositoryKey, status: str) -> UpstreamError:
        why = _ENDED.get(status, "ECR reported a status the bot does not know")
        return UpstreamError(
            "ecr",
            "GetLifecyclePolicyPreview",
            f"Preview{status.title()}",
            f"the lifecycle policy preview of {repository.name} ended {status}: {why}",
            hint="run the preview again; if it keeps failing, check the policy with "
            "`ecr-lifeguard lint`",
            region=self.target.region,
        )

    def _timed_out(self, repository: RepositoryKey) -> UpstreamError:
        return UpstreamError(
            "ecr",
            "GetLifecyclePolicyPreview",
            "PreviewTimeout",
            f"the lifecycle policy preview of {repository.name} was still IN_PROGRESS after "
            f"{self.timeout:g} s",
            hint="large repositories take longer: raise the preview timeout, or try again later",
            region=self.target.region,
        )


def _ids(repository: RepositoryKey) -> dict[str, Any]:
    return {"registryId": repository.registry, "repositoryName": repository.name}


def _summary(summary: Any) -> PreviewSummary:
    if not isinstance(summary, dict):
        return PreviewSummary(0, 0)
    transitions = summary.get("transitioningImageTotalCounts") or []
    return PreviewSummary(
        expiring=int(summary.get("expiringImageTotalCount") or 0),
        transitioning=sum(int(t.get("imageTotalCount") or 0) for t in transitions),
    )


def _same_policy(one: str, other: str) -> bool:
    """The same policy document, however it is spaced."""
    try:
        return bool(json.loads(one) == json.loads(other))
    except ValueError:
        return one.strip() == other.strip()
