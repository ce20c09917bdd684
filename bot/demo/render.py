"""Slack messages in a terminal: Block Kit payloads and mrkdwn rendered with rich.

Headers are bold, sections and fields are text, context lines are dim, buttons and menus are
shown as ``[Protect 7 days]`` and ``[Snooze… ▾]``. mrkdwn becomes terminal text: ``*bold*``,
``_italic_``, ``~struck~``, `` `code` ``, fenced blocks, links ``<url|text>``, mentions and
``<!date^…|fallback>``, with Slack's ``&amp;`` ``&lt;`` ``&gt;`` escapes undone.

Example:
    >>> mrkdwn("*Why* `tag-1-253-0` &lt;ok&gt; <https://x.test|docs>").plain
    'Why tag-1-253-0 <ok> docs'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

CODE_STYLE = "cyan"
LINK_STYLE = "underline"
_TOKEN = re.compile(
    r"```(?P<pre>.+?)```"
    r"|`(?P<code>[^`\n]+)`"
    r"|<(?P<angle>[^<>\n]+)>"
    r"|(?<![\w*])\*(?P<bold>[^*\n]+?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic>[^_\n]+?)_(?![\w_])"
    r"|(?<![\w~])~(?P<strike>[^~\n]+?)~(?![\w~])",
    re.DOTALL,
)
_NESTED = {"bold": "bold", "italic": "italic", "strike": "strike"}
_BROADCASTS = {"!here": "@here", "!channel": "@channel", "!everyone": "@everyone"}


def unescape(text: str) -> str:
    """Undo Slack's three escapes.

    Example:
        >>> unescape("a &lt;b&gt; &amp;amp;")
        'a <b> &amp;'
    """
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def angle_text(inner: str) -> tuple[str, str]:
    """What ``<inner>`` reads as in a terminal, and its style.

    Example:
        >>> angle_text("!date^1671796800^{date_short}|Dec 23, 2022")
        ('Dec 23, 2022', '')
        >>> angle_text("@U0ALICE"), angle_text("#C0OPS|ops")
        (('@U0ALICE', 'bold'), ('#ops', 'bold'))
    """
    target, _, label = inner.partition("|")
    if target.startswith("!date^"):
        return unescape(label or target), ""
    if target in _BROADCASTS:
        return _BROADCASTS[target], "bold"
    if target.startswith("!subteam^"):
        return unescape(label or "@" + target.removeprefix("!subteam^")), "bold"
    if target[:1] in {"@", "#"}:
        return unescape(target[0] + label if label else target), "bold"
    return unescape(label or target), LINK_STYLE


def mrkdwn(text: str, style: str = "") -> Text:
    """mrkdwn as rich text (see the module docstring)."""
    result = Text(style=style)
    position = 0
    for match in _TOKEN.finditer(text):
        result.append(unescape(text[position : match.start()]))
        result.append_text(_token(match))
        position = match.end()
    result.append(unescape(text[position:]))
    return result


def _token(match: re.Match[str]) -> Text:
    kind = match.lastgroup or ""
    value = match.group(kind)
    if kind in _NESTED:
        return mrkdwn(value, _NESTED[kind])
    if kind == "angle":
        shown, style = angle_text(value)
        return Text(shown, style=style)
    return Text(unescape(value.strip("\n")), style=CODE_STYLE)


def text_object(item: Mapping[str, Any] | None, style: str = "") -> Text:
    """A Block Kit text object (``mrkdwn`` or ``plain_text``) as rich text."""
    if not item:
        return Text()
    if item.get("type") == "plain_text":
        return Text(str(item.get("text", "")), style=style)
    return mrkdwn(str(item.get("text", "")), style)


def element_label(element: Mapping[str, Any]) -> Text:
    """An interactive element as ``[label]`` (a menu gets ``▾``).

    Example:
        >>> element_label({"type": "button", "text": {"type": "plain_text", "text": "Why?"}}).plain
        '[Why?]'
    """
    kind = element.get("type")
    label = element.get("text") or element.get("placeholder") or {"text": str(kind)}
    suffix = " ▾" if kind in {"static_select", "overflow", "users_select"} else ""
    style = "bold green" if element.get("style") == "primary" else "bold"
    if element.get("style") == "danger":
        style = "bold red"
    return Text(f"[{label.get('text', '')}{suffix}]", style=style)


def section_block(block: Mapping[str, Any]) -> RenderableType:
    """A section: its text, its fields two by two, and its accessory."""
    parts: list[RenderableType] = []
    if block.get("text"):
        text = text_object(block["text"])
        accessory = block.get("accessory")
        if accessory and accessory.get("type") in {"button", "static_select", "overflow"}:
            text.append("  ").append_text(element_label(accessory))
        parts.append(text)
    fields = [text_object(f) for f in block.get("fields") or []]
    if fields:
        grid = Table.grid(padding=(0, 3))
        grid.add_column(ratio=1, overflow="fold")
        grid.add_column(ratio=1, overflow="fold")
        for index in range(0, len(fields), 2):
            grid.add_row(*fields[index : index + 2])
        parts.append(grid)
    return Group(*parts)


def block_renderable(block: Mapping[str, Any]) -> RenderableType | None:
    """One block, or None for a block with nothing to show in a terminal."""
    kind = block.get("type")
    if kind == "header":
        return text_object(block.get("text"), "bold")
    if kind == "section":
        return section_block(block)
    if kind == "context":
        line = Text(style="dim")
        for index, element in enumerate(block.get("elements") or []):
            if index:
                line.append("  ·  ")
            line.append_text(text_object(element) if "text" in element else Text("[image]"))
        return line
    if kind == "actions":
        return Text(" ").join(element_label(e) for e in block.get("elements") or [])
    if kind == "divider":
        return Rule(style="dim")
    if kind == "image":
        return Text(f"[image: {block.get('alt_text', '')}]", style="dim")
    return None


def message_renderable(payload: Mapping[str, Any], title: str) -> Panel:
    """A whole message in a frame titled ``title``; the fallback text when it has no blocks."""
    blocks: Iterable[Mapping[str, Any]] = payload.get("blocks") or []
    shown = [r for r in (block_renderable(b) for b in blocks) if r is not None]
    if not shown:
        shown = [mrkdwn(str(payload.get("text", "")))]
    return Panel(Group(*shown), title=title, title_align="left", box=box.ROUNDED, padding=(0, 1))
