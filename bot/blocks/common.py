"""Block Kit building blocks (pure): sections, buttons, confirmations, and safe text.

Slack limits that matter here: 3,000 characters per section text, 50 blocks per message,
2,000 characters per button value. Text from AWS (tags, reasons) is escaped, so a tag can never
ping a channel or break the formatting.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.refs import RepositoryKey
from bot.text import without_bidi

Block = dict[str, Any]
_MENTION = re.compile(r"&lt;(@[UW][A-Z0-9]+|!subteam\^S[A-Z0-9]+|#C[A-Z0-9]+)&gt;")
MAX_TEXT = 3000
MAX_BLOCKS = 50

# action_id of every interactive element the handlers listen to.
PROTECT = "lg_protect"
SNOOZE = "lg_snooze"
WHY = "lg_why"
RESTORE = "lg_restore"
CONFIRM_GUARD = "lg_confirm_guard"
CONFIRM_RETAG = "lg_confirm_retag"
CANCEL = "lg_cancel"


def escape(text: str) -> str:
    """Escape text for mrkdwn: ``&``, ``<`` and ``>`` (Slack's own rule), bidi controls removed.

    Example:
        >>> escape("<!channel> & co")
        '&lt;!channel&gt; &amp; co'
    """
    return without_bidi(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_keeping_mentions(text: str) -> str:
    """Escape text of our own that names people: user, user-group and channel mentions
    (``<@U…>``, ``<!subteam^S…>``, ``<#C…>``) stay mentions, anything else is escaped.

    Example:
        >>> escape_keeping_mentions("only <@U0ALICE> or <!subteam^S0OPS> may; not <!channel>")
        'only <@U0ALICE> or <!subteam^S0OPS> may; not &lt;!channel&gt;'
    """
    return _MENTION.sub(lambda m: f"<{m.group(1)}>", escape(text))


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """Shorten text to Slack's limit, saying so.

    Example:
        >>> clip("x" * 10, 8)
        'xxxxxx …'
    """
    return text if len(text) <= limit else text[: limit - 2] + " …"


def section(text: str, *, accessory: Block | None = None) -> Block:
    """A mrkdwn section (already escaped text)."""
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text)}}
    if accessory is not None:
        block["accessory"] = accessory
    return block


def fields(*pairs: tuple[str, str]) -> Block:
    """A section of up to 10 label/value fields."""
    return {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": clip(f"*{label}*\n{value}", 2000)} for label, value in pairs
        ][:10],
    }


def context(*texts: str) -> Block:
    """Small grey text lines."""
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": clip(t, 2000)} for t in texts][:10],
    }


def header(text: str) -> Block:
    """A header block (plain text, 150 characters at most)."""
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def divider() -> Block:
    """A divider."""
    return {"type": "divider"}


def code(text: str) -> Block:
    """A preformatted section (for policy JSON)."""
    return section("```" + clip(escape(text), MAX_TEXT - 6) + "```")


def confirm_dialog(title: str, text: str, confirm: str, *, danger: bool = False) -> Block:
    """Slack's native confirmation dialog for a button."""
    dialog: Block = {
        "title": {"type": "plain_text", "text": title[:100]},
        "text": {"type": "mrkdwn", "text": clip(text, 300)},
        "confirm": {"type": "plain_text", "text": confirm[:30]},
        "deny": {"type": "plain_text", "text": "Cancel"},
    }
    if danger:
        dialog["style"] = "danger"
    return dialog


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: Block | None = None,
) -> Block:
    """A button whose ``value`` carries what the handler needs."""
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75], "emoji": True},
        "action_id": action_id,
        "value": value[:2000],
    }
    if style is not None:
        element["style"] = style
    if confirm is not None:
        element["confirm"] = confirm
    return element


def actions(*elements: Block) -> Block:
    """A row of buttons."""
    return {"type": "actions", "elements": list(elements)[:25]}


def image_value(repository: RepositoryKey, digest: str) -> str:
    """A button value naming one image.

    Example:
        >>> image_value(RepositoryKey("123456789012", "eu-west-1", "app"), "sha256:ab")
        '{"r": "123456789012", "g": "eu-west-1", "n": "app", "d": "sha256:ab"}'
    """
    return json.dumps(
        {"r": repository.registry, "g": repository.region, "n": repository.name, "d": digest}
    )


def parse_image_value(value: str) -> tuple[RepositoryKey, str]:
    """The image a button value names; ``ValueError`` when the value is not one of ours.

    Example:
        >>> parse_image_value(image_value(RepositoryKey("1", "r", "app"), "sha256:ab"))[1]
        'sha256:ab'
    """
    try:
        data = json.loads(value)
        return RepositoryKey(str(data["r"]), str(data["g"]), str(data["n"])), str(data["d"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not an image button value: {value[:60]!r}") from exc


def token_value(token: str) -> str:
    """A button value carrying a confirmation token."""
    return json.dumps({"t": token})


def parse_token_value(value: str) -> str:
    """The confirmation token of a button value; ``ValueError`` otherwise."""
    try:
        return str(json.loads(value)["t"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a confirmation button value: {value[:60]!r}") from exc


def message(text: str, blocks: list[Block]) -> dict[str, Any]:
    """A message payload: fallback text (notifications, screen readers) and blocks."""
    return {"text": clip(text, 3000), "blocks": blocks[:MAX_BLOCKS]}
