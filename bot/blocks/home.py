"""The App Home tab: at-risk images per repository and active protections (pure)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bot.blocks.alerts import tag_list
from bot.blocks.common import (
    Block,
    context,
    divider,
    escape,
    escape_keeping_mentions,
    header,
    section,
    slack_date,
)
from bot.refs import RepositoryKey
from bot.state.records import Lease
from bot.state.store import JsonObject
from bot.text import plural, short_digest

MAX_REPOSITORIES = 20
NO_SCAN_YET = "No scan has finished yet; the first runs a few minutes after start-up."


def home_view(last_scan: JsonObject | None, leases: list[Lease], now: float) -> dict[str, Any]:
    """The Home tab view.

    Example:
        >>> home_view(None, [], 0.0)["type"]
        'home'
    """
    blocks: list[Block] = [header("ECR Lifeguard")]
    if last_scan is None:
        blocks.append(section(NO_SCAN_YET))
    else:
        risks, covered = unprotected_risks(last_scan, leases)
        blocks += _risks(last_scan, risks)
        if covered:
            blocks.append(
                context(
                    f"{plural(covered, 'image')} of the last scan protected since: "
                    "listed under Protections."
                )
            )
    blocks.append(divider())
    blocks += _leases(leases, now)
    blocks.append(context("`/ecr help` lists the commands · `/ecr at-risk` scans now"))
    return {"type": "home", "blocks": blocks[:100]}


def unprotected_risks(last_scan: JsonObject, leases: list[Lease]) -> tuple[list[JsonObject], int]:
    """The last scan's at-risk images that no lease protects now, and how many one does.

    An image protected since the scan is listed as protected, never as at risk too.

    Example:
        >>> from bot.refs import RepositoryKey
        >>> lease = Lease(repository=RepositoryKey("1", "eu-west-1", "app"), digest="sha256:ab",
        ...               owner="<@U1>", reason="", created_at=0.0, until=86400.0,
        ...               keep_tag="keep-ab")
        >>> scan = {"risks": [
        ...     {"repository": "app", "registry": "1", "region": "eu-west-1",
        ...      "digest": "sha256:ab"},
        ...     {"repository": "app", "digest": "sha256:cd"},
        ... ]}
        >>> risks, covered = unprotected_risks(scan, [lease])
        >>> [risk["digest"] for risk in risks], covered
        (['sha256:cd'], 1)
    """
    protected = {(lease.repository, lease.digest) for lease in leases}
    by_name = {(lease.repository.name, lease.digest) for lease in leases}
    risks: list[JsonObject] = []
    for risk in last_scan.get("risks", []):
        name, digest = str(risk["repository"]), str(risk["digest"])
        if "registry" in risk and "region" in risk:
            key = RepositoryKey(str(risk["registry"]), str(risk["region"]), name)
            covered = (key, digest) in protected
        else:  # a summary written before risks carried their registry and region
            covered = (name, digest) in by_name
        if not covered:
            risks.append(risk)
    return risks, len(last_scan.get("risks", [])) - len(risks)


def _risks(last_scan: JsonObject, risks: list[JsonObject]) -> list[Block]:
    repositories = plural(int(last_scan["repositories"]), "repository", "repositories")
    scanned = f"Last scan {slack_date(float(last_scan['at']))}, {repositories}."
    if not risks:
        return [section(f"*No in-use image is at risk.* {scanned}")]
    by_repository: dict[str, list[JsonObject]] = defaultdict(list)
    for risk in risks:
        by_repository[str(risk["repository"])].append(risk)
    blocks = [section(f"*{plural(len(risks), 'in-use image')} at risk.* {scanned}")]
    for name, items in sorted(by_repository.items())[:MAX_REPOSITORIES]:
        lines = [
            f"• `{short_digest(str(r['digest']))}` {tag_list(tuple(r['tags']))}: "
            f"{escape(str(r['severity']))}; rule {r['rule']} {escape(str(r['when']))}"
            for r in items[:5]
        ]
        more = f"\n… and {len(items) - 5} more" if len(items) > 5 else ""
        blocks.append(section(f"*{escape(name)}*\n" + "\n".join(lines) + more))
    return blocks


def _leases(leases: list[Lease], now: float) -> list[Block]:
    if not leases:
        return [section("*Protections:* none.")]
    lines = [
        f"• `{escape(lease.repository.name)}@{short_digest(lease.digest)}` by "
        f"{escape_keeping_mentions(lease.owner)}, ends {slack_date(lease.until)}"
        + (f": {escape(lease.reason)}" if lease.reason else "")
        for lease in leases[:30]
    ]
    if len(leases) > 30:
        lines.append(f"… and {len(leases) - 30} more: `/ecr protections`")
    return [section(f"*Protections ({len(leases)})*\n" + "\n".join(lines))]
