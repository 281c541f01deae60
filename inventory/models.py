"""Inventory tables (SQLAlchemy 2). Every package's tables share this Base, so one store migrates them all.

Nodes and hosts get typed columns because capacity, planning and the console filter and
aggregate on them in SQL; the other kinds are few per provider and keep their record as JSON.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class ProviderStatus(Base):
    """One row per configured provider: the outcome of its last sync."""

    __tablename__ = "provider_status"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    driver: Mapped[str] = mapped_column(String(64), default="")
    center: Mapped[str] = mapped_column(String(64), default="")
    pool: Mapped[str] = mapped_column(String(32), default="legacy")
    # ok | partial (some kinds unreadable) | failed | never
    status: Mapped[str] = mapped_column(String(16), default="never")
    stale: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str] = mapped_column(Text, default="")
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_attempt: Mapped[datetime | None] = mapped_column(default=None)
    last_success: Mapped[datetime | None] = mapped_column(default=None)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    # The provider's own marker for its next "changes since" (vSphere: the collector version),
    # from the last successful sync; empty for providers that go by last_success.
    watermark: Mapped[str | None] = mapped_column(String(512), default=None)
    # The cloud's own clock when the last successful collection began (the Date header of its
    # first answer): the next time-based delta starts here, less sync.clock_margin_s.
    collected_from: Mapped[datetime | None] = mapped_column(default=None)


class NodeRow(Base):
    __tablename__ = "nodes"

    provider: Mapped[str] = mapped_column(String(128), primary_key=True)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[str] = mapped_column(String(16), default="unknown")
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    ram_mb: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb: Mapped[int] = mapped_column(Integer, default=0)
    arch: Mapped[str] = mapped_column(String(32), default="")
    cpu_vendor: Mapped[str] = mapped_column(String(32), default="")
    os_family: Mapped[str] = mapped_column(String(32), default="")
    ips: Mapped[list[Any]] = mapped_column(default=list)
    host: Mapped[str] = mapped_column(String(255), default="")
    image: Mapped[str] = mapped_column(String(128), default="")
    size: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime | None] = mapped_column(default=None)
    department: Mapped[str] = mapped_column(String(128), default="")
    system: Mapped[str] = mapped_column(String(128), default="")
    mlps_level: Mapped[int | None] = mapped_column(Integer, default=None)
    owner: Mapped[str] = mapped_column(String(128), default="")
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fingerprint: Mapped[str] = mapped_column(String(40), default="")
    first_seen: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index("ix_nodes_department", "department"),
        Index("ix_nodes_system", "system"),
    )


class HostRow(Base):
    __tablename__ = "hosts"

    provider: Mapped[str] = mapped_column(String(128), primary_key=True)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[str] = mapped_column(String(16), default="unknown")
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    ram_mb: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb: Mapped[int] = mapped_column(Integer, default=0)
    vcpus_used: Mapped[int] = mapped_column(Integer, default=0)
    ram_mb_used: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb_used: Mapped[int] = mapped_column(Integer, default=0)
    arch: Mapped[str] = mapped_column(String(32), default="")
    cpu_vendor: Mapped[str] = mapped_column(String(32), default="")
    cpu_model: Mapped[str] = mapped_column(String(128), default="")
    os_family: Mapped[str] = mapped_column(String(32), default="")
    rack: Mapped[str] = mapped_column(String(64), default="")
    power_kw: Mapped[float | None] = mapped_column(Float, default=None)
    cpu_util_pct: Mapped[float | None] = mapped_column(Float, default=None)
    running_vms: Mapped[int] = mapped_column(Integer, default=0)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fingerprint: Mapped[str] = mapped_column(String(40), default="")
    first_seen: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)


class ResourceRow(Base):
    """Sizes, images, volumes, snapshots, networks, security groups, clusters."""

    __tablename__ = "resources"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider: Mapped[str] = mapped_column(String(128), primary_key=True)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[str] = mapped_column(String(16), default="unknown")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fingerprint: Mapped[str] = mapped_column(String(40), default="")
    first_seen: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)


class UtilizationRow(Base):
    """Per-node utilization where the provider reports it (30-day window)."""

    __tablename__ = "utilization"

    provider: Mapped[str] = mapped_column(String(128), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    cpu_avg_pct: Mapped[float] = mapped_column(Float, default=0.0)
    cpu_p95_pct: Mapped[float] = mapped_column(Float, default=0.0)
    ram_avg_pct: Mapped[float] = mapped_column(Float, default=0.0)
    window_days: Mapped[int] = mapped_column(Integer, default=30)
    disk_used_pct: Mapped[float | None] = mapped_column(Float, default=None)
    sampled_at: Mapped[datetime | None] = mapped_column(default=None)


class UtilizationDayRow(Base):
    """A node's average use on each day of the window (Prometheus's daily history), replaced
    with every sync that reads it: what idle detection checks so that a burst is not averaged
    away, and what the console draws."""

    __tablename__ = "utilization_days"

    provider: Mapped[str] = mapped_column(String(128), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    cpu_avg_pct: Mapped[float] = mapped_column(Float)
    ram_avg_pct: Mapped[float | None] = mapped_column(Float, default=None)


class SyncRun(Base):
    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default="running")
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ChangeEvent(Base):
    """added / changed / removed, with the fields that changed (old and new values)."""

    __tablename__ = "change_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column()
    sync_run_id: Mapped[int | None] = mapped_column(Integer, default=None)
    provider: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255), default="")
    change: Mapped[str] = mapped_column(String(16))
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_change_events_resource", "provider", "kind", "resource_id"),)


class CapacitySample(Base):
    """Allocation per provider after each successful sync (and seeded lab history):
    the time series behind forecasts and the Xinchuang-progress trend."""

    __tablename__ = "capacity_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column()
    provider: Mapped[str] = mapped_column(String(128))
    center: Mapped[str] = mapped_column(String(64), default="")
    pool: Mapped[str] = mapped_column(String(32), default="legacy")
    department: Mapped[str] = mapped_column(String(128), default="")
    nodes: Mapped[int] = mapped_column(Integer, default=0)
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    ram_mb: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_capacity_samples_at", "at"),)
