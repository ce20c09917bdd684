"""The ECR adapter: repositories, images, lifecycle policies and manifests of one registry.

Every read uses the fewest calls ECR allows: ``DescribeRepositories`` and ``DescribeImages`` page
by 1,000, ``BatchGetImage`` fetches 100 index manifests at a time, nothing is called per image.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.edge.aws.clients import AwsClients, AwsTarget
from bot.errors import LayersMissing, NotFound, TagImmutable, UpstreamError
from bot.lifecycle.images import INDEX_MEDIA_TYPES, Image
from bot.lifecycle.inputs import image_from_detail
from bot.lifecycle.problems import InputError
from bot.lifecycle.timefmt import parse_instant
from bot.ports import Manifest, PolicyInfo, Repository
from bot.refs import RepositoryKey

PAGE_SIZE = 1000
BATCH_GET_LIMIT = 100
ACCEPTED_MANIFEST_TYPES = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.v1+json",
]


class EcrRegistry:
    """Reads (and, for the bot, writes) one registry: an account in a region.

    Example::

        async with AwsClients(settings.aws) as aws:
            registry = EcrRegistry(aws, target)
            for repository in await registry.repositories():
                text = await registry.lifecycle_policy_text(repository)
    """

    def __init__(self, aws: AwsClients, target: AwsTarget) -> None:
        self.aws = aws
        self.target = target

    @property
    def label(self) -> str:
        """How messages name this registry."""
        return self.target.label

    @property
    def region(self) -> str:
        """The region of this registry."""
        return self.target.region

    async def repositories(self) -> list[Repository]:
        """Every repository of the registry."""
        found: list[Repository] = []
        async for page in self.aws.paginate(
            self.target, "ecr", "describe_repositories", PaginationConfig={"PageSize": PAGE_SIZE}
        ):
            found.extend(self._repository(item) for item in page.get("repositories", []))
        return found

    async def repository(self, name: str, registry_id: str | None = None) -> Repository | None:
        """One repository by name (in another account's registry too), or None when missing."""
        params: dict[str, Any] = {"repositoryNames": [name]}
        if registry_id:
            params["registryId"] = registry_id
        try:
            page = await self.aws.call(self.target, "ecr", "describe_repositories", **params)
        except NotFound:
            return None
        items = page.get("repositories", [])
        return self._repository(items[0]) if items else None

    async def registry_id(self) -> str:
        """The account id of this registry."""
        response = await self.aws.call(self.target, "ecr", "describe_registry")
        return str(response["registryId"])

    def _repository(self, item: dict[str, Any]) -> Repository:
        exclusions = tuple(
            f.get("filter", "") for f in item.get("imageTagMutabilityExclusionFilters", [])
        )
        return Repository(
            key=RepositoryKey(item["registryId"], self.target.region, item["repositoryName"]),
            arn=item.get("repositoryArn", ""),
            uri=item.get("repositoryUri", ""),
            tag_mutability=item.get("imageTagMutability", "MUTABLE"),
            mutability_exclusions=exclusions,
        )

    async def lifecycle_policy_text(self, repository: Repository) -> str | None:
        """The repository's lifecycle policy JSON, or None when it has none."""
        info = await self.lifecycle_policy(repository)
        return info.text if info else None

    async def lifecycle_policy(self, repository: Repository) -> PolicyInfo | None:
        """The lifecycle policy and when ECR last evaluated it, or None when there is none."""
        try:
            response = await self.aws.call(
                self.target, "ecr", "get_lifecycle_policy", **self._ids(repository)
            )
        except NotFound as exc:
            if exc.code == "LifecyclePolicyNotFoundException":
                return None
            raise
        text = response.get("lifecyclePolicyText")
        if not isinstance(text, str):
            return None
        evaluated = response.get("lastEvaluatedAt")
        when = parse_instant(evaluated) if evaluated else None
        return PolicyInfo(text, when if when else None)

    async def put_lifecycle_policy(self, repository: Repository, text: str) -> None:
        """Replace the lifecycle policy (validate it with :mod:`bot.lifecycle` first)."""
        await self.aws.call(
            self.target,
            "ecr",
            "put_lifecycle_policy",
            lifecyclePolicyText=text,
            **self._ids(repository),
        )

    async def image(self, repository: Repository, digest: str) -> Image | None:
        """One image by digest, archived or not; None when it does not exist."""
        try:
            response = await self.aws.call(
                self.target,
                "ecr",
                "describe_images",
                imageIds=[{"imageDigest": digest}],
                filter={"imageStatus": "ANY"},
                **self._ids(repository),
            )
        except NotFound:
            return None
        details = response.get("imageDetails", [])
        return self._image(details[0], repository) if details else None

    async def put_tag(self, repository: Repository, manifest: Manifest, tag: str) -> bool:
        """Point ``tag`` at the manifest's image with ``PutImage`` (bytes unchanged).

        Returns False when the tag was already on that image. Raises :class:`TagImmutable` when
        the repository refuses to move an existing tag, :class:`LayersMissing` when the image
        content is gone.
        """
        return await self.put_manifest(repository, manifest, tag)

    async def put_manifest(
        self, repository: Repository, manifest: Manifest, tag: str | None = None
    ) -> bool:
        """``PutImage`` the exact manifest bytes, with a tag or untagged; see :meth:`put_tag`."""
        params: dict[str, Any] = {
            "imageManifest": manifest.text,
            "imageDigest": manifest.digest,
            **self._ids(repository),
        }
        if tag is not None:
            params["imageTag"] = tag
        if manifest.media_type:
            params["imageManifestMediaType"] = manifest.media_type
        try:
            await self.aws.call(self.target, "ecr", "put_image", **params)
        except UpstreamError as exc:
            return self._put_failure(exc, repository, tag or "(untagged)")
        return True

    def _put_failure(self, exc: UpstreamError, repository: Repository, tag: str) -> bool:
        if exc.code == "ImageAlreadyExistsException":
            return False
        if exc.code == "ImageTagAlreadyExistsException":
            raise TagImmutable(
                "ecr",
                "PutImage",
                exc.code,
                f"tag {tag} already exists in {repository.key.name}, whose tags are immutable",
                region=self.target.region,
            ) from exc
        if exc.code in {"LayersNotFoundException", "ReferencedImagesNotFoundException"}:
            raise LayersMissing(
                "ecr", "PutImage", exc.code, exc.message, region=self.target.region
            ) from exc
        raise exc

    async def remove_tag(self, repository: Repository, tag: str) -> None:
        """Remove one tag (the image stays while it has other tags or is referenced)."""
        response = await self.aws.call(
            self.target,
            "ecr",
            "batch_delete_image",
            imageIds=[{"imageTag": tag}],
            **self._ids(repository),
        )
        for failure in response.get("failures", []):
            if failure.get("failureCode") != "ImageNotFound":
                raise UpstreamError(
                    "ecr",
                    "BatchDeleteImage",
                    str(failure.get("failureCode")),
                    str(failure.get("failureReason")),
                    region=self.target.region,
                )

    async def restore_from_archive(self, repository: Repository, digest: str) -> str:
        """Start restoring an archived image; returns the new status (ACTIVATING)."""
        response = await self.aws.call(
            self.target,
            "ecr",
            "update_image_storage_class",
            imageId={"imageDigest": digest},
            targetStorageClass="STANDARD",
            **self._ids(repository),
        )
        return str(response.get("imageStatus", "ACTIVATING"))

    async def missing_layers(self, repository: Repository, layers: Sequence[str]) -> list[str]:
        """Which of these layer digests the repository no longer has."""
        missing: list[str] = []
        for start in range(0, len(layers), BATCH_GET_LIMIT):
            response = await self.aws.call(
                self.target,
                "ecr",
                "batch_check_layer_availability",
                layerDigests=list(layers[start : start + BATCH_GET_LIMIT]),
                **self._ids(repository),
            )
            missing += [
                layer["layerDigest"]
                for layer in response.get("layers", [])
                if layer.get("layerAvailability") != "AVAILABLE"
            ]
            missing += [f["layerDigest"] for f in response.get("failures", [])]
        return missing

    async def images(self, repository: Repository) -> list[Image]:
        """Every image, archived ones included (``imageStatus=ANY``), 1,000 per call."""
        images: list[Image] = []
        async for page in self.aws.paginate(
            self.target,
            "ecr",
            "describe_images",
            filter={"imageStatus": "ANY"},
            PaginationConfig={"PageSize": PAGE_SIZE},
            **self._ids(repository),
        ):
            for detail in page.get("imageDetails", []):
                images.append(self._image(detail, repository))
        return images

    def _image(self, detail: dict[str, Any], repository: Repository) -> Image:
        try:
            return image_from_detail(detail)
        except InputError as exc:
            raise UpstreamError(
                "ecr",
                "DescribeImages",
                "UnexpectedResponse",
                f"{repository.key.name}: {exc}",
                region=self.target.region,
            ) from exc

    async def manifests(self, key: RepositoryKey, digests: Sequence[str]) -> list[Manifest]:
        """The stored manifests of these digests (100 per call); missing ones are left out."""
        found: list[Manifest] = []
        for start in range(0, len(digests), BATCH_GET_LIMIT):
            batch = digests[start : start + BATCH_GET_LIMIT]
            response = await self.aws.call(
                self.target,
                "ecr",
                "batch_get_image",
                imageIds=[{"imageDigest": digest} for digest in batch],
                acceptedMediaTypes=ACCEPTED_MANIFEST_TYPES,
                registryId=key.registry,
                repositoryName=key.name,
            )
            for image in response.get("images", []):
                found.append(
                    Manifest(
                        image["imageId"]["imageDigest"],
                        image["imageManifest"],
                        image.get("imageManifestMediaType"),
                    )
                )
        return found

    async def index_children(
        self, repository: Repository, images: Sequence[Image]
    ) -> dict[str, tuple[str, ...]]:
        """For each image index among ``images``, the digests of its platform images."""
        indexes = [
            i.digest for i in images if i.media_type in INDEX_MEDIA_TYPES and i.status == "ACTIVE"
        ]
        children = {}
        for manifest in await self.manifests(repository.key, indexes) if indexes else []:
            kids = manifest_children(manifest.text)
            if kids:
                children[manifest.digest] = kids
        return children

    async def repository_policy_text(self, repository: Repository) -> str | None:
        """The repository policy JSON, or None when the repository has none."""
        try:
            response = await self.aws.call(
                self.target, "ecr", "get_repository_policy", **self._ids(repository)
            )
        except NotFound as exc:
            if exc.code == "RepositoryPolicyNotFoundException":
                return None
            raise
        text = response.get("policyText")
        return text if isinstance(text, str) else None

    @staticmethod
    def _ids(repository: Repository) -> dict[str, str]:
        return {"registryId": repository.key.registry, "repositoryName": repository.key.name}


def manifest_children(text: str) -> tuple[str, ...]:
    """The digests an image index lists; empty for a plain image manifest or unreadable text.

    Example:
        >>> manifest_children('{"manifests": [{"digest": "sha256:' + "a" * 64 + '"}]}')[0][:9]
        'sha256:aa'
    """
    try:
        manifest = json.loads(text)
    except ValueError:
        return ()
    listed = manifest.get("manifests") if isinstance(manifest, dict) else None
    if not isinstance(listed, list):
        return ()
    return tuple(
        item["digest"]
        for item in listed
        if isinstance(item, dict) and isinstance(item.get("digest"), str)
    )
