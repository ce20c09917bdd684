"""Alert messages: an in-use image at risk, and how its thread ends (pure)."""

from __future__ import annotations

from collections.abc import Sequence
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
from bot.lifecycle.timefmt import DAY, human
from bot.refs import RepositoryKey
from bot.risk.models import Risk
from bot.text import plural, short_digest

MAX_CONSUMERS = 5
SNOOZE_UNTIL_ACTS = "acts"
SNOOZE_BLOCK = "lg_snoozed"
MAX_TAGS = 6


def duration_label(seconds: float) -> str:
    """A duration for a button: whole days or hours in words, else the short form.

    Example:
        >>> duration_label(7 * 86400), duration_label(86400), duration_label(12 * 3600)
        ('7 days', '1 day', '12 hours')
    """
    for unit, size in (("day", int(DAY)), ("hour", 3_600)):
        count, rest = divmod(int(seconds), size)
        if count and not rest:
            return plural(count, unit)
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
    risk: Risk,
    now: float,
    *,
    protect_for: float,
    snooze_options: Sequence[float] = (3_600.0, 14_400.0),
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
        >>> [o["value"] for o in alert_message(risk, 0.0, protect_for=604800)["blocks"][-2]["elements"][1]["options"]]
        ['3600', '14400', 'acts']
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
            snooze_menu(snooze_options),
            button("Why?", WHY, value),
        ),
        context(f"ECR Lifeguard · checked {human(now)}"),
    ]
    return message(f"In-use image at risk: {name} ({verb} by rule {risk.rule_priority})", blocks)


def _consumers(risk: Risk) -> str:
    lines = [consumer_line(use) for use in risk.uses[:MAX_CONSUMERS]]
    if len(risk.uses) > MAX_CONSUMERS:
        lines.append(f"… and {len(risk.uses) - MAX_CONSUMERS} more")
    return "\n".join(lines) or "_(no consumer details)_"


def snooze_menu(options: Sequence[float]) -> Block:
    """The Snooze menu: each configured duration, then "until ECR may act" (value ``acts``)."""
    choices = [(duration_label(o), str(int(o))) for o in options] + [
        ("until ECR may act", SNOOZE_UNTIL_ACTS)
    ]
    return {
        "type": "static_select",
        "action_id": SNOOZE,
        "placeholder": {"type": "plain_text", "text": "Snooze…"},
        "options": [
            {"text": {"type": "plain_text", "text": label}, "value": value}
            for label, value in choices
        ],
    }


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


def with_snooze(original: dict[str, Any], by: str, until: float) -> dict[str, Any]:
    """The alert message as it was, with a line saying who snoozed it until when (pure).

    Example:
        >>> m = with_snooze({"text": "t", "blocks": [context("ECR Lifeguard")]}, "<@U1>", 0.0)
        >>> m["blocks"][-1]["elements"][-1]["text"]
        '💤 Snoozed by <@U1> until 1970-01-01 00:00 UTC'
    """
    blocks = [b for b in original.get("blocks", []) if b.get("block_id") != SNOOZE_BLOCK]
    line = context(f"💤 Snoozed by {by} until {human(until)}")
    line["block_id"] = SNOOZE_BLOCK
    return message(str(original.get("text", "")), [*blocks, line])
