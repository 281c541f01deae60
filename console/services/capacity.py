"""Capacity reads: the report and migration headroom. A scoped viewer's report keeps the
shared pools, centers, racks and forecasts as totals and holds its own departments'
allocation, showback, Xinchuang share (国产化率), hosts and rightsizing only
(inventory.capacity.report); its headroom counts only its own nodes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.services.viewer import Viewer
from inventory.capacity.api import build_report, daily_history, migration_headroom, selection_demand
from inventory.config import GanyunConfig
from inventory.store import Store


def report(store: Store, viewer: Viewer, config: GanyunConfig, **options: Any) -> dict[str, Any]:
    """The capacity report (options as inventory.capacity.api.build_report's)."""
    return build_report(config, store, departments=viewer.departments, **options)


def headroom(
    store: Store,
    viewer: Viewer,
    config: GanyunConfig,
    filters: Mapping[str, str],
    pools: list[dict[str, Any]],
    forecasts: list[dict[str, Any]],
) -> dict[str, Any]:
    """Can each Xinchuang pool take the selected nodes (of the viewer's) now, and until when,
    against a report's pools and forecasts already at hand."""
    with store.session() as session:
        demand = selection_demand(session, filters, viewer.departments)
    return migration_headroom(config, pools, forecasts, demand)


def utilization_days(store: Store, viewer: Viewer, provider: str, node_id: str) -> list[dict[str, Any]]:
    """A node's daily CPU and memory averages (Prometheus's history), oldest first; [] for a
    node outside the viewer's scope."""
    with store.session() as session:
        return daily_history(session, provider, node_id, viewer.departments)


__all__ = ["headroom", "report", "utilization_days"]
