"""The audit log, open to city-wide accounts only: it records every department's actions."""

from __future__ import annotations

from typing import Any

from console.services.viewer import Viewer
from inventory.config import GanyunConfig
from inventory.store import Store
from security import audit


def search(
    store: Store, viewer: Viewer, *, text: str = "", action: str = "", limit: int = 50, offset: int = 0
) -> tuple[int, list[dict[str, Any]]]:
    """Newest first: (total matching, one page)."""
    viewer.require_city_wide("the audit log")
    return audit.search(store, text=text, action=action, limit=limit, offset=offset)


def verify(viewer: Viewer, config: GanyunConfig) -> audit.VerifyResult:
    """The hash chain and signed checkpoints against the anchors beside the configuration."""
    viewer.require_city_wide("the audit log")
    return audit.verify_config(config)


__all__ = ["search", "verify"]
