"""Fitted forecasts kept between reports.

A forecast's curve (mean and prediction interval over the horizon) depends only on the
weekly series, the model, the horizon and the level. Holt ETS costs 25-40 ms per series, and
a report forecasts every pool's three resources (60 series on the large lab, about 2.5 s), so
each report reuses the stored curve of any series that has not changed since, recognised by
a digest of its values, and stores the curves it had to fit. Run-out dates and statuses are
still worked out on every report, against the pool's current capacity.

Writing is best-effort and happens after the report's reads, in its own short transaction:
a database that is busy or read-only costs the next report a refit, never the report itself.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from inventory.capacity.models import ForecastFit

log = logging.getLogger(__name__)

Bounds = tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]
Predictor = Callable[[pd.Series, int, float, str], Bounds]


def digest(series: pd.Series) -> str:
    values = np.ascontiguousarray(series.to_numpy(dtype=float))
    return hashlib.blake2b(values.tobytes(), digest_size=16).hexdigest()


def _pack(bounds: Bounds) -> bytes:
    return np.stack([np.asarray(b, dtype=float) for b in bounds]).tobytes()


def _unpack(blob: bytes, horizon: int) -> Bounds | None:
    values = np.frombuffer(blob, dtype=float)
    if values.size != 3 * horizon:
        return None  # written for another horizon or damaged: fit again
    mean, lower, upper = values.reshape(3, horizon).copy()
    return mean, lower, upper


@dataclass
class FitMemo:
    """The stored curves of one report's series, and the curves it fitted anew."""

    method: str
    horizon: int
    level: float
    stored: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)
    fresh: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, session: Session, providers: Iterable[str], method: str, horizon: int, level: float) -> FitMemo:
        memo = cls(method, horizon, level)
        stmt = select(ForecastFit.provider, ForecastFit.resource, ForecastFit.digest, ForecastFit.bounds).where(
            ForecastFit.provider.in_(list(providers)),
            ForecastFit.method == method,
            ForecastFit.horizon == horizon,
            ForecastFit.level == level,
        )
        memo.stored = {(p, r): (d, b) for p, r, d, b in session.execute(stmt)}
        return memo

    def predictor(self, provider: str, resource: str, fit: Predictor) -> Predictor:
        """`fit`, answered from the stored curve when the series is the one it was fitted on."""

        def predict(series: pd.Series, horizon: int, level: float, method: str) -> Bounds:
            if (method, horizon, level) != (self.method, self.horizon, self.level):
                return fit(series, horizon, level, method)  # not the model these curves belong to
            key = digest(series)
            stored = self.stored.get((provider, resource))
            if stored is not None and stored[0] == key:
                bounds = _unpack(stored[1], horizon)
                if bounds is not None:
                    return bounds
            bounds = fit(series, horizon, level, method)
            self.fresh.append(
                {"provider": provider, "resource": resource, "method": method, "horizon": horizon,
                 "level": level, "digest": key, "bounds": _pack(bounds), "fitted_at": datetime.now(UTC)}
            )  # fmt: skip
            return bounds

        return predict

    def save(self, store: Any) -> None:
        """Store the curves fitted anew, replacing those of the same series; best-effort."""
        if not self.fresh:
            return
        series = or_(*(and_(ForecastFit.provider == f["provider"], ForecastFit.resource == f["resource"])
                       for f in self.fresh))  # fmt: skip
        same_model = and_(
            ForecastFit.method == self.method, ForecastFit.horizon == self.horizon, ForecastFit.level == self.level
        )
        try:
            with store.write_lock, store.session() as session:
                session.execute(delete(ForecastFit).where(same_model, series))
                session.execute(insert(ForecastFit), self.fresh)
        except SQLAlchemyError as exc:
            # Another report stored the same curves first, or the database is busy or
            # read-only: the report is complete either way.
            log.debug("forecast fits not stored: %s", exc)
