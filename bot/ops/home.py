"""The App Home tab: the last scan's at-risk images and the active protections, read afresh when
the tab is opened (an image a lease now protects is listed as protected, not at risk)."""

from __future__ import annotations

from typing import Any

from bot.blocks.home import home_view as render
from bot.ops.deps import Dependencies
from bot.refs import RepositoryKey
from bot.state.records import image_key
from bot.watch.schedule import LAST_SCAN


async def home_view(deps: Dependencies) -> dict[str, Any]:
    """The Home tab view for anyone who opens it.

    Example::

        await client.views_publish(user_id=user, view=await home_view(deps))
    """
    last_scan = await deps.store.get(LAST_SCAN)
    leases = await deps.leases.active()
    protected = {lease.key for lease in leases}
    if last_scan is not None:
        risks = [risk for risk in last_scan.get("risks", []) if _key(risk) not in protected]
        last_scan = {**last_scan, "risks": risks}
    return render(last_scan, leases, deps.clock())


def _key(risk: dict[str, Any]) -> str:
    repository = RepositoryKey(
        str(risk.get("registry", "")), str(risk.get("region", "")), str(risk["repository"])
    )
    return image_key(repository, str(risk["digest"]))
