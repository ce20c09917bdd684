"""How an alert's thread ends (pure): protected, no longer at risk (and why), deleted, or its
protection over. Each state still names the tags, the repository and the consumers."""

from __future__ import annotations

from typing import Any, Literal

from bot.blocks.alerts import (
    AlertImage,
    AlertOptions,
    consumers_text,
    copy_line,
    footer,
    identity_fields,
    verb_phrase,
)
from bot.blocks.common import (
    RESTORE,
    UNPROTECT,
    WHY,
    Block,
    actions,
    button,
    confirm_dialog,
    escape,
    escape_keeping_mentions,
    header,
    message,
    section,
    slack_date,
)
from bot.state.records import Lease

EndReason = Literal["protected", "policy", "unused", "deleted", "lease_ended"]


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].upper() + text[1:] + "." if text else ""


def resolved_message(
    image: AlertImage,
    reason: str,
    detail: str,
    now: float,
    options: AlertOptions | None = None,
    *,
    lease: Lease | None = None,
) -> dict[str, Any]:
    """The alert once its risk ended, by ``reason``; ``detail`` is our own text (it may mention
    people). A deleted image gets Restore, a protected one Unprotect.

    Example:
        >>> from bot.refs import RepositoryKey
        >>> from bot.state.records import AlertSubject
        >>> image = AlertImage(RepositoryKey("1", "r", "app"), "sha256:" + "a" * 64,
        ...                    AlertSubject(tags=("v1",)))
        >>> m = resolved_message(image, "deleted", "deleted by lifecycle rule 1", 0.0)
        >>> m["text"], [e["action_id"] for e in m["blocks"][-2]["elements"]]
        ('Deleted: app v1: deleted by lifecycle rule 1', ['lg_restore', 'lg_why'])
    """
    options = options or AlertOptions()
    if reason == "deleted":
        return deleted_message(image, detail, now, options)
    if reason == "protected":
        return protected_message(image, lease, detail, now, options)
    if reason == "lease_ended":
        title = f"Protection ended: {image.name}"
        state = f"⏳ {escape_keeping_mentions(_sentence(detail))}"
        return _ended(image, title, state, icon="⏳", now=now, options=options)
    why = {
        "policy": "*No longer at risk: the lifecycle policy changed.* It no longer "
        f"{verb_phrase(image.subject)}s this image; the consumers below still use it.",
        "unused": "*No longer at risk: nothing uses it any more.* None of the consumers below "
        "runs it, launches it or can roll back to it now; the policy may still expire it.",
    }.get(reason, f"*No longer at risk.* {escape_keeping_mentions(_sentence(detail))}")
    heading = "Was used by" if reason == "unused" else "Used by"
    title = f"No longer at risk: {image.former_name if reason == 'unused' else image.name}"
    return _ended(image, title, why, icon="✅", heading=heading, now=now, options=options)


def _ended(
    image: AlertImage,
    title: str,
    state: str,
    *,
    icon: str,
    heading: str = "Used by",
    now: float,
    options: AlertOptions,
    rows: tuple[Block, ...] = (),
) -> dict[str, Any]:
    blocks: list[Block] = [
        header(f"{icon} {title}"),
        section(state),
        identity_fields(image),
        section(f"*{heading}*\n" + consumers_text(image.subject)),
        *rows,
        footer(image, options, now),
    ]
    return message(title, blocks)


def protected_message(
    image: AlertImage, lease: Lease | None, detail: str, now: float, options: AlertOptions
) -> dict[str, Any]:
    """Protected: by whom, until when, why; with Unprotect."""
    title = f"Protected: {image.name}"
    if lease is None:
        state = f"🛡️ *Protected.* {escape_keeping_mentions(_sentence(detail))}"
        return _ended(image, title, state, icon="🛡️", now=now, options=options)
    reason = f" ({escape(lease.reason)})" if lease.reason else ""
    state = (
        f"🛡️ *Protected by {escape_keeping_mentions(lease.owner)} until "
        f"{slack_date(lease.until, now)}*{reason}. The keep tag `{escape(lease.keep_tag)}` and the "
        "guard rule shield it from the lifecycle policy; when the protection ends, the keep tag "
        "is removed and this alert says whether the image is at risk again."
    )
    unprotect = button(
        "Unprotect",
        UNPROTECT,
        image.value,
        confirm=confirm_dialog(
            "End the protection now?",
            f"Removes the keep tag `{escape(lease.keep_tag)}`; the lifecycle policy may then "
            "expire the image again.",
            "Unprotect",
            danger=True,
        ),
    )
    command = copy_line(f"/ecr unprotect {image.repository.name}@{image.digest}")
    return _ended(
        image, title, state, icon="🛡️", now=now, options=options, rows=(command, actions(unprotect))
    )


def deleted_message(
    image: AlertImage, by: str, now: float, options: AlertOptions | None = None
) -> dict[str, Any]:
    """Deleted: when it was noticed, by which rule or whom, what will fail; with Restore.

    Example:
        >>> from bot.refs import RepositoryKey
        >>> from bot.state.records import AlertSubject
        >>> image = AlertImage(RepositoryKey("1", "r", "app"), "sha256:" + "a" * 64,
        ...                    AlertSubject(tags=("v1",)))
        >>> deleted_message(image, "deleted by <@U1>", 0.0)["blocks"][1]["text"]["text"][:30]
        '🗑️ *Deleted by <@U1>*, noticed'
    """
    options = options or AlertOptions()
    title = f"Deleted: {image.name}"
    who = escape_keeping_mentions(by.strip().rstrip(".")) or "deleted"
    state = (
        f"🗑️ *{who[:1].upper() + who[1:]}*, noticed {slack_date(now, now)}. "
        "*What will now fail:* every pull of it — a restart, scale-out or rollback of the "
        "consumers below cannot start until it is restored."
    )
    value = image.value
    restore = button(
        "Restore",
        RESTORE,
        value,
        style="primary",
        confirm=confirm_dialog(
            "Restore this image?",
            "Re-pushes the manifest ECR Lifeguard saved, if its layers still exist. The result "
            "is posted in this thread.",
            "Restore",
        ),
    )
    command = copy_line(f"/ecr restore {image.repository.name}@{image.digest}")
    blocks = _ended(
        image,
        title,
        state,
        icon="🗑️",
        heading="Will fail to pull it",
        now=now,
        options=options,
        rows=(command, actions(restore, button("Why?", WHY, value))),
    )
    return message(f"{title}: {by.strip()}", blocks["blocks"])
