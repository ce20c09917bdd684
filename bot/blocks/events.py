"""Messages for what events reveal: a policy change's blast radius, and an in-use image deleted
(pure)."""

from __future__ import annotations

from typing import Any

from bot.blocks.alert_states import deleted_message
from bot.blocks.alerts import AlertImage, AlertOptions, consumer_line, tag_list
from bot.blocks.common import (
    Block,
    context,
    escape,
    escape_keeping_mentions,
    header,
    message,
    section,
)
from bot.inventory.models import ResolvedUse
from bot.lifecycle.decisions import Decision
from bot.refs import RepositoryKey
from bot.risk.blast import BlastRadius
from bot.state.records import AlertSubject
from bot.text import plural, short_digest

LISTED = 8


def _verb(decision: Decision) -> str:
    rule = decision.rule
    return "archives" if rule is not None and rule.action.type == "transition" else "expires"


def blast_radius_message(blast: BlastRadius) -> dict[str, Any]:
    """What a lifecycle policy change does: the in-use images it now hits first, then the rest.

    Example:
        >>> from bot.risk.blast import BlastRadius
        >>> m = blast_radius_message(BlastRadius(RepositoryKey("1", "r", "app"), "<@U1>", (), {},
        ...                                      (), ("+ rule 1: …",)))
        >>> m["text"]
        'Lifecycle policy of app changed by <@U1>: no image is affected'
    """
    name = blast.repository.name
    hit = len(blast.in_use)
    head = (
        f"{plural(hit, 'in-use image')} now at risk"
        if hit
        else ("no image is affected" if blast.quiet else "no in-use image is affected")
    )
    what = "removed" if blast.removed else "changed"
    title = f"Lifecycle policy of {name} {what} by {blast.who}: {head}"
    blocks: list[Block] = [
        header(("🚨 " if hit else "ℹ️ ") + f"Lifecycle policy of {name} {what}"),
        section(escape_keeping_mentions(f"{blast.who} {what} the policy: {head}.")),
    ]
    if blast.in_use:
        lines = [
            _image_line(d, blast.in_use[d.image.digest])
            for d in blast.newly
            if d.image.digest in blast.in_use
        ][:LISTED]
        blocks.append(section("*In use, and now at risk*\n" + "\n".join(lines)))
    others = [d for d in blast.newly if d.image.digest not in blast.in_use]
    if others:
        blocks.append(
            section(
                f"*Newly expired or archived: {plural(len(others), 'image')}* (not in use)\n"
                + "\n".join(_brief(d) for d in others[:LISTED])
                + (f"\n… and {len(others) - LISTED} more" if len(others) > LISTED else "")
            )
        )
    if blast.spared:
        blocks.append(
            section(
                f"*No longer touched: {plural(len(blast.spared), 'image')}*\n"
                + "\n".join(_brief(d) for d in blast.spared[:LISTED])
            )
        )
    if blast.changes:
        blocks.append(section("*Rules*\n" + "\n".join(escape(c) for c in blast.changes[:20])))
    blocks.append(context(f"`{escape(str(blast.repository))}` · `/ecr plan {escape(name)}`"))
    return message(title, blocks)


def _image_line(decision: Decision, uses: tuple[ResolvedUse, ...]) -> str:
    users = "; ".join(consumer_line(u).removeprefix("• ") for u in uses[:3])
    return f"• {_brief(decision)}\n    used by {users}"


def _brief(decision: Decision) -> str:
    image = decision.image
    rule = f" by rule {decision.rule.rule_priority}" if decision.rule else ""
    return f"`{short_digest(image.digest)}` {tag_list(image.tags)}: {_verb(decision)}{rule}"


def deleted_in_use_message(
    repository: RepositoryKey,
    digest: str,
    subject: AlertSubject,
    detail: str,
    *,
    now: float,
    options: AlertOptions | None = None,
) -> dict[str, Any]:
    """An in-use image was deleted: when, by what, what will now fail; with Restore.

    Example:
        >>> m = deleted_in_use_message(RepositoryKey("1", "r", "app"), "sha256:" + "a" * 64,
        ...                            AlertSubject(tags=("v1",)), "deleted by lifecycle rule 1",
        ...                            now=0.0)
        >>> m["text"], m["blocks"][-2]["elements"][0]["action_id"]
        ('Deleted: app v1: deleted by lifecycle rule 1', 'lg_restore')
    """
    return deleted_message(AlertImage(repository, digest, subject), detail, now, options)
