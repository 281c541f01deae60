"""What the rest of ganyun reads from the capacity area: the report, its parts and exports
(`export` holds the rows of each section as tables, for the CLI and the console)."""

from __future__ import annotations

from inventory.capacity import export
from inventory.capacity.export import GIB, default_label, figures, write_html, write_xlsx
from inventory.capacity.forecast import DEFAULT_METHOD, METHODS
from inventory.capacity.headroom import migration_headroom, selection_demand
from inventory.capacity.queries import RESOURCES, XINCHUANG
from inventory.capacity.report import aggregate, build_report, rightsizing
from inventory.capacity.rightsizing import LEVELS, daily_history

__all__ = [
    "DEFAULT_METHOD",
    "GIB",
    "LEVELS",
    "METHODS",
    "RESOURCES",
    "XINCHUANG",
    "aggregate",
    "build_report",
    "daily_history",
    "default_label",
    "export",
    "figures",
    "migration_headroom",
    "rightsizing",
    "selection_demand",
    "write_html",
    "write_xlsx",
]
