from __future__ import annotations

from pathlib import Path

import pytest

from inventory.store import Store
from security.compliance.facts import AuditContext, load_context
from tests.compliance.estate import NOW, small_estate


@pytest.fixture
def estate(tmp_path: Path) -> tuple[AuditContext, Store]:
    """The small estate's audit context at level 3, and its store."""
    config, store = small_estate(tmp_path)
    return load_context(config, store, 3, NOW), store
