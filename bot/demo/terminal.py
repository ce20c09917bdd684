"""Where the demo's bot posts: the terminal (:class:`TerminalNotifier`), and Slack too with
``--slack`` (:class:`BothNotifier`). Both are :class:`bot.ports.Notifier` and build the same
payloads as :class:`~bot.edge.slack.notifier.SlackNotifier`.

Example::

    console = demo_console()
    notifier = TerminalNotifier(console, alert_options(settings))
    channel, ts = await notifier.post_alert("#shop-oncall", risk, now)
"""

from __future__ import annotations

import io
import itertools
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO, cast

from rich.console import Console

from bot.blocks.alert_payloads import current_alert, ended_alert
from bot.blocks.alerts import AlertOptions, risk_alert
from bot.demo.render import message_renderable
from bot.edge.slack.notifier import SlackNotifier
from bot.risk.models import Risk
from bot.state.records import AlertRecord
from bot.watch.reconcile import Resolution

WIDTH = 100


class LineStripper(io.TextIOBase):
    """A text stream that writes whole lines to ``target`` without their trailing spaces."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._pending = ""

    def write(self, text: str) -> int:
        """Buffer ``text``; write every completed line, stripped on the right.

        Example:
            >>> out = io.StringIO()
            >>> stripper = LineStripper(out)
            >>> stripper.write("a  \\nb")
            5
            >>> out.getvalue()
            'a\\n'
        """
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            self.target.write(line.rstrip() + "\n")
        return len(text)

    def flush(self) -> None:
        """Write what is buffered."""
        if self._pending:
            self.target.write(self._pending.rstrip())
            self._pending = ""
        self.target.flush()


def demo_console(target: TextIO | None = None) -> Console:
    """A console of at most 100 columns (100 when not a terminal), without trailing spaces."""
    stream = target or sys.stdout
    probe = Console(file=stream)
    width = min(probe.width, WIDTH) if probe.is_terminal else WIDTH
    return Console(
        file=cast(TextIO, LineStripper(stream)),
        width=width,
        force_terminal=probe.is_terminal,
        highlight=False,
        soft_wrap=False,
    )


class TerminalNotifier:
    """:class:`bot.ports.Notifier` that shows each message in the terminal, numbered."""

    def __init__(
        self,
        console: Console,
        options: AlertOptions | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.console = console
        self.options = options or AlertOptions()
        self.clock = clock
        self.numbers: dict[str, int] = {}
        self._next = itertools.count(1)

    async def post_alert(self, channel: str, risk: Risk, now: float) -> tuple[str, str]:
        """Show a new alert."""
        return channel, self.show(channel, risk_alert(risk, now, self.options))

    async def update_alert(self, record: AlertRecord, risk: Risk | None, now: float) -> None:
        """Show the alert as it now reads."""
        payload = current_alert(record, risk, now, self.options)
        self.show(record.channel, payload, updating=record.ts)

    async def resolve_alert(self, record: AlertRecord, resolution: Resolution) -> None:
        """Show the alert replaced by how its risk ended, and the reply in its thread."""
        now = resolution.at if resolution.at is not None else self.clock()
        payload, reply = ended_alert(
            record, resolution.reason, resolution.detail, now, self.options, lease=resolution.lease
        )
        self.show(record.channel, payload, updating=record.ts)
        await self.reply(record.channel, record.ts, reply)

    async def reply(self, channel: str, thread_ts: str, text: str) -> None:
        """Show a reply in a thread."""
        self.show(channel, {"text": text}, thread=thread_ts)

    async def post(
        self, channel: str, payload: dict[str, object], *, thread_ts: str | None = None
    ) -> str:
        """Show any message (in a thread when ``thread_ts`` is given)."""
        return self.show(channel, payload, thread=thread_ts)

    def show(
        self,
        channel: str,
        payload: dict[str, Any],
        *,
        updating: str | None = None,
        thread: str | None = None,
        ts: str | None = None,
        about: str | None = None,
    ) -> str:
        """Print a message framed with where it went (and ``about`` it); return its id (``ts``,
        as Slack's)."""
        if updating is not None:
            ts = updating
            where = f"message {self.number(updating)} edited"
        else:
            ts = ts or f"{next(self._next)}.000000"
            where = f"message {self.number(ts)}"
            if thread is not None:
                where += f", in the thread of message {self.number(thread)}"
        title = " · ".join(part for part in (channel, where, about) if part)
        self.console.print(message_renderable(payload, title))
        return ts

    def number(self, ts: str) -> int:
        """The message's number in this run (ids from Slack get the next free number)."""
        if ts not in self.numbers:
            self.numbers[ts] = len(self.numbers) + 1
        return self.numbers[ts]


class BothNotifier:
    """:class:`bot.ports.Notifier` that posts to Slack and shows the same in the terminal; the
    message ids are Slack's."""

    def __init__(self, slack: SlackNotifier, terminal: TerminalNotifier) -> None:
        self.slack = slack
        self.terminal = terminal

    async def post_alert(self, channel: str, risk: Risk, now: float) -> tuple[str, str]:
        """Post the alert to Slack, then show it."""
        posted = await self.slack.post_alert(channel, risk, now)
        self.terminal.show(posted[0], risk_alert(risk, now, self.terminal.options), ts=posted[1])
        return posted

    async def update_alert(self, record: AlertRecord, risk: Risk | None, now: float) -> None:
        """Update the alert in Slack, then show it."""
        await self.slack.update_alert(record, risk, now)
        await self.terminal.update_alert(record, risk, now)

    async def resolve_alert(self, record: AlertRecord, resolution: Resolution) -> None:
        """Resolve the alert in Slack, then show it."""
        await self.slack.resolve_alert(record, resolution)
        await self.terminal.resolve_alert(record, resolution)

    async def reply(self, channel: str, thread_ts: str, text: str) -> None:
        """Reply in Slack, then show it."""
        await self.slack.reply(channel, thread_ts, text)
        await self.terminal.reply(channel, thread_ts, text)

    async def post(
        self, channel: str, payload: dict[str, object], *, thread_ts: str | None = None
    ) -> str:
        """Post to Slack (in a thread when ``thread_ts`` is given), then show it."""
        ts = await self.slack.post(channel, payload, thread_ts=thread_ts)
        self.terminal.show(channel, payload, ts=ts, thread=thread_ts)
        return ts
