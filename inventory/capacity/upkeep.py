"""What keeps the capacity area's derived tables current, called by the writers of their
sources: the store guards every session, sync refreshes a provider's rollup in the
transaction that wrote it and writes its samples inside `writing_samples`, and the capacity
history file is imported once."""

from __future__ import annotations

from inventory.capacity.daily_rollups import writing as writing_samples
from inventory.capacity.history import ensure_history
from inventory.capacity.provider_rollups import is_current as provider_rollup_is_current
from inventory.capacity.provider_rollups import refresh as refresh_provider_rollup
from inventory.capacity.rollup_guard import install as guard_sessions
from inventory.capacity.rollup_guard import maintain as rollups_maintained_by

__all__ = [
    "ensure_history",
    "guard_sessions",
    "provider_rollup_is_current",
    "refresh_provider_rollup",
    "rollups_maintained_by",
    "writing_samples",
]
