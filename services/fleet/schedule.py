"""When each simulated install pings, on a compressed clock. Pure: yields pings in time order."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from typing import Any

from schemas.catalog import Catalogs
from services.fleet.model import Install, make_ping


def pings(
    rng: random.Random, fleet: list[Install], catalogs: Catalogs, *, heartbeat_s: float
) -> Iterator[dict[str, Any]]:
    """Every install starts within one heartbeat interval, then pings every interval ± 20 %.

    `heartbeat_s` is the compressed day: at a send rate R, choose heartbeat_s = len(fleet) / R so
    the steady state matches the rate.
    """
    queue = [(rng.uniform(0, heartbeat_s), i, True) for i in range(len(fleet))]
    heapq.heapify(queue)
    while queue:
        at, index, first = heapq.heappop(queue)
        install = fleet[index]
        catalog = catalogs.get(install.product)
        assert catalog is not None
        yield make_ping(rng, install, catalog, first=first)
        heapq.heappush(queue, (at + heartbeat_s * rng.uniform(0.8, 1.2), index, False))
