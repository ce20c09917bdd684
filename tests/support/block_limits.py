"""Checking a Slack message payload against Block Kit's limits, as Slack would refuse it.

Limits (https://api.slack.com/reference/block-kit): 50 blocks a message (100 in a Home tab),
3,000 characters of section text, 2,000 of a section field and of a context element, 150 of a
header, 75 of button text, 2,000 of a button value, 25 elements in an actions block; a
confirmation dialog's title 100, text 300. A message needs fallback ``text`` (notifications,
screen readers).
"""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100


def block_kit_problems(payload: dict[str, Any], *, home: bool = False) -> list[str]:
    """Every way ``payload`` breaks a limit; empty when Slack would accept it."""
    blocks = payload.get("blocks", [])
    limit = MAX_HOME_BLOCKS if home else MAX_BLOCKS
    problems = [f"{len(blocks)} blocks (at most {limit})"] if len(blocks) > limit else []
    if not home and not str(payload.get("text", "")).strip():
        problems.append("no fallback text")
    for number, block in enumerate(blocks):
        problems += [f"block {number} ({block['type']}): {p}" for p in _block_problems(block)]
    return problems


def _block_problems(block: dict[str, Any]) -> list[str]:
    kind = block["type"]
    if kind == "header":
        return _too_long("header", block["text"]["text"], 150)
    if kind == "section":
        found = _too_long("text", block["text"]["text"], 3000) if "text" in block else []
        for field in block.get("fields", []):
            found += _too_long("field", field["text"], 2000)
        if len(block.get("fields", [])) > 10:
            found.append("more than 10 fields")
        return found + (_element_problems(block["accessory"]) if "accessory" in block else [])
    if kind == "context":
        found = [] if len(block["elements"]) <= 10 else ["more than 10 elements"]
        for element in block["elements"]:
            found += _too_long("context element", element["text"], 2000)
        return found
    if kind == "actions":
        found = [] if len(block["elements"]) <= 25 else ["more than 25 elements"]
        for element in block["elements"]:
            found += _element_problems(element)
        return found
    return []


def _element_problems(element: dict[str, Any]) -> list[str]:
    if element.get("type") != "button":
        return []
    found = _too_long("button text", element["text"]["text"], 75)
    found += _too_long("button value", element.get("value", ""), 2000)
    dialog = element.get("confirm")
    if dialog is not None:
        found += _too_long("confirm title", dialog["title"]["text"], 100)
        found += _too_long("confirm text", dialog["text"]["text"], 300)
    return found


def _too_long(what: str, text: str, limit: int) -> list[str]:
    return [f"{what} of {len(text)} characters (at most {limit})"] if len(text) > limit else []


def first_line(payload: dict[str, Any]) -> str:
    """The first line a reader sees: the first block's text."""
    block = payload["blocks"][0]
    text = block["text"]["text"] if "text" in block else block["elements"][0]["text"]
    return str(text).split("\n", 1)[0]
