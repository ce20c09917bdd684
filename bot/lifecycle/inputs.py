"""Read what the AWS CLI prints: ``describe-images`` and ``batch-get-image`` output.

Accepted layouts for both: one response object, a JSON array of response objects (one per page),
or JSON lines (one response object per line). For ``describe-images`` an array of bare
``ImageDetail`` objects is accepted too. Timestamps may be ISO 8601 strings or epoch seconds.

Problems are reported with the JSON path of the bad value, at most :data:`MAX_PROBLEMS` of them.
Values ECR could not have produced but that can still be evaluated (a tag with a space, as in the
AWS guide's own worked example; a digest that is not ``sha256:``) are evaluated as given and
reported as warnings, with their paths.

Large outputs are read in one pass: pydantic-core decodes the JSON, one loop builds the images,
and the checks that span the repository (unique digests and tags, tag characters) run over joined
lists. The field-by-field checks run only when those find something, to say what and where.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import chain
from operator import attrgetter
from typing import Any

from pydantic_core import from_json

from bot.lifecycle.images import Image, ImageStatus, gc_paused, make_image
from bot.lifecycle.problems import InputError, Problem, join_path
from bot.lifecycle.strictjson import loads_strict
from bot.lifecycle.timefmt import parse_instant

MAX_PROBLEMS = 20
MAX_TAG_LENGTH = 300
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_NOT_IN_TAGS = re.compile(r"[\s\x00-\x1f]")
_STATUSES = {status.value: status for status in ImageStatus}
# The ImageDetail fields that evaluation reads; a decoder may skip every other one.
IMAGE_DETAIL_FIELDS = (
    "imageDigest",
    "imageTags",
    "imagePushedAt",
    "imageStatus",
    "imageManifestMediaType",
    "lastRecordedPullTime",
    "lastArchivedAt",
    "lastActivatedAt",
)
_NOT_AN_IMAGE = (KeyError, TypeError, ValueError, AttributeError)
_digest_of = attrgetter("digest")
_tags_of = attrgetter("tags")
_from_iso = datetime.fromisoformat


def is_digest(value: object) -> bool:
    """True for an ECR image digest: ``sha256:`` and 64 lowercase hex digits.

    Example:
        >>> is_digest("sha256:" + "0" * 64), is_digest("sha256:abc")
        (True, False)
    """
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def tag_problem(tag: object) -> str | None:
    """Why ``tag`` cannot be evaluated as an image tag, or None when it can.

    Example:
        >>> tag_problem("v1.2.3") is None, tag_problem("git hash") is None, tag_problem(7)
        (True, True, 'a tag must be a string, not int')
    """
    if not isinstance(tag, str):
        return f"a tag must be a string, not {type(tag).__name__}"
    if not _encodable(tag):
        return f"tag {_quoted(tag)} is not valid Unicode (it holds a lone surrogate escape)"
    return None


def tag_oddity(tag: str) -> str | None:
    """Why ECR could not have produced the tag ``tag`` (it can still be evaluated), or None.

    Example:
        >>> tag_oddity("v1.2.3") is None, tag_oddity("git hash")
        (True, 'tag "git hash" contains whitespace or control characters, which ECR tags cannot')
    """
    if not tag or len(tag) > MAX_TAG_LENGTH:
        return f"ECR tags have 1 to {MAX_TAG_LENGTH} characters; this one has {len(tag)}"
    if _NOT_IN_TAGS.search(tag):
        return (
            f"tag {_quoted(tag)} contains whitespace or control characters, which ECR tags cannot"
        )
    return None


def _quoted(text: str) -> str:
    """Text in double quotes, control characters escaped, so that a message stays on one line."""
    escaped = text.encode("unicode_escape", errors="backslashreplace").decode("ascii")
    return '"' + escaped.replace('"', '\\"') + '"'


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode_json(text: str | bytes) -> Any:
    """Decode one JSON document: fast (pydantic-core), with the strict decoder's message on error.

    Refuses what :func:`~bot.lifecycle.strictjson.loads_strict` refuses (NaN, trailing data...);
    duplicate keys keep the last value, as the AWS CLI's own JSON reader does.

    Example:
        >>> decode_json(b'{"imageDetails": []}')
        {'imageDetails': []}
        >>> decode_json('{"a": NaN}')
        Traceback (most recent call last):
        ...
        bot.errors.InputError: NaN is not valid JSON
    """
    try:
        return from_json(text, allow_inf_nan=False)
    except ValueError:
        pass
    # Rare: say exactly what is wrong (the standard library names the problem, line and column),
    # or accept what only the fast decoder refuses (nesting beyond its limit, lone surrogates).
    return loads_strict(_as_text(text), reject_duplicate_keys=False)


def _as_text(text: str | bytes) -> str:
    if isinstance(text, str):
        return text
    try:
        return text.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError.single(
            "", f"not UTF-8 text (byte {exc.start} cannot be decoded); is it binary?"
        ) from None


def documents(text: str | bytes) -> list[tuple[str, Any]]:
    """Split AWS CLI output into (path prefix, decoded JSON) pairs: one document, or JSON lines.

    Example:
        >>> documents('{"a": 1}\\n{"a": 2}\\n')
        [('line 1: ', {'a': 1}), ('line 2: ', {'a': 2})]
    """
    try:
        return [("", decode_json(text))]
    except InputError as whole_error:
        lines = [(n, line) for n, line in enumerate(_as_text(text).splitlines(), 1) if line.strip()]
        if len(lines) < 2 or not lines[0][1].lstrip().startswith(("{", "[")):
            raise whole_error from None
    parsed = []
    for number, line in lines:
        try:
            parsed.append((f"line {number}: ", decode_json(line)))
        except InputError as exc:
            raise InputError.single(f"line {number}", exc.problems[0].message) from None
    return parsed


@dataclass(frozen=True, slots=True)
class DescribeImages:
    """``describe-images`` output as read: the images, and what ECR could not have produced.

    ``warnings`` name values that are evaluated as given although ECR would not produce them
    (a tag with a space, a digest that is not ``sha256:``), each with its JSON path.

    Example:
        >>> read = read_describe_images('{"imageDetails": [{"imageDigest": "sha256:' + "a" * 64
        ...     + '", "imageTags": ["git hash"], "imagePushedAt": 0}]}')
        >>> read.images[0].tags
        ('git hash',)
        >>> print(read.warnings[0])
        imageDetails[0].imageTags[0]: tag "git hash" contains whitespace or control characters, which ECR tags cannot
    """  # noqa: E501

    images: list[Image]
    warnings: tuple[Problem, ...] = ()


def parse_describe_images(text: str | bytes) -> list[Image]:
    """Parse ``aws ecr describe-images`` output into images, validating every field used.

    Values ECR could not have produced but that can be evaluated are accepted; use
    :func:`read_describe_images` to hear about them.

    Example:
        >>> images = parse_describe_images('{"imageDetails": [{"imageDigest": "sha256:' +
        ...     "a" * 64 + '", "imageTags": ["v1"], "imagePushedAt": "2024-01-01T00:00:00Z"}]}')
        >>> images[0].tags, images[0].pushed_at
        (('v1',), 1704067200.0)
    """
    return read_describe_images(text).images


def read_describe_images(text: str | bytes) -> DescribeImages:
    """Read ``aws ecr describe-images`` output: the images, and warnings about odd values.

    Raises :class:`InputError` naming every value that cannot be evaluated (up to
    :data:`MAX_PROBLEMS` of them).

    Example:
        >>> read_describe_images('{"imageDetails": [{"imageDigest": "sha256:1"}]}')
        Traceback (most recent call last):
        ...
        bot.errors.InputError: imageDetails[0].imagePushedAt: required (the time the image was first pushed)
    """  # noqa: E501
    return images_from_documents(documents(text))


def images_from_documents(decoded: list[tuple[str, Any]]) -> DescribeImages:
    """Read decoded ``describe-images`` output: (path prefix, document) pairs, as from
    :func:`documents`.

    For callers that decode the JSON themselves (the CLI decodes only the fields used).

    Example:
        >>> page = {"imageDetails": [{"imageDigest": "sha256:" + "a" * 64, "imagePushedAt": 0}]}
        >>> images_from_documents([("", page)]).images[0].pushed_at
        0.0
    """
    with gc_paused():
        batches = list(_batches(decoded))
        images: list[Image] = []
        append, build = images.append, _image_fast
        for _, _, details in batches:
            for detail in details:
                try:
                    append(build(detail))
                except _NOT_AN_IMAGE:
                    return _read_carefully(batches)
        if _worth_a_closer_look(images):
            return _read_carefully(batches)
        return DescribeImages(images)


Batch = tuple[str, int, list[Any]]  # the path of a list of image details, its first index, items
Where = tuple[str, int | None]  # (path of the list, index in it): the path is built on error only


def _path(where: Where, key: str | None = None) -> str:
    base, index = where
    path = join_path(base, index) if index is not None else base
    return join_path(path, key) if key else path


def _batches(decoded: list[tuple[str, Any]]) -> Iterator[Batch]:
    for prefix, document in decoded:
        root = prefix.removesuffix(": ")
        if isinstance(document, dict):
            yield _page(document, root)
        elif isinstance(document, list):
            yield from _list_batches(document, root)
        else:
            raise InputError.single(
                root, "expected describe-images output: an object with imageDetails"
            )


def _is_page(item: Any) -> bool:
    return isinstance(item, dict) and "imageDetails" in item


def _list_batches(items: list[Any], root: str) -> Iterator[Batch]:
    if not any(map(_is_page, items)):
        yield root, 0, items  # bare ImageDetail objects
        return
    for index, item in enumerate(items):
        if _is_page(item):
            yield _page(item, join_path(root, index))
        else:
            yield root, index, [item]


def _page(page: dict[str, Any], path: str) -> Batch:
    base = join_path(path, "imageDetails")
    details = page.get("imageDetails")
    if not isinstance(details, list):
        raise InputError.single(
            base, "missing or not a list; expected `aws ecr describe-images` output"
        )
    return base, 0, details


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

    def all(self) -> tuple[Problem, ...]:
        more = (Problem("", f"... and {self.dropped} more"),) if self.dropped else ()
        return (*self.problems, *more)

    def raise_if_any(self) -> None:
        if self.problems:
            raise InputError(self.all())


def _image_fast(detail: dict[str, Any]) -> Image:
    """One ImageDetail as an Image, without building error paths; raises when anything is off.

    Tag values are checked for the whole repository at once (:func:`_worth_a_closer_look`).
    """
    get = detail.get
    digest = detail["imageDigest"]
    if type(digest) is not str or not digest:
        raise TypeError(digest)
    tags = get("imageTags")
    if tags is None:
        tags = ()
    elif type(tags) is list:
        tags = tuple(tags)
    else:
        raise TypeError(tags)
    media_type = get("imageManifestMediaType")
    if media_type is not None and type(media_type) is not str:
        raise TypeError(media_type)
    pulled = get("lastRecordedPullTime")
    archived = get("lastArchivedAt")
    activated = get("lastActivatedAt")
    return make_image(
        digest,
        tags,
        _instant(detail["imagePushedAt"]),
        None if pulled is None else _instant(pulled),
        _STATUSES[get("imageStatus", "ACTIVE")],
        None if archived is None else _instant(archived),
        None if activated is None else _instant(activated),
        media_type,
        (),
    )


def _instant(value: object) -> float:
    """:func:`parse_instant`, with a shortcut for the ISO 8601 strings the AWS CLI prints."""
    if type(value) is str:
        try:
            moment = _from_iso(value)
        except ValueError:
            return parse_instant(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return parse_instant(value)


def _worth_a_closer_look(images: list[Image]) -> bool:
    """Whether anything calls for the field-by-field checks: repeats, odd digests or tags."""
    digests = list(map(_digest_of, images))
    if len(set(digests)) != len(digests) or not _all_ecr_digests(digests):
        return True
    tags = list(chain.from_iterable(map(_tags_of, images)))
    if not tags:
        return False
    try:
        joined = "".join(tags)
    except TypeError:  # a tag that is not a string
        return True
    lengths = list(map(len, tags))
    return (
        len(set(tags)) != len(tags)
        or (not joined.isascii() and not _encodable(joined))
        or min(lengths) == 0
        or max(lengths) > MAX_TAG_LENGTH
        or _NOT_IN_TAGS.search(joined) is not None
    )


_PREFIX = "sha256:"
_DIGEST_LENGTH = len(_PREFIX) + 64
_HEX_DIGITS = b"0123456789abcdef"


def _all_ecr_digests(digests: list[str]) -> bool:
    """``all(map(is_digest, digests))`` for a whole repository at once, without a regex each.

    Every digest is 71 characters long, so the prefixes sit at fixed offsets of the joined text;
    what is left once they are removed must be 64 lowercase hex digits per digest.
    """
    if not digests or set(map(len, digests)) != {_DIGEST_LENGTH}:
        return not digests
    joined = "".join(digests)
    count = len(digests)
    if any(joined[i::_DIGEST_LENGTH] != _PREFIX[i] * count for i in range(len(_PREFIX))):
        return False
    body = joined.replace(_PREFIX, "")
    return (
        len(body) == 64 * count
        and body.isascii()
        and not body.encode("ascii").translate(None, _HEX_DIGITS)
    )


def _read_carefully(batches: list[Batch]) -> DescribeImages:
    """Every image checked field by field: all problems and warnings, with their paths."""
    problems, warnings = _Collector(), _Collector()
    images = []
    for base, first, details in batches:
        for index, detail in enumerate(details, first):
            image = _image(detail, (base, index), problems)
            if image is not None:
                images.append(image)
                _warn_about(image, (base, index), warnings)
    _check_unique(images, problems)
    problems.raise_if_any()
    return DescribeImages(images, warnings.all())


def _image(detail: Any, where: Where, problems: _Collector) -> Image | None:
    """Build an Image from one ImageDetail; on bad input record every problem and return None."""
    try:
        image: Image | None = _image_fast(detail)
    except _NOT_AN_IMAGE:
        image = None
    if image is None or any(tag_problem(tag) for tag in image.tags):
        _image_problems(detail, where, problems)
        return None
    return image


def _warn_about(image: Image, where: Where, warnings: _Collector) -> None:
    if not is_digest(image.digest):
        warnings.add(
            _path(where, "imageDigest"),
            f"{_quoted(image.digest)} is not an ECR digest (sha256: and 64 lowercase hex digits)",
        )
    for index, tag in enumerate(image.tags):
        if (oddity := tag_oddity(tag)) is not None:
            warnings.add(join_path(_path(where, "imageTags"), index), oddity)


def _image_problems(detail: Any, where: Where, problems: _Collector) -> None:
    if not isinstance(detail, dict):
        problems.add(_path(where), "an image detail must be a JSON object")
        return
    before = problems.count
    digest = detail.get("imageDigest")
    if not isinstance(digest, str) or not digest:
        problems.add(_path(where, "imageDigest"), "required: sha256: followed by 64 hex digits")
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


def parse_batch_get_image(text: str | bytes) -> dict[str, tuple[str, ...]]:
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


def _response_pages(text: str | bytes) -> Iterator[tuple[str, Any]]:
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
