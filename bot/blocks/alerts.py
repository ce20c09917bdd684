"""Alert messages: an in-use image at risk, and how its thread ends (pure)."""

from __future__ import annotations

from typing import Any

from bot.blocks.common import (
    PROTECT,
    RESTORE,
    SNOOZE,
    WHY,
    Block,
    actions,
    button,
    confirm_dialog,
    context,
    escape,
    fields,
    header,
    image_value,
    message,
    section,
)
from bot.durations import format_duration
from bot.inventory.models import ResolvedUse
from bot.lifecycle.timefmt import human
from bot.refs import RepositoryKey
from bot.risk.models import Risk

MAX_CONSUMERS = 5
MAX_TAGS = 6


def short_digest(digest: str) -> str:
    """The first 12 hex digits, as people quote a digest.

    Example:
        >>> short_digest("sha256:ec1477a7420a97a789dd4b778a0a1141a6c6ba9314fce70599c134964121960c")
        'ec1477a7420a'
    """
    return digest.removeprefix("sha256:")[:12]


def duration_label(seconds: float) -> str:
    """A duration for a button: whole days or hours in words, else the short form.

    Example:
        >>> duration_label(7 * 86400), duration_label(86400), duration_label(12 * 3600)
        ('7 days', '1 day', '12 hours')
    """
    for unit, size in (("day", 86_400), ("hour", 3_600)):
        count, rest = divmod(int(seconds), size)
        if count and not rest:
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return format_duration(seconds)


def tag_list(tags: tuple[str, ...]) -> str:
    """Tags for a message, escaped and shortened.

    Example:
        >>> tag_list(("v1", "v2"))
        '`v1` `v2`'
    """
    if not tags:
        return "_untagged_"
    shown = " ".join(f"`{escape(t)}`" for t in tags[:MAX_TAGS])
    return shown + (f" +{len(tags) - MAX_TAGS} more" if len(tags) > MAX_TAGS else "")


def consumer_line(use: ResolvedUse) -> str:
    """One consumer: what, where, how it uses the image."""
    line = f"• {escape(use.consumer.where)}: {use.kind.label}"
    if use.use.detail:
        line += f" ({escape(use.use.detail)})"
    if use.note:
        line += f" _{escape(use.note)}_"
    return line


def alert_message(
    risk: Risk, now: float, *, protect_for: float, snoozed_by: str | None = None
) -> dict[str, Any]:
    """The alert for one at-risk image, with Protect / Snooze / Why? buttons.

    Example:
        >>> from bot.lifecycle.decisions import Decision, Outcome
        >>> from bot.lifecycle.images import Image
        >>> from bot.risk.models import RiskWhen
        >>> risk = Risk(RepositoryKey("1", "eu-west-1", "app"),
        ...             Decision(Image("sha256:" + "a" * 64, ("v1",), 0.0), Outcome.EXPIRE),
        ...             (), "why", RiskWhen("now"))
        >>> [e["action_id"] for e in alert_message(risk, 0.0, protect_for=604800)["blocks"][-2]["elements"]]
        ['lg_protect', 'lg_snooze', 'lg_why']
    """  # noqa: E501
    image = risk.decision.image
    verb = "archive" if risk.action == "TRANSITION" else "expire"
    name = f"{risk.repository.name} {short_digest(image.digest)}"
    value = image_value(risk.repository, image.digest)
    blocks: list[Block] = [
        header(f"🚨 In-use image at risk: {name}"),
        section(
            f"*ECR will {verb} it* (rule {risk.rule_priority}): {escape(risk.when.describe(now))}"
        ),
        fields(
            ("Used", risk.severity.label),
            ("Tags", tag_list(image.tags)),
            ("Repository", f"`{escape(str(risk.repository))}`"),
            ("Digest", f"`{image.digest}`"),
        ),
        section("*Used by*\n" + _consumers(risk)),
        section("*Why*\n" + escape(risk.reason)),
        actions(
            button(
                f"Protect {duration_label(protect_for)}",
                PROTECT,
                value,
                style="primary",
                confirm=confirm_dialog(
                    "Protect this image?",
                    f"Adds a keep tag to `{short_digest(image.digest)}` and, if missing, a guard "
                    f"rule at the top of the lifecycle policy of {escape(risk.repository.name)}.",
                    "Protect",
                ),
            ),
            button("Snooze until next evaluation", SNOOZE, value),
            button("Why?", WHY, value),
        ),
        context(_footer(now, snoozed_by)),
    ]
    return message(f"In-use image at risk: {name} ({verb} by rule {risk.rule_priority})", blocks)


def _consumers(risk: Risk) -> str:
    lines = [consumer_line(use) for use in risk.uses[:MAX_CONSUMERS]]
    if len(risk.uses) > MAX_CONSUMERS:
        lines.append(f"… and {len(risk.uses) - MAX_CONSUMERS} more")
    return "\n".join(lines) or "_(no consumer details)_"


def _footer(now: float, snoozed_by: str | None) -> str:
    text = f"ECR Lifeguard · checked {human(now)}"
    if snoozed_by:
        text += f" · snoozed by {snoozed_by} until ECR evaluates the repository again"
    return text


def resolved_message(
    repository: RepositoryKey, digest: str, reason: str, detail: str
) -> dict[str, Any]:
    """The alert once its risk ended; a deleted image gets a Restore button.

    Example:
        >>> m = resolved_message(RepositoryKey("1", "r", "app"), "sha256:" + "a" * 64, "deleted",
        ...                      "the image was deleted")
        >>> m["blocks"][-1]["elements"][0]["action_id"]
        'lg_restore'
    """
    name = f"{repository.name} {short_digest(digest)}"
    title = {
        "protected": f"🛡️ Protected: {name}",
        "safe": f"✅ No longer at risk: {name}",
        "deleted": f"🗑️ Deleted: {name}",
    }.get(reason, f"✅ Resolved: {name}")
    blocks: list[Block] = [
        header(title),
        section(detail[:1].upper() + detail[1:] + "."),  # our own text, with Slack mentions
        context(f"`{escape(str(repository))}@{digest}`"),
    ]
    if reason == "deleted":
        blocks.append(
            actions(
                button(
                    "Restore",
                    RESTORE,
                    image_value(repository, digest),
                    style="primary",
                    confirm=confirm_dialog(
                        "Restore this image?",
                        "Re-pushes the manifest ECR Lifeguard saved, if its layers still exist.",
                        "Restore",
                    ),
                ),
                button("Why?", WHY, image_value(repository, digest)),
            )
        )
    return message(title, blocks)
