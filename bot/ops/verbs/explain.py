"""The **Why?** button: the acting rule's reasoning and advice on the policy, or the why-missing
verdict when the image is gone (read-only)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.blocks import replies
from bot.blocks.common import escape, split_sentence
from bot.diagnose.verdict import Diagnosis
from bot.errors import CommandError
from bot.lifecycle.explain import Explainer
from bot.lifecycle.lint import lint
from bot.ops.call import Call
from bot.ops.deps import image_ref
from bot.ops.verb import Reply, Verb
from bot.ops.verbs.buttons import ImageButton, parse_image
from bot.ops.verbs.plan import plan_of
from bot.ops.verbs.why_missing import diagnose
from bot.text import short_digest


@dataclass(frozen=True)
class Explained:
    """Why the policy acts on an image, and what to improve in the policy."""

    digest: str
    explanation: str
    advice: list[str]
    name: str = ""


async def run(call: Call, args: ImageButton) -> Explained | Diagnosis:
    """The reasoning for the image, or why it is missing."""
    async with call.cloud() as cloud:
        try:
            plan = await plan_of(call.deps, cloud, args.repository)
            decision = plan.evaluation.by_digest().get(args.digest)
        except CommandError:
            decision = None
        if decision is None:
            return await diagnose(call, cloud, image_ref(args.repository, args.digest))
    explanation = Explainer(plan.evaluation).explain(decision)
    advice = [f"{f.code}: {f.title}. {f.fix}" for f in lint(plan.evaluation.policy)][:3]
    name = replies.image_name(args.repository.name, args.digest, decision.image.tags)
    return Explained(args.digest, explanation, advice, name)


def present(result: Explained | Diagnosis) -> Reply:
    """The reasoning beyond the alert's one sentence (not repeated), in the alert's thread for
    everyone."""
    if isinstance(result, Diagnosis):
        return Reply(replies.diagnosis_reply(result), [result.summary], public=True)
    _, rest = split_sentence(result.explanation)
    text = f"*More on why {escape(result.name or short_digest(result.digest))}*: " + (
        rest or "the alert's sentence is the whole reasoning."
    )
    if result.advice:
        text += "\n\n*About the policy*\n" + "\n".join(f"• {a}" for a in result.advice)
    return Reply(replies.text_reply(text), [result.explanation, *result.advice], public=True)


VERB = Verb(
    name="why",
    usage="why <image URI with digest>",
    summary="why the policy acts on an image",
    parse=parse_image,
    run=run,
    present=present,
    iam_actions=("ecr:DescribeRepositories", "ecr:GetLifecyclePolicy", "ecr:DescribeImages"),
    typed=False,
)
