"""``why-missing <ref>``: why an image cannot be pulled, with the evidence and what to do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.blocks import replies
from bot.diagnose.investigate import Investigation, investigate
from bot.diagnose.stored_trail import StoredTrail
from bot.diagnose.verdict import Diagnosis, conclude
from bot.ops import args as words
from bot.ops.call import Call
from bot.ops.verb import Reply, Verb
from bot.ports import Cloud
from bot.refs import ImageRef
from bot.state.evidence import EvidenceBook


@dataclass(frozen=True, slots=True)
class WhyMissing:
    """``why-missing <ref>``."""

    ref: ImageRef


def parse(args: Sequence[str]) -> WhyMissing:
    """Read ``why-missing <ref>``.

    Example:
        >>> parse(["app:v1"]).ref.repository
        'app'
    """
    words.count(args, 1, 1, "why-missing")
    return WhyMissing(words.image(args[0]))


async def run(call: Call, args: WhyMissing) -> Diagnosis:
    """The verdict for a reference: ECR, the other watched registries, and CloudTrail."""
    async with call.cloud() as cloud:
        return await diagnose(call, cloud, args.ref)


async def diagnose(call: Call, cloud: Cloud, ref: ImageRef) -> Diagnosis:
    """The verdict, on a cloud already open (also for the Why? button of a deleted image)."""
    home = await cloud.registry_for_ref(ref)
    others = [r for r in cloud.registries() if r.label != home.label]
    # What events delivered first (no 15-minute CloudTrail delay), then CloudTrail itself.
    trail = StoredTrail(EvidenceBook(call.deps.store), cloud.trail_for(home))
    where = Investigation(home, others, trail)
    return conclude(await investigate(ref, where, call.deps.clock()))


def present(diagnosis: Diagnosis) -> Reply:
    """The verdict, the evidence and the suggestions."""
    lines = [f"{diagnosis.verdict.value}: {diagnosis.summary}"]
    lines += [e.text for e in diagnosis.evidence]
    lines += [f"{n}. {s}" for n, s in enumerate(diagnosis.suggestions, 1)]
    return Reply(replies.diagnosis_reply(diagnosis), lines)


VERB = Verb(
    name="why-missing",
    usage="why-missing <repo:tag | repo@sha256:… | image URI>",
    summary="why an image cannot be pulled, and what to do",
    parse=parse,
    run=run,
    present=present,
    iam_actions=(
        "ecr:DescribeRepositories",
        "ecr:DescribeImages",
        "ecr:DescribeRegistry",
        "ecr:GetLifecyclePolicy",
        "ecr:GetRepositoryPolicy",
        "cloudtrail:LookupEvents",
    ),
)
