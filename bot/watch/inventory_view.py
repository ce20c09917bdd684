"""The inventory the event reactions use: collected at most every ``events.inventory_max_age``
seconds, and again as soon as an ECS event says tasks or deployments changed (on any replica:
the change is a token in the store)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from bot.inventory.sources import Inventory, collect_inventory
from bot.ports import Cloud
from bot.state.store import Store

VERSION = "inventory-version"


class InventoryView:
    """A cached inventory, shared by the reactions of one replica.

    Example::

        view = InventoryView(store, max_age=300)
        inventory = await view.current(cloud)
        await view.changed()          # an ECS task or deployment changed
    """

    def __init__(
        self, store: Store, *, max_age: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.max_age = max_age
        self.clock = clock
        self._inventory: Inventory | None = None
        self._at = 0.0
        self._version: str | None = None

    async def current(self, cloud: Cloud) -> Inventory:
        """The inventory, collected again when it is too old or the version changed."""
        found = await self.store.get(VERSION)
        version = str(found["token"]) if found else ""
        fresh = self.clock() - self._at < self.max_age and version == self._version
        if self._inventory is None or not fresh:
            self._inventory = await collect_inventory(await cloud.inventory_sources())
            self._at, self._version = self.clock(), version
        return self._inventory

    async def changed(self) -> None:
        """Mark every replica's inventory out of date."""
        await self.store.put(VERSION, {"token": secrets.token_hex(8)})

    def seed(self, inventory: Inventory) -> None:
        """Use an inventory just collected (by the scan) until it ages."""
        self._inventory, self._at = inventory, self.clock()
