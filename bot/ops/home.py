"""The App Home tab: the last scan's at-risk images and the active protections, read afresh when
the tab is opened (an image a lease now protects is listed as protected, not at risk)."""

from __future__ import annotations

from typing import Any

from bot.blocks.home import home_view as render
from bot.ops.deps import Dependencies
from bot.watch.schedule import LAST_SCAN


async def home_view(deps: Dependencies) -> dict[str, Any]:
    """The Home tab view for anyone who opens it: the leases are read now, not at the last scan.

    Example::

        await client.views_publish(user_id=user, view=await home_view(deps))
    """
    last_scan = await deps.store.get(LAST_SCAN)
    leases = await deps.leases.active()
    return render(last_scan, leases, deps.clock())
