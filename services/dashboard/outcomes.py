"""Which attrs say how a run ended, and which of their values are failures: the one place."""

from __future__ import annotations

from typing import Final

from schemas.catalog import Catalog

OUTCOME_ATTR: Final = "status"
"""The dimension attr holding a run's phase or outcome (proxmox-scripts)."""
FAILURE_VALUES: Final = frozenset({"failed"})
"""Outcomes counted as failures; aborted runs (Ctrl-C, SIGTERM) are not failures."""
CATEGORY_ATTR: Final = "error_category"
"""The dimension attr that groups failures (the exit-code category)."""
TERMINAL_EVENT: Final = "install"
"""The event that reports a run's terminal outcome; progress events are not runs."""


def outcome_attr(catalog: Catalog) -> str | None:
    return OUTCOME_ATTR if OUTCOME_ATTR in catalog.dimensions else None


def category_attr(catalog: Catalog) -> str | None:
    return CATEGORY_ATTR if CATEGORY_ATTR in catalog.dimensions else None


def run_event(catalog: Catalog) -> str | None:
    """The event whose count is a count of installs, or None. Rollups count events, not
    installs; only a product that reports one terminal event per run under a fresh install id
    (proxmox-scripts: one install id per session) makes an event count an install count, so only
    those event counts may be published under the minimum-count rule."""
    if outcome_attr(catalog) and TERMINAL_EVENT in catalog.events:
        return TERMINAL_EVENT
    return None


def default_by(catalog: Catalog) -> str | None:
    """Group outcomes by the first dimension that is neither the outcome nor its category."""
    for name in catalog.dimensions:
        if name not in {OUTCOME_ATTR, CATEGORY_ATTR}:
            return name
    return None
