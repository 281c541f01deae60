"""Tables of the capacity area: which history files were imported into capacity_samples, and
the rollups the report reads instead of scanning every node and every sample.

Rollups are derived data, written by the only writers of their sources (sync and the history
import) in the same transaction: `capacity_rollups` from one provider's nodes, hosts and
utilization; `capacity_trend_days` and `capacity_provider_days` from capacity_samples. Each
can be rebuilt from its source at any time, and the report falls back to the live queries
whenever a rollup cannot be shown to be current (see provider_rollups.py and
daily_rollups.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from inventory.models import Base


class HistoryImport(Base):
    """One row per imported history file (by content digest): the import runs once."""

    __tablename__ = "capacity_history_imports"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(512), default="")
    rows: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime | None] = mapped_column(default=None)
    last_at: Mapped[datetime | None] = mapped_column(default=None)
    imported_at: Mapped[datetime | None] = mapped_column(default=None)


class CapacityRollup(Base):
    """One provider's capacity figures, computed from its nodes when sync last wrote them.

    `params` names the rollup format and the rightsizing thresholds it was computed with: a
    row with other parameters is ignored (and rewritten by the next sync)."""

    __tablename__ = "capacity_rollups"

    provider: Mapped[str] = mapped_column(String(128), primary_key=True)
    params: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime | None] = mapped_column(default=None)
    # orjson text: ~60 KB per provider on the large lab, read whole by every report.
    payload: Mapped[str] = mapped_column(Text)


class TrendDay(Base):
    """Allocated vCPUs and nodes, and their Xinchuang part, per (day, center, department):
    the groups of the Xinchuang trend, each day from every provider's last sample of it."""

    __tablename__ = "capacity_trend_days"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    center: Mapped[str] = mapped_column(String(64), primary_key=True)
    department: Mapped[str] = mapped_column(String(128), primary_key=True)
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    xc_vcpus: Mapped[int] = mapped_column(Integer, default=0)
    nodes: Mapped[int] = mapped_column(Integer, default=0)
    xc_nodes: Mapped[int] = mapped_column(Integer, default=0)


class ProviderDay(Base):
    """A provider's allocation at its last sample of each day: the forecasts' input."""

    __tablename__ = "capacity_provider_days"

    provider: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    at: Mapped[datetime] = mapped_column()
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    ram_mb: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb: Mapped[int] = mapped_column(Integer, default=0)


class RollupState(Base):
    """What a derived table was computed from, e.g. the capacity_samples it has seen."""

    __tablename__ = "capacity_rollup_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class ForecastFit(Base):
    """A forecast curve (mean, lower, upper over the horizon, float64) of one pool's resource,
    with the digest of the weekly series it was fitted on (forecast_fits.py)."""

    __tablename__ = "capacity_forecast_fits"

    provider: Mapped[str] = mapped_column(String(128), primary_key=True)
    resource: Mapped[str] = mapped_column(String(16), primary_key=True)
    method: Mapped[str] = mapped_column(String(16), primary_key=True)
    horizon: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[float] = mapped_column(Float, primary_key=True)
    digest: Mapped[str] = mapped_column(String(32))
    bounds: Mapped[bytes] = mapped_column(LargeBinary)
    fitted_at: Mapped[datetime | None] = mapped_column(default=None)
