"""The analyst views computed independently from a fleet's ground truth (the acknowledged pings).

Written from docs/analysts.md, not from the aggregator's code: one install counts once per day
under its day state (per field, the last known value; `unknown` and absent keys are not known);
events count pings. The fleet keeps an install's state fixed for the run, so the only
order-dependent values are the per-run attrs and counts of proxmox-scripts, which
`ORDER_DEPENDENT` names and the comparisons leave to `event_outcomes`.

A fleet that sends no `ping_id` is counted by content (`identity`): ingest derives the id from it,
and the aggregator takes the same content within 10 minutes for a retry. Such a fleet must make
every ping's content unique (a `sent_at` with sub-second precision, as Novu's and MaestroHub's
clients send a timestamp), or two identical pings of an install sent minutes apart count once.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from schemas.catalog import Catalogs

ORDER_DEPENDENT: Final = {
    "proxmox-scripts": frozenset({"nsapp", "status", "error_category", "exit_code"}),
}


def load_truth(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class ExpectedViews:
    """What every view must show for one day whose pings are all in `pings`."""

    active: dict[tuple[str, str, str, str, str], tuple[int, int]]
    dau: dict[str, int]
    adoption: dict[tuple[str, str, str], int]
    counts: dict[tuple[str, str], tuple[int, int, int, int]]
    events: dict[tuple[str, str, str], int]


UNKNOWN: Final = "unknown"
ENVELOPE: Final = ("version", "platform", "os", "arch")


def identity(ping: dict[str, Any]) -> str:
    """What makes a retry the same ping: its `ping_id`, or without one its whole content."""
    ping_id = ping.get("ping_id")
    return str(ping_id) if ping_id is not None else json.dumps(ping, sort_keys=True)


def _union(state: dict[str, Any] | None, ping: dict[str, Any]) -> dict[str, Any]:
    """The install's day state after `ping`: its known values over the state's."""
    if state is None:
        state = {field: UNKNOWN for field in ENVELOPE} | {"attrs": {}, "counts": {}}
    out = {field: state[field] if ping.get(field, UNKNOWN) == UNKNOWN else ping[field]
           for field in ENVELOPE}  # fmt: skip
    out["attrs"] = {**state["attrs"], **ping.get("attrs", {})}
    out["counts"] = {**state["counts"], **ping.get("counts", {})}
    return out


def expected_views(pings: list[dict[str, Any]], catalogs: Catalogs) -> ExpectedViews:
    unique = {identity(p): p for p in pings}.values()  # a retried ping counts once
    installs: dict[tuple[str, str], dict[str, Any]] = {}
    pings_per_install: Counter[tuple[str, str]] = Counter()
    events: Counter[tuple[str, str, str]] = Counter()
    for ping in unique:
        key = (ping["product"], ping["install_id"])
        installs[key] = _union(installs.get(key), ping)
        pings_per_install[key] += 1
        catalog = catalogs.get(ping["product"])
        assert catalog is not None
        attrs = ping.get("attrs", {})
        dims = {d: attrs[d] for d in catalog.dimensions if d in attrs}
        events[(ping["product"], ping["event"], json.dumps(dims, sort_keys=True))] += 1

    active: dict[tuple[str, str, str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    dau: Counter[str] = Counter()
    adoption: Counter[tuple[str, str, str]] = Counter()
    values: dict[tuple[str, str], list[int]] = defaultdict(list)
    for (product, _id), ping in installs.items():
        row = active[(product, ping["version"], ping["platform"], ping["os"], ping["arch"])]
        row[0] += 1
        row[1] += pings_per_install[(product, _id)]
        dau[product] += 1
        skip = ORDER_DEPENDENT.get(product, frozenset())
        for attr, value in ping.get("attrs", {}).items():
            if attr not in skip:
                adoption[(product, attr, _text(value))] += 1
        for key, number in ping.get("counts", {}).items():
            if key not in skip:
                values[(product, key)].append(number)
    return ExpectedViews(
        active={k: (v[0], v[1]) for k, v in active.items()},
        dau=dict(dau),
        adoption=dict(adoption),
        counts={k: (len(v), sum(v), min(v), max(v)) for k, v in values.items()},
        events=dict(events),
    )
