"""Read what the AWS CLI prints: ``describe-images`` and ``batch-get-image`` output.

Accepted layouts for both: one response object, a JSON array of response objects (one per page),
or JSON lines (one response object per line). For ``describe-images`` an array of bare
``ImageDetail`` objects is accepted too. Timestamps may be ISO 8601 strings or epoch seconds.

Problems are reported with the JSON path of the bad value, at most :data:`MAX_PROBLEMS` of them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from bot.lifecycle.images import Image, ImageStatus
from bot.lifecycle.problems import InputError, Problem, join_path
from bot.lifecycle.strictjson import loads_strict
from bot.lifecycle.timefmt import parse_instant

MAX_PROBLEMS = 20
MAX_TAG_LENGTH = 300
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_NOT_IN_TAGS = re.compile(r"[\s\x00-\x1f]")
_STATUSES = {status.value: status for status in ImageStatus}


def is_digest(value: object) -> bool:
    """True for an ECR image digest: ``sha256:`` and 64 lowercase hex digits.

    Example:
        >>> is_digest("sha256:" + "0" * 64), is_digest("sha256:abc")
        (True, False)
    """
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def tag_problem(tag: object) -> str | None:
    """Why ``tag`` cannot be an image tag, or None when it can.

    Example:
        >>> tag_problem("v1.2.3") is None, tag_problem("has space")
        (True, 'tag "has space" contains whitespace or control characters')
    """
    if not isinstance(tag, str):
        return f"a tag must be a string, not {type(tag).__name__}"
    if not tag or len(tag) > MAX_TAG_LENGTH:
        return f"a tag must have 1 to {MAX_TAG_LENGTH} characters"
    if _NOT_IN_TAGS.search(tag):
        return f'tag "{tag}" contains whitespace or control characters'
    return None


def documents(text: str) -> list[tuple[str, Any]]:
    """Split AWS CLI output into (path prefix, decoded JSON) pairs: one document, or JSON lines.

    Example:
        >>> documents('{"a": 1}\\n{"a": 2}\\n')
        [('line 1: ', {'a': 1}), ('line 2: ', {'a': 2})]
    """
    try:
        return [("", loads_strict(text, reject_duplicate_keys=False))]
    except InputError as whole_error:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if len(lines) < 2 or not lines[0][1].lstrip().startswith(("{", "[")):
            raise whole_error from None
    parsed = []
    for number, line in lines:
        try:
            parsed.append((f"line {number}: ", loads_strict(line, reject_duplicate_keys=False)))
        except InputError as exc:
            raise InputError.single(f"line {number}", exc.problems[0].message) from None
    return parsed


def parse_describe_images(text: str) -> list[Image]:
    """Parse ``aws ecr describe-images`` output into images, validating every field used.

    Example:
        >>> images = parse_describe_images('''{"imageDetails": [{"imageDigest": "sha256:''' +
        ...     "a" * 64 + '''", "imageTags": ["v1"], "imagePushedAt": "2024-01-01T00:00:00Z"}]}''')
        >>> images[0].tags, images[0].pushed_at
        (('v1',), 1704067200.0)
    """
    collector = _Collector()
    images = [
        image
        for where, detail in _image_details(text)
        if (image := _image(detail, where, collector)) is not None
    ]
    _check_unique(images, collector)
    collector.raise_if_any()
    return images


Where = tuple[str, int | None]  # (path of the list, index in it): the path is built on error only


def _path(where: Where, key: str | None = None) -> str:
    base, index = where
    path = join_path(base, index) if index is not None else base
    return join_path(path, key) if key else path


def _image_details(text: str) -> Iterator[tuple[Where, Any]]:
    for prefix, document in documents(text):
        root = prefix.removesuffix(": ")
        if isinstance(document, dict):
            yield from _page(document, root)
        elif isinstance(document, list):
            for index, item in enumerate(document):
                if isinstance(item, dict) and "imageDetails" in item:
                    yield from _page(item, join_path(root, index))
                else:
                    yield (root, index), item
        else:
            raise InputError.single(
                root, "expected describe-images output: an object with imageDetails"
            )


def _page(page: dict[str, Any], path: str) -> Iterator[tuple[Where, Any]]:
    base = join_path(path, "imageDetails")
    details = page.get("imageDetails")
    if not isinstance(details, list):
        raise InputError.single(
            base, "missing or not a list; expected `aws ecr describe-images` output"
        )
    for index, detail in enumerate(details):
        yield (base, index), detail


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.dropped = 0

    def add(self, path: str, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(path, message))
        else:
            self.dropped += 1

    @property
    def count(self) -> int:
        return len(self.problems) + self.dropped

    def raise_if_any(self) -> None:
        if self.dropped:
            self.problems.append(Problem("", f"... and {self.dropped} more problems"))
        if self.problems:
            raise InputError(self.problems)


def _image(detail: Any, where: Where, problems: _Collector) -> Image | None:
    """Build an Image from one ImageDetail; on bad input record every problem and return None."""
    try:
        image = _image_fast(detail)
    except (KeyError, TypeError, ValueError, AttributeError):
        image = None
    if image is None:
        _image_problems(detail, where, problems)
    return image


def _image_fast(detail: dict[str, Any]) -> Image | None:
    """The common case, without building error paths: None when anything is off."""
    digest = detail["imageDigest"]
    tags = detail.get("imageTags") or ()
    if not (type(digest) is str and _DIGEST.fullmatch(digest)) or not all(map(_is_tag, tags)):
        return None
    status = _STATUSES[detail.get("imageStatus", "ACTIVE")]
    media_type = detail.get("imageManifestMediaType")
    if media_type is not None and type(media_type) is not str:
        return None
    return Image(
        digest=digest,
        tags=tuple(tags),
        pushed_at=parse_instant(detail["imagePushedAt"]),
        last_pulled_at=_optional_instant(detail.get("lastRecordedPullTime")),
        status=status,
        last_archived_at=_optional_instant(detail.get("lastArchivedAt")),
        last_activated_at=_optional_instant(detail.get("lastActivatedAt")),
        media_type=media_type,
    )


def _is_tag(tag: object) -> bool:
    return type(tag) is str and 0 < len(tag) <= MAX_TAG_LENGTH and _NOT_IN_TAGS.search(tag) is None


def _optional_instant(value: object) -> float | None:
    return None if value is None else parse_instant(value)


def _image_problems(detail: Any, where: Where, problems: _Collector) -> None:
    if not isinstance(detail, dict):
        problems.add(_path(where), "an image detail must be a JSON object")
        return
    before = problems.count
    if not is_digest(detail.get("imageDigest")):
        problems.add(_path(where, "imageDigest"), "must be sha256: followed by 64 hex digits")
    tags = detail.get("imageTags")
    if tags is not None and not isinstance(tags, list):
        problems.add(_path(where, "imageTags"), "must be a list of tags")
    for index, tag in enumerate(tags if isinstance(tags, list) else ()):
        if (problem := tag_problem(tag)) is not None:
            problems.add(join_path(_path(where, "imageTags"), index), problem)
    for key in ("imagePushedAt", "lastRecordedPullTime", "lastArchivedAt", "lastActivatedAt"):
        _check_time(detail.get(key), _path(where, key), problems, key == "imagePushedAt")
    if detail.get("imageStatus", "ACTIVE") not in _STATUSES:
        problems.add(_path(where, "imageStatus"), "must be ACTIVE, ARCHIVED or ACTIVATING")
    media_type = detail.get("imageManifestMediaType")
    if media_type is not None and not isinstance(media_type, str):
        problems.add(_path(where, "imageManifestMediaType"), "must be a string")
    if problems.count == before:
        problems.add(_path(where), "not a valid image detail")


def _check_time(value: Any, path: str, problems: _Collector, required: bool) -> None:
    if value is None:
        if required:
            problems.add(path, "required (the time the image was first pushed)")
        return
    try:
        parse_instant(value)
    except ValueError as exc:
        problems.add(path, str(exc))


def _check_unique(images: list[Image], problems: _Collector) -> None:
    seen_digests: set[str] = set()
    tag_owner: dict[str, str] = {}
    for image in images:
        if image.digest in seen_digests:
            problems.add("", f"image {image.digest} appears twice; pass each page once")
        seen_digests.add(image.digest)
        for tag in image.tags:
            owner = tag_owner.setdefault(tag, image.digest)
            if owner != image.digest:
                problems.add(
                    "",
                    f'tag "{tag}" is on two images ({owner[:19]}…, {image.digest[:19]}…); '
                    "a repository has one image per tag: are these two repositories?",
                )


def parse_batch_get_image(text: str) -> dict[str, tuple[str, ...]]:
    """Read ``aws ecr batch-get-image`` output; map each image index digest to its children.

    Plain image manifests in the output are ignored; only indexes reference other images.

    Example:
        >>> import json
        >>> index = json.dumps({"schemaVersion": 2,
        ...   "mediaType": "application/vnd.oci.image.index.v1+json",
        ...   "manifests": [{"digest": "sha256:" + "b" * 64, "size": 1}]})
        >>> out = json.dumps({"images": [{"imageId": {"imageDigest": "sha256:" + "a" * 64},
        ...                               "imageManifest": index}], "failures": []})
        >>> parse_batch_get_image(out)["sha256:" + "a" * 64] == ("sha256:" + "b" * 64,)
        True
    """
    children: dict[str, tuple[str, ...]] = {}
    for path, page in _response_pages(text):
        if not isinstance(page, dict) or not isinstance(page.get("images"), list):
            raise InputError.single(
                path, "expected `aws ecr batch-get-image` output: an object with an images list"
            )
        for index, entry in enumerate(page["images"]):
            digest, kids = _index_entry(entry, join_path(join_path(path, "images"), index))
            if kids:
                children[digest] = kids
    return children


def _response_pages(text: str) -> Iterator[tuple[str, Any]]:
    for prefix, document in documents(text):
        root = prefix.removesuffix(": ")
        if isinstance(document, list):
            for index, page in enumerate(document):
                yield join_path(root, index), page
        else:
            yield root, document


def _index_entry(entry: Any, path: str) -> tuple[str, tuple[str, ...]]:
    if not isinstance(entry, dict) or not isinstance(entry.get("imageManifest"), str):
        raise InputError.single(path, "each image needs imageManifest as a JSON string")
    manifest_text: str = entry["imageManifest"]
    image_id = entry.get("imageId")
    digest = image_id.get("imageDigest") if isinstance(image_id, dict) else None
    if digest is None:
        digest = "sha256:" + hashlib.sha256(manifest_text.encode()).hexdigest()
    if not is_digest(digest):
        raise InputError.single(join_path(path, "imageId.imageDigest"), "not a sha256 digest")
    try:
        manifest = loads_strict(manifest_text)
    except InputError as exc:
        raise InputError.single(join_path(path, "imageManifest"), exc.problems[0].message) from None
    listed = manifest.get("manifests") if isinstance(manifest, dict) else None
    if listed is None:
        return digest, ()
    if not isinstance(listed, list):
        raise InputError.single(join_path(path, "imageManifest.manifests"), "must be a list")
    kids: list[str] = []
    for index, item in enumerate(listed):
        child = item.get("digest") if isinstance(item, dict) else None
        if not isinstance(child, str) or not is_digest(child):
            raise InputError.single(
                join_path(path, f"imageManifest.manifests[{index}].digest"),
                "must be sha256: followed by 64 hex digits",
            )
        kids.append(child)
    return digest, tuple(kids)


def attach_children(images: list[Image], children: dict[str, tuple[str, ...]]) -> list[Image]:
    """Give each image index the child digests read from ``batch-get-image``.

    Example:
        >>> parent = Image(digest="sha256:" + "a" * 64, tags=("v1",), pushed_at=0.0)
        >>> attach_children([parent], {parent.digest: ("sha256:" + "b" * 64,)})[0].children
        ('sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',)
    """
    if not children:
        return images
    return [
        replace(image, children=children[image.digest]) if image.digest in children else image
        for image in images
    ]


def image_from_detail(detail: Any) -> Image:
    """One ``ImageDetail`` (as botocore returns it, datetimes included) as an :class:`Image`.

    Example:
        >>> from datetime import datetime, timezone
        >>> image_from_detail({"imageDigest": "sha256:" + "a" * 64,
        ...     "imagePushedAt": datetime(2024, 1, 1, tzinfo=timezone.utc)}).pushed_at
        1704067200.0
    """
    collector = _Collector()
    image = _image(detail, ("imageDetail", None), collector)
    collector.raise_if_any()
    assert image is not None
    return image
