"""``plan <repo>``: what the repository's lifecycle policy expires or archives now, and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.blocks import replies
from bot.errors import CommandError
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.explain import Explainer
from bot.lifecycle.inputs import attach_children
from bot.lifecycle.parse import parse_policy
from bot.ops import args as words
from bot.ops.call import Call
from bot.ops.deps import Dependencies, open_repository
from bot.ops.results import PlanResult
from bot.ops.verb import Reply, Verb
from bot.ports import Cloud
from bot.refs import ImageRef, RepositoryKey


@dataclass(frozen=True, slots=True)
class Plan:
    """``plan <repository>``."""

    repository: str


def parse(args: Sequence[str]) -> Plan:
    """Read ``plan <repository>``.

    Example:
        >>> parse(["webshop-assets"]).repository
        'webshop-assets'
    """
    words.count(args, 1, 1, "plan")
    return Plan(words.repository(args[0]))


async def run(call: Call, args: Plan) -> PlanResult:
    """Evaluate the repository's current lifecycle policy now."""
    async with call.cloud() as cloud:
        registry = await cloud.registry_for_ref(ImageRef(args.repository))
        repository = await registry.repository(args.repository)
        if repository is None:
            raise CommandError(f"Repository {args.repository} does not exist in {registry.label}.")
        return await plan_of(call.deps, cloud, repository.key)


async def plan_of(deps: Dependencies, cloud: Cloud, key: RepositoryKey) -> PlanResult:
    """Evaluate the current policy of a repository found earlier (also for the Why? button)."""
    registry, repository = await open_repository(cloud, key)
    if repository is None:
        raise CommandError(f"Repository {key.name} does not exist any more in {registry.label}.")
    info = await registry.lifecycle_policy(repository)
    if info is None:
        raise CommandError(f"{key.name} has no lifecycle policy: ECR expires nothing there.")
    images = await registry.images(repository)
    if any(image.is_index for image in images):
        images = attach_children(images, await registry.index_children(repository, images))
    return PlanResult(repository.key, evaluate(parse_policy(info.text), images, deps.clock()))


def present(result: PlanResult) -> Reply:
    """Per rule, the images it removes, with the reason."""
    explainer = Explainer(result.evaluation)
    lines = [f"Plan for {result.repository.name}:"]
    lines += [
        f"{d.outcome.value} {d.image.digest} {' '.join(d.image.tags)}: {explainer.brief(d)[0]}"
        for d in result.evaluation.acted()
    ]
    return Reply(replies.plan_reply(result), lines)


VERB = Verb(
    name="plan",
    usage="plan <repository>",
    summary="what the lifecycle policy will expire or archive, and why",
    parse=parse,
    run=run,
    present=present,
    iam_actions=(
        "ecr:DescribeRepositories",
        "ecr:GetLifecyclePolicy",
        "ecr:DescribeImages",
        "ecr:BatchGetImage",
    ),
)
