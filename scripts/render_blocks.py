"""Draw Slack Block Kit messages as simple HTML, and screenshot them with headless Chromium.

Usage::

    python scripts/render_blocks.py                    # the blog alert in every state, docs/alerts/
    python scripts/render_blocks.py messages.json out/ # {"name": payload, ...} or one payload

It knows the blocks ECR Lifeguard sends (header, section with fields and accessory, divider,
actions with buttons and menus, context) and mrkdwn: *bold*, _italic_, `code`, ```blocks```,
<url|links>, <@U…> mentions, <#C…> channels and <!date^…> tokens (shown as their UTC fallback,
as a reader in UTC sees them). Without Chromium it writes the HTML instead.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "alerts"
SHOWN = ("at_risk", "guard_pending", "protected", "deleted", "safe_unused")
STYLE = """
body { font: 15px/1.46 -apple-system, 'Segoe UI', 'Noto Sans', Arial, sans-serif; margin: 0;
       color: #1d1c1d; background: #fff; }
.msg { display: flex; gap: 8px; padding: 12px 16px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #2eb67d; color: #fff;
          font-weight: 700; display: flex; align-items: center; justify-content: center; }
.who b { margin-right: 6px; } .who span { color: #616061; font-size: 12px; }
.app { background: #e8e8e8; color: #616061; font-size: 10px; padding: 0 3px; border-radius: 2px; }
.header { font-size: 18px; font-weight: 900; margin: 6px 0 4px; }
.section { display: flex; justify-content: space-between; gap: 12px; margin: 6px 0; }
.section > span { align-self: flex-start; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 6px 16px; margin: 6px 0;
          overflow-wrap: anywhere; }
.context { color: #616061; font-size: 12px; margin: 6px 0; overflow-wrap: anywhere; }
.divider { border-top: 1px solid #ddd; margin: 10px 0; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.button, .select { border: 1px solid #bbb; border-radius: 4px; padding: 3px 12px; font-size: 14px;
                   font-weight: 700; background: #fff; white-space: nowrap; }
.primary { background: #007a5a; color: #fff; border-color: #007a5a; }
.danger { background: #e01e5a; color: #fff; border-color: #e01e5a; }
.select { font-weight: 400; } .select::after { content: " ▾"; }
code { font: 12px Menlo, Consolas, monospace; color: #e01e5a; background: #f6f6f6;
       border: 1px solid #ddd; border-radius: 3px; padding: 0 2px; overflow-wrap: anywhere; }
pre { font: 12px Menlo, monospace; background: #f6f6f6; border: 1px solid #ddd; padding: 6px;
      white-space: pre-wrap; }
a { color: #1264a3; text-decoration: none; } .mention { color: #1264a3; background: #e8f5fa; }
.date { border-bottom: 1px dotted #1264a3; }
"""


def mrkdwn(text: str) -> str:
    """Slack mrkdwn as HTML (what this bot writes, not every corner of the format)."""
    pieces: list[str] = []
    for part in re.split(r"(```.*?```|`[^`]*`)", text, flags=re.DOTALL):
        if part.startswith("```"):
            pieces.append(f"<pre>{html.escape(_unescape(part[3:-3]))}</pre>")
        elif part.startswith("`") and part.endswith("`") and len(part) > 1:
            pieces.append(f"<code>{html.escape(_unescape(part[1:-1]))}</code>")
        else:
            pieces.append(_inline(part))
    return "".join(pieces).replace("\n", "<br>")


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _inline(text: str) -> str:
    out: list[str] = []
    for part in re.split(r"(<[^>]+>)", text):
        if part.startswith("<") and part.endswith(">"):
            out.append(_angle(part[1:-1]))
        else:
            escaped = html.escape(_unescape(part))
            escaped = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", escaped)
            out.append(re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", escaped))
    return "".join(out)


def _angle(inner: str) -> str:
    if inner.startswith("!date^"):
        fallback = inner.split("|", 1)[-1]
        return f'<span class="date">{html.escape(fallback)}</span>'
    if inner.startswith("@"):
        user = inner[1:].split("|", maxsplit=1)[0].lower()
        return f'<span class="mention">@{html.escape(user)}</span>'
    if inner.startswith("#"):
        name = inner.rsplit("|", maxsplit=1)[-1] if "|" in inner else inner[1:]
        return f'<span class="mention">#{html.escape(name)}</span>'
    url, _, label = inner.partition("|")
    return f'<a href="{html.escape(_unescape(url))}">{html.escape(_unescape(label or url))}</a>'


def _text(obj: dict[str, Any] | None) -> str:
    if not obj:
        return ""
    if obj.get("type") == "plain_text":
        return html.escape(str(obj.get("text", "")))
    return mrkdwn(str(obj.get("text", "")))


def _element(element: dict[str, Any]) -> str:
    if element.get("type") == "static_select":
        placeholder = html.escape(element.get("placeholder", {}).get("text", "Choose"))
        return f'<span class="select">{placeholder}</span>'
    style = element.get("style", "")
    return f'<span class="button {style}">{_text(element.get("text"))}</span>'


def block_html(block: dict[str, Any]) -> str:
    """One block as HTML."""
    kind = block.get("type")
    if kind == "header":
        return f'<div class="header">{_text(block["text"])}</div>'
    if kind == "divider":
        return '<div class="divider"></div>'
    if kind == "context":
        return '<div class="context">' + " ".join(_text(e) for e in block["elements"]) + "</div>"
    if kind == "actions":
        return '<div class="actions">' + "".join(_element(e) for e in block["elements"]) + "</div>"
    if kind == "section":
        parts = []
        if "text" in block:
            accessory = block.get("accessory")
            side = _element(accessory) if accessory else ""
            parts.append(f'<div class="section"><div>{_text(block["text"])}</div>{side}</div>')
        if "fields" in block:
            cells = "".join(f"<div>{_text(f)}</div>" for f in block["fields"])
            parts.append(f'<div class="fields">{cells}</div>')
        return "".join(parts)
    return f"<div><i>({html.escape(str(kind))} block)</i></div>"


def page(payload: dict[str, Any], title: str) -> str:
    """A Slack-like page for one message."""
    body = "".join(block_html(b) for b in payload.get("blocks", []))
    if not body:
        body = mrkdwn(str(payload.get("text", "")))
    return (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style><div class=msg><div class=avatar>LG</div><div>"
        "<div class=who><b>ECR Lifeguard</b><span class=app>APP</span> <span>3:00 AM</span></div>"
        f"{body}</div></div>"
    )


def screenshot(html_file: Path, png: Path, browser: str) -> None:
    """Chromium's screenshot of a page, 680 pixels wide."""
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={png}", "--window-size=680,900", html_file.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def render(messages: dict[str, dict[str, Any]], out: Path) -> list[Path]:
    """Write ``NAME.png`` for each message, or ``NAME.html`` when Chromium is not installed."""
    out.mkdir(parents=True, exist_ok=True)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, payload in messages.items():
            html_file = (Path(scratch) if browser else out) / f"{name}.html"
            html_file.write_text(page(payload, name))
            if browser:
                screenshot(html_file, out / f"{name}.png", browser)
            written.append(out / f"{name}.png" if browser else html_file)
    return written


def main(argv: list[str]) -> int:
    """Render the blog scenario's alert states, or the payloads of a JSON file."""
    if argv:
        document = json.loads(Path(argv[0]).read_text())
        messages = document if "blocks" not in document else {Path(argv[0]).stem: document}
        out = Path(argv[1]) if len(argv) > 1 else OUT
    else:
        sys.path.insert(0, str(ROOT))
        from tests.support.blog_alerts import blog_states  # noqa: PLC0415 (needs ROOT on the path)

        states = blog_states()
        messages, out = {name: states[name] for name in SHOWN}, OUT
    for path in render(messages, out):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
