"""Replies to ``/ecr`` commands and button clicks (pure)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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
    slack_date,
    token_value,
)
from bot.blocks.subject import is_version_like, order_tags
from bot.diagnose.verdict import Diagnosis
from bot.errors import Explanation
from bot.lifecycle.decisions import Outcome
from bot.lifecycle.explain import Explainer, describe_rule
from bot.lifecycle.guard import GUARD_DAYS
from bot.lifecycle.parse import parse_policy
from bot.lifecycle.policy import Rule
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
        >>> usage_reply("retag takes 2 arguments, got 1", "retag <ref> <new-tag>")["text"]
        'retag takes 2 arguments, got 1'
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
            f"({plural(len(evaluation.decisions), 'image')}, {slack_date(evaluation.now)})."
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
            f"{plural(len(report.repositories), 'repository', 'repositories')} scanned, "
            f"{plural(sum(r.in_use for r in report.repositories), 'in-use image')}."
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
    lines = [(f"{slack_date(e.at)}: " if e.at else "") + escape(e.text) for e in evidence]
    blocks: list[Block] = [
        header(f"{diagnosis.verdict.value}: {diagnosis.ref}"[:150]),
        section(escape(diagnosis.summary)),
    ]
    if lines:
        blocks.append(section("*Evidence*\n" + "\n".join(f"• {line}" for line in lines)))
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


def protect_outcome(result: ProtectResult, style: Style) -> str:
    """The first line of a ``protect`` reply: protected until when, or why not yet.

    Example:
        >>> from bot.refs import RepositoryKey
        >>> lease = Lease(repository=RepositoryKey("1", "eu-west-1", "app"), digest="sha256:ab",
        ...               owner="<@U1>", reason="", created_at=0.0, until=86400.0,
        ...               keep_tag="keep-ab")
        >>> protect_outcome(ProtectResult(lease, True, None, False, None, tags=("v1",)), PLAIN)
        'Protected app v1 until 1970-01-02 00:00 UTC.'
    """
    lease = result.lease
    name = style.quote(image_name(lease.repository.name, lease.digest, result.tags))
    if result.change is not None and result.change.token:
        return (
            f"Not protected yet: keep tag {'added to' if result.keep_tag_added else 'on'} "
            f"{name} — not shielded until the guard rule is applied."
        )
    if result.shielding is not None and not result.shielding.shielded:
        return f"Not protected: the lifecycle policy still acts on {name} despite its keep tag."
    extended = " (extended)" if result.extended else ""
    return f"Protected {name} until {style.time(lease.until)}{extended}."


def protect_details(result: ProtectResult, style: Style) -> str:
    """Who protected the image, why, and its keep tag (the line after the outcome).

    Example:
        >>> from bot.refs import RepositoryKey
        >>> lease = Lease(repository=RepositoryKey("1", "eu-west-1", "app"), digest="sha256:ab",
        ...               owner="cli:alice", reason="INC-42", created_at=0.0, until=86400.0,
        ...               keep_tag="keep-ab")
        >>> protect_details(ProtectResult(lease, True, None, False, None), PLAIN)
        'Lease by cli:alice until 1970-01-02 00:00 UTC: INC-42. Keep tag keep-ab added.'
    """
    lease = result.lease
    reason = f": {style.quote(lease.reason)}." if lease.reason else "."
    keep = "added" if result.keep_tag_added else "already on the image"
    return (
        f"Lease by {style.mention(lease.owner)} until {style.time(lease.until)}{reason} "
        f"Keep tag {style.code(lease.keep_tag)} {keep}."
    )


def protect_reply(result: ProtectResult) -> dict[str, Any]:
    """The protection, outcome first: lease, keep tag, guard rule (applied, or waiting for
    confirmation)."""
    outcome = protect_outcome(result, SLACK)
    blocks: list[Block] = [section(outcome), section(protect_details(result, SLACK))]
    change = result.change
    if change is not None and change.token:
        blocks += policy_change_blocks(change)
    else:
        if change is not None:
            blocks.append(section("The guard rule was added at the top of the lifecycle policy."))
        blocks.append(section(_shielding_line(result.shielding)))
    blocks += _record_note(result.note)
    return message(outcome, blocks)


def policy_change_blocks(change: PolicyChange) -> list[Block]:
    """The policy change as a rule diff, and buttons to apply it (authorised users) or leave it."""
    assert change.token is not None
    name = escape(change.repository.name)
    return [
        divider(),
        section(
            f"*The lifecycle policy of `{name}` has no guard rule for keep tags*, so the tag alone "
            "does not shield the image. Applying puts one first (the other rules keep their "
            "order):"
        ),
        code("\n".join(rule_diff(change.before, change.after))),
        context(
            f"The guard rule's “expire after {GUARD_DAYS:,} days” (100 years) never expires "
            "anything: it selects kept images first, and ECR applies only the first rule that "
            "selects an image, so the rules below never reach them."
        ),
        actions(
            button(
                "Apply the guard rule",
                CONFIRM_GUARD,
                token_value(change.token),
                style="primary",
                confirm=confirm_dialog(
                    "Change the lifecycle policy?",
                    f"Puts the guard rule first in the lifecycle policy of {name}; the other "
                    "rules keep their order.",
                    "Apply",
                ),
            ),
            button("Leave the policy as it is", CANCEL, token_value(change.token)),
        ),
    ]


def rule_diff(before: str, after: str) -> list[str]:
    """A policy change rule by rule: ``+`` a rule added, ``-`` one removed, a priority that moves.

    Example:
        >>> before = '''{"rules": [{"rulePriority": 1, "description": "keep 5",
        ...   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
        ...                 "countNumber": 5}, "action": {"type": "expire"}}]}'''
        >>> from bot.lifecycle.guard import with_guard
        >>> after = with_guard(parse_policy(before), "keep-").to_json()
        >>> for line in rule_diff(before, after): print(line)
        + rule 1 ("ecr-lifeguard: keep protected images (never expires them)"): images with a tag starting with "keep-"; expire those pushed more than 36500 days ago
          rule 1 → 2 ("keep 5"): all images; keep the newest 5, expire the rest
    """  # noqa: E501
    try:
        old, new = parse_policy(before).by_priority(), parse_policy(after).by_priority()
    except ValueError:
        return [after]
    unmatched = list(old)
    lines = []
    for rule in new:
        match = next((r for r in unmatched if _rule_body(r) == _rule_body(rule)), None)
        if match is None:
            lines.append("+ " + describe_rule(rule))
            continue
        unmatched.remove(match)
        where = f"rule {rule.rule_priority}"
        if match.rule_priority != rule.rule_priority:
            where = f"rule {match.rule_priority} → {rule.rule_priority}"
        lines.append(f"  {where}" + describe_rule(rule).removeprefix(f"rule {rule.rule_priority}"))
    return lines + ["- " + describe_rule(rule) for rule in unmatched]


def _rule_body(rule: Rule) -> str:
    """A rule's text without its priority, to recognise it after renumbering."""
    data = json.loads(rule.model_dump_json(by_alias=True, exclude_none=True))
    data.pop("rulePriority", None)
    return json.dumps(data, sort_keys=True)


def guard_applied_reply(change: PolicyChange, shielding: Shielding, actor: str) -> dict[str, Any]:
    """After the guard rule was applied."""
    blocks = [
        section(f"{actor} applied the guard rule to `{escape(change.repository.name)}`."),
        section(_shielding_line(shielding)),
    ]
    return message(f"Guard rule applied to {change.repository.name}", blocks)


def unprotect_outcome(result: UnprotectResult, style: Style) -> str:
    """The first line of an ``unprotect`` reply (or of a lease's end).

    Example:
        >>> from bot.refs import RepositoryKey
        >>> lease = Lease(repository=RepositoryKey("1", "eu-west-1", "app"), digest="sha256:ab",
        ...               owner="<@U1>", reason="", created_at=0.0, until=86400.0,
        ...               keep_tag="keep-ab")
        >>> unprotect_outcome(UnprotectResult(lease, True, "keep-ab removed", tags=("v1",)), PLAIN)
        'Unprotected app v1: keep-ab removed; the lifecycle policy applies to it again.'
    """
    lease = result.lease
    name = style.quote(image_name(lease.repository.name, lease.digest, result.tags))
    note = style.quote(result.note)
    if result.tag_removed:
        return f"Unprotected {name}: {note}; the lifecycle policy applies to it again."
    return f"Unprotected {name}: the lease ended; {note.rstrip('.')}."


def unprotect_reply(result: UnprotectResult) -> dict[str, Any]:
    """The lease ended, outcome first; then whose lease it was."""
    lease = result.lease
    outcome = unprotect_outcome(result, SLACK)
    reason = f": {escape(lease.reason)}" if lease.reason else ""
    blocks = [
        section(outcome),
        context(
            f"It was protected by {escape_keeping_mentions(lease.owner)} until "
            f"{slack_date(lease.until)}{reason} · digest `{short_digest(lease.digest)}`"
        ),
        *_record_note(result.record_note),
    ]
    return message(outcome, blocks)


def retag_outcome(result: RetagResult, style: Style) -> str:
    """The first line of a ``retag`` reply: retagged, already so, or waiting for a confirmation.

    Example:
        >>> from bot.lifecycle.images import Image
        >>> from bot.refs import RepositoryKey
        >>> image = Image(digest="sha256:" + "a" * 64, tags=("v1",), pushed_at=0.0)
        >>> retag_outcome(RetagResult("done", RepositoryKey("1", "r", "app"), "stable", image),
        ...               PLAIN)
        'Retagged app v1 as stable.'
    """
    name = style.quote(_retagged_name(result))
    tag = style.code(result.tag)
    if result.status == "already":
        return f"Nothing to do: {name} already has the tag {tag}."
    moved_from = result.moved_from
    if result.status == "done":
        if moved_from is None:
            return f"Retagged {name} as {tag}."
        return f"Retagged {name} as {tag}, moved from {style.quote(_other_name(result))}."
    return f"Not retagged yet: {tag} is on {style.quote(_other_name(result))}; move it to {name}?"


def _retagged_name(result: RetagResult) -> str:
    others = tuple(t for t in result.image.tags if t != result.tag)
    return image_name(result.repository.name, result.image.digest, others)


def _other_name(result: RetagResult) -> str:
    assert result.moved_from is not None
    moved_from = result.moved_from
    others = tuple(t for t in moved_from.tags if t != result.tag)
    name = image_name(result.repository.name, moved_from.digest, others)
    return name if name.endswith(moved_from.short_digest) else f"{name} ({moved_from.short_digest})"


def retag_reply(result: RetagResult) -> dict[str, Any]:
    """Retag done, already done, or waiting for confirmation of a tag move; outcome first."""
    outcome = retag_outcome(result, SLACK)
    digest = f"`{short_digest(result.image.digest)}`"
    if result.status == "already":
        return message(outcome, [section(outcome)])
    if result.status == "done":
        blocks = [
            section(outcome),
            context(f"Digest {digest} unchanged: nothing was pulled or pushed."),
            *_record_note(result.note),
        ]
        return message(outcome, blocks)
    assert result.moved_from is not None and result.token is not None
    old = result.moved_from
    blocks = [
        section(outcome),
        section(
            f"Now: `{escape(result.tag)}` → `{short_digest(old.digest)}` ({tag_list(old.tags)})\n"
            f"After: `{escape(result.tag)}` → {digest} ({tag_list(result.image.tags)})\n"
            f"Anything that pulls `{escape(result.tag)}` will get the other image."
        ),
        actions(
            button(
                f"Move {result.tag}",
                CONFIRM_RETAG,
                token_value(result.token),
                style="danger",
                confirm=confirm_dialog(
                    "Move the tag?",
                    f"`{escape(result.tag)}`: `{short_digest(old.digest)}` → {digest}",
                    "Move it",
                    danger=True,
                ),
            ),
            button("Cancel", CANCEL, token_value(result.token)),
        ),
    ]
    return message(outcome, blocks)


def restore_outcome(result: RestoreResult, style: Style) -> str:
    """The first line of a ``restore`` reply: restored, started, or nothing to do.

    Example:
        >>> from bot.refs import RepositoryKey
        >>> restore_outcome(RestoreResult("already_active", RepositoryKey("1", "r", "app"),
        ...                               "sha256:ab", ("v1",)), PLAIN)
        'Nothing to restore: app v1 is active and can be pulled.'
    """
    name = style.quote(image_name(result.repository.name, result.digest, result.tags))
    if result.status == "already_active":
        return f"Nothing to restore: {name} is active and can be pulled."
    if result.status == "restoring":
        return f"Restore started: {name} is coming back from archive; ECR takes up to 20 minutes."
    tags = ", ".join(style.code(tag) for tag in result.tags)
    return f"Restored {name} from the saved manifest" + (f", with {tags}." if tags else ".")


def restore_reply(result: RestoreResult) -> dict[str, Any]:
    """What the restore did or started, outcome first."""
    outcome = restore_outcome(result, SLACK)
    blocks = [section(outcome)]
    if result.status == "restoring":
        blocks.append(context("I will say here when it can be pulled."))
    if result.status != "already_active":
        blocks.append(context(f"Digest `{short_digest(result.digest)}`"))
    return message(outcome, [*blocks, *_record_note(result.note)])


def _record_note(note: str | None) -> list[Block]:
    return [context(f":warning: {escape(note)}")] if note else []


def protections_reply(leases: list[Lease], now: float) -> dict[str, Any]:
    """Active leases, soonest to end first."""
    if not leases:
        return text_reply("No image is protected.")
    lines = [
        f"• `{escape(lease.repository.name)}@{short_digest(lease.digest)}` by "
        f"{escape_keeping_mentions(lease.owner)} until {slack_date(lease.until)}"
        + (f": {escape(lease.reason)}" if lease.reason else "")
        for lease in leases[:40]
    ]
    if len(leases) > 40:
        lines.append(f"… and {len(leases) - 40} more: `/ecr protections <repository>`")
    blocks = [header(f"Protections: {len(leases)}"), section("\n".join(lines))]
    return message(plural(len(leases), "protection"), blocks)


def audit_line(entry: AuditEntry) -> str:
    """One audit entry as a line of mrkdwn (the actor, our own label, stays a mention).

    Example:
        >>> audit_line(AuditEntry(at=0, actor="<@U1>", action="protect", result="denied",
        ...                       repository="app"))
        '<!date^0^{date_short_pretty} {time}|1970-01-01 00:00 UTC> <@U1> *protect* app → denied'
    """
    where = (entry.repository or "") + (f"@{short_digest(entry.digest)}" if entry.digest else "")
    detail = f": {entry.detail}" if entry.detail else ""
    return (
        f"{slack_date(entry.at)} {escape_keeping_mentions(entry.actor)} "
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


# Shared helpers of the replies (the lead may move them to bot/blocks/common.py).


def release_tag(tags: Iterable[str], digest: str = "") -> str | None:
    """The tag people know an image by: its most specific, newest version-like tag, else its
    first tag that is not a commit (``git-…``); never its keep tag (which ends in the digest's
    first 12 hex digits). None for an untagged image.

    Example:
        >>> release_tag(["git-325dc21f", "tag-1-252-0", "tag-1-253-0", "build-7"])
        'tag-1-253-0'
        >>> release_tag(["keep-ec1477a7420a", "git-325dc21f"], "sha256:ec1477a7420a97a7")
        'git-325dc21f'
    """
    short = short_digest(digest)
    candidates = [tag for tag in tags if not (short and tag.endswith(short))]
    versions = [tag for tag in order_tags(candidates) if is_version_like(tag)]
    if versions:
        return versions[0]
    named = [tag for tag in candidates if not tag.startswith("git-")] or candidates
    return named[0] if named else None


def image_name(repository: str, digest: str, tags: Iterable[str]) -> str:
    """How a reply names an image: its repository and release tag, else its short digest.

    Example:
        >>> image_name("webshop-assets", "sha256:ec14", ("git-325dc21f", "tag-1-253-0"))
        'webshop-assets tag-1-253-0'
        >>> image_name("app", "sha256:" + "a" * 64, ())
        'app@aaaaaaaaaaaa'
    """
    tag = release_tag(tags, digest)
    return f"{repository} {tag}" if tag else f"{repository}@{short_digest(digest)}"


@dataclass(frozen=True)
class Style:
    """How an outcome line writes text from AWS, code, mentions and times: for Slack (escaped,
    local-time tokens) or for a terminal (as is, UTC).

    Example:
        >>> SLACK.code("v<1>"), PLAIN.code("v1"), PLAIN.time(0.0)
        ('`v&lt;1&gt;`', 'v1', '1970-01-01 00:00 UTC')
    """

    quote: Callable[[str], str]
    code: Callable[[str], str]
    mention: Callable[[str], str]
    time: Callable[[float], str]


def _as_is(text: str) -> str:
    return text


SLACK = Style(escape, lambda text: f"`{escape(text)}`", escape_keeping_mentions, slack_date)
PLAIN = Style(_as_is, _as_is, _as_is, human)
