"""The lab's 12 months of allocation history, derived from the seeded estate.

Seeded servers carry `created` dates spread over the last year, so the allocation of each
cloud and department at any past week is the sum of the servers created by then: the curves
a fresh demo shows are the estate's own growth, not invented numbers. Deterministic: the same
estate gives the same file, byte for byte. Written to D/history.json by `ganyun lab up`; the
inventory imports it once into capacity_samples (inventory/history.py).
"""

from __future__ import annotations

import bisect
import json
import os
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lab.seed import TIME_FORMAT, Estate

HISTORY_FILE = "history.json"
FORMAT = "ganyun-capacity-history/1"
COLUMNS = ("at", "provider", "center", "pool", "department", "nodes", "vcpus", "ram_mb", "disk_gb")
WEEKS = 52


def sample_times(now: datetime, weeks: int = WEEKS) -> list[datetime]:
    """Weekly sample instants ending one week before `now` (the live sync supplies `now`)."""
    return [now - timedelta(days=7 * (weeks - j)) for j in range(weeks)]


def _created(value: str) -> datetime:
    from datetime import UTC

    return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)


def history_rows(estate: Estate, weeks: int = WEEKS) -> Iterator[list[Any]]:
    """Rows in COLUMNS order: per week, cloud and department, what existed by then."""
    times = sample_times(estate.now, weeks)
    for cloud in estate.clouds:
        flavors = {f.id: f for f in cloud.flavors}
        # deltas[department][week] = resources of the servers that first appear in that week
        deltas: dict[str, list[list[int]]] = defaultdict(lambda: [[0, 0, 0, 0] for _ in times])
        for server in cloud.servers:
            created = _created(server.created)
            week = bisect.bisect_left(times, created)  # first sample instant at or after creation
            if week == len(times):
                continue
            f = flavors[server.flavor_id]
            d = deltas[server.metadata.get("department", "")][week]
            d[0] += 1
            d[1] += f.vcpus
            d[2] += f.ram_mb
            d[3] += f.disk_gb
        for department in sorted(deltas):
            total = [0, 0, 0, 0]
            for j, at in enumerate(times):
                total = [a + b for a, b in zip(total, deltas[department][j], strict=True)]
                if total[0]:
                    yield [at.strftime(TIME_FORMAT), cloud.name, cloud.center, cloud.pool, department, *total]


def build_history(estate: Estate, weeks: int = WEEKS) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "scale": estate.scale,
        "seed": estate.seed,
        "now": estate.now.strftime(TIME_FORMAT),
        "interval": "week",
        "columns": list(COLUMNS),
        "rows": list(history_rows(estate, weeks)),
    }


def write_history(lab_dir: str | os.PathLike[str], estate: Estate) -> Path:
    """Write D/history.json (compact: one row per array) and return its path."""
    path = Path(lab_dir) / HISTORY_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(build_history(estate), ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    tmp.replace(path)
    return path
