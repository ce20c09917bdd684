"""Why is ``repo:tag`` missing? The verdict, drawn from facts (pure).

:mod:`bot.diagnose.investigate` gathers the facts from ECR and CloudTrail; this module decides. The
order of reasoning is the one on-call follows: does the repository exist; is the image there (then
the problem is the pull path, or it is archived); did the tag move; did lifecycle expire it; did
someone delete it; was it ever pushed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.errors import (
    AccessDenied,
    CredentialsError,
    LifeguardError,
    Throttled,
    Unreachable,
    UpstreamError,
)
from bot.lifecycle.images import Image, ImageStatus
from bot.lifecycle.timefmt import human, iso
from bot.refs import ImageRef, RepositoryKey

CLOUDTRAIL_WINDOW_DAYS = 90


class Verdict(StrEnum):
    """The answer to "why is this image missing"."""

    REPOSITORY_NOT_FOUND = "REPOSITORY_NOT_FOUND"
    PRESENT = "PRESENT"
    ARCHIVED = "ARCHIVED"
    RESTORING = "RESTORING"
    EXPIRED_BY_LIFECYCLE = "EXPIRED_BY_LIFECYCLE"
    DELETED_MANUALLY = "DELETED_MANUALLY"
    TAG_MOVED = "TAG_MOVED"
    NEVER_PUSHED = "NEVER_PUSHED"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One fact behind a verdict, with when it happened when known."""

    text: str
    at: float | None = None
    source: str = "ecr"


@dataclass(frozen=True, slots=True)
class LifecycleExpiry:
    """A lifecycle action on the image, from CloudTrail ``PolicyExecutionEvent``."""

    at: float
    digest: str
    tags: tuple[str, ...]
    rule_priority: int
    rule_description: str | None = None
    pushed_at: float | None = None
    failure_code: str | None = None
    explanation: str | None = None  # the rule's reasoning, reconstructed from the policy


@dataclass(frozen=True, slots=True)
class ManualDeletion:
    """A ``BatchDeleteImage`` that removed the image or the tag."""

    at: float
    principal: str
    digests: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TagMove:
    """A ``PutImage`` that put the tag on a digest."""

    at: float
    tag: str
    digest: str
    principal: str


@dataclass(frozen=True)
class Facts:
    """Everything the investigation found. Fields it could not determine stay empty."""

    ref: ImageRef
    repository: RepositoryKey
    repository_exists: bool
    similar_repositories: tuple[str, ...] = ()
    found_elsewhere: tuple[str, ...] = ()
    image: Image | None = None
    tag_points_to: Image | None = None
    similar_tags: tuple[str, ...] = ()
    tag_mutability: str | None = None
    repository_policy: str | None = None
    expiries: tuple[LifecycleExpiry, ...] = ()
    deletions: tuple[ManualDeletion, ...] = ()
    tag_moves: tuple[TagMove, ...] = ()
    pushes: tuple[TagMove, ...] = ()
    cloudtrail_error: LifeguardError | None = None
    cloudtrail_disabled: bool = False
    cloudtrail_truncated: bool = False


@dataclass(frozen=True)
class Diagnosis:
    """The verdict, a one-line summary, the evidence and what to do next.

    ``digest`` is the full digest of the image in question when the reference or the
    investigation establishes it; ``failure`` names, in one line, what could not be read.
    """

    ref: ImageRef
    repository: RepositoryKey
    verdict: Verdict
    summary: str
    evidence: tuple[Evidence, ...] = ()
    suggestions: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    digest: str | None = None
    failure: str | None = None

    @property
    def inconclusive_because_of_a_failure(self) -> bool:
        """Whether a source could not be read and that left the verdict open (UNKNOWN)."""
        return self.verdict is Verdict.UNKNOWN and self.failure is not None

    def as_json(self) -> dict[str, Any]:
        """The diagnosis as the JSON ``why-missing --format json`` prints.

        Example:
            >>> from bot.refs import parse_image_ref
            >>> d = conclude(Facts(parse_image_ref("app@sha256:" + "b" * 64),
            ...                    RepositoryKey("123456789012", "eu-west-1", "app"), False))
            >>> document = d.as_json()
            >>> document["repositoryName"], document["imageTag"], document["imageDigest"][-4:]
            ('app', None, 'bbbb')
        """
        return {
            "reference": str(self.ref),
            "repository": str(self.repository),
            "registryId": self.repository.registry,
            "region": self.repository.region,
            "repositoryName": self.repository.name,
            "imageTag": self.ref.tag,
            "imageDigest": self.digest,
            "verdict": self.verdict.value,
            "summary": self.summary,
            "failure": self.failure,
            "evidence": [
                {"text": e.text, "source": e.source, **({"at": iso(e.at)} if e.at else {})}
                for e in self.evidence
            ],
            "suggestions": list(self.suggestions),
            **self.extra,
        }


def conclude(facts: Facts) -> Diagnosis:
    """Decide the verdict from the facts.

    Example:
        >>> from bot.refs import parse_image_ref
        >>> ref = parse_image_ref("myapp:v1")
        >>> d = conclude(Facts(ref, RepositoryKey("1", "eu-west-1", "myapp"), False,
        ...                    similar_repositories=("my-app",)))
        >>> d.verdict.value, d.suggestions[0]
        ('REPOSITORY_NOT_FOUND', 'Did you mean my-app? (my-app:v1)')
    """
    if not facts.repository_exists:
        return _repository_missing(facts)
    image = facts.image
    if image is not None and not _tag_moved_away(facts):
        return _present(facts, image)
    if _tag_moved_away(facts):
        return _tag_moved(facts)
    last_expiry = facts.expiries[-1] if facts.expiries else None
    last_deletion = facts.deletions[-1] if facts.deletions else None
    if last_expiry and (last_deletion is None or last_expiry.at >= last_deletion.at):
        return _expired(facts, last_expiry)
    if last_deletion:
        return _deleted(facts, last_deletion)
    return _no_trace(facts)


def _tag_moved_away(facts: Facts) -> bool:
    moved = facts.tag_points_to
    return facts.ref.digest is not None and moved is not None and moved.digest != facts.ref.digest


def _name(facts: Facts) -> str:
    return f"{facts.repository.name}{':' + facts.ref.tag if facts.ref.tag else ''}" + (
        f"@{facts.ref.digest[:19]}…" if facts.ref.digest else ""
    )


def _diagnosis(
    facts: Facts,
    verdict: Verdict,
    summary: str,
    evidence: list[Evidence],
    suggestions: list[str],
    *,
    digest: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Diagnosis:
    if facts.cloudtrail_disabled:
        evidence.append(Evidence("CloudTrail was not read (--no-cloudtrail)", source="cloudtrail"))
        suggestions.append(
            "Run again without --no-cloudtrail to tell a lifecycle expiry from a deletion."
        )
    failure = None
    if facts.cloudtrail_error:
        failure = f"CloudTrail could not be read: {failure_line(facts.cloudtrail_error)}"
        evidence.append(Evidence(failure, source="cloudtrail"))
        suggestions.append(trail_advice(facts.cloudtrail_error))
    if facts.cloudtrail_truncated:
        evidence.append(
            Evidence(
                "CloudTrail had more events than were read; older ones were not checked.",
                source="cloudtrail",
            )
        )
    return Diagnosis(
        facts.ref,
        facts.repository,
        verdict,
        summary,
        tuple(evidence),
        tuple(suggestions),
        extra or {},
        digest=digest or facts.ref.digest,
        failure=failure,
    )


def failure_line(error: LifeguardError) -> str:
    """An upstream failure in one line, without its hint (the suggestions carry the advice).

    Example:
        >>> failure_line(AccessDenied("cloudtrail", "LookupEvents", "AccessDeniedException",
        ...                           "not authorized", hint="grant cloudtrail:LookupEvents"))
        'LookupEvents failed: AccessDeniedException: not authorized'
    """
    if isinstance(error, UpstreamError):
        text = f"{error.operation} failed: " + (f"{error.code}: " if error.code else "")
        text += error.message
    else:
        text = str(error)
    return " ".join(text.split())


def _short_failure(error: LifeguardError) -> str:
    if isinstance(error, UpstreamError):
        return f"{error.operation}: {error.code or error.message}"
    return " ".join(str(error).split())


def trail_advice(error: LifeguardError) -> str:
    """What to do when CloudTrail could not be read, fitted to why.

    Example:
        >>> throttled = Throttled("cloudtrail", "LookupEvents", "ThrottlingException", "slow")
        >>> trail_advice(throttled).split(" (")[0]
        'CloudTrail throttled the lookups'
    """
    if isinstance(error, AccessDenied):
        return "Grant cloudtrail:LookupEvents to ECR Lifeguard so it can tell expiry from deletion."
    if isinstance(error, CredentialsError):
        fix = f": {error.hint}" if error.hint else ""
        return f"CloudTrail refused the credentials; renew them and run again{fix}."
    if isinstance(error, Throttled):
        return (
            "CloudTrail throttled the lookups (it allows 2 per second per account and region, "
            "shared with every other caller): run again in a minute, or raise aws.max_attempts."
        )
    if isinstance(error, Unreachable):
        return (
            "CloudTrail could not be reached: check the network, the proxy, the VPC endpoint for "
            "cloudtrail, and AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_CLOUDTRAIL if either is set."
        )
    return (
        "CloudTrail failed on its side: run again in a few minutes; if AWS_ENDPOINT_URL or "
        "AWS_ENDPOINT_URL_CLOUDTRAIL is set, check that it serves CloudTrail LookupEvents."
    )


def _repository_missing(facts: Facts) -> Diagnosis:
    key = facts.repository
    suffix = (f":{facts.ref.tag}" if facts.ref.tag else "") + (
        f"@{facts.ref.digest}" if facts.ref.digest else ""
    )
    suggestions = [f"Did you mean {name}? ({name}{suffix})" for name in facts.similar_repositories]
    suggestions += [
        f"A repository named {key.name} exists in {where}: check the account and region in the "
        "image URI."
        for where in facts.found_elsewhere
    ]
    suggestions.append(
        "Check the account and region the workload pulls from; the repository may have been "
        "deleted (CloudTrail DeleteRepository) or never created."
    )
    return _diagnosis(
        facts,
        Verdict.REPOSITORY_NOT_FOUND,
        f"Repository {key.name} does not exist in account {key.registry}, {key.region}.",
        [
            Evidence(
                f"DescribeRepositories: no repository {key.name} in {key.registry}/{key.region}"
            )
        ],
        suggestions,
    )


def _present(facts: Facts, image: Image) -> Diagnosis:
    name = _name(facts)
    evidence = [
        Evidence(
            f"{name} is digest {image.digest}, first pushed {human(image.pushed_at)}, tags: "
            f"{', '.join(image.tags) or '(untagged)'}",
            image.pushed_at,
        )
    ]
    if image.status is ImageStatus.ARCHIVED:
        return _archived(facts, image, evidence)
    if image.status is ImageStatus.ACTIVATING:
        return _diagnosis(
            facts,
            Verdict.RESTORING,
            f"{name} is being restored from archive; pulls fail until it is ACTIVE again.",
            evidence,
            ["Wait for the restore to finish (usually within 20 minutes), then retry the pull."],
            digest=image.digest,
        )
    evidence += _moves_evidence(facts)
    return _diagnosis(
        facts,
        Verdict.PRESENT,
        f"{name} is present and active in {facts.repository.registry}/{facts.repository.region}: "
        "the problem is on the pull path.",
        evidence,
        _pull_path_suggestions(facts),
        digest=image.digest,
    )


def _archived(facts: Facts, image: Image, evidence: list[Evidence]) -> Diagnosis:
    since = f" since {human(image.last_archived_at)}" if image.last_archived_at else ""
    evidence.append(Evidence(f"imageStatus ARCHIVED{since}", image.last_archived_at))
    reference = f"{facts.repository.name}@{image.digest}"
    return _diagnosis(
        facts,
        Verdict.ARCHIVED,
        f"{_name(facts)} is archived{since}: archived images cannot be pulled (404).",
        evidence,
        [
            f"Restore it: `ecr-lifeguard restore {reference}` (or `aws ecr "
            f"update-image-storage-class --repository-name {facts.repository.name} --image-id "
            f"imageDigest={image.digest} --target-storage-class STANDARD`); it takes up to 20 "
            "minutes.",
            f"Then protect it (`ecr-lifeguard protect {reference}`) if a workload still needs it.",
        ],
        digest=image.digest,
    )


def _pull_path_suggestions(facts: Facts) -> list[str]:
    key, ref = facts.repository, facts.ref
    uri = f"{key}{':' + ref.tag if ref.tag else ''}{'@' + ref.digest if ref.digest else ''}"
    suggestions = [
        f"Pull with the exact URI {uri} (account and region must match).",
        "Check the puller's credentials: the node/task role needs ecr:GetAuthorizationToken, "
        "ecr:BatchGetImage and ecr:GetDownloadUrlForLayer; ECR tokens last 12 hours.",
    ]
    if facts.repository_policy is None:
        suggestions.append(
            "The repository has no repository policy: pulls from other accounts are denied."
        )
    else:
        suggestions.append(
            "The repository policy must allow the pulling account (ecr:BatchGetImage, "
            "ecr:GetDownloadUrlForLayer) when it differs from the registry's account."
        )
    if facts.tag_mutability and facts.tag_mutability.startswith("MUTABLE") and facts.ref.tag:
        suggestions.append(
            f"Tags are mutable here: {facts.ref.tag} may point to a different image than the "
            "workload expects; pin the digest."
        )
    suggestions.append(
        "Private networks need VPC endpoints for ecr.api, ecr.dkr and the S3 gateway (layers)."
    )
    return suggestions


def _moves_evidence(facts: Facts) -> list[Evidence]:
    return _put_image_evidence(facts.tag_moves, "put {tag} on")


def _push_evidence(facts: Facts) -> list[Evidence]:
    return _put_image_evidence(facts.pushes, "pushed {tag} as")


def _put_image_evidence(records: tuple[TagMove, ...], what: str) -> list[Evidence]:
    """The last three PutImage records, e.g. ``PutImage put prod on sha256:… (ci-deployer)``."""
    return [
        Evidence(
            f"PutImage {what.format(tag=r.tag or '(untagged)')} {r.digest[:19]}… ({r.principal})",
            r.at,
            "cloudtrail",
        )
        for r in records[-3:]
    ]


def _tag_moved(facts: Facts) -> Diagnosis:
    now_on = facts.tag_points_to
    assert now_on is not None
    gone = facts.image is None
    evidence = [
        Evidence(
            f"{facts.ref.tag} now points to {now_on.digest}, first pushed "
            f"{human(now_on.pushed_at)}",
            now_on.pushed_at,
        ),
        *_moves_evidence(facts),
    ]
    state = " and the old digest is gone" if gone else "; the old digest still exists"
    suggestions = [
        f"Pin workloads to a digest ({facts.repository.name}@<digest>) or use immutable tags, so "
        "a push under the same tag cannot change what runs.",
    ]
    if gone and facts.expiries:
        evidence.append(_expiry_evidence(facts.expiries[-1]))
        suggestions.append(
            "The old digest became untagged when the tag moved and a lifecycle rule then expired "
            "it; protect in-use digests with `ecr-lifeguard protect`."
        )
    return _diagnosis(
        facts,
        Verdict.TAG_MOVED,
        f"Tag {facts.ref.tag} was moved to another image{state}.",
        evidence,
        suggestions,
        extra={"tagNowPointsTo": now_on.digest},
    )


def _expiry_evidence(expiry: LifecycleExpiry) -> Evidence:
    rule = f"rule {expiry.rule_priority}" + (
        f' ("{expiry.rule_description}")' if expiry.rule_description else ""
    )
    tags = ", ".join(expiry.tags) or "(untagged)"
    pushed = f", first pushed {human(expiry.pushed_at)}" if expiry.pushed_at else ""
    return Evidence(
        f"PolicyExecutionEvent: lifecycle {rule} expired {expiry.digest[:19]}… (tags: {tags}"
        f"{pushed})",
        expiry.at,
        "cloudtrail",
    )


def _expired(facts: Facts, expiry: LifecycleExpiry) -> Diagnosis:
    evidence = [_expiry_evidence(expiry)]
    if expiry.explanation:
        evidence.append(Evidence(expiry.explanation, source="policy"))
    return _diagnosis(
        facts,
        Verdict.EXPIRED_BY_LIFECYCLE,
        f"{_name(facts)} was expired by lifecycle rule {expiry.rule_priority} on "
        f"{human(expiry.at)}.",
        evidence,
        [
            *_gone_suggestions(facts, expiry.tags, expiry.digest),
            "Check the policy: `ecr-lifeguard lint` and `ecr-lifeguard plan`; protect images in "
            f"use with `ecr-lifeguard protect` so rule {expiry.rule_priority} cannot reach them.",
        ],
        digest=expiry.digest,
    )


def _deleted(facts: Facts, deletion: ManualDeletion) -> Diagnosis:
    what = ", ".join([*deletion.tags, *(d[:19] + "…" for d in deletion.digests)])
    digest = facts.ref.digest or (deletion.digests[0] if len(deletion.digests) == 1 else None)
    return _diagnosis(
        facts,
        Verdict.DELETED_MANUALLY,
        f"{_name(facts)} was deleted by {deletion.principal} on {human(deletion.at)}.",
        [Evidence(f"BatchDeleteImage by {deletion.principal}: {what}", deletion.at, "cloudtrail")],
        [
            *_gone_suggestions(facts, deletion.tags, digest),
            f"Ask {deletion.principal} why, and restrict ecr:BatchDeleteImage if it was a mistake.",
        ],
        digest=digest,
    )


def _gone_suggestions(facts: Facts, tags: tuple[str, ...], digest: str | None) -> list[str]:
    suggestions = [
        "Restore it if ECR Lifeguard saw it in use and its layers still exist (it re-pushes the "
        f"manifest): `ecr-lifeguard restore {_restore_ref(facts, digest)}`."
    ]
    commits = [
        tag.removeprefix("git-") for tag in (*tags, facts.ref.tag or "") if tag.startswith("git-")
    ]
    if commits:
        suggestions.append(
            f"Otherwise rebuild it from commit {commits[0]} and push it under the same tag."
        )
    else:
        suggestions.append(
            "Otherwise rebuild it from the commit it was built from and push it again."
        )
    return suggestions


def _restore_ref(facts: Facts, digest: str | None) -> str:
    """The reference to give ``restore``: the full digest when known, never an ellipsis."""
    if digest is not None:
        return f"{facts.repository.name}@{digest}"
    return f"{facts.repository.name}:{facts.ref.tag}"


def _no_trace(facts: Facts) -> Diagnosis:
    if facts.cloudtrail_error:
        return _diagnosis(
            facts,
            Verdict.UNKNOWN,
            f"{_name(facts)} is not in the repository; CloudTrail could not be read "
            f"({_short_failure(facts.cloudtrail_error)}), so whether a lifecycle rule or a person "
            "removed it is unknown.",
            [],
            _similar(facts),
        )
    if facts.cloudtrail_disabled:
        return _diagnosis(
            facts,
            Verdict.UNKNOWN,
            f"{_name(facts)} is not in the repository; CloudTrail was not read to say why.",
            [],
            _similar(facts),
        )
    if facts.pushes:
        digest = facts.ref.digest or facts.pushes[-1].digest
        return _diagnosis(
            facts,
            Verdict.UNKNOWN,
            f"{_name(facts)} was pushed but is gone, and CloudTrail records no expiry or deletion.",
            _push_evidence(facts),
            _similar(facts) + _gone_suggestions(facts, (), digest),
            digest=digest,
        )
    return _diagnosis(
        facts,
        Verdict.NEVER_PUSHED,
        f"{_name(facts)} is not in the repository, and CloudTrail has no trace of it in the last "
        f"{CLOUDTRAIL_WINDOW_DAYS} days: it was never pushed here (or left more than "
        f"{CLOUDTRAIL_WINDOW_DAYS} days ago).",
        [
            Evidence(
                f"No PutImage, PolicyExecutionEvent or BatchDeleteImage for it in "
                f"{CLOUDTRAIL_WINDOW_DAYS} days",
                source="cloudtrail",
            )
        ],
        [*_similar(facts), "Check the build pipeline pushed it to this account and region."],
    )


def _similar(facts: Facts) -> list[str]:
    if not facts.similar_tags:
        return []
    return [f"Similar tags that exist: {', '.join(facts.similar_tags)}."]
