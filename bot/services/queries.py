"""The read-only commands: plan, at-risk, why-missing, protections, audit."""

from __future__ import annotations

from bot.assemble import inventory_sources, registries
from bot.aws.cloudtrail import CloudTrailForensics
from bot.aws.ecr import EcrRegistry
from bot.diagnose.investigate import Investigation, investigate
from bot.diagnose.verdict import Diagnosis, conclude
from bot.inventory.sources import collect_inventory
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.inputs import attach_children
from bot.lifecycle.parse import parse_policy
from bot.refs import ImageRef
from bot.scan import ScanOptions, ScanReport, scan
from bot.services.core import CommandError, Lifeguard
from bot.services.results import PlanResult
from bot.state.records import Lease
from bot.state.store import JsonObject


async def plan_repository(lifeguard: Lifeguard, name: str) -> PlanResult:
    """Evaluate one repository's current lifecycle policy now.

    Example::

        result = await plan_repository(lifeguard, "webshop-assets")
        expiring = [d for d in result.evaluation.acted()]
    """
    async with lifeguard.aws() as aws:
        registry = EcrRegistry(aws, lifeguard.target_for(ImageRef(name)))
        repository = await registry.repository(name)
        if repository is None:
            raise CommandError(f"Repository {name} does not exist in {registry.label}.")
        info = await registry.lifecycle_policy(repository)
        if info is None:
            raise CommandError(f"{name} has no lifecycle policy: ECR expires nothing there.")
        images = await registry.images(repository)
        if any(image.is_index for image in images):
            images = attach_children(images, await registry.index_children(repository, images))
    evaluation = evaluate(parse_policy(info.text), images, lifeguard.clock())
    return PlanResult(repository.key, evaluation)


async def at_risk(lifeguard: Lifeguard, glob: str = "*") -> ScanReport:
    """A fresh scan of the repositories matching ``glob``."""
    settings = lifeguard.settings
    options = ScanOptions(
        now=lifeguard.clock(),
        repository_globs=(glob,),
        horizon=settings.scan.horizon_days * 86_400,
        push_margin=settings.scan.push_margin,
    )
    async with lifeguard.aws() as aws:
        inventory = await collect_inventory(await inventory_sources(settings, aws))
        return await scan(registries(settings, aws), inventory, options)


async def why_missing(lifeguard: Lifeguard, ref: ImageRef) -> Diagnosis:
    """The why-missing verdict for a reference."""
    async with lifeguard.aws() as aws:
        home = lifeguard.target_for(ref)
        others = [r for r in registries(lifeguard.settings, aws) if r.target != home]
        where = Investigation(EcrRegistry(aws, home), others, CloudTrailForensics(aws, home))
        return conclude(await investigate(ref, where, lifeguard.clock()))


async def protections(lifeguard: Lifeguard, repository: str | None = None) -> list[Lease]:
    """Active leases, soonest to end first."""
    return await lifeguard.leases.active(repository)


async def audit_entries(
    lifeguard: Lifeguard, repository: str | None = None, count: int = 20
) -> list[JsonObject]:
    """The newest audit entries."""
    return await lifeguard.audit.recent(count, repository)
