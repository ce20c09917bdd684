"""Image references: ``repo:tag``, ``repo@sha256:…`` and full ECR image URIs.

Pure (stdlib only). Every parse failure is an :class:`~bot.lifecycle.problems.InputError` that says
what part of the reference is wrong and what a valid one looks like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.lifecycle.problems import InputError

# ECR repository names: lowercase components separated by . _ - and /, 2 to 256 characters.
_REPOSITORY = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_REGION = re.compile(r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d")
_ECR_HOST = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)"
    r"\.(?:amazonaws\.com(?:\.cn)?|on\.aws|sc2s\.sgov\.gov|c2s\.ic\.gov)"
)
_RUNTIME_PREFIXES = ("docker-pullable://", "docker://", "containerd://")
MAX_REPOSITORY_LENGTH = 256


@dataclass(frozen=True, slots=True)
class RepositoryKey:
    """Identifies one ECR repository: registry (account id), region and name.

    Example:
        >>> str(RepositoryKey("123456789012", "eu-west-1", "team/app"))
        '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app'
    """

    registry: str
    region: str
    name: str

    def __str__(self) -> str:
        return f"{registry_host(self.registry, self.region)}/{self.name}"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A reference to an image; registry and region are None when the reference was short.

    Example:
        >>> ref = parse_image_ref("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1")
        >>> ref.registry, ref.region, ref.repository, ref.tag, ref.digest
        ('123456789012', 'eu-west-1', 'app', 'v1', None)
    """

    repository: str
    tag: str | None = None
    digest: str | None = None
    registry: str | None = None
    region: str | None = None

    def key(self, registry: str, region: str) -> RepositoryKey:
        """The repository this reference names, filling in the defaults it lacks."""
        return RepositoryKey(self.registry or registry, self.region or region, self.repository)

    def __str__(self) -> str:
        host = (
            f"{registry_host(self.registry, self.region)}/" if self.registry and self.region else ""
        )
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{host}{self.repository}{tag}{digest}"


def registry_host(registry: str, region: str) -> str:
    """The host name of a private ECR registry.

    Example:
        >>> registry_host("123456789012", "cn-north-1")
        '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn'
    """
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{registry}.dkr.ecr.{region}.{domain}"


def ecr_image_ref(text: str) -> ImageRef | None:
    """The reference in a container image string when it points into ECR, else None.

    For inventories: images from other registries (Docker Hub, ghcr.io...) and malformed strings
    are not ECR's concern and yield None instead of an error.

    Example:
        >>> ecr_image_ref("nginx:1.27") is None
        True
        >>> uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:" + "b" * 64
        >>> ecr_image_ref(uri).region
        'us-east-1'
    """
    try:
        ref = parse_image_ref(text, require_version=False)
    except InputError:
        return None
    return ref if ref.registry is not None else None


def is_valid_repository_name(name: str) -> bool:
    """Whether ``name`` is a valid ECR repository name.

    Example:
        >>> is_valid_repository_name("team/my-app"), is_valid_repository_name("My_App")
        (True, False)
    """
    return 2 <= len(name) <= MAX_REPOSITORY_LENGTH and _REPOSITORY.fullmatch(name) is not None


def is_valid_tag(tag: str) -> bool:
    """Whether ``tag`` is a valid image tag (Docker rules, at most 128 characters).

    Example:
        >>> is_valid_tag("v1.2.3"), is_valid_tag("-bad"), is_valid_tag("x" * 129)
        (True, False, False)
    """
    return _TAG.fullmatch(tag) is not None


def is_valid_region(region: str) -> bool:
    """Whether ``region`` looks like an AWS region name.

    Example:
        >>> is_valid_region("eu-west-1"), is_valid_region("us-gov-west-1"), is_valid_region("eu")
        (True, True, False)
    """
    return _REGION.fullmatch(region) is not None


def parse_image_ref(text: str, *, require_version: bool = True) -> ImageRef:
    """Parse ``repo:tag``, ``repo@sha256:…``, ``repo:tag@sha256:…`` or a full ECR image URI.

    Container-runtime prefixes (``docker-pullable://``) are stripped. With ``require_version``
    false, a bare repository name is accepted too.

    Example:
        >>> parse_image_ref("docker-pullable://app@sha256:" + "a" * 64).digest[:10]
        'sha256:aaa'
        >>> parse_image_ref("app")
        Traceback (most recent call last):
        ...
        bot.errors.InputError: "app": add a tag or digest, e.g. app:v1.2.3 or app@sha256:<64 hex>
    """
    raw = text.strip()
    for prefix in _RUNTIME_PREFIXES:
        raw = raw.removeprefix(prefix)
    if not raw:
        raise InputError.single("", "the image reference is empty")
    registry = region = None
    host, slash, rest = raw.partition("/")
    if slash and ("." in host or ":" in host or host == "localhost"):
        match = _ECR_HOST.fullmatch(host)
        if match is None:
            raise InputError.single(
                f'"{text}"',
                f'"{host}" is not an ECR registry (expected ACCOUNT.dkr.ecr.REGION.amazonaws.com)',
            )
        registry, region, raw = match["account"], match["region"], rest
        if not is_valid_region(region):
            raise InputError.single(f'"{text}"', f'"{region}" is not an AWS region')
    return _parse_path(raw, text, registry, region, require_version)


def _parse_path(
    raw: str, text: str, registry: str | None, region: str | None, require_version: bool
) -> ImageRef:
    name_and_tag, _, digest = raw.partition("@")
    repository, _, tag = name_and_tag.partition(":")
    where = f'"{text}"'
    if not is_valid_repository_name(repository):
        raise InputError.single(
            where,
            f'"{repository}" is not a valid repository name (lowercase letters, digits, . _ - '
            "and / between parts, 2 to 256 characters)",
        )
    if ":" in name_and_tag and not is_valid_tag(tag):
        raise InputError.single(
            where,
            f'"{tag}" is not a valid tag (letters, digits, _ . -, not starting with . or -, '
            "at most 128 characters)",
        )
    if "@" in raw and _DIGEST.fullmatch(digest) is None:
        raise InputError.single(
            where, "the digest must be sha256: followed by 64 lowercase hex digits"
        )
    if require_version and not tag and not digest:
        raise InputError.single(
            where, f"add a tag or digest, e.g. {repository}:v1.2.3 or {repository}@sha256:<64 hex>"
        )
    return ImageRef(repository, tag or None, digest or None, registry, region)
