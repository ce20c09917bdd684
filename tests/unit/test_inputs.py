"""Reading ``describe-images`` output: what is refused, what is evaluated with a warning.

ECR never produces a tag with a space, yet the AWS guide's own worked example ("Filtering on all
images, Example B", ``ecr-behaviour.md`` §1.7) has one: ``"git hash"``. Input that ECR could not
have produced but that can be evaluated is evaluated, and each such value is named in a warning.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli.commands import read_images
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.images import Image
from bot.lifecycle.inputs import (
    IMAGE_DETAIL_FIELDS,
    MAX_PROBLEMS,
    _all_ecr_digests,
    decode_json,
    is_digest,
    read_describe_images,
)
from bot.lifecycle.matching import TagIndex, entry_matches, selection_matches
from bot.lifecycle.parse import policy_from_data
from bot.lifecycle.policy import Selection
from bot.lifecycle.problems import InputError

NOW = 1_709_251_200.0  # 2024-03-01T00:00:00Z
DAY = 86_400.0


def digest(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def detail(label: str, tags: list[Any], days_ago: float, **extra: Any) -> dict[str, Any]:
    """An ImageDetail as the AWS CLI prints it, pushed ``days_ago`` days before NOW."""
    item: dict[str, Any] = {
        "registryId": "123456789012",
        "repositoryName": "app",
        "imageDigest": digest(label),
        "imagePushedAt": NOW - days_ago * DAY,
        "imageSizeInBytes": 1234,
    }
    if tags:
        item["imageTags"] = tags
    return item | extra


def output(*details: dict[str, Any]) -> str:
    return json.dumps({"imageDetails": list(details)})


def problems_of(text: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        read_describe_images(text)
    return [str(problem) for problem in caught.value.problems]


EXAMPLE_B_POLICY = {
    "rules": [
        {
            "rulePriority": 1,
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["alpha*"],
                "countType": "imageCountMoreThan",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 3,
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
            "action": {"type": "expire"},
        },
    ]
}


def example_b_output() -> str:
    """The repository of the AWS worked example, pushed 4, 3, 2, 1 and 1 days ago."""
    return output(
        detail("A", ["alpha-1", "beta-1"], 4),
        detail("B", [], 3),
        detail("C", ["alpha-2"], 2),
        detail("D", ["git hash"], 1),
        detail("E", [], 1 - 1 / 24),
    )


def test_the_aws_example_with_a_space_in_a_tag_is_evaluated_with_a_warning() -> None:
    read = read_describe_images(example_b_output())
    assert [str(w) for w in read.warnings] == [
        'imageDetails[3].imageTags[0]: tag "git hash" contains whitespace or control '
        "characters, which ECR tags cannot"
    ]
    result = evaluate(policy_from_data(EXAMPLE_B_POLICY), read.images, NOW)
    expired = {d.image.digest for d in result.acted()}
    # The guide's stated outcome: A, B and D expire; C and E stay.
    assert expired == {digest("A"), digest("B"), digest("D")}


@pytest.mark.parametrize(
    ("tag", "warning"),
    [
        ("tab\there", 'tag "tab\\there" contains whitespace or control characters'),
        ("line\nbreak", 'tag "line\\nbreak" contains whitespace or control characters'),
        ("", "ECR tags have 1 to 300 characters; this one has 0"),
        ("x" * 301, "ECR tags have 1 to 300 characters; this one has 301"),
    ],
)
def test_tags_ecr_cannot_have_are_warned_about_and_kept(tag: str, warning: str) -> None:
    read = read_describe_images(output(detail("A", ["v1", tag], 3)))
    assert read.images[0].tags == ("v1", tag)
    assert len(read.warnings) == 1
    assert read.warnings[0].path == "imageDetails[0].imageTags[1]"
    assert warning in read.warnings[0].message


def test_a_digest_that_is_not_sha256_is_warned_about_and_kept() -> None:
    read = read_describe_images(output(detail("A", ["v1"], 3, imageDigest="sha256:abc")))
    assert read.images[0].digest == "sha256:abc"
    assert [str(w) for w in read.warnings] == [
        'imageDetails[0].imageDigest: "sha256:abc" is not an ECR digest (sha256: and 64 '
        "lowercase hex digits)"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"imageTags": ["v1", 7]}, "imageDetails[0].imageTags[1]: a tag must be a string, not int"),
        ({"imageTags": "v1"}, "imageDetails[0].imageTags: must be a list of tags"),
        ({"imageDigest": ""}, "imageDetails[0].imageDigest: required"),
        ({"imageDigest": 5}, "imageDetails[0].imageDigest: required"),
        ({"imagePushedAt": "soon"}, 'imageDetails[0].imagePushedAt: "soon" is not an ISO 8601'),
        ({"imageStatus": "GONE"}, "imageDetails[0].imageStatus: must be ACTIVE, ARCHIVED"),
    ],
)
def test_values_that_cannot_be_evaluated_are_refused_with_their_path(
    change: dict[str, Any], expected: str
) -> None:
    problems = problems_of(output(detail("A", ["v1"], 3) | change))
    assert any(problem.startswith(expected) for problem in problems), problems


def test_a_lone_surrogate_in_a_tag_is_refused() -> None:
    text = output(detail("A", ["v1"], 3)).replace('"v1"', '"v\\ud800"')
    assert problems_of(text) == [
        'imageDetails[0].imageTags[0]: tag "v\\ud800" is not valid Unicode (it holds a lone '
        "surrogate escape)"
    ]


def test_repeated_digests_and_tags_on_two_images_are_still_refused() -> None:
    twice = problems_of(output(detail("A", [], 3), detail("A", [], 3)))
    assert twice == [f"image {digest('A')} appears twice; pass each page once"]
    shared = problems_of(output(detail("A", ["v1"], 3), detail("B", ["v1"], 2)))
    assert "are these two repositories?" in shared[0]


def test_warnings_and_problems_are_capped() -> None:
    many = output(*(detail(str(n), [f"t {n}"], 3) for n in range(MAX_PROBLEMS + 5)))
    warnings = read_describe_images(many).warnings
    assert len(warnings) == MAX_PROBLEMS + 1
    assert str(warnings[-1]) == "... and 5 more"


@pytest.mark.parametrize(
    "layout",
    ["object", "pages", "bare", "lines"],
)
def test_every_layout_reads_the_same_images_on_both_paths(layout: str) -> None:
    details = [
        detail("A", ["v1", "git hash"], 3),
        detail("B", [], 2, imageStatus="ARCHIVED", lastArchivedAt=NOW - DAY),
        detail("C", ["v2"], 1, lastRecordedPullTime="2024-02-28T10:00:00.123000+01:00"),
    ]
    text = {
        "object": json.dumps({"imageDetails": details}),
        "pages": json.dumps([{"imageDetails": details[:1]}, {"imageDetails": details[1:]}]),
        "bare": json.dumps(details),
        "lines": "\n".join(json.dumps({"imageDetails": [d]}) for d in details),
    }[layout]
    pure = read_describe_images(text)
    cli = read_images(text.encode())
    assert cli == pure
    assert [i.digest for i in pure.images] == [digest("A"), digest("B"), digest("C")]
    assert len(pure.warnings) == 1


def test_the_cli_decoder_reads_exactly_the_fields_evaluation_uses() -> None:
    from bot.cli.commands import _ImageDetail

    assert tuple(_ImageDetail.__annotations__) == IMAGE_DETAIL_FIELDS


def test_bad_json_gets_the_strict_decoders_message() -> None:
    with pytest.raises(InputError, match="NaN is not valid JSON"):
        decode_json(b'{"imageDetails": [NaN]}')
    with pytest.raises(InputError, match="not valid JSON: Expecting value at line 1 column 18"):
        decode_json('{"imageDetails": }')
    nested = decode_json("[" * 300 + "]" * 300)  # deeper than pydantic-core's limit
    depth = 0
    while nested:
        nested, depth = nested[0], depth + 1
    assert depth == 299


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text("0123456789abcdefABCDEF:sha256", min_size=60, max_size=75),
            st.builds(lambda n: f"sha256:{n:064x}", st.integers(0, 2**256 - 1)),
        ),
        max_size=6,
    )
)
def test_the_whole_repository_digest_check_agrees_with_the_one_by_one_check(
    digests: list[str],
) -> None:
    assert _all_ecr_digests(digests) == all(map(is_digest, digests))


ODD_TAGS = ["a", "a b", "a\nb", "b\n", "\na", "ab", "a\tb", " ", "", "b"]
ODD_ENTRIES = ["a", "a*", "*b", "*", "a*b", "* *", "*\n*", "b"]


@settings(max_examples=200, deadline=None)
@given(entry=st.sampled_from(ODD_ENTRIES), tag=st.sampled_from(ODD_TAGS))
def test_entries_match_tags_with_spaces_and_newlines_like_fnmatch(entry: str, tag: str) -> None:
    import fnmatch

    assert entry_matches(entry, True, tag) == fnmatch.fnmatchcase(tag, entry)
    assert entry_matches(entry, False, tag) == tag.startswith(entry)


@settings(max_examples=200, deadline=None)
@given(
    tags=st.lists(st.sampled_from(ODD_TAGS), unique=True, max_size=8),
    entries=st.lists(st.sampled_from(ODD_ENTRIES), min_size=1, max_size=2, unique=True),
    patterns=st.booleans(),
)
def test_the_tag_index_selects_what_matching_one_image_at_a_time_selects(
    tags: list[str], entries: list[str], patterns: bool
) -> None:
    images = [Image(digest(tag), (tag,), 0.0) for tag in tags]
    key = "tagPatternList" if patterns else "tagPrefixList"
    selection = Selection.model_validate(
        {"tagStatus": "tagged", key: entries, "countType": "imageCountMoreThan", "countNumber": 1}
    )
    expected = {p for p, image in enumerate(images) if selection_matches(selection, image.tags)}
    assert set(TagIndex(images).positions_selected(selection)) == expected
