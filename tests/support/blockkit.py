"""Block Kit's limits, checked on a message payload (reusable by every test that renders one).

``block_kit_problems(payload)`` lists every limit a message breaks (an empty list: Slack takes
it); ``assert_block_kit(payload)`` fails a test with that list. The limits are Slack's published
ones for messages: 50 blocks, 3000 characters per section text, 2000 per field and 10 fields,
150 per header (plain text), 75 per button text, 2000 per button value, 255 per ``action_id``
and ``block_id``, unique ids, 25 elements per actions block, 10 per context block, and a
``text`` fallback for notifications.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID = 255
MAX_ACTIONS = 25
MAX_CONTEXT = 10
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
BLOCK_TYPES = {"header", "section", "divider", "actions", "context", "image", "rich_text"}
_DATE_TOKEN = re.compile(
    r"<!date\^(\d+)\^\{date_short_pretty\} \{time\}\|(\d{4}-\d\d-\d\d \d\d:\d\d UTC)>"
)
_LINK = re.compile(r"<(https?://[^|>\s]+)\|([^>]+)>")


def block_kit_problems(payload: dict[str, Any], *, home: bool = False) -> list[str]:
    """Every Block Kit limit the message (``home``: the App Home view) breaks."""
    problems: list[str] = []
    text = payload.get("text")
    if not home and (not isinstance(text, str) or not text.strip()):
        problems.append("no `text` fallback (notifications and screen readers need it)")
    blocks = payload.get("blocks", [])
    limit = MAX_HOME_BLOCKS if home else MAX_BLOCKS
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks (at most {limit})")
    ids: list[str] = []
    for index, block in enumerate(blocks):
        problems += [f"block {index} ({block.get('type')}): {p}" for p in _block(block, ids)]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        problems.append(f"ids used twice: {duplicates}")
    return problems


def assert_block_kit(payload: dict[str, Any]) -> None:
    """Fail with every limit the message breaks."""
    problems = block_kit_problems(payload)
    assert not problems, "\n".join(problems)


def _block(block: dict[str, Any], ids: list[str]) -> Iterator[str]:
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        yield f"unknown block type {kind!r}"
    yield from _id(block, "block_id", ids, unique=True)
    if kind == "header":
        yield from _plain(block.get("text"), MAX_HEADER, "header text")
    elif kind == "section":
        yield from _section(block, ids)
    elif kind == "actions":
        elements = block.get("elements", [])
        if not elements or len(elements) > MAX_ACTIONS:
            yield f"{len(elements)} elements (1 to {MAX_ACTIONS})"
        for element in elements:
            yield from _element(element, ids)
    elif kind == "context":
        elements = block.get("elements", [])
        if not elements or len(elements) > MAX_CONTEXT:
            yield f"{len(elements)} elements (1 to {MAX_CONTEXT})"
        for element in elements:
            yield from _text(element, MAX_FIELD_TEXT, "context text")


def _section(block: dict[str, Any], ids: list[str]) -> Iterator[str]:
    if "text" not in block and "fields" not in block:
        yield "a section needs text or fields"
    if "text" in block:
        yield from _text(block["text"], MAX_SECTION_TEXT, "section text")
    items = block.get("fields", [])
    if len(items) > MAX_FIELDS:
        yield f"{len(items)} fields (at most {MAX_FIELDS})"
    for item in items:
        yield from _text(item, MAX_FIELD_TEXT, "field")
    if "accessory" in block:
        yield from _element(block["accessory"], ids)


def _element(element: dict[str, Any], ids: list[str]) -> Iterator[str]:
    yield from _id(element, "action_id", ids, unique=True)
    kind = element.get("type")
    if kind == "button":
        yield from _plain(element.get("text"), MAX_BUTTON_TEXT, "button text")
        value = element.get("value", "")
        if len(value) > MAX_BUTTON_VALUE:
            yield f"button value of {len(value)} characters (at most {MAX_BUTTON_VALUE})"
        if "value" not in element and "url" not in element:
            yield "a button without value or url"
    elif kind == "static_select":
        for option in element.get("options", []):
            yield from _plain(option.get("text"), MAX_BUTTON_TEXT, "option text")
    if "confirm" in element:
        yield from _confirm(element["confirm"])


def _confirm(dialog: dict[str, Any]) -> Iterator[str]:
    yield from _plain(dialog.get("title"), MAX_CONFIRM_TITLE, "confirm title")
    yield from _text(dialog.get("text"), MAX_CONFIRM_TEXT, "confirm text")
    yield from _plain(dialog.get("confirm"), MAX_CONFIRM_BUTTON, "confirm button")
    yield from _plain(dialog.get("deny"), MAX_CONFIRM_BUTTON, "deny button")


def _id(item: dict[str, Any], key: str, ids: list[str], *, unique: bool) -> Iterator[str]:
    value = item.get(key)
    if value is None:
        return
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID:
        yield f"{key} {value!r} (1 to {MAX_ID} characters)"
    if unique:
        ids.append(f"{key}:{value}")


def _plain(obj: Any, limit: int, what: str) -> Iterator[str]:
    if not isinstance(obj, dict) or obj.get("type") != "plain_text":
        yield f"{what} must be plain_text"
        return
    yield from _length(obj.get("text"), limit, what)


def _text(obj: Any, limit: int, what: str) -> Iterator[str]:
    if not isinstance(obj, dict) or obj.get("type") not in {"plain_text", "mrkdwn"}:
        yield f"{what} must be a text object"
        return
    yield from _length(obj.get("text"), limit, what)


def _length(text: Any, limit: int, what: str) -> Iterator[str]:
    if not isinstance(text, str) or not text:
        yield f"{what} is empty"
    elif len(text) > limit:
        yield f"{what} of {len(text)} characters (at most {limit})"


def all_text(payload: dict[str, Any]) -> str:
    """Every piece of text of a message (fallback, blocks, buttons, dialogs), one per line."""
    found: list[str] = [str(payload.get("text", ""))]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(payload.get("blocks", []))
    return "\n".join(found)


def date_tokens(payload: dict[str, Any]) -> list[tuple[int, str]]:
    """The Slack date tokens of a message: (epoch seconds, UTC fallback text)."""
    return [(int(e), f) for e, f in _DATE_TOKEN.findall(all_text(payload))]


def links(payload: dict[str, Any]) -> dict[str, str]:
    """The mrkdwn links of a message: text → URL."""
    return {text: url for url, text in _LINK.findall(all_text(payload))}


def action_ids(payload: dict[str, Any]) -> list[str]:
    """The action ids of a message's buttons and menus, in order (section accessories too)."""
    found: list[str] = []
    for block in payload.get("blocks", []):
        found += [e["action_id"] for e in block.get("elements", []) if "action_id" in e]
        if "action_id" in block.get("accessory", {}):
            found.append(block["accessory"]["action_id"])
    return found


def header_of(payload: dict[str, Any]) -> str:
    """The text of the message's header block."""
    [block] = [b for b in payload.get("blocks", []) if b.get("type") == "header"]
    text: str = block["text"]["text"]
    return text


def first_line(payload: dict[str, Any]) -> str:
    """The first line a reader sees: the first block's text."""
    block = payload["blocks"][0]
    text = block["text"]["text"] if "text" in block else block["elements"][0]["text"]
    return str(text).split("\n", 1)[0]
