"""Who a Slack user is for authorisation: the user groups the permission rules name.

Only those groups are looked up, only when a decision needs them (see :mod:`bot.ops.authorize`),
and memberships are cached for five minutes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from slack_sdk.web.async_client import AsyncWebClient

from bot.edge.slack.client import slack_call

GROUP_CACHE_SECONDS = 300.0


class SlackDirectory:
    """User-group membership from ``usergroups.users.list``.

    Example::

        directory = SlackDirectory(client, ["S0PLATFORM"])
        groups = await directory.groups("U0ALICE")    # frozenset({"S0PLATFORM"})
    """

    def __init__(self, client: AsyncWebClient, groups: Sequence[str]) -> None:
        self.client = client
        self.names = list(groups)
        self._members: dict[str, frozenset[str]] = {}
        self._fetched_at: float | None = None

    async def groups(self, user: str) -> frozenset[str]:
        """The groups (of those the rules name) ``user`` belongs to; raises UpstreamError."""
        if self.names and self._stale():
            await self._refresh()
        return frozenset(g for g, members in self._members.items() if user in members)

    def _stale(self) -> bool:
        # Never fetched is stale: the monotonic clock may be younger than the cache period.
        fetched = self._fetched_at
        return fetched is None or time.monotonic() - fetched > GROUP_CACHE_SECONDS

    async def _refresh(self) -> None:
        members = {}
        for group in self.names:
            response = await slack_call(
                "usergroups.users.list",
                lambda group=group: self.client.usergroups_users_list(usergroup=group),  # type: ignore[misc]
            )
            members[group] = frozenset(response.get("users") or [])
        self._members = members
        self._fetched_at = time.monotonic()
