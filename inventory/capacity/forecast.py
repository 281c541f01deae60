"""Allocation forecasts per pool: Holt's linear trend (ETS A,A,N from statsmodels) on weekly
allocation from capacity_samples, with prediction intervals, and the run-out date of each
resource with its interval (the weeks where the upper and the lower bound reach capacity).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from inventory.capacity import daily_rollups
from inventory.capacity.forecast_fits import FitMemo, Predictor
from inventory.capacity.queries import RESOURCES

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
    wanted = set(providers) if providers is not None else None
    rows: dict[str, list[tuple[datetime, int, int, int]]] = {}
    for provider, _day, at, v, r, d in daily_rollups.provider_days(session):
        if wanted is None or provider in wanted:
            rows.setdefault(provider, []).append((_utc(at), v, r, d))
    return {provider: weekly_frame(points) for provider, points in rows.items()}


def weekly_frame(points: list[tuple[datetime, int, int, int]]) -> pd.DataFrame:
    """`DataFrame(points).set_index("at").resample("W-SUN").last().ffill().astype(float)`, without
    the resampler's per-call overhead (a few milliseconds, times every pool of every report).

    W-SUN bins are labelled by their closing Sunday and hold every instant of the seven days
    up to and including it (in the timestamps' own zone); each week keeps its last figure, and
    a week without samples carries the previous one forward.
    """
    points = sorted(points, key=lambda p: p[0])
    week_of = [at.date() + timedelta(days=6 - at.weekday()) for at, *_rest in points]
    first = week_of[0]
    weeks = (week_of[-1] - first).days // 7 + 1
    values: list[tuple[int, int, int] | None] = [None] * weeks
    for week, (_at, v, r, d) in zip(week_of, points, strict=True):
        values[(week - first).days // 7] = (v, r, d)
    carried: list[tuple[int, int, int]] = []
    for value in values:
        carried.append(value if value is not None else carried[-1])
    # The Sundays at midnight in the samples' zone (date_range builds W-SUN dates one by one).
    sundays = pd.DatetimeIndex(np.datetime64(first, "D") + 7 * np.arange(weeks), name="at").as_unit("us")
    tz = points[0][0].tzinfo
    index = sundays.tz_localize(tz) if tz is not None else sundays
    return pd.DataFrame(np.array(carried, dtype=float).reshape(weeks, len(RESOURCES)), index=index, columns=RESOURCES)


def forecast_series(
    series: pd.Series,
    capacity: float,
    horizon_weeks: int = 104,
    level: float = DEFAULT_LEVEL,
    method: str = DEFAULT_METHOD,
    *,
    _days: dict[tuple[Any, int], list[str]] | None = None,
    _predict_with: Predictor | None = None,
) -> dict[str, Any]:
    """Forecast one resource of one pool; run-out date with its interval.

    `_days` (private) shares the forecast weeks' dates between the series of one call;
    `_predict_with` (private) stands in for `_predict` (the report's stored fits)."""
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
    days = _future_days(series.index[-1], horizon_weeks, _days)
    mean, lower, upper = (_predict_with or _predict)(series, horizon_weeks, level, method)
    columns = (c.round(1).tolist() for c in (mean, lower, upper))
    out["points"] = [[d, m, lo, hi] for d, m, lo, hi in zip(days, *columns, strict=True)]
    out["runout"] = {
        "date": _first_at_or_above(days, mean, capacity),
        # The upper bound reaches capacity first: the earliest plausible run-out.
        "earliest": _first_at_or_above(days, upper, capacity),
        "latest": _first_at_or_above(days, lower, capacity),
    }
    out["status"] = "runs_out" if out["runout"]["date"] else "beyond_horizon"
    return out


def _future_days(start: Any, horizon_weeks: int, memo: dict[tuple[Any, int], list[str]] | None) -> list[str]:
    """ISO dates of the `horizon_weeks` Sundays after `start`."""
    key = (start, horizon_weeks)
    if memo is not None and key in memo:
        return memo[key]
    index = pd.date_range(start, periods=horizon_weeks + 1, freq="W-SUN")[1:]
    days = [ix.date().isoformat() for ix in index]
    if memo is not None:
        memo[key] = days
    return days


def _predict(
    series: pd.Series, horizon_weeks: int, level: float, method: str
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(mean, lower, upper) for the `horizon_weeks` weeks after the series, never negative."""
    y = series.astype(float)
    values = y.to_numpy()
    # Distinct values never have a zero standard deviation; equal ones ask pandas (its mean of
    # equal non-integral floats can be off by an ulp), as the check always did.
    if bool((values == values[0]).all()) and float(y.std()) == 0.0:
        # Nothing moved: neither model fits a constant; the forecast is the constant itself.
        constant = np.full(horizon_weeks, float(y.iloc[-1]))
        bounds = (constant, constant.copy(), constant.copy())
    elif method == "linear":
        bounds = _predict_linear(y, horizon_weeks, level)
    else:
        bounds = _predict_ets(y, horizon_weeks, level)
    # Allocation is never negative (as DataFrame.clip(lower=0.0): NaN stays, -0.0 stays).
    mean, lower, upper = (np.where(np.isnan(c) | (c >= 0.0), c, 0.0) for c in bounds)
    return mean, lower, upper


def _predict_linear(
    y: pd.Series, horizon_weeks: int, level: float
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    import statsmodels.api as sm

    t = np.arange(len(y), dtype=float)
    fit = sm.OLS(y.to_numpy(), sm.add_constant(t)).fit()
    future = sm.add_constant(np.arange(len(y), len(y) + horizon_weeks, dtype=float), has_constant="add")
    pred = fit.get_prediction(future)
    # The columns summary_frame() calls mean, obs_ci_lower and obs_ci_upper, without the frame.
    interval = pred.conf_int(obs=True, alpha=1.0 - level)
    return np.asarray(pred.predicted_mean, dtype=float), interval[:, 0].astype(float), interval[:, 1].astype(float)


def _predict_ets(
    y: pd.Series, horizon_weeks: int, level: float
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    with warnings.catch_warnings():
        # Short, smooth series make the optimizer warn about convergence; the fit is still usable.
        warnings.simplefilter("ignore")
        fit = ETSModel(y, error="add", trend="add", damped_trend=False).fit(disp=False)
        pred = fit.get_prediction(start=len(y), end=len(y) + horizon_weeks - 1)
        frame = pred.summary_frame(alpha=1.0 - level)
    out = frame[["mean", "pi_lower", "pi_upper"]].to_numpy(dtype=float)
    return out[:, 0].copy(), out[:, 1].copy(), out[:, 2].copy()


def _first_at_or_above(days: list[str], values: np.ndarray[Any, Any], capacity: float) -> str | None:
    hit = np.flatnonzero(values >= capacity)
    return days[int(hit[0])] if len(hit) else None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def forecast_pools(
    session: Session,
    pools: Iterable[Mapping[str, Any]],
    now: datetime,
    horizon_weeks: int = 104,
    level: float = DEFAULT_LEVEL,
    method: str = DEFAULT_METHOD,
    fits: FitMemo | None = None,
) -> list[dict[str, Any]]:
    """One forecast per pool (provider) and resource; the pool runs out at its first resource.

    With `fits`, a series unchanged since a stored fit reuses that fit's curve, and the curves
    fitted here are collected in it for `FitMemo.save`."""
    if method not in METHODS:
        from providers.errors import ConfigError

        raise ConfigError(f"forecast method '{method}': one of {', '.join(METHODS)}")
    pools = list(pools)
    series = weekly_series(session, [p["name"] for p in pools])
    days: dict[tuple[Any, int], list[str]] = {}
    empty = pd.Series(dtype=float)
    out = []
    for pool in pools:
        frame = series.get(pool["name"])
        resources = {}
        for r in RESOURCES:
            s = frame[r] if frame is not None else empty
            predict = fits.predictor(pool["name"], r, _predict) if fits is not None else None
            resources[r] = forecast_series(
                s, float(pool["capacity"][r]), horizon_weeks, level, method, _days=days, _predict_with=predict
            )
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
