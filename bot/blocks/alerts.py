"""Alert messages: an in-use image at risk, and the parts every later state of it shares (pure).

Each state leads with what it is (at risk, keep tag added, protected, deleted...), then names the
image the same way: repository, release tag and consumer in the header and the notification
text; tags, repository, digest and owner as fields; the consumers, running first; links to the
ECR console and the runbook; times as Slack date tokens, which each reader sees in their own time
zone. The later states are in :mod:`bot.blocks.alert_states`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.blocks.common import (
    CONFIRM_GUARD,
    PROTECT,
    SNOOZE,
    WHY,
    Block,
    actions,
    button,
    confirm_dialog,
    context,
    escape,
    escape_keeping_mentions,
    fields,
    header,
    image_value,
    link,
    message,
    section,
    slack_date,
    split_sentence,
    token_value,
)
from bot.blocks.links import consumer_ref, ecr_image_url, protect_command
from bot.blocks.subject import headline, order_tags, subject_of
from bot.durations import format_duration
from bot.inventory.models import ResolvedUse
from bot.lifecycle.explain import describe_rule
from bot.lifecycle.guard import GUARD_DAYS, is_guard
from bot.lifecycle.policy import LifecyclePolicy
from bot.lifecycle.timefmt import DAY
from bot.refs import RepositoryKey
from bot.risk.models import Risk, RiskWhen
from bot.state.records import AlertSubject, ConsumerNote, GuardPending
from bot.text import plural, short_digest

MAX_CONSUMERS = 5
SNOOZE_UNTIL_ACTS = "acts"
SNOOZE_BLOCK = "lg_snoozed"
MAX_TAGS = 6
CHANNEL_TAG_HINT = "tag or annotate the workload `ecr-lifeguard/channel`"
GUARD_NEVER = (
    f"its “expire after {GUARD_DAYS:,} days” selects only images pushed 100 years ago, "
    "so it never expires anything"
)


@dataclass(frozen=True, slots=True)
class AlertOptions:
    """What the configuration changes in alerts: the Protect button's lease length and what it
    does to the policy (``confirm``: proposes the guard rule; ``automatic``: applies it), the
    Snooze choices and the runbook link.

    Example:
        >>> AlertOptions(runbook_url="https://wiki/ecr").protect_label
        'Protect 7 days'
    """

    protect_for: float = 7 * DAY
    snooze_options: tuple[float, ...] = (3_600.0, 14_400.0)
    runbook_url: str | None = None
    apply_mode: Literal["confirm", "automatic"] = "confirm"

    @property
    def protect_label(self) -> str:
        """The Protect button's text."""
        return f"Protect {duration_label(self.protect_for)}"


@dataclass(frozen=True, slots=True)
class AlertImage:
    """The image an alert is about, and what the alert keeps saying about it."""

    repository: RepositoryKey
    digest: str
    subject: AlertSubject

    @property
    def name(self) -> str:
        """Repository, release tag and consumer."""
        return headline(self.repository.name, self.digest, self.subject)

    @property
    def former_name(self) -> str:
        """Repository, release tag and the consumer that used it (``was running in …``)."""
        return headline(self.repository.name, self.digest, self.subject, past=True)

    @property
    def value(self) -> str:
        """The value of its buttons."""
        return image_value(self.repository, self.digest)


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


def tag_list(tags: Sequence[str], *, ordered: bool = False) -> str:
    """Tags for a message, release tags first, escaped and shortened.

    Example:
        >>> tag_list(("git-1a2b3c", "v1"))
        '`v1` `git-1a2b3c`'
    """
    if not tags:
        return "_untagged_"
    shown = tuple(tags) if ordered else order_tags(tags)
    text = " ".join(f"`{escape(t)}`" for t in shown[:MAX_TAGS])
    return text + (f" +{len(tags) - MAX_TAGS} more" if len(tags) > MAX_TAGS else "")


def consumer_line(use: ResolvedUse) -> str:
    """One consumer: what, where, how it uses the image."""
    line = f"• {escape(use.consumer.where)}: {use.kind.label}"
    if use.use.detail:
        line += f" ({escape(use.use.detail)})"
    if use.note:
        line += f" _{escape(use.note)}_"
    return line


def note_line(note: ConsumerNote) -> str:
    """One consumer of an alert: how it uses the image, then which workload (linked).

    Example:
        >>> from bot.inventory.models import Consumer, UseKind
        >>> note_line(ConsumerNote(consumer=Consumer("k8s-pod", "shop/web-1", namespace="shop"),
        ...                        kind=UseKind.RUNNING, detail="web"))
        '• *running now*: `shop/pod/web-1`, container web'
    """
    line = f"• *{note.kind.label}*: {consumer_ref(note.consumer)}"
    if note.detail:
        part = "container" if note.consumer.kind in {"k8s-pod", "ecs-task"} else ""
        line += f", {part + ' ' if part else ''}{escape(note.detail)}"
    if note.note:
        line += f" _{escape(note.note)}_"
    return line


def consumers_text(subject: AlertSubject) -> str:
    """The consumers, running first, at most :data:`MAX_CONSUMERS`."""
    lines = [note_line(n) for n in subject.consumers[:MAX_CONSUMERS]]
    if len(subject.consumers) > MAX_CONSUMERS:
        lines.append(f"and {len(subject.consumers) - MAX_CONSUMERS} more")
    return "\n".join(lines) or "_(no consumer details)_"


def owner_text(subject: AlertSubject) -> str:
    """The channels that own the consumers (a tag or annotation says so), or how to set one.

    Example:
        >>> owner_text(AlertSubject())
        '_not set_: tag or annotate the workload `ecr-lifeguard/channel`'
    """
    channels = dict.fromkeys(n.consumer.channel for n in subject.consumers if n.consumer.channel)
    if not channels:
        return f"_not set_: {CHANNEL_TAG_HINT}"
    return ", ".join(_channel_ref(c) for c in channels)


def _channel_ref(channel: str) -> str:
    bare = channel.removeprefix("#")
    if bare[:1] in {"C", "G"} and bare.isalnum() and bare.isupper():
        return f"<#{bare}>"
    return escape(channel)


def identity_fields(image: AlertImage) -> Block:
    """Tags, repository (linked to the image in the ECR console), digest and owner."""
    url = ecr_image_url(image.repository, image.digest)
    where = f"{image.repository.registry} · {image.repository.region}"
    return fields(
        ("Tags", tag_list(image.subject.tags, ordered=True)),
        ("Repository", f"{link(url, image.repository.name)}\n{escape(where)}"),
        ("Digest", f"`{image.digest}`"),
        ("Owner", owner_text(image.subject)),
    )


def footer(image: AlertImage, options: AlertOptions, now: float, *extra: str) -> Block:
    """Links to the image and the runbook, and when this was checked."""
    parts = [link(ecr_image_url(image.repository, image.digest), "Image in the ECR console")]
    if options.runbook_url:
        parts.append(link(options.runbook_url, "Runbook"))
    parts += [*extra, f"ECR Lifeguard · checked {slack_date(now)}"]
    return context(" · ".join(parts))


def copy_line(command: str) -> Block:
    """A command to copy, in full (never shortened)."""
    return context(f"From a terminal or another channel: `{escape(command)}`")


def verb_phrase(subject: AlertSubject) -> str:
    """``expire`` or ``archive``."""
    return "archive" if subject.action == "TRANSITION" else "expire"


def timing_text(when: RiskWhen | None, now: float) -> str:
    """When ECR may act, with Slack date tokens.

    Example:
        >>> timing_text(RiskWhen("now"), 0.0)
        "at ECR's next run, within 24 hours"
    """
    if when is None or when.kind == "now":
        return "at ECR's next run, within 24 hours"
    if when.kind == "at" and when.at is not None:
        return f"from {slack_date(when.at, now)}, then within 24 hours"
    return when.describe(now)


def timing_phrase(when: RiskWhen | None, now: float) -> str:
    """When ECR may act, in a few plain words for a header.

    Example:
        >>> timing_phrase(RiskWhen("at", at=3 * 86400.0), 0.0)
        'in 3 days'
    """
    if when is None or when.kind == "now":
        return "within 24 h"
    if when.kind == "at" and when.at is not None:
        return "in " + duration_label(max(when.at - now, 3_600.0)).replace(" hours", " h")
    return f"after {plural(when.pushes or 1, 'more push', 'more pushes')}"


def why_section(subject: AlertSubject, value: str) -> Block:
    """The reasoning in one sentence; More posts the rest in the thread."""
    first, _ = split_sentence(subject.reason)
    return section(
        "*Why* " + escape(first or "the lifecycle policy selects it."),
        accessory=button("More", WHY, value),
    )


def risk_alert(risk: Risk, now: float, options: AlertOptions) -> dict[str, Any]:
    """The alert for one at-risk image (see :func:`alert_message`).

    Example:
        >>> from bot.lifecycle.decisions import Decision, Outcome
        >>> from bot.lifecycle.images import Image
        >>> risk = Risk(RepositoryKey("1", "eu-west-1", "app"),
        ...             Decision(Image("sha256:" + "a" * 64, ("v1",), 0.0), Outcome.EXPIRE),
        ...             (), "It is old.", RiskWhen("now"))
        >>> risk_alert(risk, 0.0, AlertOptions())["text"]
        'app v1 expires within 24 h'
    """
    return alert_message(AlertImage(risk.repository, risk.digest, subject_of(risk)), now, options)


def alert_message(
    image: AlertImage, now: float, options: AlertOptions, *, guard: GuardPending | None = None
) -> dict[str, Any]:
    """The alert while the image is at risk, with Protect / Snooze / More; with ``guard``, the
    keep tag is on but the guard rule waits: it says so, with Apply on the alert itself.

    Example:
        >>> image = AlertImage(RepositoryKey("1", "r", "app"), "sha256:" + "a" * 64,
        ...                    AlertSubject(tags=("v1",), rule_priority=1, reason="Old."))
        >>> [e["action_id"] for e in alert_message(image, 0.0, AlertOptions())["blocks"][-2]
        ...  ["elements"]]
        ['lg_protect', 'lg_snooze']
    """
    subject = image.subject
    if guard is not None:
        return _guard_pending(image, guard, now, options)
    verb = verb_phrase(subject)
    title = f"{image.name} {verb}s {timing_phrase(subject.when, now)}"
    severity = subject.consumers[0].kind.label if subject.consumers else "in use"
    blocks: list[Block] = [
        header(f"🚨 {title}"),
        section(
            f"*At risk: ECR will {verb} it* (rule {subject.rule_priority}) · *{severity}*\n"
            f"*When* {timing_text(subject.when, now)}"
        ),
        identity_fields(image),
        section("*Used by*\n" + consumers_text(subject)),
        why_section(subject, image.value),
        copy_line(protect_command(image.repository, image.digest)),
        actions(_protect_button(image, options), snooze_menu(options.snooze_options)),
        footer(image, options, now),
    ]
    return message(title, blocks)


def _protect_button(image: AlertImage, options: AlertOptions) -> Block:
    span = duration_label(options.protect_for)
    keep = f"adds a keep tag to `{short_digest(image.digest)}` for {span}"
    policy = f"the lifecycle policy of {escape(image.repository.name)}"
    does = (
        f"ECR Lifeguard {keep} and puts the guard rule first in {policy} at once, if it is "
        "missing: the image is shielded right away."
        if options.apply_mode == "automatic"
        else f"ECR Lifeguard {keep}. If {policy} has no guard rule yet, the rule is proposed "
        "here with an Apply button, and the image is not shielded until someone applies it."
    )
    return button(
        options.protect_label,
        PROTECT,
        image.value,
        style="primary",
        confirm=confirm_dialog("Protect this image?", does, "Protect"),
    )


def _guard_pending(
    image: AlertImage, guard: GuardPending, now: float, options: AlertOptions
) -> dict[str, Any]:
    subject = image.subject
    state = "keep tag added — not shielded until the guard rule is applied"
    title = f"{image.name}: {state}"
    changes = "\n".join(escape(c) for c in guard.changes) or (
        f"+ the guard rule, first: keeps images tagged `{escape(guard.keep_tag)}`; {GUARD_NEVER}"
    )
    blocks: list[Block] = [
        header(f"🟠 {image.name}: keep tag added, not shielded yet"),
        section(
            f"*Keep tag added — not shielded until the guard rule is applied.* "
            f"{escape_keeping_mentions(guard.owner)} protected it until "
            f"{slack_date(guard.until, now)}, but the lifecycle policy has no guard rule for "
            f"keep tags yet, so rule {subject.rule_priority} still {verb_phrase(subject)}s it "
            f"{timing_text(subject.when, now)}."
        ),
        section("*The change Apply makes*\n" + changes),
        identity_fields(image),
        section("*Used by*\n" + consumers_text(subject)),
        why_section(subject, image.value),
        actions(
            button(
                "Apply the guard rule",
                CONFIRM_GUARD,
                token_value(guard.token),
                style="primary",
                confirm=confirm_dialog(
                    "Change the lifecycle policy?",
                    f"Puts the guard rule first in the lifecycle policy of "
                    f"{escape(image.repository.name)}; the other rules keep their order. Then "
                    f"`{escape(guard.keep_tag)}` shields the image.",
                    "Apply",
                ),
            ),
            snooze_menu(options.snooze_options),
        ),
        footer(image, options, now),
    ]
    return message(title, blocks)


def guard_changes(before: LifecyclePolicy, after: LifecyclePolicy, prefix: str) -> tuple[str, ...]:
    """The rule diff the guard rule makes, in words: the new rule (and why "expire after 36500
    days" never expires anything), then the rules that only move.

    Example:
        >>> from bot.lifecycle.guard import with_guard
        >>> from bot.lifecycle.parse import parse_policy
        >>> policy = parse_policy('{"rules": [{"rulePriority": 1, "action": {"type": "expire"}, '
        ...     '"selection": {"tagStatus": "any", "countType": "imageCountMoreThan", '
        ...     '"countNumber": 5}}]}')
        >>> for line in guard_changes(policy, with_guard(policy, "keep-"), "keep-"):
        ...     print(line)
        + rule 1 (new, first): keeps every image with a tag starting with `keep-`; its “expire after 36,500 days” selects only images pushed 100 years ago, so it never expires anything
        ~ rule 1 → rule 2, otherwise unchanged: all images; keep the newest 5, expire the rest
    """  # noqa: E501
    added = [r for r in after.by_priority() if is_guard(r, prefix)]
    lines = [
        f"+ rule {r.rule_priority} (new, first): keeps every image with a tag starting with "
        f"`{prefix}`; {GUARD_NEVER}"
        for r in added
    ]
    others = [r for r in after.by_priority() if not is_guard(r, prefix)]
    for old, new in zip(before.by_priority(), others, strict=False):
        if old.rule_priority != new.rule_priority:
            summary = describe_rule(new).split(": ", 1)[-1]
            lines.append(
                f"~ rule {old.rule_priority} → rule {new.rule_priority}, otherwise unchanged: "
                + summary
            )
    if len(lines) == len(added):
        lines.append("the other rules stay as they are")
    return tuple(lines)


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


def with_snooze(
    original: dict[str, Any], by: str, until: float, now: float | None = None
) -> dict[str, Any]:
    """The alert message as it was, saying first who snoozed it until when (pure).

    Example:
        >>> m = with_snooze({"text": "t", "blocks": [header("h"), context("x")]}, "<@U1>", 0.0)
        >>> m["blocks"][1]["text"]["text"][:40]
        '💤 *Snoozed* by <@U1> until <!date^0^{dat'
    """
    blocks = [b for b in original.get("blocks", []) if b.get("block_id") != SNOOZE_BLOCK]
    line = section(
        f"💤 *Snoozed* by {escape_keeping_mentions(by)} until {slack_date(until, now)}: the "
        "alert comes back then, or as soon as the risk changes."
    )
    line["block_id"] = SNOOZE_BLOCK
    at = 1 if blocks and blocks[0].get("type") == "header" else 0
    return message(str(original.get("text", "")), [*blocks[:at], line, *blocks[at:]])
