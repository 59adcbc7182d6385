"""The compat routes: one per product endpoint, each with its mapping and its adapter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import msgspec

from schemas.compat import (
    FLOWFUSE,
    MAESTROHUB,
    NOVU_BEACON,
    NOVU_TELEMETRY,
    NOVU_USAGE,
    PROXMOX_SCRIPTS,
    PULSE,
    CompatMapping,
)
from services.ingest.compat import flowfuse, maestrohub, novu, proxmox, pulse
from services.ingest.compat.common import CompatContext
from services.ingest.validate import Checked

Adapter = Callable[[bytes, CompatContext], Checked]
"""Request bytes → checked canonical pings; raises Rejection (400/422) naming the upstream path."""


@dataclass(frozen=True, slots=True)
class CompatRoute:
    mapping: CompatMapping
    body: type[msgspec.Struct]
    adapt: Adapter

    @property
    def path(self) -> str:
        return self.mapping.route


ROUTES: Final = (
    CompatRoute(PULSE, pulse.PulseBody, pulse.adapt),
    CompatRoute(PROXMOX_SCRIPTS, proxmox.ProxmoxReport, proxmox.adapt),
    CompatRoute(FLOWFUSE, flowfuse.FlowFusePing, flowfuse.adapt),
    CompatRoute(NOVU_TELEMETRY, novu.NovuEvent, novu.adapt_wrapped),
    CompatRoute(NOVU_BEACON, novu.NovuBeacon, novu.adapt_beacon),
    CompatRoute(NOVU_USAGE, novu.NovuUsage, novu.adapt_usage),
    CompatRoute(MAESTROHUB, maestrohub.MaestroHubReport, maestrohub.adapt),
)
PATHS: Final = tuple(route.path for route in ROUTES)
