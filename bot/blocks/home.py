"""The App Home tab: at-risk images per repository and active protections (pure)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bot.blocks.alerts import tag_list
from bot.blocks.common import Block, context, divider, escape, header, section
from bot.lifecycle.timefmt import human
from bot.state.records import Lease
from bot.state.store import JsonObject
from bot.text import plural, short_digest

MAX_REPOSITORIES = 20


def home_view(last_scan: JsonObject | None, leases: list[Lease], now: float) -> dict[str, Any]:
    """The Home tab view.

    Example:
        >>> home_view(None, [], 0.0)["type"]
        'home'
    """
    blocks: list[Block] = [header("ECR Lifeguard")]
    blocks += _risks(last_scan)
    blocks.append(divider())
    blocks += _leases(leases, now)
    blocks.append(context("`/ecr help` lists the commands · `/ecr at-risk` scans now"))
    return {"type": "home", "blocks": blocks[:100]}


def _risks(last_scan: JsonObject | None) -> list[Block]:
    if last_scan is None:
        return [section("No scan has finished yet; the first runs a few minutes after start-up.")]
    risks = last_scan.get("risks", [])
    scanned = (
        f"Last scan {human(float(last_scan['at']))}, {last_scan['repositories']} repositories."
    )
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
        f"• `{escape(lease.repository.name)}@{short_digest(lease.digest)}` by {lease.owner}, "
        f"ends {human(lease.until)}" + (f": {escape(lease.reason)}" if lease.reason else "")
        for lease in leases[:30]
    ]
    return [section(f"*Protections ({len(leases)})*\n" + "\n".join(lines))]
