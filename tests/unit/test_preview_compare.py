"""Comparing AWS's lifecycle preview with the local evaluation, on hand-built repositories."""

from __future__ import annotations

from typing import Any

from bot.lifecycle.compare import (
    KEPT,
    Answer,
    Comparison,
    Difference,
    PreviewedImage,
    compare,
    local_answer,
)
from bot.lifecycle.decisions import Evaluation, Outcome
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.images import Image, ImageStatus
from bot.lifecycle.policy import LifecyclePolicy

NOW = 1_700_000_000.0
DAY = 86_400.0


def digest(c: str) -> str:
    return "sha256:" + c * 64


def rule(priority: int, selection: dict[str, Any], action: str = "expire") -> dict[str, Any]:
    act: dict[str, Any] = {"type": action}
    if action == "transition":
        act["targetStorageClass"] = "archive"
    return {"rulePriority": priority, "selection": selection, "action": act}


# Rule 1 keeps the 2 newest releases (v*), rule 2 archives untagged images after 10 days,
# rule 3 expires anything older than 30 days.
POLICY = LifecyclePolicy.model_validate(
    {
        "rules": [
            rule(
                1,
                {
                    "tagStatus": "tagged",
                    "tagPatternList": ["v*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 2,
                },
            ),
            rule(
                2,
                {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 10,
                },
                "transition",
            ),
            rule(
                3,
                {
                    "tagStatus": "any",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 30,
                },
            ),
        ]
    }
)
IMAGES = [
    Image(digest("a"), ("v1",), NOW - 50 * DAY),  # rule 1: third newest release → expire
    Image(digest("b"), ("v2",), NOW - 40 * DAY),  # rule 1: kept (window of 2)
    Image(digest("c"), ("v3",), NOW - 1 * DAY),  # rule 1: kept
    Image(digest("d"), (), NOW - 20 * DAY),  # rule 2: archived
    Image(digest("e"), (), NOW - 2 * DAY),  # rule 2: too young, kept
    Image(digest("f"), ("latest",), NOW - 45 * DAY),  # rule 3: expire
    Image(digest("g"), ("latest-2",), NOW - 5 * DAY),  # rule 3: kept
]


def local() -> Evaluation:
    return evaluate(POLICY, IMAGES, NOW)


def previewed(c: str, action: str, priority: int, **extra: Any) -> PreviewedImage:
    image = next(i for i in IMAGES if i.digest == digest(c))
    target = "ARCHIVE" if action == "TRANSITION" else None
    return PreviewedImage(
        image.digest, image.tags, image.pushed_at, action, priority, target_storage_class=target
    )


AWS_AGREES = [
    previewed("a", "EXPIRE", 1),
    previewed("d", "TRANSITION", 2),
    previewed("f", "EXPIRE", 3),
]


def test_the_hand_built_repository_is_what_the_comments_say() -> None:
    answers = {d.image.digest[7]: str(local_answer(d)) for d in local().decisions}
    assert answers == {
        "a": "expire (rule 1)",
        "b": "kept",
        "c": "kept",
        "d": "transition (rule 2)",
        "e": "kept",
        "f": "expire (rule 3)",
        "g": "kept",
    }


def test_same_answers_agree() -> None:
    comparison = compare(AWS_AGREES, local(), aws_as_of=NOW)
    assert comparison.agrees
    assert comparison.differences == ()
    assert comparison.counts == {
        "compared": 7,
        "agreed": 7,
        "differences": 0,
        "only_local": 0,
        "only_aws": 0,
    }
    assert (
        comparison.describe() == "AWS's lifecycle preview agrees with ECR Lifeguard on all 7 images"
    )


def test_every_kind_of_disagreement_carries_both_answers() -> None:
    aws = [
        previewed("a", "EXPIRE", 3),  # same action, another rule
        previewed("d", "EXPIRE", 2),  # another action, same rule
        previewed("e", "TRANSITION", 2),  # AWS archives what we keep
        # "f" left out: AWS keeps what we expire
    ]
    comparison = compare(aws, local())
    assert not comparison.agrees
    found = {d.digest[7]: (d.aws, d.local) for d in comparison.differences}
    assert found == {
        "a": (Answer("EXPIRE", 3), Answer("EXPIRE", 1)),
        "d": (Answer("EXPIRE", 2), Answer("TRANSITION", 2)),
        "e": (Answer("TRANSITION", 2), KEPT),
        "f": (KEPT, Answer("EXPIRE", 3)),
    }
    assert comparison.counts["agreed"] == 3
    assert (
        comparison.describe()
        == "AWS's lifecycle preview differs from ECR Lifeguard on 4 of 7 images"
    )


def test_difference_lines_name_the_digest_the_tags_and_both_answers() -> None:
    comparison = compare([previewed("a", "EXPIRE", 3), previewed("d", "EXPIRE", 2)], local())
    lines = {d.digest[7]: d.describe() for d in comparison.differences}
    assert lines["a"] == (
        f"{digest('a')} (v1): AWS's lifecycle preview: expire (rule 3); "
        "ECR Lifeguard: expire (rule 1)"
    )
    assert lines["d"] == (
        f"{digest('d')} (untagged): AWS's lifecycle preview: expire (rule 2); "
        "ECR Lifeguard: transition (rule 2)"
    )
    assert lines["f"].endswith("AWS's lifecycle preview: kept; ECR Lifeguard: expire (rule 3)")
    many = Difference(digest("9"), ("a", "b", "c", "d", "e"), KEPT, Answer("EXPIRE", 1))
    assert many.describe().startswith(f"{digest('9')} (a, b, c +2): ")


def test_images_only_on_one_side_are_reported_apart_not_as_differences() -> None:
    fresh = Image(digest("n"), ("v9",), NOW - 60.0)  # pushed after AWS's preview started
    evaluation = evaluate(POLICY, [*IMAGES, fresh], NOW)
    gone = PreviewedImage(digest("z"), ("v0",), NOW - 90 * DAY, "EXPIRE", 1)
    comparison = compare([*AWS_AGREES, gone], evaluation, aws_as_of=NOW - 3600.0)
    # The fresh release pushes "b" out of rule 1's window locally; AWS could not know.
    assert [d.digest for d in comparison.differences] == [digest("b")]
    assert comparison.only_local == (fresh.digest,)
    assert comparison.only_aws == (gone,)
    assert comparison.compared == 7
    assert comparison.describe() == (
        "AWS's lifecycle preview differs from ECR Lifeguard on 1 of 7 images (not compared: "
        "1 pushed after the preview started, 1 no longer in the local listing)"
    )


def test_without_the_preview_start_every_local_image_counts_as_seen() -> None:
    fresh = Image(digest("n"), ("v9",), NOW - 60.0)
    comparison = compare(AWS_AGREES, evaluate(POLICY, [*IMAGES, fresh], NOW))
    assert comparison.only_local == ()
    assert comparison.compared == 8
    # An image AWS's preview lists is compared even when pushed after the start.
    listed = compare(
        [*AWS_AGREES, PreviewedImage(fresh.digest, fresh.tags, fresh.pushed_at, "EXPIRE", 1)],
        evaluate(POLICY, [*IMAGES, fresh], NOW),
        aws_as_of=NOW - 3600.0,
    )
    assert listed.only_local == ()
    assert digest("n") in {d.digest for d in listed.differences}


def test_an_image_held_back_by_an_index_is_compared_as_selected_by_its_rule() -> None:
    policy = LifecyclePolicy.model_validate(
        {
            "rules": [
                rule(
                    1,
                    {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": 1,
                    },
                )
            ]
        }
    )
    child = Image(digest("1"), (), NOW - 5 * DAY)
    index = Image(
        digest("2"),
        ("v1",),
        NOW - 5 * DAY,
        media_type="application/vnd.oci.image.index.v1+json",
        children=(child.digest,),
    )
    evaluation = evaluate(policy, [child, index], NOW)
    assert evaluation.decision(child.digest).outcome is Outcome.BLOCKED
    assert str(local_answer(evaluation.decision(child.digest))) == (
        "expire (rule 1, held back by an image index)"
    )
    listed = PreviewedImage(child.digest, (), child.pushed_at, "EXPIRE", 1)
    assert compare([listed], evaluation).agrees
    [difference] = compare([], evaluation).differences
    assert difference.describe().endswith(
        "AWS's lifecycle preview: kept; ECR Lifeguard: expire (rule 1, held back by an image index)"
    )


def test_archived_images_and_empty_repositories() -> None:
    archived = Image(
        digest("x"), (), NOW - 200 * DAY, status=ImageStatus.ARCHIVED, last_archived_at=NOW
    )
    evaluation = evaluate(POLICY, [archived], NOW)
    assert compare([], evaluation).agrees  # no rule selects archive storage
    empty = compare([], evaluate(POLICY, [], NOW))
    assert empty == Comparison((), (), (), compared=0)
    assert empty.agrees
    assert empty.describe() == "AWS's lifecycle preview and ECR Lifeguard had no image in common"
    one = compare([], evaluate(POLICY, [IMAGES[1]], NOW))
    assert one.describe() == "AWS's lifecycle preview agrees with ECR Lifeguard on the one image"
