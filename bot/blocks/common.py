"""Block Kit building blocks (pure): sections, buttons, confirmations, and safe text.

Slack limits that matter here: 3,000 characters per section text, 50 blocks per message,
2,000 characters per button value. Text from AWS (tags, reasons) is escaped, so a tag can never
ping a channel or break the formatting.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.lifecycle.timefmt import human, human_duration
from bot.refs import RepositoryKey
from bot.text import without_bidi

Block = dict[str, Any]
_MENTION = re.compile(r"&lt;(@[UW][A-Z0-9]+|!subteam\^S[A-Z0-9]+|#C[A-Z0-9]+)&gt;")
MAX_TEXT = 3000
MAX_BLOCKS = 50
MAX_FIELD = 2000
MAX_HEADER = 150
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"(`])")

# action_id of every interactive element the handlers listen to.
PROTECT = "lg_protect"
SNOOZE = "lg_snooze"
WHY = "lg_why"
RESTORE = "lg_restore"
UNPROTECT = "lg_unprotect"
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


def relative(instant: float, now: float) -> str:
    """How far an instant is from now, as people say it.

    Example:
        >>> relative(3 * 3600, 0), relative(0, 2 * 86400), relative(30, 0)
        ('in 3 hours', '2 days ago', 'just now')
    """
    if abs(instant - now) < 60:
        return "just now"
    span = human_duration(instant - now)
    return f"in {span}" if instant > now else f"{span} ago"


def slack_date(instant: float, now: float | None = None) -> str:
    """A moment each reader sees in their own time zone (Slack's date token, with the UTC time
    as its fallback), and how far it is from ``now`` when given.

    Example:
        >>> slack_date(1671796800.0, 1671786000.0)
        '<!date^1671796800^{date_short_pretty} {time}|2022-12-23 12:00 UTC> (in 3 hours)'
        >>> slack_date(0.0)
        '<!date^0^{date_short_pretty} {time}|1970-01-01 00:00 UTC>'
    """
    token = f"<!date^{int(instant)}^{{date_short_pretty}} {{time}}|{human(instant)}>"
    return token if now is None else f"{token} ({relative(instant, now)})"


def link(url: str, text: str) -> str:
    """A mrkdwn link; the text is escaped, and so is what would end the link early.

    Example:
        >>> link("https://example.com/a?b=1&c=2", "Runbook <1>")
        '<https://example.com/a?b=1&amp;c=2|Runbook &lt;1&gt;>'
    """
    target = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{target}|{escape(text)}>"


def split_sentence(text: str) -> tuple[str, str]:
    """The first sentence of a text, and the rest (empty when there is one sentence).

    Example:
        >>> split_sentence('Rule 1 ("Keep 5") expires it: it is number 6. It carries v1.2.')
        ('Rule 1 ("Keep 5") expires it: it is number 6.', 'It carries v1.2.')
    """
    parts = _SENTENCE_END.split(text.strip(), maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else ""


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
            {"type": "mrkdwn", "text": clip(f"*{label}*\n{value}", MAX_FIELD)}
            for label, value in pairs
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
    shown = text if len(text) <= MAX_HEADER else text[: MAX_HEADER - 2] + " …"
    return {"type": "header", "text": {"type": "plain_text", "text": shown, "emoji": True}}


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
