"""Allocation forecasts per pool: Holt's linear trend (ETS A,A,N from statsmodels) on weekly
allocation from capacity_samples, with prediction intervals, and the run-out date of each
resource with its interval (the weeks where the upper and the lower bound reach capacity).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from inventory.capacity import RESOURCES, latest_samples_per_day
from inventory.models import CapacitySample

MIN_POINTS = 8  # fewer weekly points cannot separate a trend from noise
DEFAULT_LEVEL = 0.95
# ets: Holt's linear trend as a state-space ETS(A,A,N) model (adapts to recent growth);
# linear: an OLS trend line with its prediction interval (no optimizer: ~100x cheaper).
METHODS = {
    "ets": "ETS(A,A,N) Holt linear trend (statsmodels ETSModel)",
    "linear": "OLS linear trend (statsmodels OLS)",
}
DEFAULT_METHOD = "ets"


def _utc(value: datetime) -> datetime:
    # SQLite hands datetimes back naive; they were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def weekly_series(session: Session, providers: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """Allocation per provider per week (the week's last daily figure, gaps carried forward)."""
    last = latest_samples_per_day(session)
    stmt = (
        select(
            CapacitySample.provider,
            CapacitySample.at,
            func.sum(CapacitySample.vcpus),
            func.sum(CapacitySample.ram_mb),
            func.sum(CapacitySample.disk_gb),
        )
        .join(last, and_(last.c.provider == CapacitySample.provider, last.c.at == CapacitySample.at))
        .group_by(CapacitySample.provider, CapacitySample.at)
        .order_by(CapacitySample.provider, CapacitySample.at)
    )
    wanted = set(providers) if providers is not None else None
    rows: dict[str, list[tuple[datetime, int, int, int]]] = {}
    for provider, at, v, r, d in session.execute(stmt):
        if wanted is None or provider in wanted:
            rows.setdefault(provider, []).append((_utc(at), int(v or 0), int(r or 0), int(d or 0)))
    out = {}
    for provider, points in rows.items():
        frame = pd.DataFrame(points, columns=["at", *RESOURCES]).set_index("at").sort_index()
        out[provider] = frame.resample("W-SUN").last().ffill().astype(float)
    return out


def forecast_series(
    series: pd.Series,
    capacity: float,
    horizon_weeks: int = 104,
    level: float = DEFAULT_LEVEL,
    method: str = DEFAULT_METHOD,
) -> dict[str, Any]:
    """Forecast one resource of one pool; run-out date with its interval."""
    current = float(series.iloc[-1]) if len(series) else 0.0
    out: dict[str, Any] = {"capacity": capacity, "current": current, "method": METHODS[method], "level": level,
                           "history_points": len(series), "points": [], "runout": None}  # fmt: skip
    if capacity <= 0:
        out["status"] = "no_capacity"
        return out
    if current >= capacity:
        out["status"] = "exhausted"
        last_day = series.index[-1].date() if len(series) else None
        out["runout"] = {"date": _iso(last_day), "earliest": _iso(last_day), "latest": _iso(last_day)}
        return out
    if len(series) < MIN_POINTS:
        out["status"] = "insufficient_history"
        return out
    frame = _predict(series, horizon_weeks, level, method)
    columns = (frame[c].to_numpy(dtype=float).round(1).tolist() for c in ("mean", "lower", "upper"))
    days = [ix.date().isoformat() for ix in frame.index]
    out["points"] = [[d, m, lo, hi] for d, m, lo, hi in zip(days, *columns, strict=True)]
    out["runout"] = {
        "date": _first_at_or_above(frame["mean"], capacity),
        # The upper bound reaches capacity first: the earliest plausible run-out.
        "earliest": _first_at_or_above(frame["upper"], capacity),
        "latest": _first_at_or_above(frame["lower"], capacity),
    }
    out["status"] = "runs_out" if out["runout"]["date"] else "beyond_horizon"
    return out


def _predict(series: pd.Series, horizon_weeks: int, level: float, method: str) -> pd.DataFrame:
    y = series.astype(float)
    start = y.index[-1]
    index = pd.date_range(start, periods=horizon_weeks + 1, freq="W-SUN")[1:]
    if float(y.std()) == 0.0:
        # Nothing moved: neither model fits a constant; the forecast is the constant itself.
        value = float(y.iloc[-1])
        return pd.DataFrame({"mean": value, "lower": value, "upper": value}, index=index)
    frame = _predict_linear(y, horizon_weeks, level) if method == "linear" else _predict_ets(y, horizon_weeks, level)
    frame.index = index
    # Allocation is never negative.
    return frame.clip(lower=0.0)


def _predict_linear(y: pd.Series, horizon_weeks: int, level: float) -> pd.DataFrame:
    import numpy as np
    import statsmodels.api as sm

    t = np.arange(len(y), dtype=float)
    fit = sm.OLS(y.to_numpy(), sm.add_constant(t)).fit()
    future = sm.add_constant(np.arange(len(y), len(y) + horizon_weeks, dtype=float), has_constant="add")
    frame = fit.get_prediction(future).summary_frame(alpha=1.0 - level)
    out = frame.rename(columns={"obs_ci_lower": "lower", "obs_ci_upper": "upper"})[["mean", "lower", "upper"]]
    return pd.DataFrame(out.to_numpy(), columns=["mean", "lower", "upper"])


def _predict_ets(y: pd.Series, horizon_weeks: int, level: float) -> pd.DataFrame:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    with warnings.catch_warnings():
        # Short, smooth series make the optimizer warn about convergence; the fit is still usable.
        warnings.simplefilter("ignore")
        fit = ETSModel(y, error="add", trend="add", damped_trend=False).fit(disp=False)
        pred = fit.get_prediction(start=len(y), end=len(y) + horizon_weeks - 1)
        frame = pred.summary_frame(alpha=1.0 - level)
    out = frame.rename(columns={"pi_lower": "lower", "pi_upper": "upper"})[["mean", "lower", "upper"]]
    return pd.DataFrame(out.to_numpy(), columns=["mean", "lower", "upper"])


def _first_at_or_above(values: pd.Series, capacity: float) -> str | None:
    hit = values[values >= capacity]
    return _iso(hit.index[0].date()) if len(hit) else None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def forecast_pools(
    session: Session,
    pools: Iterable[Mapping[str, Any]],
    now: datetime,
    horizon_weeks: int = 104,
    level: float = DEFAULT_LEVEL,
    method: str = DEFAULT_METHOD,
) -> list[dict[str, Any]]:
    """One forecast per pool (provider) and resource; the pool runs out at its first resource."""
    if method not in METHODS:
        from providers.base import ConfigError

        raise ConfigError(f"forecast method '{method}': one of {', '.join(METHODS)}")
    pools = list(pools)
    series = weekly_series(session, [p["name"] for p in pools])
    out = []
    for pool in pools:
        frame = series.get(pool["name"])
        resources = {}
        for r in RESOURCES:
            s = frame[r] if frame is not None else pd.Series(dtype=float)
            resources[r] = forecast_series(s, float(pool["capacity"][r]), horizon_weeks, level, method)
        dated = [(res["runout"]["date"], r) for r, res in resources.items() if (res["runout"] or {}).get("date")]
        first = min(dated) if dated else None
        out.append(
            {
                "pool": pool["name"],
                "center": pool["center"],
                "pool_type": pool["pool"],
                "stale": pool["stale"],
                "history_points": len(frame) if frame is not None else 0,
                "runout_date": first[0] if first else None,
                "runout_resource": first[1] if first else None,
                "resources": resources,
                "generated_for": now.date().isoformat(),
            }
        )
    return out


def weeks_until(day: str | None, now: datetime) -> float | None:
    if not day:
        return None
    return math.floor((date.fromisoformat(day) - now.date()).days / 7)
