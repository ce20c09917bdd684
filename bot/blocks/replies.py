"""Replies to ``/ecr`` commands and button clicks (pure)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from bot.blocks.alerts import consumer_line, tag_list
from bot.blocks.common import (
    CANCEL,
    CONFIRM_GUARD,
    CONFIRM_RETAG,
    Block,
    actions,
    button,
    code,
    confirm_dialog,
    context,
    divider,
    escape,
    escape_keeping_mentions,
    header,
    message,
    section,
    token_value,
)
from bot.diagnose.verdict import Diagnosis
from bot.errors import Explanation
from bot.lifecycle.decisions import Outcome
from bot.lifecycle.explain import Explainer, describe_rule
from bot.lifecycle.timefmt import human
from bot.ops.results import (
    PlanResult,
    PolicyChange,
    ProtectResult,
    RestoreResult,
    RetagResult,
    Shielding,
    UnprotectResult,
)
from bot.state.records import AuditEntry, Lease
from bot.text import plural, short_digest
from bot.watch.scan import ScanReport

MAX_LISTED = 15


def text_reply(text: str) -> dict[str, Any]:
    """A one-section reply of our own text (its mentions of people stay mentions)."""
    return message(text, [section(escape_keeping_mentions(text))])


def error_reply(explanation: Explanation) -> dict[str, Any]:
    """What went wrong, as :func:`bot.errors.explain` words it, shown only to the asker.

    Example:
        >>> from bot.errors import Denied, explain
        >>> error_reply(explain(Denied("no")))["blocks"][-1]["elements"][0]["text"]
        'This was recorded in the audit log.'
    """
    if explanation.kind == "usage":
        return usage_reply(explanation.text, explanation.usage)
    if explanation.kind == "denied":
        return denied_reply(explanation.text)
    return text_reply(explanation.text)


def usage_reply(problem: str, usage: str) -> dict[str, Any]:
    """What was wrong with the command, and how to write it.

    Example:
        >>> usage_reply("retag takes 2 argument(s), got 1", "retag <ref> <new-tag>")["text"]
        'retag takes 2 argument(s), got 1'
    """
    blocks = [section(f":warning: {escape(problem)}")]
    if usage:
        blocks.append(context(f"Usage: `/ecr {escape(usage)}` · `/ecr help` lists every command"))
    return message(problem, blocks)


def help_reply(entries: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """Every command with a one-line summary."""
    lines = [f"`/ecr {escape(usage)}`: {escape(summary)}" for usage, summary in entries]
    blocks = [
        section("*ECR Lifeguard* keeps ECR lifecycle policies from deleting images in use.\n"),
        section("\n".join(lines)),
        context("protect, unprotect, retag and restore need permission; everything is audited."),
    ]
    return message("ECR Lifeguard commands", blocks)


def plan_reply(result: PlanResult) -> dict[str, Any]:
    """What the policy does now to a repository: per rule, the images it removes."""
    evaluation = result.evaluation
    explainer = Explainer(evaluation)
    counts = Counter(d.outcome for d in evaluation.decisions)
    blocks: list[Block] = [
        header(f"Plan for {result.repository.name}"),
        section(
            f"{counts[Outcome.EXPIRE]} to expire, {counts[Outcome.TRANSITION]} to archive, "
            f"{counts[Outcome.BLOCKED]} blocked by an index, {counts[Outcome.KEEP]} kept "
            f"({len(evaluation.decisions)} images, {human(evaluation.now)})."
        ),
    ]
    for summary in evaluation.rules:
        acted = [d for d in evaluation.acted() if d.rule is summary.rule]
        lines = [
            f"• `{short_digest(d.image.digest)}` {tag_list(d.image.tags)}: "
            + escape(explainer.brief(d)[0])
            for d in acted[:5]
        ]
        more = f"\n… and {len(acted) - 5} more" if len(acted) > 5 else ""
        blocks.append(
            section(
                f"*{escape(describe_rule(summary.rule))}*\n"
                + ("\n".join(lines) or "_nothing_")
                + more
            )
        )
    blocks.append(context("`ecr-lifeguard plan` prints every image with its reason."))
    return message(f"Plan for {result.repository.name}", blocks)


def at_risk_reply(report: ScanReport) -> dict[str, Any]:
    """In-use images at risk, most urgent first."""
    risks = report.risks
    blocks: list[Block] = [
        header(f"In-use images at risk: {len(risks)}"),
        section(
            f"{len(report.repositories)} repositories scanned, "
            f"{sum(r.in_use for r in report.repositories)} in-use images."
        ),
    ]
    for risk in risks[:MAX_LISTED]:
        image = risk.decision.image
        uses = "\n".join(consumer_line(u) for u in risk.uses[:3])
        blocks.append(
            section(
                f"*{escape(risk.repository.name)}* `{short_digest(image.digest)}` "
                f"{tag_list(image.tags)}\n{risk.severity.label}; rule {risk.rule_priority}: "
                f"{escape(risk.when.describe(report.now))}\n{uses}"
            )
        )
    if len(risks) > MAX_LISTED:
        blocks.append(context(f"… and {len(risks) - MAX_LISTED} more: `ecr-lifeguard scan`"))
    for problem in report.problems[:5]:
        blocks.append(context(f":warning: could not check: {escape(problem)}"))
    return message(f"{plural(len(risks), 'in-use image')} at risk", blocks)


def diagnosis_reply(diagnosis: Diagnosis) -> dict[str, Any]:
    """The why-missing verdict with evidence and suggestions."""
    evidence = sorted(diagnosis.evidence, key=lambda e: (e.at is None, e.at or 0.0))
    lines = [(f"{human(e.at)}: " if e.at else "") + e.text for e in evidence]
    blocks: list[Block] = [
        header(f"{diagnosis.verdict.value}: {diagnosis.ref}"[:150]),
        section(escape(diagnosis.summary)),
    ]
    if lines:
        blocks.append(section("*Evidence*\n" + "\n".join(f"• {escape(line)}" for line in lines)))
    if diagnosis.suggestions:
        numbered = [f"{n}. {escape(s)}" for n, s in enumerate(diagnosis.suggestions, 1)]
        blocks.append(section("*What to do*\n" + "\n".join(numbered)))
    return message(diagnosis.summary, blocks)


def _shielding_line(shielding: Shielding | None) -> str:
    if shielding is None:
        return "The repository has no lifecycle policy, so nothing expires it."
    if shielding.shielded:
        return "✅ The evaluator confirms it is now shielded: " + escape(shielding.explanation)
    return "⚠️ Not shielded yet: " + escape(shielding.explanation)


def protect_reply(result: ProtectResult) -> dict[str, Any]:
    """The protection: lease, keep tag, guard rule (applied, or waiting for confirmation)."""
    lease = result.lease
    verb = "extended" if result.extended else "protected"
    lines = [
        f"{lease.owner} {verb} `{escape(lease.repository.name)}@{short_digest(lease.digest)}` "
        f"until {human(lease.until)}" + (f": {escape(lease.reason)}" if lease.reason else "."),
        f"Keep tag `{escape(lease.keep_tag)}` "
        + ("added." if result.keep_tag_added else "already on the image."),
    ]
    blocks: list[Block] = [section("\n".join(lines))]
    change = result.change
    if change is not None and change.token:
        blocks += policy_change_blocks(change)
    else:
        if change is not None:
            blocks.append(section("The guard rule was added at the top of the lifecycle policy."))
        blocks.append(section(_shielding_line(result.shielding)))
    return message(f"{lease.repository.name}@{short_digest(lease.digest)} {verb}", blocks)


def policy_change_blocks(change: PolicyChange) -> list[Block]:
    """The exact policy change, and buttons to apply it (authorised users) or leave it."""
    assert change.token is not None
    return [
        divider(),
        section(
            "*The lifecycle policy has no guard rule for keep tags*, so the tag alone does not "
            f"shield the image. This change puts one first in `{escape(change.repository.name)}`'s "
            "policy (the other rules keep their order):"
        ),
        code(_pretty(change.after)),
        context("Before: " + escape(_compact(change.before))[:1800]),
        actions(
            button(
                "Apply the guard rule",
                CONFIRM_GUARD,
                token_value(change.token),
                style="primary",
                confirm=confirm_dialog(
                    "Change the lifecycle policy?",
                    f"Replaces the lifecycle policy of {escape(change.repository.name)} with the "
                    "version shown.",
                    "Apply",
                ),
            ),
            button("Leave the policy as it is", CANCEL, token_value(change.token)),
        ),
    ]


def _pretty(text: str) -> str:
    rules = json.loads(text)["rules"]
    return '{"rules": [\n' + ",\n".join("  " + json.dumps(r) for r in rules) + "\n]}"


def _compact(text: str) -> str:
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except ValueError:
        return text


def guard_applied_reply(change: PolicyChange, shielding: Shielding, actor: str) -> dict[str, Any]:
    """After the guard rule was applied."""
    blocks = [
        section(f"{actor} applied the guard rule to `{escape(change.repository.name)}`."),
        section(_shielding_line(shielding)),
    ]
    return message(f"Guard rule applied to {change.repository.name}", blocks)


def unprotect_reply(result: UnprotectResult) -> dict[str, Any]:
    """The lease ended."""
    lease = result.lease
    return text_reply(
        f"Protection of {lease.repository.name}@{short_digest(lease.digest)} ended: {result.note}."
    )


def retag_reply(result: RetagResult) -> dict[str, Any]:
    """Retag done, already done, or waiting for confirmation of a tag move."""
    name = f"{result.repository.name}@{short_digest(result.image.digest)}"
    if result.status == "already":
        return text_reply(f"{result.tag} is already on {name}; nothing to do.")
    if result.status == "done":
        moved = (
            f" (it moved from {short_digest(result.moved_from.digest)})"
            if result.moved_from
            else ""
        )
        return text_reply(f"Tagged {name} as {result.tag}{moved}. The digest is unchanged.")
    assert result.moved_from is not None and result.token is not None
    old = result.moved_from
    blocks = [
        section(
            f"`{escape(result.tag)}` is on `{short_digest(old.digest)}` ({tag_list(old.tags)}) "
            f"now. Move it to `{short_digest(result.image.digest)}` "
            f"({tag_list(result.image.tags)})? Anything that pulls `{escape(result.tag)}` will get "
            "the other image."
        ),
        actions(
            button(
                f"Move {result.tag}",
                CONFIRM_RETAG,
                token_value(result.token),
                style="danger",
                confirm=confirm_dialog(
                    "Move the tag?",
                    f"`{escape(result.tag)}`: `{short_digest(old.digest)}` → "
                    f"`{short_digest(result.image.digest)}`",
                    "Move it",
                    danger=True,
                ),
            ),
            button("Cancel", CANCEL, token_value(result.token)),
        ),
    ]
    return message(f"Move {result.tag}?", blocks)


def restore_reply(result: RestoreResult) -> dict[str, Any]:
    """What the restore did or started."""
    name = f"{result.repository.name}@{short_digest(result.digest)}"
    text = {
        "already_active": f"{name} is active; there is nothing to restore.",
        "restoring": f"Restoring {name} from archive; ECR takes up to 20 minutes. I will say "
        "here when it can be pulled.",
        "repushed": f"Re-pushed {name} from the saved manifest"
        + (f" with tags {', '.join(result.tags)}." if result.tags else "."),
    }[result.status]
    return text_reply(text)


def protections_reply(leases: list[Lease], now: float) -> dict[str, Any]:
    """Active leases, soonest to end first."""
    if not leases:
        return text_reply("No image is protected.")
    lines = [
        f"• `{escape(lease.repository.name)}@{short_digest(lease.digest)}` by {lease.owner} until "
        f"{human(lease.until)}" + (f": {escape(lease.reason)}" if lease.reason else "")
        for lease in leases[:40]
    ]
    blocks = [header(f"Protections: {len(leases)}"), section("\n".join(lines))]
    return message(f"{len(leases)} protections", blocks)


def audit_line(entry: AuditEntry) -> str:
    """One audit entry as a line of mrkdwn (the actor, our own label, stays a mention).

    Example:
        >>> audit_line(AuditEntry(at=0, actor="<@U1>", action="protect", result="denied",
        ...                       repository="app"))
        '1970-01-01 00:00 UTC <@U1> *protect* app → denied'
    """
    where = (entry.repository or "") + (f"@{short_digest(entry.digest)}" if entry.digest else "")
    detail = f": {entry.detail}" if entry.detail else ""
    return (
        f"{human(entry.at)} {escape_keeping_mentions(entry.actor)} "
        f"*{escape(entry.action)}* {escape(where)} → {escape(entry.result)}"
        + escape_keeping_mentions(detail)[:200]
    )


def audit_text(entry: AuditEntry) -> str:
    """One audit entry as plain text (the CLI).

    Example:
        >>> audit_text(AuditEntry(at=0, actor="cli:alice", action="retag", result="ok",
        ...                       repository="app", digest="sha256:" + "a" * 64))
        '1970-01-01 00:00 UTC cli:alice retag app@aaaaaaaaaaaa ok'
    """
    where = (entry.repository or "") + (f"@{short_digest(entry.digest)}" if entry.digest else "")
    detail = f": {entry.detail}" if entry.detail else ""
    return f"{human(entry.at)} {entry.actor} {entry.action} {where} {entry.result}{detail}"


def audit_reply(entries: list[AuditEntry]) -> dict[str, Any]:
    """Recent audit entries, newest first."""
    if not entries:
        return text_reply("The audit log is empty.")
    lines = [f"• {audit_line(entry)}" for entry in entries[:30]]
    return message("Audit log", [header("Audit log"), section("\n".join(lines))])


def denied_reply(reason: str) -> dict[str, Any]:
    """A refusal, shown only to the person refused."""
    return message(
        reason,
        [
            section(f":no_entry: {escape_keeping_mentions(reason)}"),
            context("This was recorded in the audit log."),
        ],
    )
