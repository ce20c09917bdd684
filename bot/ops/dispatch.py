"""Running verbs for Slack and the CLI: authorise, act, reply — and every error becomes a reply
through :func:`bot.errors.explain`, in one place.

Example::

    ops = Ops(deps)
    reply = await ops.run(parse_command("protect app:v1 for 3d"), actor)
    reply = await ops.answer("apply-guard", Answer(token), actor)   # a button
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.blocks import replies
from bot.errors import explain
from bot.ops.authorize import Actor
from bot.ops.call import Call
from bot.ops.deps import Dependencies
from bot.ops.registry import BY_NAME, Invocation, catalogue
from bot.ops.verb import Reply

log = logging.getLogger(__name__)


def error_reply(exc: BaseException, done: list[str] | None = None) -> Reply:
    """The reply for a failed verb: private, worded by :func:`bot.errors.explain`. When the verb
    changed ECR before it failed, the reply says that first (``done``): a change that happened
    is never reported as a plain failure.

    Example:
        >>> from bot.errors import Denied
        >>> reply = error_reply(Denied("You may not protect images in app: ask #platform."))
        >>> reply.public, reply.exit, reply.lines
        (False, <Exit.INVALID_INPUT: 2>, ['You may not protect images in app: ask #platform.'])
    """
    explanation = explain(exc)
    if done:
        what = "; ".join(done)
        text = (
            f"Done in ECR: {what}. Then this failed, so the rest was not done: {explanation.text}"
        )
        return Reply(replies.text_reply(text), [f"Done in ECR: {what}.", *explanation.lines])
    return Reply(replies.error_reply(explanation), list(explanation.lines), exit=explanation.exit)


class Ops:
    """Runs verbs. See the module docstring."""

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, invocation: Invocation, actor: Actor) -> Reply:
        """Run a parsed verb for ``actor``; never raises (errors are replies)."""
        verb = invocation.verb
        call = Call(self.deps, actor, verb.action, verb.permission, catalogue=catalogue())
        try:
            return verb.present(await verb.run(call, invocation.args))
        except Exception as exc:  # every failure, expected or not, becomes a reply
            return error_reply(exc, call.effects)

    async def answer(self, name: str, args: Any, actor: Actor) -> Reply:
        """Run a button's verb (``apply-guard``, ``snooze``...) with arguments built by Slack."""
        return await self.run(Invocation(BY_NAME[name], args), actor)

    def start(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run follow-up work in the background, logging (not raising) its failure."""

        async def guarded() -> None:
            try:
                await work()
            except Exception:
                log.exception("follow-up work failed")

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Cancel follow-up work still running (at shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
